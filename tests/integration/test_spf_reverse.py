"""Reverse lookups for private, link-local and documentation addresses reach the configured resolver
(issue #20, defect 4). libunbound answers the reverse zones of RFC 6303 (10/8, 172.16/12, 192.168/16,
169.254/16, fd00::/8, fe80::/10), RFC 6598 (100.64/10) and the documentation ranges (192.0.2/24,
198.51.100/24, 203.0.113/24, 2001:db8::/32) itself with NXDOMAIN unless told otherwise, so "ptr" and
%{p} never saw the PTR records a site's resolver publishes for such clients (on EC2, the VPC resolver's
for the VPC's addresses). The test DNS server publishes them; every SPF check (mxd's own spf module,
tests/tools/spfcheck.c) must find them: "v=spf1 ptr -all" passes, and %{p} expands to the name."""
import ipaddress
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402

SPFCHECK = os.environ.get("MXD_SPFCHECK") or os.path.join(
    os.environ.get("MXD_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build")), "tests",
    "spfcheck")

CLIENTS = ["10.1.2.3", "172.20.0.9", "192.168.5.6", "169.254.1.2", "100.64.1.1", "192.0.2.10",
           "198.51.100.20", "203.0.113.30", "2001:db8::5", "fd00::7", "fe80::1:2"]


def zones():
    lines = ["$ORIGIN sender.test",
             '@ TXT "v=spf1 ptr -all"',
             # %{p}: the validated name of the client, here hN.sender.test
             'pmacro TXT "v=spf1 exists:%{p}.ok.sender.test -all"']
    rev = []
    for i, ip in enumerate(CLIENTS):
        addr = ipaddress.ip_address(ip)
        lines.append("h%d %s %s" % (i, "A" if addr.version == 4 else "AAAA", ip))
        lines.append("h%d.sender.test.ok A 127.0.0.2" % i)
        rev.append("%s PTR h%d.sender.test." % (addr.reverse_pointer + ".", i))
    return "\n".join(lines + rev) + "\n"


class ReverseZones(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = dnsserver.start(zones(), port=0)

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()

    def check(self, client, sender):
        if not os.access(SPFCHECK, os.X_OK):
            self.fail("no spfcheck at %s (build the spfcheck target; ctest sets $MXD_SPFCHECK)" % SPFCHECK)
        r = subprocess.run([SPFCHECK, "127.0.0.1:%d" % self.dns.port, client, "client.example", sender],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split("\n", 1)[0]

    def test_ptr_mechanism_sees_private_reverse_zones(self):
        for ip in CLIENTS:
            with self.subTest(client=ip):
                self.assertEqual(self.check(ip, "a@sender.test"), "pass")
                rname = ipaddress.ip_address(ip).reverse_pointer.lower()
                self.assertIn((rname, "PTR"), [(n.lower().rstrip("."), t) for n, t in self.dns.queries])

    def test_p_macro_sees_private_reverse_zones(self):
        for ip in ("10.1.2.3", "192.0.2.10", "2001:db8::5"):
            with self.subTest(client=ip):
                self.assertEqual(self.check(ip, "a@pmacro.sender.test"), "pass")

    def test_unlisted_client_still_fails(self):
        # a private address without a PTR record: NXDOMAIN from the server, not from unbound
        self.assertEqual(self.check("10.9.9.9", "a@sender.test"), "fail")
        self.assertIn(("9.9.9.10.in-addr.arpa", "PTR"), [(n.lower().rstrip("."), t) for n, t in self.dns.queries])


if __name__ == "__main__":
    unittest.main()
