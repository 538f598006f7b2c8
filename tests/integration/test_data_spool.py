"""DATA in bounded memory (mxd/smtpd/data_spool.c): a large message arrives byte-intact at the next hop;
while it is read its content sits in an unlinked file of the queue directory, never a named one; a
refused or abandoned message leaves neither a file nor an open one; without O_TMPFILE the fallback (a
name removed at once) works the same; 12 sessions sending 4 MiB at once leave mxd's memory as it was."""
import fcntl
import os
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
import sink  # noqa: E402
from fixtures import hosted, rss_kib, stop_and_cleanup, wait_for  # noqa: E402

SHIM = os.environ.get("MXD_FAULTSHIM", "")
MIB = 1024 * 1024


def big_message(msgid, size):
    """A message of about size octets: lines of varying text, some starting with a dot (stuffed on the
    wire), each line different so that a chunk out of place shows."""
    lines, n, total = [], 0, 0
    while total < size:
        line = ("%s%08d " % ("." if n % 97 == 0 else "", n)) + "abcdefghijklmnopqrstuvwxyz" * (1 + n % 3)
        lines.append(line)
        total += len(line) + 2
        n += 1
    return mxtest.make_message(msgid, body="\r\n".join(lines) + "\r\n").encode()


def stuffed(msg):
    return b"\r\n".join(b"." + l if l.startswith(b".") else l for l in msg.split(b"\r\n"))


class DataSpool(unittest.TestCase):
    def setUp(self):
        self.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        self.inst = mxtest.Instance({"queue_run_delay": "1s", "smtp_tls_security_level": "none",
                                     "message_size_limit": str(6 * MIB)})
        hosted(self.inst)
        if "rss" not in self._testMethodName:  # there, no delivery (which reads bodies back) runs
            self.inst.mxctl("route", "add", "*", "[127.0.0.1]:%d" % self.sink.port)
        self.qdir = self.inst.settings["queue_directory"]

    def tearDown(self):
        try:
            stop_and_cleanup(self.inst)
        finally:
            self.sink.stop()

    def start(self, env=None):
        self.inst.start(env=env)
        self.names = set(os.listdir(self.qdir))

    def spool_fds(self):
        """mxd's open files in the queue directory that have no name (a spool)."""
        fd_dir = "/proc/%d/fd" % self.inst.proc.pid
        found = []
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith(self.qdir) and target.endswith("(deleted)"):
                found.append(target)
        return found

    def spool_maps(self):
        """mxd's mappings of unnamed files in the queue directory (a view not released)."""
        with open("/proc/%d/maps" % self.inst.proc.pid) as f:
            return [line for line in f if self.qdir in line and line.rstrip().endswith("(deleted)")]

    def assert_nothing_left(self):
        left = set(os.listdir(self.qdir)) - self.names
        self.assertFalse([n for n in left if not n.startswith("queue.db") and not n.startswith("mxd")],
                         "files left in the queue directory: %s" % sorted(left))
        self.assertTrue(wait_for(lambda: not self.spool_fds()), "spool files still open: %s" % self.spool_fds())
        self.assertTrue(wait_for(lambda: not self.spool_maps()), "spool files still mapped: %s" % self.spool_maps())

    def session(self):
        c = self.inst.client(timeout=30)
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@sender.test>")
        c.cmd("RCPT TO:<info@example.com>")
        self.assertEqual(c.cmd("DATA").code, 354)
        return c

    def send_large(self, msg, expect_fallback=False, look=True):
        """Send msg in two halves, looking between them for the unnamed spool file."""
        c = self.session()
        wire = stuffed(msg)
        half = len(wire) // 2
        c.send(wire[:half])
        if look:
            self.assertTrue(wait_for(lambda: self.spool_fds()), "no unnamed spool file while DATA runs")
        if expect_fallback:
            self.assertIn("/.data-spool.", self.spool_fds()[0])
        c.send(wire[half:] + b".\r\n")
        r = c.reply()
        c.close()
        return r

    def assert_delivered(self, msg, n=1):
        self.assertTrue(self.sink.wait(n), "the sink got nothing: %s" % self.inst.read_log()[-1500:])
        got = self.sink.messages[n - 1].data
        self.assertTrue(got.endswith(msg), "content changed: %d octets sent, %d received" % (len(msg), len(got)))
        self.assertTrue(got.startswith(b"Received: from client.example"), got[:200])

    def test_3mib_message_byte_intact(self):
        self.start()
        msg = big_message("big1@test", 3 * MIB)
        r = self.send_large(msg)
        self.assertEqual(r.code, 250, r.lines)
        self.assert_delivered(msg)
        self.assert_nothing_left()

    def test_refused_and_abandoned_leave_nothing(self):
        self.start()
        # too big: over message_size_limit
        c = self.session()
        c.send(stuffed(big_message("toobig@test", 7 * MIB)) + b".\r\n")
        r = c.reply()
        self.assertTrue(r.text.startswith("552 5.3.4"), r.lines)
        # a bare LF in the middle of a large message
        c.cmd("MAIL FROM:<a@sender.test>")
        c.cmd("RCPT TO:<info@example.com>")
        self.assertEqual(c.cmd("DATA").code, 354)
        msg = stuffed(big_message("barelf@test", 2 * MIB))
        c.send(msg[:MIB] + b"bare\nLF\r\n" + msg[MIB:] + b".\r\n")
        r = c.reply()
        self.assertTrue(r.text.startswith("550 5.5.2"), r.lines)
        c.close()
        self.assert_nothing_left()
        # abandoned: the client leaves in the middle of DATA
        c = self.session()
        c.send(stuffed(big_message("gone@test", 3 * MIB))[:2 * MIB])
        self.assertTrue(wait_for(lambda: self.spool_fds()), "no unnamed spool file while DATA runs")
        c.sock.close()
        self.assertTrue(wait_for(lambda: "lost connection after DATA" in self.inst.read_log()
                                    or "disconnect from" in self.inst.read_log()))
        self.assert_nothing_left()
        # and the server goes on
        ok = self.send_large(big_message("after@test", MIB))
        self.assertEqual(ok.code, 250, ok.lines)

    @unittest.skipUnless(SHIM and os.path.exists(SHIM), "fault shim not built")
    def test_without_o_tmpfile(self):
        self.start(env={"LD_PRELOAD": SHIM, "MXD_FAULT_NO_TMPFILE": "1",
                        "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1:abort_on_error=1"})
        msg = big_message("fallback@test", 3 * MIB)
        r = self.send_large(msg, expect_fallback=True)
        self.assertEqual(r.code, 250, r.lines)
        self.assertIn("no O_TMPFILE in %s" % self.qdir, self.inst.read_log())
        self.assert_delivered(msg)
        self.assert_nothing_left()

    def test_rss_bounded_12_sessions_of_4mib(self):
        """12 sessions each 4 MiB into DATA at once: mxd's RSS grows by less than 12 MiB (it grew by the
        content, some 50 MiB and more, when a session kept its message in memory). Measured with the
        content sent but before the final dot: the queue's own page cache for the commit is not ours.
        Without ASan's quarantine, which would count every freed input buffer."""
        asan = os.environ.get("ASAN_OPTIONS", "")
        self.start(env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=0"})
        warm = self.send_large(big_message("warm@test", 4 * MIB), look=False)
        self.assertEqual(warm.code, 250, warm.lines)
        pid = self.inst.proc.pid
        time.sleep(0.5)
        before = rss_kib(pid)
        msgs = [stuffed(big_message("rss%d@test" % k, 4 * MIB)) for k in range(12)]
        clients = [self.session() for _ in range(12)]
        threads = [threading.Thread(target=clients[k].send, args=(msgs[k],)) for k in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        def unsent(c):  # octets the peer has not acknowledged yet (TIOCOUTQ)
            return struct.unpack("i", fcntl.ioctl(c.sock.fileno(), 0x5411, b"\0\0\0\0"))[0]

        self.assertTrue(wait_for(lambda: all(unsent(c) == 0 for c in clients)), "mxd does not read")
        time.sleep(1)
        during = rss_kib(pid) - before
        for c in clients:
            c.send(b".\r\n")
        codes = [c.reply().code for c in clients]
        for c in clients:
            c.close()
        self.assertEqual(codes, [250] * 12)
        time.sleep(0.5)
        self.assert_nothing_left()
        print("12 x 4 MiB in DATA: RSS +%d KiB; after the commit: +%d KiB" % (during, rss_kib(pid) - before))
        self.assertLess(during, 12 * 1024, "mxd's RSS grew by %d KiB" % during)


if __name__ == "__main__":
    unittest.main()
