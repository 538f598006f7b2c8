"""mxctl dkim keygen / list and mxctl check (mxd/check) against a test DNS server on loopback: the
records keygen prints, published in the test zone, make the check say OK; each missing or wrong record
(MX, SPF, DKIM, ARC, DMARC, PTR), a closed probe port, a certificate for another name and a stale
replica make it say FAIL with the fix, and the exit status follows."""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
from admin_client import ROOT_PW, Browser, start_mxadmin, stop_mxadmin  # noqa: E402
from fixtures import wait_for  # noqa: E402

HOST = "mx.mxd.test"
ADDR = "198.18.0.10"  # never connected to: only its DNS records matter
SRS = "srs.mxd.test"
DOMAIN = "hosted.test"


def base_zones(dkim_lines, spf="v=spf1 ip4:198.18.0.10 -all", mx_pref=10, ptr=HOST, dmarc=True):
    z = ["$ORIGIN mxd.test",
         "mx A %s" % ADDR,
         "other A 198.18.0.99",
         "$ORIGIN %s" % SRS,
         "@ MX 10 %s." % HOST,
         '@ TXT "%s"' % spf,
         "$ORIGIN %s" % DOMAIN,
         "@ MX %d %s." % (mx_pref, HOST),
         "@ MX 20 other.mxd.test."]
    if dmarc:
        z.append('_dmarc TXT "v=DMARC1; p=none"')
    z.append("$ORIGIN 18.198.in-addr.arpa")
    z.append("10.0 PTR %s." % ptr)
    z.extend(dkim_lines)
    return "\n".join(z)


class Probe:
    """A loopback SMTP greeter standing in for a well-known MX (check_smtp_probe)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.sendall(b"220 probe.test ESMTP\r\n")
            c.close()

    def close(self):
        self.sock.close()


def make_cert(directory, name):
    key, crt = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "30", "-subj", "/CN=" + name, "-addext", "subjectAltName=DNS:" + name],
                   check=True, capture_output=True)
    return key, crt


def zone_record(line):
    """mxctl dkim keygen's zone line as a record for the test server's zone."""
    m = re.match(r'^(\S+)\. IN TXT (.*)$', line.strip())
    return "%s. TXT %s" % (m.group(1), m.group(2))


class CheckTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mxcheck-")
        cls.dns = dnsserver.start(base_zones([]))
        cls.probe = Probe()
        cls.key, cls.crt = make_cert(cls.tmp, HOST)
        _, cls.other_crt = make_cert(cls.tmp, "other.test")
        cls.inst = mxtest.Instance({
            "resolver": "127.0.0.1:%d" % cls.dns.port,
            "srs_domain": SRS,
            "dkim_key_directory": os.path.join(cls.tmp, "dkim"),
            "check_smtp_probe": "127.0.0.1:%d" % cls.probe.port,
            "smtpd_tls_cert_file": cls.crt,
            "smtpd_tls_key_file": cls.key,
        })
        cls.inst.mxctl("domain", "add", DOMAIN)
        r = cls.inst.mxctl("dkim", "keygen", DOMAIN)
        cls.dkim_line = r.stdout.strip()
        r = cls.inst.mxctl("dkim", "keygen", SRS, "--type", "ed25519")
        cls.arc_line = r.stdout.strip()
        cls.host_line = cls.inst.mxctl("dkim", "keygen", HOST).stdout.strip()  # signs the bounces
        cls.good = [zone_record(cls.dkim_line), zone_record(cls.arc_line), zone_record(cls.host_line)]

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()
        cls.probe.close()
        cls.inst.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.dns.set_zones(base_zones(self.good))

    def check(self, *args, expect_rc=None):
        r = self.inst.mxctl("check", *args, check=False)
        if expect_rc is not None:
            self.assertEqual(r.returncode, expect_rc, r.stdout + r.stderr)
        return r.stdout

    def line(self, out, check, level):
        found = [l for l in out.splitlines() if l.split()[:2] == [level, check]]
        self.assertTrue(found, "no %s %s line in:\n%s" % (level, check, out))
        return found[0]

    def test_keygen_output(self):
        self.assertRegex(self.dkim_line, r'^mxd\._domainkey\.hosted\.test\. IN TXT "v=DKIM1; k=rsa; p=[^"]{200,}" "')
        for part in re.findall(r'"([^"]*)"', self.dkim_line):
            self.assertLessEqual(len(part), 255)
        self.assertRegex(self.arc_line, r'^mxd\._domainkey\.srs\.mxd\.test\. IN TXT "v=DKIM1; k=ed25519; p=')
        path = os.path.join(self.tmp, "dkim", DOMAIN, "mxd.pem")
        with open(path) as f:
            self.assertTrue(f.read().startswith("-----BEGIN PRIVATE KEY-----"))  # PKCS#8
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o640)
        self.assertEqual(os.stat(os.path.dirname(path)).st_mode & 0o777, 0o750)

    def test_keygen_refuses(self):
        r = self.inst.mxctl("dkim", "keygen", DOMAIN, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists already", r.stderr)
        r = self.inst.mxctl("dkim", "keygen", "not a domain", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("domain 'not a domain'", r.stderr)
        r = self.inst.mxctl("dkim", "keygen", DOMAIN, "--selector", "bad sel", check=False)
        self.assertIn("--selector 'bad sel'", r.stderr)
        r = self.inst.mxctl("dkim", "keygen", DOMAIN, "--type", "dsa", check=False)
        self.assertIn("--type 'dsa'", r.stderr)

    def test_list(self):
        out = self.inst.mxctl("dkim", "list").stdout
        self.assertRegex(out, r"hosted\.test\s+mxd\s+rsa\s+published")
        self.dns.set_zones(base_zones(self.good[1:]))
        out = self.inst.mxctl("dkim", "list").stdout
        self.assertRegex(out, r"hosted\.test\s+mxd\s+rsa\s+NOT published: no TXT record")

    def test_all_ok(self):
        out = self.check(expect_rc=0)
        self.assertFalse([l for l in out.splitlines() if l.startswith(("FAIL", "WARN"))], out)
        self.assertIn("0 WARN, 0 FAIL", out)
        for check in ("mx", "dmarc", "spf", "dkim", "arc", "fcrdns", "port25", "tls"):
            self.line(out, check, "OK")

    def test_missing_dkim(self):
        self.dns.set_zones(base_zones(self.good[1:]))
        out = self.check(expect_rc=1)
        l = self.line(out, "dkim", "FAIL")
        self.assertIn("not published", l)
        self.assertIn(self.dkim_line, l)  # the fix: the record to publish

    def test_wrong_dkim(self):
        other = self.good[0].replace("p=MII", "p=MIJ")
        self.dns.set_zones(base_zones([other] + self.good[1:]))
        self.assertIn("another public key", self.line(self.check(expect_rc=1), "dkim", "FAIL"))

    def test_missing_arc(self):
        self.dns.set_zones(base_zones([self.good[0], self.good[2]]))
        self.assertIn(self.arc_line, self.line(self.check(expect_rc=1), "arc", "FAIL"))

    def test_missing_dmarc(self):
        self.dns.set_zones(base_zones(self.good, dmarc=False))
        l = self.line(self.check(expect_rc=1), "dmarc", "FAIL")
        self.assertIn('_dmarc.hosted.test. IN TXT "v=DMARC1', l)

    def test_mx_order(self):
        self.dns.set_zones(base_zones(self.good, mx_pref=30))
        l = self.line(self.check(expect_rc=1), "mx", "FAIL")
        self.assertIn("other.mxd.test comes before this primary", l)

    def test_mx_not_ours(self):
        zones = base_zones(self.good).replace("@ MX 10 mx.mxd.test.\n@ MX 20 other.mxd.test.",
                                              "@ MX 20 other.mxd.test.")
        self.dns.set_zones(zones)
        l = self.line(self.check(expect_rc=1), "mx", "FAIL")
        self.assertIn("do not name myhostname mx.mxd.test: publish hosted.test. IN MX 10 mx.mxd.test.", l)

    def run_as(self, *overrides):
        args = [mxtest.MXCTL, "-c", self.inst.conf]
        for o in overrides:
            args += ["-o", o]
        return subprocess.run(args + ["check", "--no-probe", DOMAIN], capture_output=True, text=True, timeout=60)

    def test_mx_order_secondary(self):
        # we are MX 10, other.mxd.test MX 20: as a secondary of other.mxd.test, the order is wrong
        r = self.run_as("role=secondary", "primary_hosts=[other.mxd.test]:25")
        self.assertIn("this secondary mx.mxd.test (MX 10) is the best MX", self.line(r.stdout, "mx", "FAIL"))
        self.dns.set_zones(base_zones(self.good, mx_pref=30))
        r = self.run_as("role=secondary", "primary_hosts=[other.mxd.test]:25")
        self.assertIn("MX 30 mx.mxd.test, the secondary, comes after the primary", self.line(r.stdout, "mx", "OK"))
        # the secondary's SPF check covers the primary's address too
        r = subprocess.run([mxtest.MXCTL, "-c", self.inst.conf, "-o", "role=secondary", "-o",
                            "primary_hosts=[other.mxd.test]:25", "check", "--no-probe"],
                           capture_output=True, text=True, timeout=60)
        self.assertIn("does not list 198.18.0.99 (other.mxd.test)", self.line(r.stdout, "spf", "FAIL"))

    def test_spf_missing_host(self):
        self.dns.set_zones(base_zones(self.good, spf="v=spf1 ip4:198.18.0.99 -all"))
        l = self.line(self.check(expect_rc=1), "spf", "FAIL")
        self.assertIn("add ip4:198.18.0.10", l)

    def test_spf_include_and_a(self):
        zones = base_zones(self.good, spf="v=spf1 include:_spf.srs.mxd.test -all")
        zones += '\n$ORIGIN _spf.srs.mxd.test\n@ TXT "v=spf1 a:mx.mxd.test -all"'
        self.dns.set_zones(zones)
        self.line(self.check(expect_rc=0), "spf", "OK")

    def test_fcrdns(self):
        self.dns.set_zones(base_zones(self.good, ptr="host-10.provider.test"))
        l = self.line(self.check(expect_rc=1), "fcrdns", "FAIL")
        self.assertIn("host-10.provider.test, not myhostname mx.mxd.test", l)

    def test_port25(self):
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        r = subprocess.run([mxtest.MXCTL, "-c", self.inst.conf, "-o", "check_smtp_probe=127.0.0.1:%d" % port, "check"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("block port 25", self.line(r.stdout, "port25", "FAIL"))
        self.assertNotIn("port25", self.check("--no-probe"))

    def test_tls_wrong_name(self):
        r = subprocess.run([mxtest.MXCTL, "-c", self.inst.conf, "-o", "smtpd_tls_cert_file=" + self.other_crt,
                            "check"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not valid for myhostname", self.line(r.stdout, "tls", "FAIL"))

    def test_replica_never_synced(self):
        r = subprocess.run([mxtest.MXCTL, "-c", self.inst.conf, "-o", "role=secondary", "-o",
                            "sync_primary=127.0.0.1:9", "check"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("never synced", self.line(r.stdout, "replica", "FAIL"))

    def test_no_keys(self):
        r = subprocess.run([mxtest.MXCTL, "-c", self.inst.conf, "-o", "dkim_key_directory=" + os.path.join(
            self.tmp, "empty"), "check", "--no-probe"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout)  # warnings only
        self.assertIn("mxctl dkim keygen mx.mxd.test", self.line(r.stdout, "dkim", "WARN"))
        self.assertIn("mxctl dkim keygen srs.mxd.test --selector mxd", self.line(r.stdout, "arc", "WARN"))

    def test_one_domain_and_bad_argument(self):
        out = self.check(DOMAIN, expect_rc=0)
        self.assertIn("hosted.test", out)
        self.assertNotIn("spf ", out)
        r = self.inst.mxctl("check", "bad..domain", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("domain 'bad..domain'", r.stderr)
        self.assertIn("not a hosted domain", self.line(self.check("nothosted.test", expect_rc=1), "domains", "FAIL"))

    def starting_instance(self):
        settings = {k: v for k, v in self.inst.settings.items()
                    if k in ("resolver", "srs_domain", "dkim_key_directory", "check_smtp_probe",
                             "smtpd_tls_cert_file", "smtpd_tls_key_file")}
        settings["srs_secret_file"] = os.path.join(self.tmp, "srs.secret")
        settings["check_at_start"] = "yes"
        inst = mxtest.Instance(settings)
        if not os.path.exists(settings["srs_secret_file"]):
            inst.mxctl("secret", "srs", settings["srs_secret_file"])
        return inst

    def test_stop_while_checking(self):
        """A check waiting on a silent DNS delays neither the start nor a clean stop."""
        self.dns.set_zones(base_zones(self.good) + "\n$ORIGIN hosted.test\n@ TIMEOUT")
        inst = self.starting_instance()
        try:
            inst.mxctl("domain", "add", DOMAIN)
            inst.start()
            c = inst.client()
            self.assertEqual(c.reply().code, 220)
            c.close()
            self.assertNotIn("self-check:", inst.read_log())
            inst.stop()  # raises unless mxd exits 0 with the sanitizers quiet
        finally:
            inst.cleanup()

    def test_warnings_at_start(self):
        self.dns.set_zones(base_zones(self.good, dmarc=False))
        inst = self.starting_instance()
        try:
            inst.mxctl("domain", "add", DOMAIN)
            inst.start()
            wait_for(lambda: "self-check:" in inst.read_log(), timeout=30)
            log = inst.read_log()
            self.assertRegex(log, r"mxd/check\[\d+\]: warning: FAIL dmarc hosted.test: no DMARC record")
            self.assertIn("self-check: 8 OK, 0 WARN, 1 FAIL (mxctl check shows them all)", log)
            self.assertNotIn("port25", log)  # never probed at start
        finally:
            inst.stop()
            inst.cleanup()


class AdminCheckTest(unittest.TestCase):
    """The admin API and pages show the same lines as mxctl check."""

    def test_api_and_pages(self):
        tmp = tempfile.mkdtemp(prefix="mxcheck-admin-")
        dns = dnsserver.start(base_zones([]))
        probe = Probe()
        port = mxtest.free_port()
        key, crt = make_cert(tmp, HOST)
        inst = mxtest.Instance({"resolver": "127.0.0.1:%d" % dns.port, "srs_domain": SRS,
                                "dkim_key_directory": os.path.join(tmp, "dkim"),
                                "check_smtp_probe": "127.0.0.1:%d" % probe.port,
                                "smtpd_tls_cert_file": crt, "smtpd_tls_key_file": key,
                                "admin_listen": "127.0.0.1:%d" % port})
        proc = None
        try:
            inst.mxctl("domain", "add", DOMAIN)
            pw = os.path.join(tmp, "pw")
            with open(pw, "w") as f:
                f.write(ROOT_PW + "\n")
            inst.mxctl("admin", "add", "root", "--password-file", pw, "--superadmin")
            inst.mxctl("admin", "add", "doma", "--password-file", pw, "--domain", DOMAIN)
            good = [zone_record(inst.mxctl("dkim", "keygen", DOMAIN).stdout),
                    zone_record(inst.mxctl("dkim", "keygen", SRS).stdout),
                    zone_record(inst.mxctl("dkim", "keygen", HOST).stdout)]
            dns.set_zones(base_zones(good[1:]))  # the DKIM key of hosted.test is not published
            token = inst.mxctl("admin", "token", "root").stdout.strip()
            doma = inst.mxctl("admin", "token", "doma").stdout.strip()
            proc, log = start_mxadmin(inst.conf, port)
            b = Browser("http://127.0.0.1:%d" % port)

            def run(payload):
                r = b.api("POST", "/check", payload, token=token)
                self.assertEqual(r.status, 202, r.body)
                wait_for(lambda: not b.api("GET", "/check", token=token).json()["running"], timeout=40)
                return b.api("GET", "/check", token=token).json()

            state = run({})
            self.assertEqual(state["worst"], "FAIL")
            cli = inst.mxctl("check", check=False).stdout.splitlines()[:-1]
            api = ["%-4s %-7s %s: %s" % (l["level"], l["check"], l["subject"], l["text"]) for l in state["lines"]]
            self.assertEqual(api, cli)
            fail = [l for l in state["lines"] if l["level"] == "FAIL"]
            self.assertEqual([l["check"] for l in fail], ["dkim"])
            self.assertIn("publish mxd._domainkey.hosted.test. IN TXT", fail[0]["text"])
            self.assertEqual(state["counts"]["fail"], 1)

            # the dashboard shows the problem, the check page every line
            self.assertEqual(b.login("root", ROOT_PW).status, 303)
            page = b.get("/").body
            self.assertIn("Self-check", page)
            self.assertIn("mxd._domainkey.hosted.test", page)
            self.assertIn('<span class="check-FAIL">FAIL</span>', page)
            page = b.get("/check").body
            self.assertIn('<span class="check-OK">OK</span>', page)

            # published: OK everywhere
            dns.set_zones(base_zones(good))
            state = run({"domain": DOMAIN})
            self.assertEqual(state["worst"], "OK", state)
            self.assertEqual(state["domain"], DOMAIN)

            # bad input and permissions
            r = b.api("POST", "/check", {"domain": "bad..name"}, token=token)
            self.assertEqual(r.status, 400)
            self.assertEqual(r.json()["error"]["field"], "domain")
            self.assertEqual(b.api("GET", "/check", token=doma).status, 403)
        finally:
            if proc is not None:
                stop_mxadmin(proc, log)
            dns.stop()
            probe.close()
            inst.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
