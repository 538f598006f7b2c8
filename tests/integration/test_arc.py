"""ARC (RFC 8617) sealing by mxd, proved against two independent verifiers: python3-dkim's arc_verify and
rspamd's ARC module (tests/lib/rspamd.py), both asking the test DNS server for the keys.

Two mxd instances: "first" hosts example.com (twice@ goes to relay@middle.test, whose MX is the second
instance) and seals as fwd1.test; "second" hosts middle.test (direct@ and relay@ go to gmail.test, the sink)
and seals as fwd2.test. Keys are made at test time with the openssl command (PKCS#8 PEM, as `mxctl dkim
keygen` writes them) at dkim_key_directory/DOMAIN/mxd.pem, and published in the test zone.

* a DKIM-signed message forwarded once keeps its DKIM signature and gains i=1, cv=none, that both accept;
* forwarded twice it carries i=1 (fwd1.test) and i=2 (fwd2.test, cv=pass), and both accept the chain;
* sealed with an Ed25519 key (a third instance, fwd3.test): rspamd accepts it, and so does the second
  instance, which seals it again (python3-dkim 1.1.4's ARC code knows no ed25519-sha256);
* a message whose existing chain was tampered with is sealed cv=fail, and arc=fail is in our
  Authentication-Results; neither verifier accepts the chain;
* while a chain's key does not answer, other clients are served; a client that hangs up meanwhile gets
  nothing stored; SIGTERM meanwhile still ends with the message stored, answered, and a clean exit;
* an instance without a key says so at start and forwards unsealed.
"""
import base64
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
import rspamd  # noqa: E402
import sink  # noqa: E402

import dkim  # noqa: E402  (python3-dkim)
from dnslib import DNSRecord, QTYPE, RCODE  # noqa: E402

ZONES = """
$ORIGIN sender.test
@        TXT "v=spf1 ip4:127.0.0.1 -all"
$ORIGIN gmail.test
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN middle.test
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN mxd.test
mx       A 127.0.0.1
$ORIGIN slow.test
mxd._domainkey TXT TIMEOUT
"""


def make_key(directory, name, kind="rsa"):
    """A key by the openssl command: (path of the PKCS#8 PEM, the p= of its DNS record). RSA: the DER
    SubjectPublicKeyInfo; Ed25519 (RFC 8463): the 32 octets of the raw public key."""
    path = os.path.join(directory, name + ".pem")
    algo = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"] if kind == "rsa" else ["-algorithm", "ED25519"]
    subprocess.run(["openssl", "genpkey"] + algo + ["-out", path], check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    if kind == "ed25519":
        der = der[-32:]
    return path, base64.b64encode(der).decode("ascii")


def txt_value(text, chunk=200):
    return " ".join('"%s"' % text[i:i + chunk] for i in range(0, len(text), chunk))


def unfolded_head(data):
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii", "replace")
    return re.sub(r"\n[ \t]+", " ", head)


def message(msgid, to, body=""):
    return ("From: Alice <alice@sender.test>\r\n"
            "To: <%s>\r\n"
            "Subject: ARC through mxd\r\n"
            "Date: Sat, 05 Dec 2026 04:00:00 +0000\r\n"
            "Message-ID: <%s@sender.test>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n"
            "Hello through two forwarders.\r\n"
            "  white space  kept \r\n"
            "\r\n%s" % (to, msgid, body)).encode()


class Arc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mxtest-arc-")
        cls.keys = os.path.join(cls.tmp, "dkim")
        zones = ZONES
        # fwd1 and fwd2 seal with RSA; fwd3 (a third instance) with Ed25519 (ed25519-sha256, RFC 8463)
        for domain, kind in (("fwd1.test", "rsa"), ("fwd2.test", "rsa"), ("fwd3.test", "ed25519")):
            os.makedirs(os.path.join(cls.keys, domain))
            _, public = make_key(os.path.join(cls.keys, domain), "mxd", kind)
            zones += "$ORIGIN %s\nmxd._domainkey TXT %s\n" % (domain, txt_value("v=DKIM1; k=%s; p=%s" % (kind, public)))
        path, public = make_key(cls.tmp, "sender")
        with open(path, "rb") as f:
            cls.sender_key = f.read()
        zones += "$ORIGIN sender.test\ns1._domainkey TXT %s\n" % txt_value("v=DKIM1; k=rsa; p=" + public)
        cls.dns = dnsserver.start(zones, port=0)
        cls.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        cls.first = cls.second = cls.third = cls.rspamd = None
        try:
            common = {
                "resolver": "127.0.0.1:%d" % cls.dns.port,
                "queue_run_delay": "1s",
                "minimal_backoff_time": "1s",
                "maximal_backoff_time": "2s",
                "smtp_tls_security_level": "none",
                "spf_policy": "tag",
                "dkim_key_directory": cls.keys,
            }
            cls.second = mxtest.Instance(dict(common, smtp_tcp_port=str(cls.sink.port),
                                              arc_signing_domain="fwd2.test"))
            cls.second.mxctl("domain", "add", "middle.test")
            cls.second.mxctl("alias", "add", "direct@middle.test", "direct@gmail.test")
            cls.second.mxctl("alias", "add", "relay@middle.test", "twice@gmail.test")
            cls.second.mxctl("alias", "add", "tamper@middle.test", "tamper@gmail.test")
            cls.second.mxctl("alias", "add", "upstream@middle.test", "upstream@gmail.test")
            cls.second.mxctl("alias", "add", "slow@middle.test", "slow@gmail.test")
            cls.second.mxctl("alias", "add", "edrelay@middle.test", "edrelay@gmail.test")
            cls.second.mxctl("alias", "add", "slowsrc@middle.test", "slowsrc@gmail.test")
            cls.second.mxctl("alias", "add", "slowsrc2@middle.test", "slowsrc2@gmail.test")
            cls.second.start()
            cls.first = mxtest.Instance(dict(common, smtp_tcp_port=str(cls.second.port),
                                             arc_signing_domain="fwd1.test"))
            cls.first.mxctl("domain", "add", "example.com")
            cls.first.mxctl("alias", "add", "twice@example.com", "relay@middle.test")
            cls.first.start()
            cls.third = mxtest.Instance(dict(common, smtp_tcp_port=str(cls.sink.port),
                                             arc_signing_domain="fwd3.test"))
            cls.third.mxctl("domain", "add", "example.org")
            cls.third.mxctl("alias", "add", "ed@example.org", "ed@gmail.test")
            cls.third.start()
            cls.rspamd = rspamd.Rspamd(cls.dns.port)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            for inst in (cls.first, cls.second, cls.third):
                if inst is not None:
                    inst.stop()
        finally:
            for inst in (cls.first, cls.second, cls.third):
                if inst is not None:
                    inst.cleanup()
            if cls.rspamd is not None:
                cls.rspamd.stop()
            cls.sink.stop()
            cls.dns.stop()
            subprocess.run(["rm", "-rf", cls.tmp])

    def dnsfunc(self, name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        q = DNSRecord.question(name, "TXT")
        answer = DNSRecord.parse(q.send("127.0.0.1", self.dns.port, tcp=True, timeout=timeout))
        if answer.header.rcode != RCODE.NOERROR:
            return b""
        for rr in answer.rr:
            if rr.rtype == QTYPE.TXT:
                return b"".join(rr.rdata.data)
        return b""

    def signed(self, msg):
        return dkim.sign(msg, b"s1", b"sender.test", self.sender_key, canonicalize=(b"relaxed", b"relaxed"),
                         include_headers=[b"from", b"to", b"subject", b"date", b"message-id"]) + msg

    def send(self, inst, rcpt, body):
        c = inst.client()
        try:
            r = c.send_mail("alice@sender.test", [rcpt], body)
            c.cmd("QUIT")
        finally:
            c.close()
        self.assertEqual(r.code, 250, r.lines)

    def received(self, rcpt, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.sink.lock:
                found = [m for m in self.sink.messages if rcpt in m.rcpt_tos]
            if found:
                return found[0].data
            time.sleep(0.05)
        self.fail("nothing for %s at the sink; logs:\n%s\n%s" % (rcpt, self.first.read_log()[-2000:],
                                                                 self.second.read_log()[-2000:]))

    def python_arc(self, data):
        cv, results, reason = dkim.arc_verify(data, dnsfunc=self.dnsfunc)
        return cv, reason

    def test_forwarded_once(self):
        data = self.received_after(self.second, "direct@middle.test", "direct@gmail.test", "once")
        head = unfolded_head(data)
        names = [line.split(":", 1)[0] for line in head.split("\n")[:4]]
        self.assertEqual(names, ["ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results",
                                 "Authentication-Results"], head)
        self.assertRegex(head, r"ARC-Seal: i=1; a=rsa-sha256; t=\d+; cv=none; d=fwd2\.test; s=mxd; b=")
        self.assertRegex(head, r"ARC-Authentication-Results: i=1; mx\.mxd\.test; spf=pass "
                               r"smtp\.mailfrom=alice@sender\.test; arc=none")
        self.assertRegex(head, r"\nAuthentication-Results: mx\.mxd\.test; spf=pass "
                               r"smtp\.mailfrom=alice@sender\.test; arc=none")
        self.assertTrue(dkim.verify(data, dnsfunc=self.dnsfunc), "the sender's DKIM signature broke")
        cv, reason = self.python_arc(data)
        self.assertEqual(cv, b"pass", reason)
        symbols = self.rspamd.check(data)
        self.assertIn("ARC_ALLOW", symbols, sorted(symbols))
        self.assertIn("R_DKIM_ALLOW", symbols, sorted(symbols))
        # the verifiers are real: a changed body fails both
        tampered = data.replace(b"Hello through", b"Hello via")
        self.assertNotEqual(self.python_arc(tampered)[0], b"pass")
        self.assertNotIn("ARC_ALLOW", self.rspamd.check(tampered))

    def received_after(self, inst, rcpt, final, msgid):
        self.send(inst, rcpt, self.signed(message(msgid, rcpt)))
        return self.received(final)

    def test_forwarded_twice(self):
        data = self.received_after(self.first, "twice@example.com", "twice@gmail.test", "twice")
        head = unfolded_head(data)
        self.assertRegex(head, r"ARC-Seal: i=1; a=rsa-sha256; t=\d+; cv=none; d=fwd1\.test; s=mxd;")
        self.assertRegex(head, r"ARC-Seal: i=2; a=rsa-sha256; t=\d+; cv=pass; d=fwd2\.test; s=mxd;")
        self.assertRegex(head, r"ARC-Authentication-Results: i=2; mx\.mxd\.test; spf=pass "
                               r"smtp\.mailfrom=alice@sender\.test; arc=pass")
        self.assertIn("arc=pass sealers=fwd1.test", self.second.read_log())
        self.assertTrue(dkim.verify(data, dnsfunc=self.dnsfunc), "the sender's DKIM signature broke")
        cv, reason = self.python_arc(data)
        self.assertEqual(cv, b"pass", reason)
        symbols = self.rspamd.check(data)
        self.assertIn("ARC_ALLOW", symbols, sorted(symbols))
        self.assertIn("fwd2.test:s=mxd:i=2", str(symbols["ARC_ALLOW"].get("options")), symbols["ARC_ALLOW"])

    def test_forwarded_twice_large(self):
        """3 MiB through both forwarders (each spools it to a mapped file, seals it with the headers put
        in front): the chain and the sender's signature still verify, the body arrives as sent."""
        body = "".join("large ARC body line %07d\r\n" % n for n in range(110000))
        self.send(self.first, "twice@example.com", self.signed(message("twicebig", "twice@example.com", body)))
        deadline, data = time.time() + 60, None
        while time.time() < deadline and data is None:
            with self.sink.lock:
                found = [m.data for m in self.sink.messages if b"<twicebig@sender.test>" in m.data]
            data = found[0] if found else None
            time.sleep(0.1)
        self.assertIsNotNone(data, "nothing reached the sink: %s" % self.second.read_log()[-2000:])
        head = unfolded_head(data)
        self.assertRegex(head, r"ARC-Seal: i=2; a=rsa-sha256; t=\d+; cv=pass; d=fwd2\.test; s=mxd;")
        self.assertTrue(data.endswith(body.encode()), "the body changed")
        self.assertTrue(dkim.verify(data, dnsfunc=self.dnsfunc), "the sender's DKIM signature broke")
        cv, reason = self.python_arc(data)
        self.assertEqual(cv, b"pass", reason)

    def test_ed25519(self):
        data = self.received_after(self.third, "ed@example.org", "ed@gmail.test", "ed25519")
        head = unfolded_head(data)
        self.assertRegex(head, r"ARC-Seal: i=1; a=ed25519-sha256; t=\d+; cv=none; d=fwd3\.test; s=mxd;")
        self.assertRegex(head, r"ARC-Message-Signature: i=1; a=ed25519-sha256; c=relaxed/relaxed; d=fwd3\.test;")
        symbols = self.rspamd.check(data)
        self.assertIn("ARC_ALLOW", symbols, sorted(symbols))
        self.assertIn("fwd3.test:s=mxd:i=1", str(symbols["ARC_ALLOW"].get("options")))
        self.assertNotIn("ARC_ALLOW", self.rspamd.check(data.replace(b"Hello through", b"Hello via")))
        # the second instance validates it (cv=pass) and seals on top with RSA
        self.send(self.second, "edrelay@middle.test", data)  # To: unchanged: it is signed
        twice = self.received("edrelay@gmail.test")
        self.assertRegex(unfolded_head(twice), r"ARC-Seal: i=2; a=rsa-sha256; t=\d+; cv=pass; d=fwd2\.test;")
        self.assertIn("ARC_ALLOW", self.rspamd.check(twice))

    def test_tampered_chain(self):
        # a chain sealed upstream (by the second instance itself, as i=1), then changed in transit
        sealed = self.received_after(self.second, "upstream@middle.test", "upstream@gmail.test", "tamper")
        self.assertEqual(self.python_arc(sealed)[0], b"pass")  # the upstream chain was good
        body = sealed.replace(b"To: <upstream@middle.test>", b"To: <tamper@middle.test>")
        self.send(self.second, "tamper@middle.test", body.replace(b"Hello through", b"Hello after"))
        data = self.received("tamper@gmail.test")
        head = unfolded_head(data)
        self.assertRegex(head, r"ARC-Seal: i=2; a=rsa-sha256; t=\d+; cv=fail; d=fwd2\.test;")
        self.assertRegex(head, r"\nAuthentication-Results: mx\.mxd\.test; spf=pass "
                               r"smtp\.mailfrom=alice@sender\.test; arc=fail")
        self.assertRegex(self.second.read_log(), r"arc=fail .*reason=the newest ARC-Message-Signature")
        self.assertNotEqual(self.python_arc(data)[0], b"pass")
        symbols = self.rspamd.check(data)
        self.assertNotIn("ARC_ALLOW", symbols, sorted(symbols))
        self.assertIn("ARC_REJECT", symbols, sorted(symbols))


    def test_client_leaves_during_check(self):
        """The chain's key does not answer: the check waits (the loop serves others meanwhile); the client
        hangs up before the reply, so nothing is stored, and mxd goes on."""
        sealed = self.received_after(self.second, "slowsrc@middle.test", "slowsrc@gmail.test", "slow")
        body = sealed.replace(b"d=fwd2.test", b"d=slow.test").replace(b"To: <slowsrc@", b"To: <slow@")
        c = self.second.client()
        c.reply()
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<alice@sender.test>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<slow@middle.test>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(body + b".\r\n")
        # while that check waits for DNS, another client is served
        other = self.signed(message("during", "direct2@middle.test"))
        c2 = self.second.client()
        start = time.time()
        r = c2.send_mail("alice@sender.test", ["upstream@middle.test"], other)
        c2.close()
        self.assertEqual(r.code, 250, r.lines)
        self.assertLess(time.time() - start, 5)
        c.close()
        # the session ends at once (the check is cancelled with it): nothing is stored
        deadline = time.time() + 10
        log = ""
        while time.time() < deadline:
            log = self.second.read_log()
            if "lost connection after CHECK" in log:
                break
            time.sleep(0.2)
        self.assertIn("lost connection after CHECK", log)
        time.sleep(6.5)  # past the resolver's 5 s for the key: still nothing stored
        with self.sink.lock:
            self.assertFalse([m for m in self.sink.messages if "slow@gmail.test" in m.rcpt_tos])


    def test_stop_during_check(self):
        """SIGTERM while a chain's key does not answer: the check is dropped (nothing was accepted), the
        client gets 421 4.3.2 and will send the message again, and mxd exits cleanly and at once."""
        sealed = self.received_after(self.second, "slowsrc2@middle.test", "slowsrc2@gmail.test", "slow2")
        body = sealed.replace(b"d=fwd2.test", b"d=slow.test")
        inst = mxtest.Instance({"resolver": "127.0.0.1:%d" % self.dns.port, "smtp_tcp_port": str(self.sink.port),
                                "smtp_tls_security_level": "none", "dkim_key_directory": self.keys,
                                "arc_signing_domain": "fwd2.test"})
        try:
            inst.mxctl("domain", "add", "middle.test")
            inst.mxctl("alias", "add", "slowsrc2@middle.test", "stopped@gmail.test")
            inst.start()
            c = inst.client(timeout=20)
            c.reply()
            c.cmd("EHLO client.example")
            c.cmd("MAIL FROM:<alice@sender.test>")
            self.assertEqual(c.cmd("RCPT TO:<slowsrc2@middle.test>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(body + b".\r\n")
            time.sleep(0.5)
            start = time.time()
            inst.proc.send_signal(signal.SIGTERM)
            r = c.reply()
            self.assertTrue(r.text.startswith("421 4.3.2"), r.lines)  # nothing accepted, nothing stored
            c.close()
            self.assertEqual(inst.proc.wait(timeout=30), 0, inst.read_stderr()[-3000:])
            self.assertLess(time.time() - start, 10)
            self.assertNotIn("(queue active)", inst.read_log())
        finally:
            if inst.proc is not None and inst.proc.poll() is None:
                inst.proc.kill()
                inst.proc.wait()
            inst.cleanup()


class NoKey(unittest.TestCase):
    def test_warning_and_no_seal(self):
        sk = sink.Sink("127.0.0.1", mxtest.free_port())
        dns = dnsserver.start(ZONES, port=0)
        inst = mxtest.Instance({"resolver": "127.0.0.1:%d" % dns.port, "smtp_tcp_port": str(sk.port),
                                "queue_run_delay": "1s", "smtp_tls_security_level": "none", "spf_policy": "tag",
                                "dkim_key_directory": "/nonexistent", "arc_signing_domain": "fwd9.test"})
        try:
            inst.mxctl("domain", "add", "middle.test")
            inst.mxctl("alias", "add", "direct@middle.test", "nokey@gmail.test")
            inst.start()
            self.assertIn("ARC sealing off: no key for arc_signing_domain: /nonexistent/fwd9.test/mxd.pem",
                          inst.read_log())
            c = inst.client()
            r = c.send_mail("alice@sender.test", ["direct@middle.test"], message("nokey", "direct@middle.test"))
            c.close()
            self.assertEqual(r.code, 250, r.lines)
            deadline = time.time() + 20
            while time.time() < deadline and not sk.messages:
                time.sleep(0.05)
            self.assertTrue(sk.messages, inst.read_log()[-2000:])
            head = unfolded_head(sk.messages[0].data)
            self.assertNotIn("ARC-Seal", head)
            self.assertIn("Authentication-Results: mx.mxd.test; spf=pass smtp.mailfrom=alice@sender.test; "
                          "arc=none", head)
        finally:
            try:
                inst.stop()
            finally:
                inst.cleanup()
                sk.stop()
                dns.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
