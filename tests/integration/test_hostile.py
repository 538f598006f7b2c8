"""Adversarial SMTP sessions against a running mxd: a million pipelined RCPTs (memory stays bounded),
smuggling variants with NUL octets, invalid UTF-8, parameter abuse, header injection through HELO, and a
connection flood from one address while another address is still served; against the connection gate
(test_gate.py has the plain cases): a burst of early talkers, a DNSBL-listed client that keeps talking,
pipelining bots and a connection-rate flood, each while a well-behaved client from another address is
served."""
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
from fixtures import hosted, rss_kib, stop_and_cleanup  # noqa: E402


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.inst = mxtest.Instance({"smtpd_client_connection_limit": "10", "smtpd_recipient_limit": "100"})
        hosted(cls.inst)
        cls.inst.start()

    @classmethod
    def tearDownClass(cls):
        stop_and_cleanup(cls.inst)

    def session(self):
        c = self.inst.client(timeout=30)
        c.reply()
        c.cmd("EHLO client.example")
        return c

    def test_million_rcpts_memory_bounded(self):
        before = rss_kib(self.inst.proc.pid)
        c = self.session()
        c.cmd("MAIL FROM:<a@sender.test>")
        line = b"RCPT TO:<info@example.com>\r\n"

        def blast():
            try:
                for _ in range(1000):
                    c.sock.sendall(line * 1000)
            except OSError:
                pass  # the server hung up: what we expect

        t = threading.Thread(target=blast)
        t.start()
        codes = []
        try:
            while True:
                codes.append(c.reply().code)
        except (ConnectionError, OSError):
            pass
        t.join()
        self.assertIn(250, codes)
        self.assertIn(452, codes, "the recipient limit must answer 452 4.5.3 (%d replies)" % len(codes))
        self.assertEqual(codes[-1], 421, "a client that keeps failing is cut off")
        self.assertLess(len(codes), 1000)
        grown = rss_kib(self.inst.proc.pid) - before
        self.assertLess(grown, 64 * 1024, "mxd grew by %d KiB" % grown)

    def test_close_while_the_client_still_sends(self):
        """A client that keeps sending after QUIT and never closes gets its 221 and an orderly end of
        stream (no reset that would destroy the reply), and mxd stops waiting for it within seconds."""
        c = self.session()
        c.sock.sendall(b"QUIT\r\n" + b"NOOP\r\n" * 20000)
        self.assertEqual(c.reply().code, 221)
        start = time.monotonic()
        c.sock.settimeout(10)
        got = b"x"
        while got:  # the half-close: EOF while the client may still send
            got = c.sock.recv(4096)
        try:
            while time.monotonic() - start < 10:  # keep sending: mxd drops it, then closes for good
                c.sock.sendall(b"NOOP\r\n" * 100)
                time.sleep(0.05)
        except OSError:
            pass
        self.assertLess(time.monotonic() - start, 5, "the lingering close is bounded")
        c.close()

    def test_smuggling_with_nul_variants(self):
        for seq in (b"\r\n\x00.\r\n", b"\r\n.\x00\r\n", b"\x00\r\n.\r\n"):
            c = self.session()
            c.cmd("MAIL FROM:<a@sender.test>")
            c.cmd("RCPT TO:<info@example.com>")
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(b"Subject: x\r\n\r\nhi" + seq + b"MAIL FROM:<evil@x.test>\r\n\r\n.\r\n")
            r = c.reply()
            self.assertTrue(r.text.startswith("550"), (seq, r.lines))
            self.assertEqual(c.cmd("NOOP").code, 250)
            c.close()

    def test_invalid_utf8_and_parameter_abuse(self):
        c = self.session()
        self.assertTrue(c.cmd(b"MAIL FROM:<j\xc3\x28rg@sender.test> SMTPUTF8").text.startswith("5"))
        self.assertTrue(c.cmd(b"MAIL FROM:<j\xc3\xb6rg@sender.test>").text.startswith("553 5.6.7"))
        self.assertTrue(c.cmd("MAIL FROM:<a@sender.test> SIZE=99999999999999999999").text.startswith("55"))
        self.assertTrue(c.cmd(b"MAIL FROM:<a@sender.test> AUTH=a\x01b").text.startswith("5"))
        self.assertTrue(c.cmd("MAIL FROM:<a@sender.test> " + "X=1 " * 100).text.startswith("5"))
        self.assertEqual(c.cmd("MAIL FROM:<a@sender.test>").code, 250)

    def test_helo_cannot_inject_headers(self):
        c = self.inst.client()
        c.reply()
        r = c.cmd(b"EHLO evil\rX-Injected: yes")
        self.assertTrue(r.text.startswith("50"), r.lines)
        r = c.cmd("EHLO evil.example X-Injected:yes")
        if r.code == 250:  # accepted as a (strange) name: it must stay on the Received line
            r = c.send_mail("a@sender.test", ["info@example.com"], mxtest.make_message("h1@test"))
            qid = r.text.split()[-1]
            show = self.inst.mxctl("queue", "show", qid).stdout
            self.assertNotRegex(show, r"(?m)^X-Injected")

    def test_flood_from_one_address_others_served(self):
        flood = []
        for _ in range(30):
            try:
                s = socket.create_connection(("127.0.0.1", self.inst.port), timeout=5)
                flood.append(s)
            except OSError:
                break
        time.sleep(0.3)
        other = socket.socket()
        other.settimeout(10)
        other.bind(("127.0.0.2", 0))
        other.connect(("127.0.0.1", self.inst.port))
        banner = other.recv(1000)
        self.assertTrue(banner.startswith(b"220 "), banner)
        other.close()
        refused = 0
        for s in flood:
            try:
                if s.recv(100).startswith(b"421 4.7.0"):
                    refused += 1
            except OSError:
                pass
            s.close()
        self.assertGreaterEqual(refused, 20)
        # the tests after this one connect from the same address: wait until mxd has seen the flood go
        deadline = time.monotonic() + 10
        while True:
            c = self.inst.client(timeout=10)
            greeting = c.reply()
            c.close()
            if greeting.code == 220 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(greeting.code, 220, "the flood's connection slots were given back")


class Pregreet(unittest.TestCase):
    def test_talking_before_the_greeting(self):
        inst = mxtest.Instance({"smtpd_greet_pause": "1s"})
        try:
            inst.start()
            early = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
            early.sendall(b"EHLO spammer.example\r\nMAIL FROM:<a@b.example>\r\n")
            data = b""
            while True:
                chunk = early.recv(1000)
                if not chunk:
                    break
                data += chunk
            self.assertTrue(data.startswith(b"554 5.5.0"), data)
            self.assertNotIn(b"220", data)
            patient = inst.client()
            t0 = time.time()
            self.assertEqual(patient.reply().code, 220)
            self.assertGreater(time.time() - t0, 0.5)
            self.assertEqual(patient.cmd("EHLO client.example").code, 250)
            patient.close()
            self.assertIn("PREGREET", inst.read_log())
        finally:
            inst.stop()
            inst.cleanup()


class GateHostile(unittest.TestCase):
    """Bots against the gate: none of them may keep a well-behaved client from another address out."""

    @classmethod
    def setUpClass(cls):
        cls.dns = dnsserver.start("$ORIGIN bl.test\n50.0.0.127 A 127.0.0.2\n", port=0)
        cls.inst = mxtest.Instance({
            "resolver": "127.0.0.1:%d" % cls.dns.port,
            "postscreen_greet_wait": "1s",
            "postscreen_dnsbl_sites": "bl.test",
            "smtpd_client_connection_rate_limit": "5",
            "smtpd_client_connection_limit": "50",
        })
        hosted(cls.inst)
        cls.inst.start()

    @classmethod
    def tearDownClass(cls):
        try:
            stop_and_cleanup(cls.inst)
        finally:
            cls.dns.stop()

    def connect(self, source):
        s = socket.socket()
        s.settimeout(10)
        s.bind((source, 0))
        s.connect(("127.0.0.1", self.inst.port))
        return s

    def served(self, source):
        """A patient client from source gets its banner and a 250 to EHLO."""
        c = mxtest.Client("127.0.0.1", self.inst.port, 10, source)
        try:
            return c.reply().code == 220 and c.cmd("EHLO client.example").code == 250
        finally:
            c.close()

    def drain(self, s):
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        s.close()
        return data

    def test_burst_of_early_talkers(self):
        bots = []
        for i in range(40):
            s = self.connect("127.0.1.%d" % (i + 1))  # each its own address: no rate limit in the way
            s.sendall(b"EHLO bot.example\r\nMAIL FROM:<spam@bot.example>\r\nRCPT TO:<info@example.com>\r\n")
            bots.append(s)
        self.assertTrue(self.served("127.0.0.60"))
        replies = [self.drain(s) for s in bots]
        self.assertTrue(all(r.startswith(b"554 5.5.0") and b"250" not in r for r in replies), replies[:3])

    def test_listed_client_keeps_talking_until_cut_off(self):
        s = self.connect("127.0.0.50")
        self.assertTrue(s.recv(1000).startswith(b"220 "))
        s.sendall(b"".join(b"RCPT TO:<info@example.com>\r\n" for _ in range(30)))
        data = self.drain(s)
        self.assertGreaterEqual(data.count(b"550 5.7.1 Service unavailable; client [127.0.0.50] blocked"), 19)
        self.assertIn(b"421 4.7.0", data)  # smtpd_hard_error_limit ends it
        self.assertNotIn(b"250", data)
        self.assertTrue(self.served("127.0.0.61"))

    def test_pipelining_bots(self):
        bots = [self.connect("127.0.2.%d" % (i + 1)) for i in range(10)]  # their pauses run together
        for s in bots:
            self.assertTrue(s.recv(1000).startswith(b"220 "))
            s.sendall(b"HELO bot.example\r\nMAIL FROM:<spam@bot.example>\r\nRCPT TO:<info@example.com>\r\n"
                      b"DATA\r\nSubject: spam\r\n\r\nbuy\r\n.\r\n")
        for s in bots:
            data = self.drain(s)
            self.assertNotIn(b"354", data)
            self.assertIn(b"554 5.5.0", data)
        accepted = [line for line in self.inst.read_log().splitlines() if "client=unknown[127.0.2." in line]
        self.assertEqual(accepted, [])
        self.assertTrue(self.served("127.0.0.62"))

    def test_connection_rate_flood(self):
        socks = []
        for _ in range(30):
            socks.append(self.connect("127.0.0.63"))
        replies = []
        for s in socks:  # the first reply of each: a 421, or the banner after the pause
            replies.append(s.recv(1000))
            s.close()
        refused = sum(1 for r in replies if r.startswith(b"421 4.7.0") and b"too many connections" in r)
        self.assertGreaterEqual(refused, 25)
        self.assertTrue(self.served("127.0.0.64"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
