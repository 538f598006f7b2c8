"""arc_trusted_sealers: a DMARC failure that a trusted forwarder's ARC chain vouches for.

A sender at reject.test (DMARC p=reject, SPF for 127.0.0.3 only, no DKIM) sends through "hop1", an mxd
that seals as fwd1.test; hop1 sees SPF pass. The copy hop1 forwards (caught at a sink) is then offered,
as hop1 would, to two mxd instances with dmarc_policy = enforce from 127.0.0.1, where SPF fails and so
does DMARC:
* "trusting" lists fwd1.test in arc_trusted_sealers: it accepts the message, and its
  Authentication-Results says arc=pass and dmarc=fail (... dis=none arc-override=fwd1.test); a copy whose body was changed after hop1
  sealed it (the chain fails) is refused like any DMARC failure;
* "strict" has no arc_trusted_sealers and refuses it with 550 5.7.1 naming DMARC;
* "other" trusts another domain only: refused too.
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
import sink  # noqa: E402
from fixtures import stop_and_cleanup  # noqa: E402

ZONES = """
$ORIGIN reject.test
@        TXT "v=spf1 ip4:127.0.0.3 -all"
_dmarc   TXT "v=DMARC1; p=reject"
$ORIGIN gmail.test
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN final.test
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN mxd.test
mx       A 127.0.0.1
"""

MESSAGE = (b"From: CEO <ceo@reject.test>\r\n"
           b"To: <info@example.com>\r\n"
           b"Subject: through a trusted forwarder\r\n"
           b"Date: Sun, 06 Dec 2026 04:00:00 +0000\r\n"
           b"Message-ID: <trust@reject.test>\r\n"
           b"\r\n"
           b"Forwarded once, sealed by fwd1.test.\r\n")


def make_key(directory):
    path = os.path.join(directory, "mxd.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path],
                   check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    public = base64.b64encode(der).decode("ascii")
    return " ".join('"%s"' % part for part in ("v=DKIM1; k=rsa; p=" + public[:200], public[200:]))


def unfolded_head(data):
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii", "replace")
    return re.sub(r"\n[ \t]+", " ", head)


class ArcTrust(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mxtest-arctrust-")
        keys = os.path.join(cls.tmp, "dkim")
        os.makedirs(os.path.join(keys, "fwd1.test"))
        record = make_key(os.path.join(keys, "fwd1.test"))
        cls.dns = dnsserver.start(ZONES + "$ORIGIN fwd1.test\nmxd._domainkey TXT %s\n" % record, port=0)
        cls.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        cls.instances = []
        common = {"resolver": "127.0.0.1:%d" % cls.dns.port, "smtp_tcp_port": str(cls.sink.port),
                  "smtp_tls_security_level": "none", "spf_policy": "tag", "dkim_key_directory": keys,
                  "queue_run_delay": "1s"}
        try:
            cls.hop1 = cls.start(dict(common, arc_signing_domain="fwd1.test"), "example.com",
                                 "info@example.com", "someone@gmail.test")
            # the next hops: DMARC enforced; they seal nothing themselves (no key for their domain)
            enforce = dict(common, dmarc_policy="enforce", arc_signing_domain="")
            cls.trusting = cls.start(dict(enforce, arc_trusted_sealers="other.test, FWD1.test"), "gmail.test",
                                     "someone@gmail.test", "final@final.test")
            cls.strict = cls.start(enforce, "gmail.test", "someone@gmail.test", "final@final.test")
            cls.other = cls.start(dict(enforce, arc_trusted_sealers="other.test"), "gmail.test",
                                  "someone@gmail.test", "final@final.test")
            # what hop1 forwards: its ARC set on top
            c = cls.hop1.client(source="127.0.0.3")
            r = c.send_mail("ceo@reject.test", ["info@example.com"], MESSAGE)
            c.close()
            assert r.code == 250, r.lines
            assert cls.sink.wait(1), "hop1 forwarded nothing: " + cls.hop1.read_log()[-2000:]
            cls.sealed = cls.sink.messages[0].data
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start(cls, settings, domain, alias, destination):
        inst = mxtest.Instance(settings)
        cls.instances.append(inst)
        inst.mxctl("domain", "add", domain)
        inst.mxctl("alias", "add", alias, destination)
        inst.start()
        return inst

    @classmethod
    def tearDownClass(cls):
        for inst in cls.instances:
            stop_and_cleanup(inst)
        cls.sink.stop()
        cls.dns.stop()

    def offer(self, inst, data):
        """hop1's delivery of data to inst, from 127.0.0.1 (where reject.test's SPF fails)."""
        c = inst.client()
        r = c.send_mail("ceo@reject.test", ["someone@gmail.test"], data, helo="mx.mxd.test")
        c.close()
        return r

    def test_hop1_sealed_what_it_saw(self):
        head = unfolded_head(self.sealed)
        self.assertRegex(head, r"ARC-Seal: i=1; a=rsa-sha256; t=\d+; cv=none; d=fwd1\.test; s=mxd;")
        self.assertRegex(head, r"ARC-Authentication-Results: i=1; mx\.mxd\.test; spf=pass")

    def test_trusted_sealer_overrides_the_failure(self):
        before = len(self.sink.messages)
        r = self.offer(self.trusting, self.sealed)
        self.assertEqual(r.code, 250, r.lines)
        self.assertTrue(self.sink.wait(before + 1), self.trusting.read_log()[-2000:])
        head = unfolded_head(self.sink.messages[-1].data)
        ours = [line for line in head.split("\n") if line.startswith("Authentication-Results:")][0]
        self.assertIn("dmarc=fail (p=reject dis=none arc-override=fwd1.test)", ours)
        self.assertIn("arc=pass", ours)
        self.assertNotIn("X-mxd-DMARC", head)  # not marked either
        log = self.trusting.read_log()
        self.assertIn("arc=pass sealers=fwd1.test", log)
        self.assertIn("DMARC failure overridden: ARC sealer fwd1.test is trusted", log)

    def test_without_trust_the_failure_is_refused(self):
        for inst in (self.strict, self.other):
            r = self.offer(inst, self.sealed)
            self.assertEqual(r.code, 550, r.lines)
            self.assertTrue(r.text.startswith("550 5.7.1"), r.lines)
            self.assertIn("DMARC policy of reject.test", r.text)

    def test_a_broken_chain_earns_no_trust(self):
        tampered = self.sealed.replace(b"Forwarded once", b"Forwarded twice")
        self.assertNotEqual(tampered, self.sealed)
        r = self.offer(self.trusting, tampered)
        self.assertEqual(r.code, 550, r.lines)
        deadline = time.time() + 5
        while "arc=fail" not in self.trusting.read_log() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn("arc=fail", self.trusting.read_log())


if __name__ == "__main__":
    unittest.main()
