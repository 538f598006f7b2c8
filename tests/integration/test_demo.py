"""deploy/demo.sh: a primary, a secondary and a mailbox provider in network namespaces on this machine.

start brings up the three hosts (namespaces under a prefix of this test's own, addresses 10.x only inside
them); mail sent to the primary reaches the provider; with the primary down, the secondary accepts and
holds mail, and hands it over once the primary is up again; stop ends every process, deletes the
namespaces and the demo's files. Needs root and working network namespaces (skipped otherwise, with the
reason); CI runs as root, so it runs there.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
from fixtures import wait_for  # noqa: E402

DEMO = os.path.join(mxtest.SOURCE_DIR, "deploy", "demo.sh")
PREFIX = "mxdt%d" % os.getpid()


def netns_unavailable():
    if os.geteuid() != 0:
        return "needs root (ip netns add)"
    if shutil.which("ip") is None:
        return "no ip command (iproute2)"
    probe = PREFIX + "-probe"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return "network namespaces do not work here: %s" % r.stderr.strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX + "-")]


class Demo(unittest.TestCase):
    def setUp(self):
        why = netns_unavailable()
        if why:
            self.skipTest(why)
        self.dir = tempfile.mkdtemp(prefix="mxtest-demo-")
        # MXD_DEMO_USER: not "mxd", which test_package.py may be creating or deleting at the same time.
        self.env = dict(os.environ, MXD_BIN=mxtest.MXD, MXCTL_BIN=mxtest.MXCTL, MXD_DEMO_DIR=self.dir,
                        MXD_DEMO_PREFIX=PREFIX, MXD_DEMO_USER="nobody")

    def tearDown(self):
        self.demo("stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def demo(self, *args, check=True, timeout=120):
        r = subprocess.run(["sh", DEMO] + list(args), capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and r.returncode != 0:
            self.fail("demo.sh %s failed (%d):\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def delivered(self):
        """Envelopes of what the provider (sink) stored, in order."""
        out = []
        for path in sorted(glob.glob(os.path.join(self.dir, "mbox", "messages", "*.msg"))):
            with open(path, "rb") as f:
                out.append(json.loads(f.readline()))
        return out

    def log(self, node):
        try:
            with open(os.path.join(self.dir, node, "mail.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def test_start_send_failover_stop(self):
        self.demo("start")
        self.assertEqual(sorted(namespaces()), sorted(PREFIX + "-" + n for n in ("lan", "mx1", "mx2", "mbox")))
        pids = {}
        for node in ("mx1", "mx2", "mbox"):
            with open(os.path.join(self.dir, node + ".pid")) as f:
                pids[node] = int(f.read())
        for node in ("mx1", "mx2"):  # each node's DKIM key, and the record that publishes it
            with open(os.path.join(self.dir, node, "dkim.zone")) as f:
                self.assertRegex(f.read(), r'^mxd\._domainkey\.%s\.demo\.test\. IN TXT "v=DKIM1; k=rsa; p=' % node)
            self.assertTrue(os.path.exists(os.path.join(self.dir, node, "dkim", node + ".demo.test", "mxd.pem")))
        status = self.demo("status").stdout
        for node, ip in (("mx1", "10.200.0.1"), ("mx2", "10.200.0.2"), ("mbox", "10.200.0.3")):
            self.assertRegex(status, r"%s %s: running .*listening: %s:25" % (node, ip, ip))
        # Nothing of the demo is on the host's own network.
        host_addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
        self.assertNotIn("10.200.0.", host_addrs)

        # The primary forwards to the provider.
        self.assertIn("accepted", self.demo("send", "mx1").stdout)
        self.assertTrue(wait_for(lambda: len(self.delivered()) == 1), self.log("mx1")[-3000:])
        self.assertEqual(self.delivered()[0]["rcpt_tos"], ["someone@gmail.example"])

        # Primary down: the secondary takes the mail and holds it...
        self.demo("down", "mx1")
        self.assertEqual(self.demo("status", check=False).returncode, 3)
        self.assertIn("accepted", self.demo("send", "mx2").stdout)
        self.assertTrue(wait_for(lambda: "status=deferred" in self.log("mx2")), self.log("mx2")[-3000:])
        self.assertEqual(len(self.delivered()), 1)
        # ... and hands it over when the primary is back.
        self.demo("up", "mx1")
        with open(os.path.join(self.dir, "mx1.pid")) as f:
            pids["mx1"] = int(f.read())
        self.assertTrue(wait_for(lambda: len(self.delivered()) == 2, 30), self.log("mx2")[-3000:])
        self.assertEqual(self.delivered()[1]["rcpt_tos"], ["someone@gmail.example"])

        self.demo("stop")
        self.assertEqual(namespaces(), [])
        for node, pid in pids.items():
            self.assertFalse(os.path.exists("/proc/%d" % pid), "%s still runs" % node)
        self.assertFalse(os.path.exists(self.dir))
        self.assertEqual(self.demo("status", check=False).returncode, 3)

    def test_refuses_second_start(self):
        self.demo("start")
        r = self.demo("start", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("runs already", r.stderr)
        self.assertEqual(len(namespaces()), 4, "the failed start must not tear down the running demo")


if __name__ == "__main__":
    unittest.main(verbosity=2)
