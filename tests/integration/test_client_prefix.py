"""Per-client limits count an IPv6 client by its prefix (smtpd_client_ipv6_prefix_length, default 64):
one /64 is one client, or a host with a /64 of its own would have no limit at all.

Loopback gives one IPv6 address (::1), so the test runs in a network namespace of its own (unshare
--net, as root) with addresses of two /64s on its loopback interface: 2001:db8:1::1 (mxd),
2001:db8:1::10.. (clients of one /64) and 2001:db8:2::10 (another /64). Nothing leaves the namespace.
Needs root; skipped with a message otherwise.
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402

SERVER = "2001:db8:1::1"
SAME_64 = ["2001:db8:1::10", "2001:db8:1::11", "2001:db8:1:0:ffff::12"]
OTHER_64 = "2001:db8:2::10"


def in_own_netns():
    """Re-run this script in a new network namespace (once); False when that is not possible."""
    if os.environ.get("MXD_TEST_NETNS") == "1":
        return True
    if os.geteuid() != 0:
        return False
    env = dict(os.environ, MXD_TEST_NETNS="1")
    r = subprocess.run(["unshare", "--net", sys.executable] + sys.argv, env=env)
    sys.exit(r.returncode)


def setup_addresses():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for a in [SERVER, OTHER_64] + SAME_64:
        subprocess.run(["ip", "-6", "addr", "add", a + "/64", "dev", "lo", "nodad"], check=True)


class ClientPrefix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.environ.get("MXD_TEST_NETNS") != "1":
            raise unittest.SkipTest("needs root for a network namespace with an IPv6 /64")
        setup_addresses()

    def start(self, settings):
        inst = mxtest.Instance(settings)
        inst.settings["smtpd_listen"] = "127.0.0.1:%d, [%s]:%d" % (inst.port, SERVER, inst.port)
        inst.write_conf()
        inst.start()
        self.addCleanup(inst.cleanup)
        self.addCleanup(inst.stop)
        return inst

    def connect(self, inst, source):
        c = mxtest.Client(SERVER, inst.port, source=source)
        self.addCleanup(c.close)
        return c.reply()

    def test_one_64_is_one_client(self):
        inst = self.start({"smtpd_client_connection_limit": "2"})
        self.assertEqual(self.connect(inst, SAME_64[0]).code, 220)
        self.assertEqual(self.connect(inst, SAME_64[1]).code, 220)
        r = self.connect(inst, SAME_64[2])
        self.assertTrue(r.text.startswith("421 4.7.0"), "a third address of the same /64: %r" % r.lines)
        self.assertEqual(self.connect(inst, OTHER_64).code, 220, "another /64 is another client")
        self.assertIn("[2001:db8:1:0:ffff::12]; refused", inst.read_log())

    def test_prefix_length_128_counts_addresses(self):
        inst = self.start({"smtpd_client_connection_limit": "2", "smtpd_client_ipv6_prefix_length": "128"})
        for a in SAME_64:
            self.assertEqual(self.connect(inst, a).code, 220, a)


if __name__ == "__main__":
    in_own_netns()
    unittest.main(verbosity=2)
