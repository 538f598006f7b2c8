"""DKIM and DMARC on the way in, end to end on loopback: a test DNS server publishes DKIM keys (made
here with openssl; python3-dkim signs the test mail) and DMARC records (p=none, quarantine, reject) of
sender domains; mail to info@example.com is forwarded to an aiosmtpd sink. Under dmarc_policy = enforce a
p=reject sender failing both SPF and DKIM alignment is refused with 550 5.7.1 at the end of DATA (nothing
queued), an aligned DKIM signature passes even with SPF failing, p=quarantine failures are accepted and
marked, and a p=reject sender passing by SPF alone gets its From: rewritten (dmarc_from_rewrite). Under
tag the same failure is accepted with its verdict recorded. The Authentication-Results field is read
back at the sink."""
import base64
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

import dkim

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
import sink  # noqa: E402
from fixtures import hosted  # noqa: E402

KEYDIR = tempfile.mkdtemp(prefix="mxd-dkim-")


def make_key(name):
    """An RSA-2048 key pair: (private PEM bytes, the p= value of its DNS record)."""
    path = os.path.join(KEYDIR, name + ".pem")
    subprocess.run(["openssl", "genrsa", "-out", path, "2048"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", path, "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    with open(path, "rb") as f:
        return f.read(), base64.b64encode(der).decode()


def txt(value):
    """A TXT RDATA in strings of at most 200 octets."""
    return " ".join('"%s"' % value[i:i + 200] for i in range(0, len(value), 200))


KEYS = {d: make_key(d) for d in ("reject.test", "other.test", "quar.test")}


def zones():
    z = """
$ORIGIN evil.test
@        TXT "v=spf1 ip4:192.0.2.1 -all"
$ORIGIN gmail.test
@        MX 10 mx
mx       A 127.0.0.1
$ORIGIN reject.test
@        TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc   TXT "v=DMARC1; p=reject; rua=mailto:dmarc@reject.test"
$ORIGIN spfonly.test
@        TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc   TXT "v=DMARC1; p=reject"
$ORIGIN quar.test
_dmarc   TXT "v=DMARC1; p=quarantine"
$ORIGIN none.test
_dmarc   TXT "v=DMARC1; p=none"
$ORIGIN other.test
@        TXT "v=spf1 -all"
$ORIGIN broken.test
_dmarc   SERVFAIL
$ORIGIN slow.test
_dmarc   TIMEOUT
"""
    for d, (_, p) in KEYS.items():
        z += "$ORIGIN %s\nsel._domainkey TXT %s\n" % (d, txt("v=DKIM1; k=rsa; p=" + p))
    return z


def message(from_addr, msgid, body="Hello from a signed sender.\r\n", extra=""):
    return ("From: Alice <%s>\r\nTo: <info@example.com>\r\nSubject: dmarc test\r\nMessage-ID: <%s>\r\n%s"
            "\r\n%s" % (from_addr, msgid, extra, body)).encode()


def signed(domain, msg):
    sig = dkim.sign(msg, b"sel", domain.encode(), KEYS[domain][0],
                    include_headers=[b"from", b"to", b"subject", b"message-id"])
    return sig + msg


def unfolded(data):
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii", "replace")
    return re.sub(r"\n[ \t]+", " ", head)


class Dmarc(unittest.TestCase):
    policy = "enforce"
    extra = {}

    @classmethod
    def setUpClass(cls):
        cls.dns = dnsserver.start(zones(), port=0)
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
                "spf_policy": "tag",
                "dmarc_policy": cls.policy,
                "dmarc_from_rewrite": "yes",
                **cls.extra,
            })
            hosted(cls.inst)
            # a second hosted domain that says no to the From rewrite the setting asks for
            cls.inst.mxctl("domain", "add", "example.net")
            cls.inst.mxctl("alias", "add", "info@example.net", "other@gmail.test")
            cls.inst.mxctl("domain", "option", "example.net", "dmarc_from_rewrite", "no")
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

    def send(self, sender, msg, rcpt="info@example.com"):
        c = self.inst.client()
        try:
            r = c.send_mail(sender, [rcpt], msg)
            c.cmd("QUIT")
        finally:
            c.close()
        return r

    def received(self, msgid, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.sink.lock:
                found = [m for m in self.sink.messages if msgid.encode() in m.data]
            if found:
                return unfolded(found[0].data), found[0].data
            time.sleep(0.05)
        self.fail("%s never reached the sink; mail.log:\n%s" % (msgid, self.inst.read_log()[-3000:]))

    def assert_not_delivered(self, msgid):
        time.sleep(1.5)
        with self.sink.lock:
            self.assertFalse([m for m in self.sink.messages if msgid.encode() in m.data])

    def ar(self, head):
        fields = re.findall(r"(?m)^Authentication-Results: (.*)$", head)
        self.assertEqual(len(fields), 1, head)
        return fields[0]


class Enforce(Dmarc):
    def test_reject_without_alignment_is_refused(self):
        r = self.send("mallory@evil.test", message("ceo@reject.test", "enf-1@test"))
        self.assertEqual(r.code, 550, r.lines)
        self.assertTrue(r.text.startswith("550 5.7.1 "), r.lines)
        self.assertIn("DMARC", r.text)
        self.assertIn("reject.test", r.text)
        self.assert_not_delivered("enf-1@test")
        self.assertRegex(self.inst.read_log(), r"reject: END-OF-MESSAGE from .*: 550 5\.7\.1 Error: DMARC")

    def test_aligned_dkim_passes_with_spf_failing(self):
        r = self.send("mallory@evil.test", signed("reject.test", message("ceo@reject.test", "enf-2@test")))
        self.assertEqual(r.code, 250, r.lines)
        head, raw = self.received("enf-2@test")
        ar = self.ar(head)
        self.assertTrue(ar.startswith("mx.mxd.test; spf=fail smtp.mailfrom=mallory@evil.test;"), ar)
        sig_b = re.search(rb"\bb=([A-Za-z0-9+/]{8})", raw.split(b"DKIM-Signature:", 1)[1].split(b"bh=")[1])
        self.assertIn("dkim=pass header.d=reject.test header.s=sel header.b=%s;" % sig_b.group(1).decode(), ar)
        self.assertIn("dmarc=pass (p=reject dis=none) header.from=reject.test policy.dmarc=reject", ar)
        self.assertNotIn("X-mxd-DMARC", head)
        # the signature survives the forward: the sink's copy still verifies
        self.assertTrue(dkim.verify(raw, dnsfunc=lambda name, timeout=5: self.key_of(name)))

    def key_of(self, name):
        dom = name.decode().rstrip(".").split("._domainkey.")[1]
        return ("v=DKIM1; k=rsa; p=" + KEYS[dom][1]).encode()

    def test_unaligned_dkim_does_not_help(self):
        r = self.send("mallory@evil.test", signed("other.test", message("ceo@reject.test", "enf-3@test")))
        self.assertEqual(r.code, 550, r.lines)
        self.assert_not_delivered("enf-3@test")

    def test_tampered_body_fails_dkim(self):
        msg = signed("reject.test", message("ceo@reject.test", "enf-4@test"))
        r = self.send("mallory@evil.test", msg.replace(b"Hello from", b"Hello FROM"))
        self.assertEqual(r.code, 550, r.lines)

    def test_quarantine_is_accepted_and_marked(self):
        r = self.send("mallory@evil.test", message("ceo@quar.test", "enf-5@test"))
        self.assertEqual(r.code, 250, r.lines)
        head, _ = self.received("enf-5@test")
        self.assertIn("X-mxd-DMARC: quarantine (p=quarantine; header.from=quar.test)", head)
        ar = self.ar(head)
        self.assertIn("dkim=none (no signature);", ar)
        self.assertIn("dmarc=fail (p=quarantine dis=quarantine) header.from=quar.test", ar)

    def test_none_policy_failure_is_only_recorded(self):
        r = self.send("mallory@evil.test", message("ceo@none.test", "enf-6@test"))
        self.assertEqual(r.code, 250, r.lines)
        head, _ = self.received("enf-6@test")
        self.assertNotIn("X-mxd-DMARC", head)
        self.assertIn("dmarc=fail (p=none dis=none) header.from=none.test", self.ar(head))

    def test_from_rewrite_for_spf_only_pass(self):
        msg = message("news@spfonly.test", "enf-7@test")
        r = self.send("bounces@spfonly.test", msg)
        self.assertEqual(r.code, 250, r.lines)
        head, _ = self.received("enf-7@test")
        self.assertRegex(head, r"(?m)^From: <info@example\.com>$")
        self.assertRegex(head, r"(?m)^Reply-To: Alice <news@spfonly\.test>$")
        self.assertIn("dmarc=pass (p=reject dis=none) header.from=spfonly.test", self.ar(head))
        self.assertRegex(self.inst.read_log(), r"from rewritten: <info@example\.com> replaces Alice "
                         r"<news@spfonly\.test> \(DMARC p=reject of spfonly\.test, SPF only\)")
        self.assertEqual(self.delivery_log_received("enf-7@test"),
                         "spf=pass dkim=none dmarc=pass(spfonly.test) arc=none; from rewritten to <info@example.com>")

    def test_from_rewrite_on_a_large_message(self):
        """3 MiB (a mapped spool file): the new From: and Reply-To: are written over the head, the body
        arrives as sent."""
        body = b"".join(b"large body line %07d\r\n" % n for n in range(130000))
        msg = message("news@spfonly.test", "enf-7big@test", body=body.decode())
        r = self.send("bounces@spfonly.test", msg)
        self.assertEqual(r.code, 250, r.lines)
        head, raw = self.received("enf-7big@test")
        self.assertRegex(head, r"(?m)^From: <info@example\.com>$")
        self.assertRegex(head, r"(?m)^Reply-To: Alice <news@spfonly\.test>$")
        self.assertEqual(len(re.findall(r"(?m)^From:", head)), 1, head)
        self.assertTrue(raw.endswith(b"\r\n\r\n" + body), "the body changed")

    def test_large_signed_message_passes_and_still_verifies(self):
        """A DKIM-signed message of 3 MiB: verified from the spool, forwarded with our headers on top,
        and the next hop's copy still verifies."""
        body = "".join("signed line %07d of a large message\r\n" % n for n in range(90000))
        r = self.send("mallory@evil.test", signed("reject.test", message("ceo@reject.test", "enf-2big@test",
                                                                         body=body)))
        self.assertEqual(r.code, 250, r.lines)
        head, raw = self.received("enf-2big@test")
        self.assertIn("dkim=pass header.d=reject.test", self.ar(head))
        self.assertIn("dmarc=pass (p=reject dis=none) header.from=reject.test", self.ar(head))
        self.assertTrue(dkim.verify(raw, dnsfunc=lambda name, timeout=5: self.key_of(name)))

    def delivery_log_received(self, msgid):
        """The reply of the delivery log's 'received' row of the message with msgid (queue.db)."""
        qid = re.search(r"(\w+): message-id=<%s>" % re.escape(msgid), self.inst.read_log()).group(1)
        con = sqlite3.connect(os.path.join(self.inst.dir, "queue", "queue.db"))
        try:
            rows = con.execute("SELECT reply FROM delivery_log WHERE queue_id = ? AND event = 'received'",
                               (qid,)).fetchall()
        finally:
            con.close()
        self.assertEqual(len(rows), 1, rows)
        return rows[0][0]

    def test_from_rewrite_off_for_one_domain(self):
        r = self.send("bounces@spfonly.test", message("news@spfonly.test", "enf-13@test"), rcpt="info@example.net")
        self.assertEqual(r.code, 250, r.lines)
        head, _ = self.received("enf-13@test")
        self.assertRegex(head, r"(?m)^From: Alice <news@spfonly\.test>$")
        self.assertNotIn("Reply-To", head)
        show = self.inst.mxctl("domain", "show", "example.net").stdout
        self.assertIn("dmarc_from_rewrite: no", show)
        self.assertIn("dmarc_from_rewrite: yes (the setting)", self.inst.mxctl("domain", "show", "example.com").stdout)
        r = self.inst.mxctl("domain", "option", "example.net", "dmarc_from_rewrite", "maybe", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("dmarc_from_rewrite 'maybe': expected yes, no or default", r.stderr)

    def test_dkim_aligned_pass_keeps_from(self):
        msg = signed("reject.test", message("ceo@reject.test", "enf-8@test"))
        r = self.send("ceo@reject.test", msg)
        self.assertEqual(r.code, 250, r.lines)
        head, _ = self.received("enf-8@test")
        self.assertRegex(head, r"(?m)^From: Alice <ceo@reject\.test>$")
        self.assertNotIn("Reply-To", head)

    def test_dmarc_lookup_failure_is_temperror_and_accepted(self):
        r = self.send("mallory@evil.test", message("ceo@broken.test", "enf-9@test"))
        self.assertEqual(r.code, 250, r.lines)
        head, _ = self.received("enf-9@test")
        self.assertIn("dmarc=temperror", self.ar(head))

    def test_results_in_the_log(self):
        self.send("mallory@evil.test", signed("reject.test", message("ceo@reject.test", "enf-10@test")))
        self.received("enf-10@test")
        self.assertRegex(self.inst.read_log(), r"smtpd\[\d+\]: \w+: spf=fail dkim=pass\(reject\.test\) "
                         r"dmarc=pass\(reject\.test\)")
        self.assertEqual(self.delivery_log_received("enf-10@test"),
                         "spf=fail dkim=pass(reject.test) dmarc=pass(reject.test) arc=none")

    def test_client_leaving_during_the_check(self):
        # the check waits on a silent DNS name; the client leaves; nothing is queued, mxd goes on
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<mallory@evil.test>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<info@example.com>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(message("ceo@slow.test", "enf-11@test") + b".\r\n")
        deadline = time.time() + 10
        while "message-id=<enf-11@test>" not in self.inst.read_log() and time.time() < deadline:
            time.sleep(0.05)
        c.close()
        deadline = time.time() + 10
        while "lost connection after CHECK" not in self.inst.read_log() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("lost connection after CHECK", self.inst.read_log())
        # the check was dropped with the session: past the lookup's 10 s deadline, nothing was queued
        time.sleep(11)
        qid = re.search(r"(\w+): message-id=<enf-11@test>", self.inst.read_log()).group(1)
        self.assertNotRegex(self.inst.read_log(), r"%s: from=<.*queue active" % qid)
        self.assert_not_delivered("enf-11@test")
        r = self.send("mallory@evil.test", message("ceo@none.test", "enf-12@test"))
        self.assertEqual(r.code, 250, r.lines)


class Tag(Dmarc):
    policy = "tag"

    def test_reject_failure_is_accepted_and_recorded(self):
        r = self.send("mallory@evil.test", message("ceo@reject.test", "tag-1@test"))
        self.assertEqual(r.code, 250, r.lines)
        head, _ = self.received("tag-1@test")
        self.assertIn("dmarc=fail (p=reject dis=reject) header.from=reject.test policy.dmarc=reject",
                      self.ar(head))
        self.assertIn("X-mxd-DMARC: reject (p=reject; header.from=reject.test)", head)
        self.assertRegex(self.inst.read_log(), r"spf=fail dkim=none dmarc=fail\(reject\.test\)")


class Trusted(Dmarc):
    """Our other MX host (trusted_peers) relays what it checked already: not judged again, so a message
    that passed by SPF at the secondary is not refused at the primary."""
    extra = {"trusted_peers": "127.0.0.1/32"}

    def test_trusted_peer_is_not_checked(self):
        r = self.send("mallory@evil.test", message("ceo@reject.test", "trust-1@test"))
        self.assertEqual(r.code, 250, r.lines)
        head, _ = self.received("trust-1@test")
        self.assertNotIn("dmarc=", head)
        self.assertNotIn("X-mxd-DMARC", head)


class NoSpf(Dmarc):
    """enforce without SPF checks: DMARC sees only DKIM, so its failures are tagged, never refused."""
    extra = {"spf_policy": "off"}

    def test_failure_without_spf_is_not_refused(self):
        r = self.send("ceo@reject.test", message("ceo@reject.test", "nospf-1@test"))
        self.assertEqual(r.code, 250, r.lines)
        head, _ = self.received("nospf-1@test")
        self.assertIn("dmarc=fail (p=reject dis=reject) header.from=reject.test", self.ar(head))
        self.assertIn("X-mxd-DMARC: reject", head)
        self.assertIn("dmarc_policy = enforce with spf_policy = off", self.inst.read_log())


if __name__ == "__main__":
    unittest.main()
