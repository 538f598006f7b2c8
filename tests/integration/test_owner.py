"""Owners told (issue #17, part 1): a domain's report address hears of forwards to its aliases'
destinations that are deferred longer than owner_warning_time (one notice, not one per retry) or that
fail for good, batched per destination by owner_notice_interval; nothing for a domain without a report
address, nothing for mail refused at our door, and nothing ever to another address."""
import email
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
import sink  # noqa: E402
from admin_client import Browser, add_admin, start_mxadmin, stop_mxadmin  # noqa: E402
from fixtures import hosted, stop_and_cleanup, wait_for  # noqa: E402

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


class OwnerBase(unittest.TestCase):
    extra = {}

    def setUp(self):
        self.dns = dnsserver.start(ZONES, port=0)
        self.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        self.sink.rcpt_reply = {"someone@gmail.test": "451 4.3.0 mailbox temporarily unavailable",
                                "gone@gmail.test": "550 5.1.1 no such user here"}
        self.inst = mxtest.Instance({
            "resolver": "127.0.0.1:%d" % self.dns.port,
            "smtp_tcp_port": str(self.sink.port),
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "1s",
            "smtp_tls_security_level": "none",
            "owner_warning_time": "2s",
            "owner_notice_interval": "1h",
            **self.extra,
        })
        i = hosted(self.inst)  # info@example.com -> someone@gmail.test (451)
        i.mxctl("alias", "add", "old@example.com", "gone@gmail.test")
        i.mxctl("domain", "add", "quiet.test")  # no report address
        i.mxctl("alias", "add", "info@quiet.test", "gone@gmail.test")
        i.mxctl("domain", "report", "example.com", "Report@Gmail.test")
        i.start()

    def tearDown(self):
        try:
            stop_and_cleanup(self.inst)
        finally:
            self.sink.stop()
            self.dns.stop()

    def send(self, rcpt, msgid):
        c = self.inst.client()
        r = c.send_mail("alice@sender.test", [rcpt], mxtest.make_message(msgid))
        c.cmd("QUIT")
        c.close()
        return r

    def notices(self):
        return [m for m in self.sink.messages if m.rcpt_tos == ["report@gmail.test"]]


class Owner(OwnerBase):
    def test_cli(self):
        self.assertIn("report to:     report@gmail.test", self.inst.mxctl("domain", "show", "example.com").stdout)
        r = self.inst.mxctl("domain", "report", "example.com", "not an address", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("report address 'not an address'", r.stderr)
        r = self.inst.mxctl("domain", "report", "nohost.test", "x@gmail.test", check=False)
        self.assertIn("not a hosted domain", r.stderr)
        self.inst.mxctl("domain", "report", "quiet.test", "none")
        self.assertIn("report to:     (none)", self.inst.mxctl("domain", "show", "quiet.test").stdout)

    def test_deferred_gives_one_notice_not_one_per_retry(self):
        ids = [self.send("info@example.com", "o%d@test" % k).text.split()[-1] for k in range(2)]
        self.assertTrue(wait_for(lambda: self.notices(), timeout=30), self.inst.read_log()[-3000:])
        time.sleep(5)  # several more retries, each still deferred
        log = self.inst.read_log()
        self.assertGreaterEqual(len(re.findall(r"to=<someone@gmail\.test>.*status=deferred", log)), 6)
        notices = self.notices()
        self.assertEqual(len(notices), 1, [n.data[:300] for n in notices])
        n = notices[0]
        self.assertIn(n.mail_from, ("", "<>"))  # from the null sender: it never bounces
        msg = email.message_from_bytes(n.data)
        self.assertIn("MAILER-DAEMON@", msg["From"])
        self.assertEqual(msg["Auto-Submitted"], "auto-generated")
        self.assertIn("someone@gmail.test", msg["Subject"])
        body = msg.get_payload(decode=True).decode()
        self.assertIn("alias:        <info@example.com>", body)
        self.assertIn("destination:  <someone@gmail.test>", body)
        self.assertIn("451 4.3.0 mailbox temporarily unavailable", body)
        self.assertIn(ids[0], body)
        self.assertIn("mxctl queue resend", body)
        self.assertRegex(log, r"owner notice for example\.com: \d forwards? to <someone@gmail\.test> to "
                              r"<report@gmail\.test>")

    def test_failed_forward_noticed_and_others_not(self):
        r = self.send("nobody@example.com", "door@test")  # refused at our door: no notice, ever
        self.assertEqual(r.code, 550, r.lines)
        qid = self.send("old@example.com", "o3@test").text.split()[-1]
        self.send("info@quiet.test", "o4@test")  # quiet.test has no report address
        self.assertTrue(wait_for(lambda: self.notices(), timeout=30), self.inst.read_log()[-3000:])
        body = email.message_from_bytes(self.notices()[0].data).get_payload(decode=True).decode()
        self.assertIn("alias:        <old@example.com>", body)
        self.assertIn("failed for good", body)
        self.assertIn("550 5.1.1 no such user here", body)
        self.assertIn(qid, body)
        self.assertIn(qid, self.inst.mxctl("queue", "failed").stdout)
        time.sleep(3)
        tos = sorted(r for m in self.sink.messages if m.mail_from in ("", "<>") for r in m.rcpt_tos)
        # the two bounces to the sender (as before) and the one notice to the configured address: no more
        self.assertEqual(tos, ["alice@sender.test", "alice@sender.test", "report@gmail.test"], tos)
        self.assertNotIn("quiet.test", "".join(m.data.decode(errors="replace") for m in self.notices()))


class Digest(OwnerBase):
    """What comes within owner_notice_interval of a notice goes into the domain's digest."""
    extra = {"owner_digest_interval": "8s"}

    def test_the_rest_goes_into_the_digest(self):
        first = self.send("info@example.com", "d1@test").text.split()[-1]
        self.assertTrue(wait_for(lambda: self.notices(), timeout=30), self.inst.read_log()[-3000:])
        second = self.send("info@example.com", "d2@test").text.split()[-1]
        self.assertTrue(wait_for(lambda: len(self.notices()) >= 2, timeout=30), self.inst.read_log()[-3000:])
        time.sleep(3)
        notices = self.notices()
        self.assertEqual(len(notices), 2)
        notice = email.message_from_bytes(notices[0].data)
        digest = email.message_from_bytes(notices[1].data)
        self.assertIn("Forwarding problem for example.com", notice["Subject"])
        self.assertIn("Digest of forwarding problems for example.com", digest["Subject"])
        body = digest.get_payload(decode=True).decode()
        self.assertIn(second, body)
        self.assertNotIn(first, body)  # told already
        self.assertIn(first, notice.get_payload(decode=True).decode())
        self.assertRegex(self.inst.read_log(), r"owner digest for example\.com: 1 forward to <report@gmail\.test>")


class OwnerAdmin(unittest.TestCase):
    """The report address in mxadmin and the API: the domain's admin sets it, bad input is named, another
    domain's admin cannot, a PATCH mixing it with other fields is refused whole."""

    def setUp(self):
        self.inst = mxtest.Instance()
        hosted(self.inst)
        self.inst.mxctl("domain", "add", "other.test")
        for name, pw, dom in (("owner", OWNER_PW, "example.com"), ("other", OTHER_PW, "other.test")):
            add_admin(self.inst, name, pw, "--domain", dom)
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
            self.inst.cleanup()

    def patch(self, who, payload):
        return who.api("PATCH", "/domains/example.com", payload, csrf=who.csrf)

    def test_api_and_page(self):
        self.assertEqual(self.owner.api("GET", "/domains/example.com").json()["report_address"], "")
        self.assertEqual(self.patch(self.owner, {"report_address": "Ops@Example.net"}).status, 200)
        self.assertEqual(self.owner.api("GET", "/domains/example.com").json()["report_address"], "ops@example.net")
        r = self.patch(self.owner, {"report_address": "ops at example"})
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"]["field"], "report_address")
        r = self.patch(self.owner, {"report_address": "x@example.net", "description": "d"})
        self.assertEqual(r.status, 400, r.body)
        d = self.owner.api("GET", "/domains/example.com").json()
        self.assertEqual((d["report_address"], d["description"]), ("ops@example.net", ""))
        self.assertIn(self.patch(self.other, {"report_address": "evil@example.net"}).status, (403, 404))
        self.assertIn("report to:     ops@example.net", self.inst.mxctl("domain", "show", "example.com").stdout)
        r = self.owner.post("/domain/report", {"name": "example.com", "report_address": ""})
        self.assertEqual(r.status, 303, r.body)
        self.assertIn("report to:     (none)", self.inst.mxctl("domain", "show", "example.com").stdout)
        self.assertIn('name="report_address" value=""', self.owner.get("/domain?name=example.com").body)


if __name__ == "__main__":
    unittest.main()
