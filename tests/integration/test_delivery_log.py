"""The delivery log end to end: mail through mxd to a sink that takes one recipient and refuses another
(550), then mxadmin's /log page, GET /api/v1/log and the dashboard show received -> sent and received ->
bounced with the remote reply; a domain admin sees only its domains' rows; hostile values are escaped."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
import sink  # noqa: E402
from fixtures import wait_for  # noqa: E402
from admin_client import Browser, add_admin, start_mxadmin, stop_mxadmin  # noqa: E402

ROOT_PW = "root-Passw0rd-1"
OKA_PW = "oka-Passw0rd-22"
OTHER_PW = "other-Passw0rd-3"
EVIL_SENDER = '"<script>x</script>"@send.test'


class DeliveryLog(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        cls.sink.rcpt_reply = {"nobody@dest.test": "550 5.1.1 no such user <script>y</script>",
                               "later@dest.test": "451 4.3.0 try again later"}
        cls.port = mxtest.free_port()
        cls.inst = mxtest.Instance({
            "admin_listen": "127.0.0.1:%d" % cls.port, "smtp_tls_security_level": "none",
            "queue_run_delay": "1s", "minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
            "failed_retention": "0",  # the bounced message is removed (test_failed covers keeping it)
        })
        inst = cls.inst
        for d in ("ok.test", "bad.test", "other.test"):
            inst.mxctl("domain", "add", d)
        inst.mxctl("alias", "add", "info@ok.test", "user@dest.test")
        inst.mxctl("alias", "add", "info@bad.test", "nobody@dest.test")
        inst.mxctl("alias", "add", "info@other.test", "later@dest.test")
        for name, pw, role in (("root", ROOT_PW, ["--superadmin"]), ("oka", OKA_PW, ["--domain", "ok.test"]),
                               ("other", OTHER_PW, ["--domain", "other.test"])):
            add_admin(inst, name, pw, *role)
        inst.mxctl("route", "add", "*", "[127.0.0.1]:%d" % cls.sink.port)
        inst.start()
        cls.proc, cls.log = start_mxadmin(inst.conf, cls.port)
        base = "http://127.0.0.1:%d" % cls.port
        cls.root, cls.oka, cls.other = Browser(base), Browser(base), Browser(base)
        assert cls.root.login("root", ROOT_PW).status == 303
        assert cls.oka.login("oka", OKA_PW).status == 303
        assert cls.other.login("other", OTHER_PW).status == 303
        cls.ids = {}
        for key in ("ok", "bad"):
            c = inst.client()
            r = c.send_mail(EVIL_SENDER, ["info@%s.test" % key], mxtest.make_message("%s@send.test" % key))
            assert r.code == 250, r
            cls.ids[key] = re.search(r"queued as (\w+)", r.text).group(1)
            c.close()

        def removed(key):
            entries = cls.root.api("GET", "/log?queue_id=" + cls.ids[key]).json()["entries"]
            return any(e["event"] == "removed" for e in entries)
        assert wait_for(lambda: removed("ok") and removed("bad")), inst.read_log()[-3000:]

    @classmethod
    def tearDownClass(cls):
        try:
            stop_mxadmin(cls.proc, cls.log)
        finally:
            cls.inst.stop()
            cls.inst.cleanup()
            cls.sink.stop()

    def events(self, browser, query):
        r = browser.api("GET", "/log?" + query)
        self.assertEqual(r.status, 200, r.body)
        return r.json()["entries"]

    def test_sent_path(self):
        for query in ("address=info@ok.test", "address=USER@Dest.TEST", "queue_id=" + self.ids["ok"].lower()):
            entries = self.events(self.root, query)
            self.assertEqual([e["event"] for e in entries], ["received", "sent", "removed"], query)
            received, sent = entries[0], entries[1]
            self.assertEqual(received["queue_id"], self.ids["ok"])
            self.assertEqual(received["sender"], EVIL_SENDER)
            self.assertEqual(received["orig_address"], "info@ok.test")
            self.assertEqual(received["address"], "user@dest.test")
            self.assertEqual(received["relay"], "127.0.0.1")
            self.assertIn("127.0.0.1", sent["relay"])
            self.assertTrue(sent["reply"].startswith("250"), sent)
            self.assertLessEqual(received["time"], sent["time"])
            self.assertEqual(entries[2]["reply"], "delivered")

    def test_bounced_path_with_remote_reply(self):
        entries = self.events(self.root, "address=Info@Bad.Test")
        events = [e["event"] for e in entries]
        self.assertEqual(events, ["received", "bounced", "removed"])
        bounced = entries[1]
        self.assertEqual(bounced["dsn"], "5.1.1")
        self.assertIn("550", bounced["reply"])
        self.assertIn("no such user", bounced["reply"])
        self.assertEqual(entries[2]["reply"], "finished (bounced)")
        r = self.root.get("/log?address=info%40bad.test")
        self.assertEqual(r.status, 200)
        for text in ("received", "bounced", "no such user", self.ids["bad"], "&lt;script&gt;x&lt;/script&gt;",
                     "&lt;script&gt;y&lt;/script&gt;"):
            self.assertIn(text, r.body)
        self.assertNotIn("<script", r.body)

    def test_page_lists_path_in_order(self):
        r = self.root.get("/log?queue_id=" + self.ids["ok"])
        self.assertEqual(r.status, 200)
        body = r.body
        self.assertIn('href="/log"', body)  # the navigation link
        pos = [body.find(">%s<" % e) for e in ("received", "sent", "removed")]
        self.assertTrue(all(p > 0 for p in pos) and pos == sorted(pos), pos)
        self.assertNotIn("<script", body)
        self.assertIn("No entries", self.root.get("/log?address=nobody%40nowhere.test").body)

    def test_domain_admin_scope(self):
        for query in ("address=info@ok.test", "address=info@bad.test", "queue_id=" + self.ids["ok"],
                      "queue_id=" + self.ids["bad"], "address=user@dest.test"):
            self.assertEqual(self.events(self.other, query), [], query)
            r = self.other.get("/log?" + query)
            self.assertEqual(r.status, 200)
            self.assertIn("No entries", r.body)
            self.assertNotIn("send.test", r.body)
        self.assertEqual([e["event"] for e in self.events(self.oka, "address=user@dest.test")],
                         ["received", "sent", "removed"])
        self.assertEqual(self.events(self.oka, "queue_id=" + self.ids["bad"]), [])
        dash = self.other.get("/").body
        self.assertRegex(dash, r"<dt>Deliveries</dt><dd>0</dd>")
        self.assertRegex(dash, r"<dt>Bounces</dt><dd>0</dd>")
        dash = self.oka.get("/").body
        self.assertRegex(dash, r"<dt>Deliveries</dt><dd>1</dd>")

    def test_deferred_then_deleted_by_admin(self):
        c = self.inst.client()
        r = c.send_mail("s@send.test", ["info@other.test"], mxtest.make_message("later@send.test"))
        c.close()
        self.assertEqual(r.code, 250)
        qid = re.search(r"queued as (\w+)", r.text).group(1)
        self.assertTrue(wait_for(
            lambda: "deferred" in [e["event"] for e in self.events(self.other, "queue_id=" + qid)]))
        self.assertEqual(self.other.api("DELETE", "/queue/" + qid, csrf=self.other.csrf).status, 200)
        entries = self.events(self.other, "address=info@other.test")
        self.assertEqual(entries[0]["event"], "received")
        deferred = [e for e in entries if e["event"] == "deferred"]
        self.assertIn("451", deferred[0]["reply"])
        self.assertEqual(deferred[0]["dsn"], "4.3.0")
        self.assertEqual(entries[-1]["event"], "removed")
        self.assertEqual(entries[-1]["reply"], "deleted in mxadmin by other")
        self.assertEqual(self.events(self.oka, "queue_id=" + qid), [])

    def test_dashboard_and_errors(self):
        dash = self.root.get("/").body
        self.assertRegex(dash, r"<dt>Deliveries</dt><dd>[1-9]\d*</dd>")
        self.assertRegex(dash, r"<dt>Bounces</dt><dd>[1-9]\d*</dd>")
        r = self.root.api("GET", "/log")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["field"], "address")
        r = self.root.api("GET", "/log?queue_id=xyz")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["field"], "queue_id")
        self.assertEqual(self.root.api("POST", "/log", csrf=self.root.csrf).status, 405)


if __name__ == "__main__":
    unittest.main()
