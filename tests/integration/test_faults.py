"""Faults, each with the expected behaviour as an assertion: the disk loses an fsync (451, never 250), the
queue's disk is full (452 4.3.1, queue intact, mail flows again when space returns), a large body's
segment write fails (disk full: 452, I/O error or a lost fdatasync: 451; never 250), the tables are
locked (451, never 550), a message whose content is missing is quarantined while the rest moves."""
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
import sink  # noqa: E402
from fixtures import hosted, stop_and_cleanup  # noqa: E402

SHIM = os.environ.get("MXD_FAULTSHIM", "")


def send(inst, msgid, size=0):
    c = inst.client()
    body = "x" * 998 + "\r\n"
    r = c.send_mail("a@sender.test", ["info@example.com"],
                    mxtest.make_message(msgid, body=body * (size // 1000) if size else "hi\r\n"))
    c.close()
    return r


def queued_ids(inst):
    return re.findall(r"^([0-9A-F]{16})\b", inst.mxctl("queue", "list").stdout, re.M)


class Faults(unittest.TestCase):
    def setUp(self):
        self.inst = mxtest.Instance()
        hosted(self.inst)

    def tearDown(self):
        stop_and_cleanup(self.inst)

    @unittest.skipUnless(SHIM and os.path.exists(SHIM), "fault shim not built")
    def test_fsync_eio_gives_451_never_250(self):
        flag = os.path.join(self.inst.dir, "fail-fsync")
        env = {"LD_PRELOAD": SHIM, "MXD_FAULT_FILE": flag,
               "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1:abort_on_error=1"}
        self.inst.start(env=env)
        ok = send(self.inst, "f1@test")
        self.assertEqual(ok.code, 250, ok.lines)
        open(flag, "w").close()
        bad = send(self.inst, "f2@test")
        self.assertTrue(bad.text.startswith("451 4.3.0"), bad.lines)
        os.unlink(flag)
        again = send(self.inst, "f3@test")
        self.assertEqual(again.code, 250, again.lines)
        self.inst.kill9()
        self.inst.start()
        ids = queued_ids(self.inst)
        for r in (ok, again):
            self.assertIn(r.text.split()[-1], ids)

    @unittest.skipUnless(SHIM and os.path.exists(SHIM), "fault shim not built")
    def test_segment_write_faults_give_452_and_451(self):
        """Bodies of 32 KiB or more go to segment files (queue_segment.h): pwritev and fdatasync fail."""
        full = os.path.join(self.inst.dir, "fail-pwritev")
        sync = os.path.join(self.inst.dir, "fail-fsync")
        env = {"LD_PRELOAD": SHIM, "MXD_FAULT_PWRITEV_FILE": full, "MXD_FAULT_FILE": sync,
               "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1:abort_on_error=1"}
        self.inst.start(env=env)
        with open(full, "w") as f:
            f.write("ENOSPC")
        r = send(self.inst, "full@test", size=100000)
        self.assertTrue(r.text.startswith("452 4.3.1"), r.lines)
        small = send(self.inst, "small@test")  # a small body is a blob: not in a segment
        self.assertEqual(small.code, 250, small.lines)
        with open(full, "w") as f:
            f.write("EIO")
        r = send(self.inst, "eio@test", size=100000)
        self.assertTrue(r.text.startswith("451 4.3.0"), r.lines)
        os.unlink(full)
        open(sync, "w").close()  # fdatasync fails with EIO
        r = send(self.inst, "sync@test", size=100000)
        self.assertTrue(r.text.startswith("451 4.3.0"), r.lines)
        os.unlink(sync)
        after = send(self.inst, "after@test", size=100000)
        self.assertEqual(after.code, 250, after.lines)
        self.inst.kill9()
        self.inst.start()
        self.assertEqual(sorted(queued_ids(self.inst)), sorted([small.text.split()[-1], after.text.split()[-1]]))
        out = self.inst.mxctl("queue", "show", after.text.split()[-1]).stdout
        self.assertIn("after@test", out)
        self.assertEqual(out.count("x" * 998), 100)

    @unittest.skipUnless(SHIM and os.path.exists(SHIM), "fault shim not built")
    def test_clock_jumps(self):
        """Forward 7 days: no mass expiry in one scan; back 1 day: retries go on."""
        offset = os.path.join(self.inst.dir, "clock-offset")
        with open(offset, "w") as f:
            f.write("0")
        self.inst.settings.update(queue_run_delay="1s", minimal_backoff_time="2s", maximal_backoff_time="2s")
        self.inst.write_conf()
        env = {"LD_PRELOAD": SHIM, "MXD_FAKE_TIME_FILE": offset,
               "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1:abort_on_error=1"}
        self.inst.start(extra_args=["-o", "relayhost=[127.0.0.1]:9"], env=env)
        qids = [send(self.inst, "clock%d@test" % n).text.split()[-1] for n in range(3)]
        deadline = time.time() + 10
        while time.time() < deadline and self.inst.read_log().count("status=deferred") < 3:
            time.sleep(0.1)
        with open(offset, "w") as f:
            f.write(str(7 * 86400))
        deadline = time.time() + 10
        while time.time() < deadline and "the clock jumped forward" not in self.inst.read_log():
            time.sleep(0.1)
        self.assertTrue("the clock jumped forward" in self.inst.read_log(), self.inst.read_log()[-1500:])
        before = self.inst.read_log().count("status=deferred")
        time.sleep(4)
        log = self.inst.read_log()
        self.assertNotIn("status=expired", log)
        self.assertNotIn("status=bounced", log)
        self.assertGreater(log.count("status=deferred"), before, "retries must go on after the jump")
        for qid in qids:
            self.assertIn(qid, queued_ids(self.inst))
        with open(offset, "w") as f:
            f.write(str(6 * 86400))  # one day back
        deadline = time.time() + 10
        while time.time() < deadline and "the clock jumped backward" not in self.inst.read_log():
            time.sleep(0.1)
        self.assertTrue("the clock jumped backward" in self.inst.read_log(), self.inst.read_log()[-1500:])
        before = self.inst.read_log().count("status=deferred")
        time.sleep(5)
        self.assertGreater(self.inst.read_log().count("status=deferred"), before,
                           "retries must go on after a step back")

    def test_full_disk_452_then_flows_again(self):
        qdir = self.inst.settings["queue_directory"]
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", qdir]).returncode != 0:
            self.skipTest("cannot mount a tmpfs here")
        try:
            self.inst.start()
            accepted, refused = [], None
            for n in range(40):
                r = send(self.inst, "big%d@test" % n, size=200000)
                if r.code == 250:
                    accepted.append(r.text.split()[-1])
                    continue
                refused = r
                break
            self.assertIsNotNone(refused, "the disk never filled up")
            self.assertTrue(refused.text.startswith("452 4.3.1"), refused.lines)
            self.assertGreater(len(accepted), 0)
            ids = queued_ids(self.inst)
            for qid in accepted:
                self.assertIn(qid, ids)
            subprocess.run(["mount", "-o", "remount,size=64m", qdir], check=True)
            r = send(self.inst, "after@test", size=200000)
            self.assertEqual(r.code, 250, r.lines)
            self.inst.stop()
        finally:
            if self.inst.proc is not None:
                self.inst.kill9()
            subprocess.run(["umount", qdir])

    def test_spool_on_full_disk_452_session_goes_on(self):
        """A message larger than the queue's free space fills the disk while its content is spooled
        (mxd/smtpd/data_spool.c): 452 4.3.1 at the end of DATA, logged, nothing left; the session goes
        on and a small message in it is accepted."""
        qdir = self.inst.settings["queue_directory"]
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", qdir]).returncode != 0:
            self.skipTest("cannot mount a tmpfs here")
        try:
            self.inst.start()
            c = self.inst.client()
            body = "x" * 998 + "\r\n"
            r = c.send_mail("a@sender.test", ["info@example.com"],
                            mxtest.make_message("spoolfull@test", body=body * 4000))
            self.assertTrue(r.text.startswith("452 4.3.1"), r.lines)
            log = self.inst.read_log()
            self.assertIn("queue file write error: message spool: No space left on device", log)
            self.assertRegex(log, r"reject: END-OF-MESSAGE from .*: 452 4\.3\.1 ")
            r = c.send_mail("a@sender.test", ["info@example.com"], mxtest.make_message("small@test"))
            self.assertEqual(r.code, 250, r.lines)
            c.close()
            self.assertEqual(len(queued_ids(self.inst)), 1)
            left = [n for n in os.listdir(qdir) if not n.startswith("queue.db") and n != "segments"]
            self.assertFalse(left, os.listdir(qdir))
            self.assertEqual(os.listdir(os.path.join(qdir, "segments")), [], "no body of the refused message")
            self.inst.stop()
        finally:
            if self.inst.proc is not None:
                self.inst.kill9()
            subprocess.run(["umount", qdir])

    def test_unreadable_tables_give_451_never_550(self):
        """A table that cannot be read (WAL readers are never locked out by writers, so this stands in
        for a locked, damaged or half-migrated database) is a temporary failure, never a 550."""
        self.inst.start()
        db = sqlite3.connect(self.inst.settings["database"], timeout=10, isolation_level=None)
        db.execute("PRAGMA foreign_keys=OFF")
        db.execute("ALTER TABLE aliases RENAME TO aliases_away")
        try:
            c = self.inst.client()
            c.reply()
            c.cmd("EHLO client.example")
            c.cmd("MAIL FROM:<a@sender.test>")
            r = c.cmd("RCPT TO:<nobody@example.com>")
            self.assertTrue(r.text.startswith("451 4.3.0"), r.lines)
            r = c.cmd("RCPT TO:<info@example.com>")
            self.assertTrue(r.text.startswith("451 4.3.0"), r.lines)
        finally:
            db.execute("ALTER TABLE aliases_away RENAME TO aliases")
            db.close()
        self.assertTrue(c.cmd("RCPT TO:<nobody@example.com>").text.startswith("550 5.1.1"))
        self.assertEqual(c.cmd("RCPT TO:<info@example.com>").code, 250)

    def test_message_without_content_is_quarantined(self):
        s = sink.Sink("127.0.0.1", mxtest.free_port())
        try:
            self.inst.settings.update(smtp_tls_security_level="none", queue_run_delay="1s",
                                      minimal_backoff_time="1s", maximal_backoff_time="1s")
            self.inst.write_conf()
            # queue two messages while nothing delivers (dead relay), then damage one
            self.inst.start(extra_args=["-o", "relayhost=[127.0.0.1]:9"])
            r1, r2 = send(self.inst, "q1@test"), send(self.inst, "q2@test")
            time.sleep(1)
            self.inst.kill9()
            self.inst.mxctl("route", "add", "*", "[127.0.0.1]:%d" % s.port)
            q = sqlite3.connect(os.path.join(self.inst.settings["queue_directory"], "queue.db"))
            q.execute("PRAGMA foreign_keys=OFF")
            q.execute("DELETE FROM bodies WHERE id = ?", (r1.text.split()[-1],))
            q.commit()
            q.close()
            self.inst.start()
            self.assertTrue(s.wait(1, 20), self.inst.read_log())
            self.assertEqual(s.messages[0].rcpt_tos, ["someone@gmail.test"])
            self.assertIn(b"q2@test", s.messages[0].data)
            self.assertIn("quarantined", self.inst.read_log())
            listing = self.inst.mxctl("queue", "list").stdout
            self.assertIn(r1.text.split()[-1], listing)
        finally:
            s.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
