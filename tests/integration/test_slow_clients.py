"""Slow clients against a running mxd (issue #8): smtpd_timeout is a deadline for a whole command line,
however it trickles in, and DATA must keep up smtpd_min_data_rate (as Postfix's smtpd_per_record_deadline
and smtpd_min_data_rate). A client sending a command one byte a second is cut with 421 4.4.2; one
trickling DATA too is cut and nothing is queued; a large message at an honest rate, and a client slow
between its commands, are served; while 50 slow clients from one address hold connections, another
client is served at once. smtpd_timeout is 3s here, so the whole file takes about 20 seconds."""
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
from fixtures import hosted, stop_and_cleanup  # noqa: E402

TIMEOUT = 3  # smtpd_timeout, seconds


def trickle_until_reply(sock, data, interval):
    """Send data one octet every interval seconds until the server answers or hangs up. Returns
    (what it answered, seconds from the first octet, octets sent)."""
    t0 = time.time()
    sock.settimeout(interval)
    got = b""
    for i, octet in enumerate(data):
        try:
            sock.sendall(bytes([octet]))
        except OSError:
            return got, time.time() - t0, i
        try:
            chunk = sock.recv(1000)
            if not chunk:
                return got, time.time() - t0, i + 1
            got += chunk
            if got.endswith(b"\r\n"):
                return got, time.time() - t0, i + 1
        except (socket.timeout, TimeoutError):
            pass
    return got, time.time() - t0, len(data)


class SlowClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # the default smtpd_min_data_rate (500 bytes/s) and smtpd_client_connection_limit (50)
        cls.inst = mxtest.Instance({"smtpd_timeout": "%ds" % TIMEOUT})
        hosted(cls.inst)
        cls.inst.start()

    @classmethod
    def tearDownClass(cls):
        stop_and_cleanup(cls.inst)

    def client_from(self, addr):
        s = socket.socket()
        s.settimeout(10)
        s.bind((addr, 0))
        s.connect(("127.0.0.1", self.inst.port))
        c = mxtest.Client.__new__(mxtest.Client)
        c.sock, c.buf, c.banner, c.greeted = s, b"", None, False
        return c

    def queued_from(self, sender):
        return sender in self.inst.mxctl("queue", "list").stdout

    def test_command_one_byte_a_second_is_cut(self):
        c = self.inst.client()
        self.assertEqual(c.reply().code, 220)
        got, elapsed, sent = trickle_until_reply(c.sock, b"EHLO slow.example.org\r\n", 1.0)
        c.close()
        self.assertTrue(got.startswith(b"421 4.4.2 mx.mxd.test Error: timeout exceeded"), got)
        self.assertLess(sent, 8, "cut before the line was complete")
        self.assertGreater(elapsed, TIMEOUT - 1)
        self.assertLess(elapsed, TIMEOUT + 2)
        self.assertRegex(self.inst.read_log(), r"timeout after CONNECTED from unknown\[127\.0\.0\.1\]")

    def test_data_trickle_is_cut_and_nothing_queued(self):
        c = self.inst.client()
        c.reply()
        self.assertEqual(c.cmd("EHLO client.example").code, 250)
        self.assertEqual(c.cmd("MAIL FROM:<trickle@sender.test>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<info@example.com>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(b"Subject: slow\r\n\r\n")
        # 4 bytes/s against a minimum of 500: the deadline hardly moves
        got, elapsed, sent = trickle_until_reply(c.sock, b"x" * 100 + b"\r\n.\r\n", 0.25)
        c.close()
        self.assertTrue(got.startswith(b"421 4.4.2"), got)
        self.assertLess(elapsed, TIMEOUT + 2)
        self.assertRegex(self.inst.read_log(), r"timeout after DATA \(\d+ bytes\) from unknown\[127\.0\.0\.1\]")
        time.sleep(0.3)
        self.assertFalse(self.queued_from("trickle@sender.test"), self.inst.mxctl("queue", "list").stdout)
        self.assertNotIn("from=<trickle@sender.test>", self.inst.read_log())

    def test_large_message_at_an_honest_rate_is_accepted(self):
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        # slow between commands, each line whole: every line has a deadline of its own
        time.sleep(TIMEOUT - 1)
        self.assertEqual(c.cmd("MAIL FROM:<honest@sender.test>").code, 250)
        time.sleep(TIMEOUT - 1)
        self.assertEqual(c.cmd("RCPT TO:<info@example.com>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        # 200 KB at about 40 KB/s: five seconds in all, longer than smtpd_timeout, far above 500 bytes/s
        line = b"0123456789" * 7 + b"\r\n"
        c.send(b"Subject: big\r\nMessage-ID: <honest@test>\r\n\r\n")
        t0 = time.time()
        for _ in range(50):
            c.send(line * 56)
            time.sleep(0.1)
        c.send(b".\r\n")
        r = c.reply()
        self.assertGreater(time.time() - t0, TIMEOUT + 1)
        self.assertEqual(r.code, 250, r)
        c.cmd("QUIT")
        c.close()
        self.assertTrue(self.queued_from("honest@sender.test"))

    def test_fifty_slow_clients_while_another_is_served(self):
        time.sleep(0.3)  # the other tests' connections are gone: the 50 fill the per-address limit
        slow = []
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", self.inst.port), timeout=10)
            slow.append(s)
        for s in slow:
            self.assertTrue(s.recv(1000).startswith(b"220 "))
        t_start = time.time()
        for s in slow:
            s.sendall(b"E")
        # a 51st from the same address is over smtpd_client_connection_limit
        extra = socket.create_connection(("127.0.0.1", self.inst.port), timeout=10)
        self.assertTrue(extra.recv(1000).startswith(b"421 4.7.0"))
        extra.close()
        # another address is served normally, at once
        t0 = time.time()
        other = self.client_from("127.0.0.3")
        r = other.send_mail("served@sender.test", ["info@example.com"], mxtest.make_message("served@test"))
        self.assertEqual(r.code, 250, r)
        other.cmd("QUIT")
        other.close()
        self.assertLess(time.time() - t0, 2)
        # the slow ones keep trickling and are all cut at their deadline
        cut = {}
        for s in slow:
            s.setblocking(False)
        while len(cut) < len(slow) and time.time() - t_start < TIMEOUT + 4:
            for i, s in enumerate(slow):
                if i in cut:
                    continue
                try:
                    data = s.recv(1000)
                    cut[i] = data
                    continue
                except BlockingIOError:
                    pass
                except OSError as e:
                    cut[i] = str(e).encode()
                    continue
                try:
                    s.sendall(b"H")
                except OSError:
                    pass
            time.sleep(0.5)
        for s in slow:
            s.close()
        self.assertEqual(len(cut), 50, "every slow client was cut")
        self.assertEqual([i for i, d in cut.items() if not d.startswith(b"421 4.4.2")], [], cut)


if __name__ == "__main__":
    unittest.main(verbosity=2)
