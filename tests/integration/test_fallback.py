"""Per-alias fallback destination (issue #17, part 2): tried when the primary destination refuses for good
or has deferred the forward longer than fallback_after; the log says the fallback was used; a fallback
that refuses too ends as any failed forward (bounce, kept as failed), never in a loop."""
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


class Fallback(unittest.TestCase):
    def setUp(self):
        self.dns = dnsserver.start(ZONES, port=0)
        self.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        self.inst = mxtest.Instance({
            "resolver": "127.0.0.1:%d" % self.dns.port,
            "smtp_tcp_port": str(self.sink.port),
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "1s",
            "smtp_tls_security_level": "none",
            "fallback_after": "3s",
        })
        hosted(self.inst)  # info@example.com -> someone@gmail.test
        self.inst.start()

    def tearDown(self):
        try:
            stop_and_cleanup(self.inst)
        finally:
            self.sink.stop()
            self.dns.stop()

    def send(self, msgid, rcpt="info@example.com"):
        c = self.inst.client()
        r = c.send_mail("alice@sender.test", [rcpt], mxtest.make_message(msgid))
        c.cmd("QUIT")
        c.close()
        self.assertEqual(r.code, 250, r.lines)
        return r.text.split()[-1]

    def with_msgid(self, msgid):
        return [m for m in self.sink.messages if m.mail_from not in ("", "<>") and
                ("Message-ID: <%s>" % msgid).encode() in m.data]

    def bounces(self):
        return [m for m in self.sink.messages if m.mail_from in ("", "<>")]

    def test_cli(self):
        i = self.inst
        r = i.mxctl("alias", "fallback", "info@example.com", "not-an-address", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("fallback 'not-an-address'", r.stderr)
        r = i.mxctl("alias", "fallback", "info@example.com", "someone@gmail.test", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("one of its destinations", r.stderr)
        r = i.mxctl("alias", "fallback", "nobody@example.com", "backup@gmail.test", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no such alias", r.stderr)
        self.assertIn("fallback:      (none)", i.mxctl("alias", "show", "info@example.com").stdout)
        i.mxctl("alias", "fallback", "info@example.com", "Backup@Gmail.test")
        self.assertIn("fallback:      backup@gmail.test", i.mxctl("alias", "show", "info@example.com").stdout)
        i.mxctl("alias", "fallback", "info@example.com", "none")
        self.assertIn("fallback:      (none)", i.mxctl("alias", "show", "info@example.com").stdout)

    def test_refused_for_good_goes_to_the_fallback(self):
        self.sink.rcpt_reply = {"someone@gmail.test": "550 5.1.1 no such user"}
        self.inst.mxctl("alias", "fallback", "info@example.com", "backup@gmail.test")
        self.inst.mxctl("domain", "report", "example.com", "report@gmail.test")
        qid = self.send("fb1@test")
        self.assertTrue(wait_for(lambda: self.with_msgid("fb1@test")), self.inst.read_log()[-3000:])
        got = self.with_msgid("fb1@test")
        self.assertEqual(got[0].rcpt_tos, ["backup@gmail.test"])
        self.assertTrue(wait_for(lambda: "%s: removed" % qid in self.inst.read_log()))
        log = self.inst.read_log()
        self.assertRegex(log, r"%s: orig_to=<info@example\.com>: fallback to=<backup@gmail\.test> used instead of "
                              r"<someone@gmail\.test> \(550 5\.1\.1 no such user\)" % qid)
        self.assertRegex(log, r"%s: to=<someone@gmail\.test>, orig_to=<info@example\.com>, .*status=deferred "
                              r"\(.*no such user" % qid)
        self.assertRegex(log, r"%s: to=<backup@gmail\.test>, orig_to=<info@example\.com>, .*status=sent" % qid)
        # the owners hear that the fallback was used
        self.assertTrue(wait_for(lambda: [m for m in self.sink.messages if m.rcpt_tos == ["report@gmail.test"]]))
        notice = [m for m in self.sink.messages if m.rcpt_tos == ["report@gmail.test"]][0].data.decode()
        self.assertIn("sent to the alias's fallback destination", notice)
        self.assertIn("destination:  <someone@gmail.test>", notice)
        self.assertIn(qid, notice)
        self.assertEqual([m for m in self.bounces() if m.rcpt_tos != ["report@gmail.test"]], [])  # no bounce
        self.assertIn("No failed messages", self.inst.mxctl("queue", "failed").stdout)

    def test_deferred_too_long_goes_to_the_fallback(self):
        self.sink.rcpt_reply = {"someone@gmail.test": "451 4.3.0 try later"}
        self.inst.mxctl("alias", "fallback", "info@example.com", "backup@gmail.test")
        t0 = time.time()
        qid = self.send("fb2@test")
        self.assertTrue(wait_for(lambda: self.with_msgid("fb2@test"), timeout=30), self.inst.read_log()[-3000:])
        self.assertGreaterEqual(time.time() - t0, 3)  # not before fallback_after
        self.assertEqual(self.with_msgid("fb2@test")[0].rcpt_tos, ["backup@gmail.test"])
        self.assertGreaterEqual(len(re.findall(r"%s: to=<someone@gmail\.test>.*status=deferred" % qid,
                                               self.inst.read_log())), 2)

    def test_catch_all_fallback(self):
        self.inst.mxctl("alias", "add", "@example.com", "all@gmail.test")
        self.inst.mxctl("alias", "fallback", "@example.com", "backup@gmail.test")
        self.sink.rcpt_reply = {"all@gmail.test": "550 5.1.1 no such user"}
        self.send("fb4@test", rcpt="whoever@example.com")
        self.assertTrue(wait_for(lambda: self.with_msgid("fb4@test")), self.inst.read_log()[-3000:])
        self.assertEqual(self.with_msgid("fb4@test")[0].rcpt_tos, ["backup@gmail.test"])

    def test_fallback_refusing_too_ends_as_failed(self):
        self.sink.rcpt_reply = {"someone@gmail.test": "550 5.1.1 no such user",
                                "backup@gmail.test": "550 5.2.1 mailbox disabled"}
        self.inst.mxctl("alias", "fallback", "info@example.com", "backup@gmail.test")
        qid = self.send("fb3@test")
        self.assertTrue(wait_for(lambda: qid in self.inst.mxctl("queue", "failed").stdout),
                        self.inst.read_log()[-3000:])
        self.assertTrue(wait_for(lambda: len(self.bounces()) == 1))
        time.sleep(2)
        log = self.inst.read_log()
        self.assertEqual(log.count("fallback to=<backup@gmail.test> used"), 1)
        self.assertEqual(len(re.findall(r"to=<backup@gmail\.test>.*status=bounced", log)), 1)
        self.assertEqual(len(self.bounces()), 1)
        self.assertIn("bounced   <backup@gmail.test> orig_to=<info@example.com>",
                      self.inst.mxctl("queue", "failed").stdout)


class FallbackAdmin(unittest.TestCase):
    """The fallback in mxadmin and the API: the alias's domain admin sets it, bad input is named, another
    domain's admin cannot reach it, a PATCH mixing it with other fields is refused whole."""

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
        return who.api("PATCH", "/aliases/info@example.com", payload, csrf=who.csrf)

    def test_api_and_page(self):
        self.assertEqual(self.owner.api("GET", "/aliases/info@example.com").json()["fallback"], "")
        r = self.patch(self.owner, {"fallback": "Backup@Gmail.test"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.owner.api("GET", "/aliases/info@example.com").json()["fallback"], "backup@gmail.test")
        r = self.patch(self.owner, {"fallback": "no-at-sign"})
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"]["field"], "fallback")
        r = self.patch(self.owner, {"fallback": "x@gmail.test", "active": False})
        self.assertEqual(r.status, 400, r.body)
        a = self.owner.api("GET", "/aliases/info@example.com").json()
        self.assertEqual((a["fallback"], a["active"]), ("backup@gmail.test", True))  # nothing changed
        self.assertIn(self.patch(self.other, {"fallback": "evil@gmail.test"}).status, (403, 404))
        r = self.owner.post("/alias/fallback", {"address": "info@example.com", "fallback": ""})
        self.assertEqual(r.status, 303, r.body)
        self.assertIn("fallback:      (none)", self.inst.mxctl("alias", "show", "info@example.com").stdout)
        page = self.owner.get("/alias?address=info%40example.com").body
        self.assertIn('name="fallback" value=""', page)


if __name__ == "__main__":
    unittest.main()
