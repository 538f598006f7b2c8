"""What the destination sees of mail mxd forwards, end to end on loopback:

* the SRS sender passes SPF for srs_domain: the test zone publishes "v=spf1 ip4:127.0.0.1 -all" for
  srs_domain (mxd forwards from 127.0.0.1), and the envelope sender the sink received is judged by
  libspf2 against that zone, through mxd's own spf module (tests/tools/spfcheck.c, $MXD_SPFCHECK);
* DKIM survives forwarding: the test signs the message with python3-dkim and a key made at test time,
  publishes the public key as selector._domainkey.sender.test TXT, sends it through mxd, and verifies the
  signature on what the sink received, with a dnsfunc that asks the test DNS server (dnslib client). mxd's
  Received, Received-SPF and Authentication-Results go on top, outside the signature.
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
from fixtures import hosted  # noqa: E402

try:
    import dkim
except ImportError:  # python3-dkim (deploy/install-deps.sh installs it)
    dkim = None

from dnslib import DNSRecord, QTYPE, RCODE  # noqa: E402

SRS_DOMAIN = "srs.mxd.test"
SELECTOR = "mxdtest"

ZONES = """
$ORIGIN sender.test
@        TXT "v=spf1 ip4:127.0.0.1 -all"
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN gmail.test
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN srs.mxd.test
@        TXT "v=spf1 ip4:127.0.0.1 -all"
@        MX 10 mx.mxd.test.
$ORIGIN mxd.test
mx       A 127.0.0.1
"""

SPFCHECK = os.environ.get("MXD_SPFCHECK") or os.path.join(
    os.environ.get("MXD_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build")), "tests",
    "spfcheck")


def unfolded(data):
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii", "replace")
    return re.sub(r"\n[ \t]+", " ", head)


def make_dkim_key(directory):
    """An RSA key made with the openssl command: (PEM private key bytes, base64 of the DER public key)."""
    key = os.path.join(directory, "dkim.key")
    subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    with open(key, "rb") as f:
        return f.read(), base64.b64encode(der).decode("ascii")


def txt_zone_value(text, chunk=200):
    """text as the quoted character-strings of one TXT record (each at most 255 octets)."""
    return " ".join('"%s"' % text[i:i + chunk] for i in range(0, len(text), chunk))


class Forwarding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mxtest-dkim-")
        cls.dkim_private = None
        zones = ZONES
        if dkim is not None:
            cls.dkim_private, public = make_dkim_key(cls.tmp)
            zones += "$ORIGIN sender.test\n%s._domainkey TXT %s\n" % (
                SELECTOR, txt_zone_value("v=DKIM1; k=rsa; p=" + public))
        cls.dns = dnsserver.start(zones, port=0)
        cls.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        cls.inst = None
        try:
            cls.inst = mxtest.Instance({
                "resolver": "127.0.0.1:%d" % cls.dns.port,
                "smtp_tcp_port": str(cls.sink.port),
                "queue_run_delay": "1s",
                "minimal_backoff_time": "1s",
                "maximal_backoff_time": "2s",
                "smtp_tls_security_level": "none",
                "spf_policy": "reject",
                "srs_domain": SRS_DOMAIN,
            })
            secret = os.path.join(cls.inst.dir, "srs.secret")
            with open(secret, "w") as f:
                f.write("n3w-s3cret\n0ld-s3cret\n")
            os.chmod(secret, 0o600)  # a secret others may read is refused
            cls.inst.settings["srs_secret_file"] = secret
            cls.inst.write_conf()
            hosted(cls.inst)
            cls.inst.mxctl("alias", "add", "dkim@example.com", "dkim@gmail.test")
            cls.inst.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.inst is not None:
                cls.inst.stop()
        finally:
            if cls.inst is not None:
                cls.inst.cleanup()
            cls.sink.stop()
            cls.dns.stop()
            subprocess.run(["rm", "-rf", cls.tmp])

    def send(self, sender, rcpt, body):
        c = self.inst.client()
        try:
            r = c.send_mail(sender, [rcpt], body)
            c.cmd("QUIT")
        finally:
            c.close()
        self.assertEqual(r.code, 250, r.lines)

    def received(self, rcpt, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.sink.lock:
                found = [m for m in self.sink.messages if rcpt in m.rcpt_tos]
            if found:
                self.assertEqual(len(found), 1, [m.rcpt_tos for m in found])
                return found[0]
            time.sleep(0.05)
        self.fail("nothing for %s at the sink; mail.log:\n%s" % (rcpt, self.inst.read_log()[-3000:]))

    def spfcheck(self, client_ip, helo, sender):
        """(result, Received-SPF) of libspf2 through mxd's spf module, against the test zone."""
        if not os.access(SPFCHECK, os.X_OK):
            self.fail("no spfcheck at %s (build the spfcheck target; ctest sets $MXD_SPFCHECK)" % SPFCHECK)
        r = subprocess.run([SPFCHECK, "127.0.0.1:%d" % self.dns.port, client_ip, helo, sender],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        result, header = r.stdout.split("\n", 1)
        return result, re.sub(r"\r?\n[ \t]+", " ", header).strip()

    def test_srs_sender_passes_spf_for_srs_domain(self):
        self.send("alice@sender.test", "info@example.com", mxtest.make_message("srs-spf@test",
                                                                                sender="alice@sender.test"))
        m = self.received("someone@gmail.test")
        self.assertRegex(m.mail_from, r"^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=sender\.test=alice@srs\.mxd\.test$")
        # mxd delivered from 127.0.0.1, which is what srs_domain's SPF record allows
        self.assertEqual(m.peer[0], "127.0.0.1")
        result, header = self.spfcheck(m.peer[0], "mx.mxd.test", m.mail_from)
        self.assertEqual(result, "pass", header)
        self.assertIn("domain of %s designates 127.0.0.1 as permitted sender" % m.mail_from, header)
        self.assertIn((SRS_DOMAIN, "TXT"), [(q[0].rstrip("."), q[1]) for q in self.dns.queries])
        # the same SRS sender from a host srs_domain does not list fails: it is the record that decides
        result, header = self.spfcheck("192.0.2.77", "mx.mxd.test", m.mail_from)
        self.assertEqual(result, "fail", header)

    def test_dkim_signature_survives_forwarding(self):
        if dkim is None:
            self.fail("needs python3-dkim (sh deploy/install-deps.sh installs it)")
        msg = ("From: Alice <alice@sender.test>\r\n"
               "To: <dkim@example.com>\r\n"
               "Subject: DKIM through mxd\r\n"
               "Date: Thu, 26 Nov 2026 04:00:00 +0000\r\n"
               "Message-ID: <dkim1@sender.test>\r\n"
               "MIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=us-ascii\r\n"
               "\r\n"
               "Hello through a forwarder.\r\n"
               ".a line that starts with a dot (dot-stuffed on the wire)\r\n"
               "  trailing and leading white space  \r\n"
               "\r\n").encode()
        signature = dkim.sign(msg, SELECTOR.encode(), b"sender.test", self.dkim_private,
                              canonicalize=(b"relaxed", b"simple"),
                              include_headers=[b"from", b"to", b"subject", b"date", b"message-id",
                                               b"mime-version", b"content-type"])
        signed = signature + msg
        # the signature holds before mxd sees the message (the key is in the test zone)
        self.assertTrue(dkim.verify(signed, dnsfunc=self.dnsfunc), "signature does not verify before sending")
        self.send("alice@sender.test", "dkim@example.com", signed)
        m = self.received("dkim@gmail.test")
        head = unfolded(m.data)
        # mxd's trace fields went on top of the signed message
        names = [line.split(":", 1)[0] for line in head.split("\n")[:4]]
        self.assertEqual(names, ["Authentication-Results", "Received-SPF", "Received", "DKIM-Signature"], head)
        self.assertTrue(m.data.endswith(msg.split(b"\r\n\r\n", 1)[1]), m.data)
        d = dkim.DKIM(m.data)
        self.assertTrue(d.verify(dnsfunc=self.dnsfunc), "DKIM signature broken by forwarding:\n%s" % m.data)
        self.assertIn((SELECTOR + "._domainkey.sender.test", "TXT"),
                      [(q[0].rstrip("."), q[1]) for q in self.dns.queries])
        # and a changed body would not have verified (the check is real)
        tampered = m.data.replace(b"Hello through", b"Hello via")
        self.assertFalse(dkim.verify(tampered, dnsfunc=self.dnsfunc))

    def dnsfunc(self, name, timeout=5):
        """TXT lookups for dkimpy, answered by the test DNS server: the strings of the first TXT record
        joined, as bytes; b"" when there is none."""
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
