"""The systemd units in deploy/systemd/, without a running systemd:

* systemd-analyze verify accepts them with no warning at all (it exits 0 even for an unknown key, so its
  output must be empty too); the ExecStart programs must exist, so a temp copy points them at the built
  ones, and the Documentation= man pages are looked up in the build's man directory;
* they carry the hardening the operations issue asks for, and systemd-analyze security rates them;
* the privilege model of mxd.service works: mxd started as an ordinary user with nothing but
  CAP_NET_BIND_SERVICE (ambient), no new privileges and that one capability in its bounding set (what
  User=, AmbientCapabilities=, CapabilityBoundingSet= and NoNewPrivileges= give it) binds a port below
  1024 and serves, and mxctl init runs the same way (ExecStartPre=);
* the readiness protocol: mxd started with $NOTIFY_SOCKET and $WATCHDOG_USEC sends READY=1, then
  WATCHDOG=1 at half the interval, and STOPPING=1 on SIGTERM (once mxd/main.c calls mxd/common/sdnotify.h).
"""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
from fixtures import free_privileged_port  # noqa: E402

SRC = mxtest.SOURCE_DIR
UNITS = os.path.join(SRC, "deploy", "systemd")
BUILD = os.environ.get("MXD_BUILD_DIR", os.path.join(SRC, "build"))
ANALYZE = shutil.which("systemd-analyze")


def read_unit(name):
    """The unit as {section: {key: [values]}} (a key may repeat)."""
    units = {}
    section = None
    with open(os.path.join(UNITS, name)) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = units.setdefault(line.strip("[]"), {})
                continue
            key, _, value = line.partition("=")
            section.setdefault(key.strip(), []).append(value.strip())
    return units


def unit_copy(tmp, name, programs):
    """A copy of the unit in tmp with /usr/sbin/PROGRAM replaced as programs says."""
    with open(os.path.join(UNITS, name)) as f:
        text = f.read()
    for prog, path in programs.items():
        text = re.sub(r"/usr/sbin/%s(?=\s)" % re.escape(prog), path, text)
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def main_calls_sd_notify():
    with open(os.path.join(SRC, "mxd", "main.c")) as f:
        return "sd_notify_ready" in f.read()


class Units(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mxtest-systemd-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def verify(self, path):
        if ANALYZE is None:
            self.skipTest("systemd-analyze is missing (deploy/install-deps.sh installs systemd)")
        env = dict(os.environ)
        man_dir = os.path.join(BUILD, "man")
        man = shutil.which("man") is not None and os.path.isdir(man_dir)
        if man:
            env["MANPATH"] = man_dir
        r = subprocess.run([ANALYZE, "verify", "--man=%s" % ("yes" if man else "no"), path], capture_output=True,
                           text=True, env=env, timeout=60)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""), "systemd-analyze verify %s" % path)

    def test_mxd_service_verifies(self):
        self.verify(unit_copy(self.tmp, "mxd.service", {"mxd": mxtest.MXD, "mxctl": mxtest.MXCTL}))

    def test_mxadmin_service_verifies(self):
        mxadmin = os.path.join(BUILD, "admin", "mxadmin")
        if not os.access(mxadmin, os.X_OK):
            mxadmin = shutil.which("true")  # mxadmin not built (yet): any program checks the rest
        self.verify(unit_copy(self.tmp, "mxadmin.service", {"mxadmin": mxadmin}))

    def test_documentation_pages_exist(self):
        for name in ("mxd.service", "mxadmin.service"):
            for doc in " ".join(read_unit(name)["Unit"]["Documentation"]).split():
                m = re.fullmatch(r"man:([\w.]+)\((\d)\)", doc)
                self.assertIsNotNone(m, doc)
                page, section = m.groups()
                sources = [os.path.join(SRC, "deploy", "man", "%s.%s" % (page, section)),
                           os.path.join(SRC, "deploy", "man", "%s.%s.in" % (page, section))]
                self.assertTrue(any(os.path.exists(p) for p in sources), "%s: %s has no page" % (name, doc))

    def test_mxd_service_hardening(self):
        s = read_unit("mxd.service")["Service"]
        want = {
            "Type": ["notify"], "NotifyAccess": ["main"], "Restart": ["on-failure"],
            "User": ["mxd"], "Group": ["mxd"], "SupplementaryGroups": ["mxdb"], "UMask": ["0007"],
            "CapabilityBoundingSet": ["CAP_NET_BIND_SERVICE"], "AmbientCapabilities": ["CAP_NET_BIND_SERVICE"],
            "NoNewPrivileges": ["yes"], "ProtectSystem": ["strict"], "PrivateTmp": ["yes"],
            "ProtectHome": ["yes"],
            "ExecStart": ["/usr/sbin/mxd -c /etc/mxd/mxd.conf"],
            "ExecStartPre": ["/usr/sbin/mxctl -c /etc/mxd/mxd.conf init"],
        }
        for key, value in want.items():
            self.assertEqual(s.get(key), value, key)
        # StateDirectory= would give /var/lib/mxd back to mxd:mxd 0750 at every start, shutting mxadmin
        # (group mxdb) out of the tables.
        self.assertNotIn("StateDirectory", s)
        self.assertEqual(set(" ".join(s["ReadWritePaths"]).split()), {"/var/spool/mxd", "/var/lib/mxd"})
        self.assertRegex(s["WatchdogSec"][0], r"^\d+s?$")
        # smtpd_connection_limit (20000) connections need descriptors; mxd cannot raise the hard limit as mxd.
        self.assertGreaterEqual(int(s["LimitNOFILE"][0]), 20000 + 100 + 256)
        self.assertEqual(read_unit("mxd.service")["Install"]["WantedBy"], ["multi-user.target"])

    def test_mxadmin_service_hardening(self):
        s = read_unit("mxadmin.service")["Service"]
        # A user of its own: mxd's group (the SMTP TLS key, the SRS and sync secrets) stays out of reach;
        # the tables and the queue come through the shared group mxdb.
        self.assertEqual(s["User"], ["mxadmin"])
        self.assertEqual(s["Group"], ["mxadmin"])
        self.assertEqual(s["SupplementaryGroups"], ["mxdb"])
        self.assertEqual(s["UMask"], ["0007"])  # SQLite files it creates (-wal, -shm) stay writable by mxd
        self.assertEqual(s["CapabilityBoundingSet"], [""])  # no capability at all: port 8080
        self.assertEqual(s["NoNewPrivileges"], ["yes"])
        self.assertEqual(s["ProtectSystem"], ["strict"])
        self.assertEqual(set(" ".join(s["ReadWritePaths"]).split()), {"/var/lib/mxd", "/var/spool/mxd"})

    def test_exposure_rating(self):
        if ANALYZE is None:
            self.skipTest("systemd-analyze is missing")
        for name, progs in (("mxd.service", {"mxd": mxtest.MXD, "mxctl": mxtest.MXCTL}),
                            ("mxadmin.service", {"mxadmin": shutil.which("true")})):
            path = unit_copy(self.tmp, name, progs)
            r = subprocess.run([ANALYZE, "security", "--offline=yes", "--threshold=20", path], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, "%s: exposure above 2.0:\n%s" % (name, r.stdout[-1500:]))


@unittest.skipUnless(os.geteuid() == 0, "needs root: switches to an unprivileged user with one capability")
class PrivilegeModel(unittest.TestCase):
    """What mxd.service does, done with setpriv(1): an unprivileged user, CAP_NET_BIND_SERVICE only."""

    def setUp(self):
        self.setpriv = shutil.which("setpriv")
        if self.setpriv is None:
            self.skipTest("setpriv (util-linux) is missing")
        self.user = pwd.getpwnam("nobody")
        self.tmp = tempfile.mkdtemp(prefix="mxtest-privs-")
        os.chmod(self.tmp, 0o755)
        self.state = os.path.join(self.tmp, "state")
        os.mkdir(self.state, 0o750)
        os.chown(self.state, self.user.pw_uid, self.user.pw_gid)
        # 900-1023 here; test_package.py takes 600-899
        self.port = free_privileged_port(1023, 900)
        self.conf = os.path.join(self.tmp, "mxd.conf")
        with open(self.conf, "w") as f:
            f.write("myhostname = mx.mxd.test\nsmtpd_listen = 127.0.0.1:%d\n" % self.port)
            f.write("database = %s/mxd.db\nqueue_directory = %s/queue\n" % (self.state, self.state))
            # As in the packaged mxd.conf: mail_owner names the user systemd already started us as.
            f.write("mail_owner = mxd\nresolver = 127.0.0.1:9\n")
        self.proc = None

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def as_service(self, *argv):
        return [self.setpriv, "--reuid=%d" % self.user.pw_uid, "--regid=%d" % self.user.pw_gid, "--clear-groups",
                "--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service",
                "--bounding-set=-all,+net_bind_service", "--no-new-privs"] + list(argv)

    def test_binds_port_below_1024_with_one_capability(self):
        r = subprocess.run(self.as_service(mxtest.MXCTL, "-c", self.conf, "init"), capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.stat(os.path.join(self.state, "mxd.db")).st_uid, self.user.pw_uid)
        log = open(os.path.join(self.tmp, "mxd.stderr"), "wb")
        self.proc = subprocess.Popen(self.as_service(mxtest.MXD, "-c", self.conf), stdout=log, stderr=log)
        try:
            mxtest.wait_port("127.0.0.1", self.port, proc=self.proc)
        except RuntimeError:
            log.close()
            self.fail(open(os.path.join(self.tmp, "mxd.stderr")).read()[-3000:])
        c = mxtest.Client("127.0.0.1", self.port)
        self.assertTrue(c.reply().text.startswith("220 "))
        self.assertEqual(c.cmd("QUIT").code, 221)
        c.close()
        with open("/proc/%d/status" % self.proc.pid) as f:
            status = f.read()
        self.assertRegex(status, r"Uid:\s+%d\s" % self.user.pw_uid)
        self.assertRegex(status, r"CapEff:\s+0000000000000400")  # CAP_NET_BIND_SERVICE (bit 10) only
        self.assertRegex(status, r"NoNewPrivs:\s+1")
        time.sleep(0.5)  # a SIGTERM right at start-up can hang mxd in qmgr_stop() (reported separately)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=30), 0)
        log.close()


class Notify(unittest.TestCase):
    """mxd and $NOTIFY_SOCKET, as systemd runs a Type=notify service with WatchdogSec=."""

    def setUp(self):
        if not main_calls_sd_notify():
            self.skipTest("mxd/main.c does not call sd_notify_ready() yet (mxd/common/sdnotify.h)")
        self.inst = mxtest.Instance()
        self.sock_path = os.path.join(self.inst.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)

    def tearDown(self):
        try:
            self.inst.stop()
        finally:
            self.sock.close()
            self.inst.cleanup()

    def receive(self, timeout):
        """Datagrams that arrive within timeout seconds, each as a set of KEY=value lines, in order."""
        got = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                got.append(self.sock.recv(4096).decode())
            except (socket.timeout, TimeoutError):
                break
        return got

    def start(self, env):
        """Start mxd with env added to the environment (as Instance.start, which takes no env)."""
        self.inst.stderr = open(os.path.join(self.inst.dir, "mxd.stderr"), "ab")
        self.inst.proc = subprocess.Popen([mxtest.MXD, "-c", self.inst.conf], stdout=self.inst.stderr,
                                          stderr=self.inst.stderr, env=dict(os.environ, **env))
        mxtest.wait_port("127.0.0.1", self.inst.port, proc=self.inst.proc)

    def test_ready_watchdog_stopping(self):
        self.start({"NOTIFY_SOCKET": self.sock_path, "WATCHDOG_USEC": "400000"})
        got = self.receive(1.5)
        lines = [line for msg in got for line in msg.split("\n")]
        self.assertIn("READY=1", lines, got)
        # 1.5 s with a 400 ms watchdog: a ping every 200 ms, the first at start-up. A loaded CI machine
        # (sanitizers, tests in parallel) may delay the loop: two pings still prove they repeat.
        self.assertGreaterEqual(lines.count("WATCHDOG=1"), 2, got)
        self.inst.proc.send_signal(signal.SIGTERM)
        got = self.receive(3)
        self.assertIn("STOPPING=1", [line for msg in got for line in msg.split("\n")], got)

    def test_no_socket_no_harm(self):
        self.start({"WATCHDOG_USEC": "400000"})  # a watchdog but nowhere to send: runs as usual
        c = self.inst.client()
        self.assertTrue(c.reply().text.startswith("220 "))
        c.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
