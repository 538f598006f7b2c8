"""Black-box tests of the inbound server: STARTTLS, connection limits, timeouts, durability across
kill -9, startup errors. Each test class runs its own mxd on a free loopback port."""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
from fixtures import hosted, stop_and_cleanup  # noqa: E402


class StartTLS(unittest.TestCase):
    def setUp(self):
        self.inst = mxtest.Instance()
        self.pki = mxtest.make_ca(self.inst.dir)
        self.inst.settings.update(smtpd_tls_cert_file=self.pki["cert"], smtpd_tls_key_file=self.pki["key"])
        self.inst.write_conf()
        hosted(self.inst)
        self.inst.start()

    def tearDown(self):
        self.inst.stop()
        self.inst.cleanup()

    def test_starttls_verified_and_mail_accepted(self):
        c = self.inst.client()
        c.reply()
        r = c.cmd("EHLO client.example")
        self.assertIn("250-STARTTLS", r.lines)
        c.starttls(cafile=self.pki["ca"])
        r = c.cmd("EHLO client.example")
        self.assertEqual(r.code, 250)
        self.assertNotIn("250-STARTTLS", r.lines, "STARTTLS must not be offered twice")
        self.assertEqual(c.cmd("STARTTLS").code, 503)
        r = c.send_mail("a@example.org", ["info@example.com"], mxtest.make_message("tls1@test"))
        self.assertEqual(r.code, 250, r.lines)
        c.cmd("QUIT")
        log = self.inst.read_log()
        self.assertRegex(log, r"Anonymous TLS connection established from unknown\[127\.0\.0\.1\]: TLSv1\.[23]")
        # the trace header says the message came over TLS
        qid = r.text.split()[-1]
        show = self.inst.mxctl("queue", "show", qid).stdout
        self.assertIn("with ESMTPS id " + qid, show)

    def test_plaintext_injection_discarded(self):
        """CVE-2011-0411: commands sent with STARTTLS before the handshake must be thrown away."""
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        c.send(b"STARTTLS\r\nRSET\r\n")
        self.assertEqual(c.reply().code, 220)
        ctx = __import__("ssl")._create_unverified_context()
        c.sock = ctx.wrap_socket(c.sock, server_hostname="mx.mxd.test")
        c.buf = b""
        r = c.cmd("NOOP")
        self.assertEqual(r.lines, ["250 2.0.0 Ok"], "an injected RSET was answered inside TLS")
        # RFC 3207: the session is reset; MAIL needs a new EHLO
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 503)

    def test_tls12_minimum(self):
        import ssl
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("STARTTLS").code, 220)
        ctx = ssl._create_unverified_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            ctx.wrap_socket(c.sock, server_hostname="mx.mxd.test")


class Limits(unittest.TestCase):
    def setUp(self):
        self.inst = mxtest.Instance({"smtpd_client_connection_limit": "3", "smtpd_timeout": "2s"})
        hosted(self.inst)
        self.inst.start()

    def tearDown(self):
        self.inst.stop()
        self.inst.cleanup()

    def test_per_ip_connection_cap(self):
        clients = [self.inst.client() for _ in range(3)]
        for c in clients:
            self.assertEqual(c.reply().code, 220)
        extra = self.inst.client()
        r = extra.reply()
        self.assertTrue(r.text.startswith("421 4.7.0"), r.lines)
        self.assertTrue(extra.closed())
        clients[0].cmd("QUIT")
        clients[0].closed()
        time.sleep(0.3)
        again = self.inst.client()
        self.assertEqual(again.reply().code, 220, "a slot freed by QUIT must be usable again")
        for c in clients[1:] + [again]:
            c.close()

    def test_idle_timeout(self):
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        t0 = time.time()
        r = c.reply()
        self.assertTrue(r.text.startswith("421 4.4.2"), r.lines)
        self.assertTrue(c.closed())
        self.assertLess(time.time() - t0, 6)

    def test_slow_client_does_not_block_others(self):
        slow = self.inst.client()
        slow.reply()
        slow.send(b"EHL")  # and nothing more
        fast = self.inst.client()
        self.assertEqual(fast.reply().code, 220)
        r = fast.send_mail("a@example.org", ["info@example.com"], mxtest.make_message("fast@test"))
        self.assertEqual(r.code, 250)
        slow.close()


class NonFqdnSender(unittest.TestCase):
    """swaks on a host whose name has no dot sends MAIL FROM:<root@host>: clients in mynetworks may
    (Postfix checks reject_non_fqdn_sender after permit_mynetworks); others are told which domain."""

    def setUp(self):
        self.inst = mxtest.Instance()  # mynetworks = 127.0.0.2/32
        hosted(self.inst)
        self.inst.start()

    def tearDown(self):
        self.inst.stop()
        self.inst.cleanup()

    def test_mynetworks_client_may_send_from_single_label_domain(self):
        c = self.inst.client(source="127.0.0.2")
        r = c.send_mail("root@host", ["info@example.com"], mxtest.make_message("nonfqdn@test", sender="root@host"))
        self.assertEqual(r.code, 250, r.lines)
        c.cmd("QUIT")
        c.close()
        self.assertIn("from=<root@host>", self.inst.read_log())

    def test_other_client_is_told_the_domain(self):
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        r = c.cmd("MAIL FROM:<root@host>")
        self.assertTrue(r.text.startswith("501 5.1.7"), r.lines)
        self.assertIn("'host'", r.text)
        self.assertNotIn("example.com", r.text)
        c.close()


class HeloAndSenderSyntax(unittest.TestCase):
    """smtpd_helo_restrictions and strict_sender_domain_syntax: by default a HELO that is no host name and
    a sender domain with a 64-octet label are refused; with permit / no they are taken (as Postfix does
    by default) and the HELO text cannot break the Received: header. An empty label never is."""

    def start(self, **settings):
        self.inst = mxtest.Instance(settings)
        hosted(self.inst)
        self.inst.start()

    def tearDown(self):
        stop_and_cleanup(self.inst)

    def test_refused_by_default(self):
        self.start()
        c = self.inst.client()
        c.reply()
        self.assertTrue(c.cmd("EHLO JUMPIN' JUPITER").text.startswith("501 5.5.4"))
        self.assertEqual(c.cmd("EHLO client.example").code, 250)
        r = c.cmd("MAIL FROM:<a@x..example.org>")
        self.assertTrue(r.text.startswith("501 5.1.7"), r.lines)
        self.assertIn("empty label", r.text)
        r = c.cmd("MAIL FROM:<a@%s.example.org>" % ("b" * 64))
        self.assertTrue(r.text.startswith("501 5.1.7"), r.lines)
        self.assertIn("63 octets", r.text)
        c.close()

    def test_taken_when_permitted(self):
        self.start(smtpd_helo_restrictions="permit", strict_sender_domain_syntax="no")
        c = self.inst.client()
        sender = "a@%s.example.org" % ("b" * 64)
        r = c.send_mail(sender, ["info@example.com"], mxtest.make_message("lenient@test", sender=sender),
                        helo="JUMPIN' (JUPITER) ;x")
        self.assertEqual(r.code, 250, r.lines)
        show = self.inst.mxctl("queue", "show", r.text.split()[-1]).stdout
        self.assertIn("Received: from JUMPIN'??JUPITER???x (", show)
        self.assertTrue(c.cmd("MAIL FROM:<a@x..example.org>").text.startswith("501 5.1.7"))
        # a recipient's domain is held to the DNS's rules whatever the settings
        r = c.cmd("MAIL FROM:<a@example.org>")
        self.assertEqual(r.code, 250, r.lines)
        self.assertTrue(c.cmd("RCPT TO:<info@x..example.com>").text.startswith("501 5.1.3"))
        c.close()


class Durability(unittest.TestCase):
    def setUp(self):
        self.inst = mxtest.Instance()
        hosted(self.inst)

    def tearDown(self):
        self.inst.cleanup()

    def test_accepted_mail_survives_kill9(self):
        self.inst.start()
        ids = []
        for n in range(20):
            c = self.inst.client()
            r = c.send_mail("a@example.org", ["info@example.com"], mxtest.make_message("k%d@test" % n))
            self.assertEqual(r.code, 250, r.lines)
            ids.append(r.text.split()[-1])
            c.close()
        self.inst.kill9()
        self.inst.start()
        listing = self.inst.mxctl("queue", "list").stdout
        for qid in ids:
            self.assertIn(qid, listing)
        show = self.inst.mxctl("queue", "show", ids[0]).stdout
        self.assertIn("Message-ID: <k0@test>", show)
        self.assertIn("info@example.com", show)
        self.inst.stop()

    def test_concurrent_sessions_group_commit(self):
        self.inst.start()
        results = []

        def worker(k):
            c = self.inst.client()
            for n in range(10):
                r = c.send_mail("a@example.org", ["info@example.com"], mxtest.make_message("g%d-%d@test" % (k, n)))
                results.append(r.code)
            c.cmd("QUIT")
            c.close()

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results.count(250), 100)
        self.inst.kill9()
        self.inst.start()
        listing = self.inst.mxctl("queue", "list").stdout
        self.assertEqual(len(re.findall(r"^[0-9A-F]{10,20}\b", listing, re.M)), 100, listing[:2000])
        self.inst.stop()

    def test_log_lines_follow_postfix(self):
        self.inst.start()
        c = self.inst.client()
        r = c.send_mail("a@example.org", ["info@example.com", "nobody@example.com"], mxtest.make_message("l@test"))
        qid = r.text.split()[-1]
        c.cmd("QUIT")
        c.closed()
        self.inst.stop()
        log = self.inst.read_log()
        self.assertRegex(log, r"mxd/smtpd\[\d+\]: connect from unknown\[127\.0\.0\.1\]")
        self.assertRegex(log, r"mxd/smtpd\[\d+\]: %s: client=unknown\[127\.0\.0\.1\]" % qid)
        self.assertRegex(log, r"%s: reject: RCPT from unknown\[127\.0\.0\.1\]: 550 5\.1\.1 <nobody@example\.com>: "
                              r"Recipient address rejected: .*; from=<a@example\.org> to=<nobody@example\.com> "
                              r"proto=ESMTP helo=<client\.example>" % qid)
        self.assertRegex(log, r"%s: message-id=<l@test>" % qid)
        self.assertRegex(log, r"%s: from=<a@example\.org>, size=\d+, nrcpt=1 \(queue active\)" % qid)
        self.assertRegex(log, r"disconnect from unknown\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1/2 data=1 quit=1 commands=5/6")


class Startup(unittest.TestCase):
    def setUp(self):
        self.inst = mxtest.Instance()

    def tearDown(self):
        self.inst.cleanup()

    def run_mxd(self, *extra):
        return subprocess.run([mxtest.MXD, "-c", self.inst.conf] + list(extra), capture_output=True, text=True,
                              timeout=20)

    def test_unknown_setting(self):
        with open(self.inst.conf, "a") as f:
            f.write("no_such_setting = 1\n")
        r = self.run_mxd()
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"mxd\.conf:\d+: unknown setting 'no_such_setting'")

    def test_bad_value(self):
        r = self.run_mxd("-o", "message_size_limit=lots")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("message_size_limit", r.stderr)

    def test_port_in_use(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.inst.port))
        s.listen(1)
        try:
            r = self.run_mxd()
        finally:
            s.close()
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot listen on 127.0.0.1:%d" % self.inst.port, r.stderr)

    def test_missing_database(self):
        r = self.run_mxd("-o", "database=%s/nope/none.db" % self.inst.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("mxctl init", r.stderr)

    def test_default_hostname_in_banner(self):
        self.inst.settings["myhostname"] = ""
        self.inst.write_conf()
        self.inst.start()
        c = self.inst.client()
        banner = c.reply().text
        self.assertEqual(banner, "220 %s ESMTP mxd" % socket.gethostname())
        c.close()
        self.inst.stop()

    def test_sigterm_clean_exit(self):
        self.inst.start()
        c = self.inst.client()
        c.reply()
        self.assertEqual(self.inst.stop(), 0)
        self.assertIn("421 4.3.2", c.sock.recv(1000).decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
