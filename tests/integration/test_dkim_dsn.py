"""The notifications mxd writes itself are DKIM-signed for the domain of their From: (MAILER-DAEMON@
myhostname) when dkim_key_directory holds a key for it, and pass DMARC there: checked with python3-dkim's
verify and with rspamd (R_DKIM_ALLOW, DMARC_POLICY_ALLOW), both asking the test DNS server, which
publishes the key made at test time and "_dmarc.mx.mxd.test TXT v=DMARC1; p=reject".

A message to an alias whose target domain takes no mail (null MX) bounces at once; the bounce goes to
the sender's MX, the sink. A message to a domain whose DNS fails stays deferred, and after
delay_warning_time (2 s) its sender gets a delay warning, signed too. Without a key the bounce goes out
unsigned (and rspamd finds no DKIM, so DMARC p=reject fails).
"""
import base64
import os
import re
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
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN nowhere.test
@        MX 0 .
$ORIGIN later.test
@        SERVFAIL
$ORIGIN mxd.test
mx       A 127.0.0.1
$ORIGIN mx.mxd.test
_dmarc   TXT "v=DMARC1; p=reject"
@        TXT "v=spf1 -all"
"""


class DsnSigned(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mxtest-dsn-")
        keydir = os.path.join(cls.tmp, "dkim", "mx.mxd.test")
        os.makedirs(keydir)
        key = os.path.join(keydir, "s2026.pem")  # any selector: the only .pem there is used
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", key], check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"], check=True,
                             capture_output=True).stdout
        record = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
        zones = ZONES + "$ORIGIN mx.mxd.test\ns2026._domainkey TXT %s\n" % " ".join(
            '"%s"' % record[i:i + 200] for i in range(0, len(record), 200))
        cls.dns = dnsserver.start(zones, port=0)
        cls.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        cls.insts = []
        cls.rspamd = None
        try:
            for name, directory in (("signed", os.path.join(cls.tmp, "dkim")), ("unsigned", "/nonexistent")):
                inst = mxtest.Instance({
                    "resolver": "127.0.0.1:%d" % cls.dns.port,
                    "smtp_tcp_port": str(cls.sink.port),
                    "queue_run_delay": "1s",
                    "minimal_backoff_time": "1s",
                    "maximal_backoff_time": "1s",
                    "delay_warning_time": "2s",
                    "smtp_tls_security_level": "none",
                    "dkim_key_directory": directory,
                })
                inst.mxctl("domain", "add", "example.com")
                inst.mxctl("alias", "add", "gone@example.com", "someone@nowhere.test")
                inst.mxctl("alias", "add", "later@example.com", "someone@later.test")
                inst.start()
                cls.insts.append(inst)
            cls.rspamd = rspamd.Rspamd(cls.dns.port)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            for inst in cls.insts:
                inst.stop()
        finally:
            for inst in cls.insts:
                inst.cleanup()
            if cls.rspamd is not None:
                cls.rspamd.stop()
            cls.sink.stop()
            cls.dns.stop()
            subprocess.run(["rm", "-rf", cls.tmp])

    def dnsfunc(self, name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        answer = DNSRecord.parse(DNSRecord.question(name, "TXT").send("127.0.0.1", self.dns.port, tcp=True,
                                                                       timeout=timeout))
        if answer.header.rcode != RCODE.NOERROR:
            return b""
        for rr in answer.rr:
            if rr.rtype == QTYPE.TXT:
                return b"".join(rr.rdata.data)
        return b""

    def bounce(self, inst, sender, rcpt="gone@example.com"):
        c = inst.client()
        try:
            r = c.send_mail(sender, [rcpt], mxtest.make_message("<dsn-%s@test>" % sender, sender=sender, to=rcpt))
        finally:
            c.close()
        self.assertEqual(r.code, 250, r.lines)
        deadline = time.time() + 30
        while time.time() < deadline:
            with self.sink.lock:
                found = [m for m in self.sink.messages if sender in m.rcpt_tos]
            if found:
                self.assertIn(found[0].mail_from, ("", "<>"))  # the null sender
                return found[0].data
            time.sleep(0.05)
        self.fail("no bounce for %s; mail.log:\n%s" % (sender, inst.read_log()[-3000:]))

    def test_bounce_is_signed_and_passes_dmarc(self):
        data = self.bounce(self.insts[0], "alice@sender.test")
        head = re.sub(rb"\r\n[ \t]+", b" ", data.split(b"\r\n\r\n", 1)[0])
        self.assertRegex(head, rb"^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=mx\.mxd\.test; "
                               rb"s=s2026; t=\d+; h=from:from:to:subject:date:message-id:auto-submitted:"
                               rb"mime-version:content-type; bh=")
        self.assertIn(b"From: Mail Delivery System <MAILER-DAEMON@mx.mxd.test>", data)
        self.assertTrue(dkim.verify(data, dnsfunc=self.dnsfunc), data[:2000])
        for was, now in ((b"Final-Recipient:", b"Final-Recipienx:"), (b"Mail Delivery System", b"Mail Delivery Systex")):
            self.assertIn(was, data)
            self.assertFalse(dkim.verify(data.replace(was, now), dnsfunc=self.dnsfunc), was)
        symbols = self.rspamd.check(data)
        self.assertIn("R_DKIM_ALLOW", symbols, sorted(symbols))
        self.assertIn("DMARC_POLICY_ALLOW", symbols, sorted(symbols))
        self.assertIn("notifications DKIM-signed as d=mx.mxd.test s=s2026", self.insts[0].read_log())

    def test_delay_warning_is_signed(self):
        data = self.bounce(self.insts[0], "carol@sender.test", "later@example.com")
        self.assertIn(b"Subject: Delayed Mail (still being retried)", data)
        self.assertTrue(data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;"), data[:200])
        self.assertTrue(dkim.verify(data, dnsfunc=self.dnsfunc), data[:2000])
        self.assertIn("R_DKIM_ALLOW", self.rspamd.check(data))

    def test_no_key_no_signature(self):
        data = self.bounce(self.insts[1], "bob@sender.test")
        self.assertNotIn(b"DKIM-Signature:", data)
        symbols = self.rspamd.check(data)
        self.assertNotIn("R_DKIM_ALLOW", symbols, sorted(symbols))
        self.assertIn("DMARC_POLICY_REJECT", symbols, sorted(symbols))


if __name__ == "__main__":
    unittest.main(verbosity=2)
