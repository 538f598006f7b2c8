"""The secondary (backup) MX: validates recipients against its copy of the tables (no backscatter), 451
when that copy is stale, relays everything to the primary with the recipients unexpanded, holds mail
while the primary is down and drains it within seconds of its return (probe), and ETRN."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
import sink  # noqa: E402
from fixtures import hosted, wait_for  # noqa: E402


class Secondary(unittest.TestCase):
    def setUp(self):
        self.primary_port = mxtest.free_port()
        self.primary = None
        self.inst = mxtest.Instance({
            "role": "secondary",
            "myhostname": "mx2.example.com",
            "primary_hosts": "[127.0.0.1]:%d" % self.primary_port,
            "queue_run_delay": "300s",
            "minimal_backoff_time": "300s",
            "maximal_backoff_time": "600s",
            "primary_probe_interval": "1s",
            "smtp_tls_security_level": "none",
            "replica_max_age": "1h",
        })
        hosted(self.inst)

    def tearDown(self):
        try:
            self.inst.stop()
        finally:
            self.inst.cleanup()
            if self.primary is not None:
                self.primary.stop()

    def mark_replica_fresh(self):
        """What the sync client records after each pull from the primary."""
        import sqlite3
        db = sqlite3.connect(self.inst.settings["database"])
        db.execute("CREATE TABLE IF NOT EXISTS sync_state(key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT OR REPLACE INTO sync_state(key, value) VALUES ('last_sync', ?)", (str(int(time.time())),))
        db.commit()
        db.close()

    def test_stale_replica_answers_451_for_unknown(self):
        self.inst.start()
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@sender.test>")
        self.assertEqual(c.cmd("RCPT TO:<info@example.com>").code, 250)
        r = c.cmd("RCPT TO:<nobody@example.com>")
        self.assertTrue(r.text.startswith("451 4.3.0"), r.lines)
        r = c.cmd("RCPT TO:<x@elsewhere.test>")
        self.assertTrue(r.text.startswith("451 4.3.0"), r.lines)

    def test_fresh_replica_rejects_unknown_user(self):
        self.mark_replica_fresh()
        self.inst.start()
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@sender.test>")
        self.assertTrue(c.cmd("RCPT TO:<nobody@example.com>").text.startswith("550 5.1.1"))
        self.assertTrue(c.cmd("RCPT TO:<x@elsewhere.test>").text.startswith("554 5.7.1"))
        self.assertEqual(c.cmd("RCPT TO:<info@example.com>").code, 250)

    def test_holds_then_drains_fast_when_primary_returns(self):
        self.mark_replica_fresh()
        self.inst.start()
        c = self.inst.client()
        r = c.send_mail("a@sender.test", ["info@example.com"], mxtest.make_message("ha1@test"))
        self.assertEqual(r.code, 250)
        c.close()
        self.assertTrue(wait_for(lambda: "status=deferred" in self.inst.read_log(), 20), self.inst.read_log())
        time.sleep(1)
        self.primary = sink.Sink("127.0.0.1", self.primary_port)
        t0 = time.time()
        self.assertTrue(self.primary.wait(1, timeout=15), self.inst.read_log()[-2000:])
        self.assertLess(time.time() - t0, 10, "drain must start within 10 s of the primary's return")
        m = self.primary.messages[0]
        self.assertEqual(m.rcpt_tos, ["info@example.com"], "a secondary relays the recipient unexpanded")
        self.assertIn("primary answers again", self.inst.read_log())

    def test_lifetime_expiry_gives_one_dsn(self):
        """Held past maximal_queue_lifetime (seconds here): one DSN to the sender, which the secondary
        hands to the primary like everything else once it answers."""
        self.mark_replica_fresh()
        self.inst.settings.update(maximal_queue_lifetime="3s", minimal_backoff_time="1s",
                                  maximal_backoff_time="1s", queue_run_delay="1s")
        self.inst.write_conf()
        self.inst.start()
        c = self.inst.client()
        self.assertEqual(c.send_mail("a@sender.test", ["info@example.com"], mxtest.make_message("exp@test")).code,
                         250)
        c.close()
        self.assertTrue(wait_for(lambda: "status=expired, returned to sender" in self.inst.read_log(), 20),
                        self.inst.read_log()[-2000:])
        self.assertTrue(wait_for(lambda: "sender non-delivery notification" in self.inst.read_log(), 10))
        self.primary = sink.Sink("127.0.0.1", self.primary_port)
        self.assertTrue(self.primary.wait(1, timeout=20), self.inst.read_log()[-2000:])
        time.sleep(1.5)
        self.assertEqual(len(self.primary.messages), 1, "exactly one message: the DSN")
        dsn = self.primary.messages[0]
        self.assertIn(dsn.mail_from, ("", "<>"))
        self.assertEqual(dsn.rcpt_tos, ["a@sender.test"])
        self.assertIn(b"multipart/report", dsn.data)

    def test_etrn_from_trusted_client_only(self):
        self.inst.settings["mynetworks"] = "127.0.0.1/32"
        self.inst.write_conf()
        self.inst.start()
        c = self.inst.client()
        c.reply()
        r = c.cmd("EHLO client.example")
        self.assertIn("250-ETRN", r.lines)
        self.assertEqual(c.cmd("ETRN example.com").text, "250 2.0.0 Queuing started")
        self.inst.settings["mynetworks"] = "127.0.0.2/32"
        self.inst.write_conf()
        self.inst.stop()
        self.inst.start()
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        self.assertTrue(c.cmd("ETRN example.com").text.startswith("554 5.7.1"))


class PrimaryTrustsSecondary(unittest.TestCase):
    def test_trusted_peer_may_relay_and_etrn(self):
        inst = mxtest.Instance({"trusted_peers": "127.0.0.1/32"})
        try:
            inst.mxctl("domain", "add", "example.com")
            inst.start()
            c = inst.client()
            c.reply()
            c.cmd("EHLO mx2.example.com")
            c.cmd("MAIL FROM:<a@sender.test>")
            # a secondary may hold mail for a domain the primary dropped meanwhile: not refused for relay
            self.assertEqual(c.cmd("RCPT TO:<x@elsewhere.test>").code, 250)
            c.cmd("RSET")
            self.assertEqual(c.cmd("ETRN example.com").code, 250)
        finally:
            inst.stop()
            inst.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
