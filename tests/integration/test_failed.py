"""Failed mail kept and resent (issue #17, part 2): a forward refused with a 5xx is kept as failed after
the sender's bounce, listed by mxctl queue failed, shown, counted in mxctl status and the metrics, sent
again with mxctl queue resend [--to], purged by hand or when failed_retention has passed."""
import os
import re
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
import sink  # noqa: E402
from admin_client import Browser, add_admin, start_mxadmin, stop_mxadmin  # noqa: E402
from fixtures import hosted, stop_and_cleanup, wait_for  # noqa: E402

ROOT_PW = "root-Passw0rd-1"
OWNER_PW = "owner-Passw0rd-2"
OTHER_PW = "other-Passw0rd-3"

ZONES = """
$ORIGIN gmail.test
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN sender.test
@        MX 10 mx
mx       A 127.0.0.1
"""


class FailedBase(unittest.TestCase):
    retention = "7d"

    def setUp(self):
        self.dns = dnsserver.start(ZONES, port=0)
        self.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        self.sink.rcpt_reply = {"someone@gmail.test": "550 5.1.1 no such user"}
        self.metrics_port = mxtest.free_port()
        self.inst = mxtest.Instance({
            "resolver": "127.0.0.1:%d" % self.dns.port,
            "smtp_tcp_port": str(self.sink.port),
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtp_tls_security_level": "none",
            "failed_retention": self.retention,
            "metrics_listen": "127.0.0.1:%d" % self.metrics_port,
        })
        hosted(self.inst)  # info@example.com -> someone@gmail.test, refused there with 550
        self.inst.start()

    def tearDown(self):
        try:
            stop_and_cleanup(self.inst)
        finally:
            self.sink.stop()
            self.dns.stop()

    def send(self, msgid):
        c = self.inst.client()
        r = c.send_mail("alice@sender.test", ["info@example.com"], mxtest.make_message(msgid))
        c.cmd("QUIT")
        c.close()
        self.assertEqual(r.code, 250, r.lines)
        return r.text.split()[-1]

    def failed_ids(self):
        return re.findall(r"^([0-9A-F]{16}) ", self.inst.mxctl("queue", "failed").stdout, re.M)

    def with_msgid(self, msgid):
        return [m for m in self.sink.messages if m.mail_from not in ("", "<>") and
                ("Message-ID: <%s>" % msgid).encode() in m.data]

    def fail_one(self, msgid):
        qid = self.send(msgid)
        self.assertTrue(wait_for(lambda: qid in self.failed_ids(), timeout=30), self.inst.read_log()[-3000:])
        return qid



class Failed(FailedBase):
    def test_kept_shown_counted_and_resent_elsewhere(self):
        qid = self.fail_one("f1@test")
        # the sender got its bounce as before
        self.assertTrue(wait_for(lambda: any(m.rcpt_tos == ["alice@sender.test"] for m in self.sink.messages)))
        log = self.inst.read_log()
        self.assertRegex(log, r"%s: kept as failed for 604800s \(mxctl queue failed\): 5\.1\.1 550 5\.1\.1 no such user"
                         % qid)
        self.assertNotIn("%s: removed" % qid, log)
        failed = self.inst.mxctl("queue", "failed").stdout
        self.assertIn("reason: 5.1.1 550 5.1.1 no such user", failed)
        self.assertRegex(failed, r"bounced\s+<someone@gmail\.test> orig_to=<info@example\.com>")
        # not in the queue proper, but said to be kept
        listing = self.inst.mxctl("queue", "list").stdout
        self.assertIn("Mail queue is empty", listing)
        self.assertIn("1 failed message kept", listing)
        show = self.inst.mxctl("queue", "show", qid.lower()).stdout
        self.assertRegex(show, r"failed: \d{4}-\d\d-\d\d .*5\.1\.1 550 5\.1\.1 no such user")
        self.assertIn("Message-ID: <f1@test>", show)
        status = self.inst.mxctl("status").stdout
        self.assertRegex(status, r"failed \(kept\):\s+1 messages, [1-9]\d* bytes")
        self.assertRegex(status, r"queue:\s+0 messages")
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=10) as r:
            metrics = r.read().decode()
        self.assertRegex(metrics, r"(?m)^mxd_queue_failed_messages 1$")
        self.assertRegex(metrics, r"(?m)^mxd_queue_failed_bytes [1-9]\d*$")
        # no retry of a failed message: the refusing destination is not asked again
        attempts = log.count("to=<someone@gmail.test>")
        time.sleep(3)
        self.assertEqual(self.inst.read_log().count("to=<someone@gmail.test>"), attempts)

        r = self.inst.mxctl("queue", "resend", qid, "--to", "Other@Gmail.test")
        m = re.search(r"queued again as ([0-9A-F]{16}) to other@gmail\.test", r.stdout)
        self.assertTrue(m, r.stdout)
        new_id = m.group(1)
        self.assertTrue(wait_for(lambda: self.with_msgid("f1@test")), self.inst.read_log()[-3000:])
        got = self.with_msgid("f1@test")
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0].rcpt_tos, ["other@gmail.test"])
        self.assertEqual(got[0].mail_from, "alice@sender.test")  # the original sender (no SRS configured)
        self.assertEqual(self.failed_ids(), [])
        log = self.inst.read_log()
        self.assertRegex(log, r"%s: to=<other@gmail\.test>, orig_to=<info@example\.com>, .*status=sent" % new_id)
        self.assertTrue(wait_for(lambda: "%s: removed" % new_id in self.inst.read_log()))

    def test_resend_to_the_same_recipient_once_it_accepts(self):
        qid = self.fail_one("f2@test")
        self.sink.rcpt_reply = {}
        r = self.inst.mxctl("queue", "resend", qid)
        self.assertIn("queued again as", r.stdout)
        self.assertTrue(wait_for(lambda: self.with_msgid("f2@test")), self.inst.read_log()[-3000:])
        self.assertEqual(self.with_msgid("f2@test")[0].rcpt_tos, ["someone@gmail.test"])
        self.assertEqual(self.failed_ids(), [])

    def test_bad_input_and_purge(self):
        qid = self.fail_one("f3@test")
        r = self.inst.mxctl("queue", "resend", qid, "--to", "not an address", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--to: not an address", r.stderr)
        r = self.inst.mxctl("queue", "resend", qid, "--bcc", "x@gmail.test", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option --bcc", r.stderr)
        r = self.inst.mxctl("queue", "resend", "0123456789ABCDEF", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such failed message: 0123456789ABCDEF", r.stderr)
        self.assertEqual(self.failed_ids(), [qid])  # nothing of that touched it
        r = self.inst.mxctl("queue", "purge", qid)
        self.assertIn("Purged: 1 failed message", r.stdout)
        self.assertEqual(self.failed_ids(), [])
        self.assertRegex(self.inst.read_log(), r"%s: to=<someone@gmail\.test>.*status=bounced" % qid)
        r = self.inst.mxctl("queue", "purge", qid, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such failed message", r.stderr)


class Retention(FailedBase):
    """failed_retention in seconds: the queue manager removes what has been kept longer."""
    retention = "3s"

    def test_purged_after_retention(self):
        qid = self.fail_one("r1@test")
        t0 = time.time()
        self.assertTrue(wait_for(lambda: self.failed_ids() == [], timeout=30), self.inst.read_log()[-3000:])
        self.assertGreaterEqual(time.time() - t0, 1)
        self.assertRegex(self.inst.read_log(), r"failed messages: 1 kept longer than 3s removed")
        self.assertIn("failed (kept):     0 messages, 0 bytes", self.inst.mxctl("status").stdout)


class FailedAdmin(FailedBase):
    """The same in mxadmin and the JSON API, scoped: example.com's admin sees and resends its failed
    mail, another domain's admin does not see it at all."""

    def setUp(self):
        super().setUp()
        self.inst.mxctl("domain", "add", "other.test")
        for name, pw, role in (("root", ROOT_PW, ["--superadmin"]), ("owner", OWNER_PW, ["--domain", "example.com"]),
                               ("other", OTHER_PW, ["--domain", "other.test"])):
            add_admin(self.inst, name, pw, *role)
        self.port = mxtest.free_port()
        self.proc, self.log = start_mxadmin(self.inst.conf, self.port)
        base = "http://127.0.0.1:%d" % self.port
        self.owner, self.other = Browser(base), Browser(base)
        self.assertEqual(self.owner.login("owner", OWNER_PW).status, 303)
        self.assertEqual(self.other.login("other", OTHER_PW).status, 303)

    def tearDown(self):
        try:
            stop_mxadmin(self.proc, self.log)
        finally:
            super().tearDown()

    def test_scoped_list_eml_and_resend(self):
        qid = self.fail_one("a1@test")
        r = self.owner.api("GET", "/queue/failed")
        self.assertEqual(r.status, 200, r.body)
        msgs = r.json()["messages"]
        self.assertEqual([m["id"] for m in msgs], [qid])
        self.assertEqual(msgs[0]["failed_reason"], "5.1.1 550 5.1.1 no such user")
        self.assertGreater(msgs[0]["failed_at"], 0)
        self.assertEqual(self.owner.api("GET", "/queue").json()["messages"], [])  # not waiting
        self.assertEqual(self.other.api("GET", "/queue/failed").json()["messages"], [])
        # the download: the message as stored, for the owner only
        r = self.owner.api("GET", "/queue/%s/eml" % qid)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Type"], "message/rfc822")
        self.assertIn('filename="%s.eml"' % qid, r.headers["Content-Disposition"])
        self.assertIn("Message-ID: <a1@test>", r.body)
        self.assertEqual(self.other.api("GET", "/queue/%s/eml" % qid).status, 404)
        # the page lists it with its reason and actions
        page = self.owner.get("/queue/failed").body
        self.assertIn(qid, page)
        self.assertIn("no such user", page)
        self.assertIn("/api/v1/queue/%s/eml" % qid, page)
        self.assertNotIn(qid, self.other.get("/queue/failed").body)
        # resend: bad input named, another domain's admin refused, then done
        r = self.owner.api("POST", "/queue/%s/resend" % qid, {"to": "no address"}, csrf=self.owner.csrf)
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"]["field"], "to")
        r = self.other.api("POST", "/queue/%s/resend" % qid, {}, csrf=self.other.csrf)
        self.assertEqual(r.status, 404, r.body)
        r = self.owner.post("/queue/resend", {"id": qid, "to": "fixed@gmail.test"})
        self.assertEqual(r.status, 303, r.body)
        self.assertTrue(wait_for(lambda: self.with_msgid("a1@test")), self.inst.read_log()[-3000:])
        self.assertEqual(self.with_msgid("a1@test")[0].rcpt_tos, ["fixed@gmail.test"])
        self.assertEqual(self.failed_ids(), [])
        self.assertEqual(self.owner.api("GET", "/queue/%s/eml" % qid).status, 404)

    def test_dashboard_failing_destinations(self):
        self.assertIn("No forward was deferred or bounced", self.owner.get("/").body)
        self.fail_one("a3@test")
        page = self.owner.get("/").body
        section = page[page.index("Failing destinations"):]
        self.assertIn("info@example.com", section)
        self.assertIn("someone@gmail.test", section)
        self.assertIn("no such user", section)
        self.assertRegex(section, r"<td>someone@gmail\.test</td><td>0</td><td>1</td>")
        other = self.other.get("/").body
        self.assertIn("No forward was deferred or bounced", other)
        self.assertNotIn("someone@gmail.test", other)

    def test_api_resend_to_the_same_recipient(self):
        qid = self.fail_one("a2@test")
        self.sink.rcpt_reply = {}
        r = self.owner.api("POST", "/queue/%s/resend" % qid, {}, csrf=self.owner.csrf)
        self.assertEqual(r.status, 200, r.body)
        self.assertRegex(r.json()["id"], r"^[0-9A-F]{16}$")
        self.assertTrue(wait_for(lambda: self.with_msgid("a2@test")), self.inst.read_log()[-3000:])
        self.assertEqual(self.with_msgid("a2@test")[0].rcpt_tos, ["someone@gmail.test"])


if __name__ == "__main__":
    unittest.main()
