"""The Debian package: "cpack -G DEB" on a fresh plain build (RelWithDebInfo, no tests, no sanitizers) in a
temp dir, then

* its control data (fields, dependencies found by dpkg-shlibdeps, conffiles, maintainer scripts);
* its contents: programs, /etc/mxd/mxd.conf, the systemd unit(s), man pages (which groff renders without
  a warning; mxd.conf(5) lists every setting "mxctl config -d" knows), /var/lib/mxd 0750 and
  /var/spool/mxd 0700, no build or test leftovers;
* the shipped mxd.conf: the production defaults, and every commented-out example in it is valid;
* installing it for real (dpkg -i), only where that is wanted: as root with CI set (CI machines are
  disposable) or MXD_TEST_INSTALL=1, and only when no mxd package is installed already. Then: the mxd
  user, the directories' owners and modes, the database made by postinst, mxctl as root, the unit
  enabled and accepted by systemd-analyze, the mxadmin user (group mxdb, the databases group-writable,
  the SRS secret out of its reach), the installed mxd serving both ways it may be started
  (as root, switching to mxd; as mxd with CAP_NET_BIND_SERVICE, as mxd.service does), dpkg -r keeping
  configuration and data, dpkg -P removing them. The users and groups the test created are deleted afterwards.
MXD_TEST_DEB=path.deb tests that package instead of building one.
"""
import fcntl
import grp
import gzip
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
from fixtures import free_privileged_port  # noqa: E402

SRC = mxtest.SOURCE_DIR
TMP = None
DEB = None
ROOT = None  # the package's files, unpacked with dpkg-deb -x
CONTROL = None  # its control files, unpacked with dpkg-deb -e
ENTRIES = {}  # path ("usr/sbin/mxd", "var/lib/mxd/") -> (mode string, owner/group)


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    r = subprocess.run(argv, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(argv), r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    return r


def setUpModule():
    global TMP, DEB, ROOT, CONTROL
    for tool in ("cmake", "cpack", "dpkg-deb", "dpkg-shlibdeps", "file", "groff"):
        if shutil.which(tool) is None:
            raise unittest.SkipTest("%s is missing (deploy/install-deps.sh installs it)" % tool)
    TMP = tempfile.mkdtemp(prefix="mxtest-package-")
    if os.environ.get("MXD_TEST_DEB"):
        DEB = os.environ["MXD_TEST_DEB"]  # a package built already (while working on these tests)
    else:
        build = os.path.join(TMP, "build")
        # -Werror stays with the test build; an optimizer-only warning must not stop the package.
        run(["cmake", "-S", SRC, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DMXD_TESTS=OFF",
             "-DMXD_WERROR=OFF", "-DMXD_SANITIZE=OFF"])
        run(["cmake", "--build", build, "-j%d" % max(2, os.cpu_count() or 2)], timeout=600)
        run(["cpack", "-G", "DEB"], cwd=build, timeout=300)
        debs = [f for f in os.listdir(build) if f.endswith(".deb")]
        if len(debs) != 1:
            raise RuntimeError("expected one .deb in %s, found %r" % (build, debs))
        DEB = os.path.join(build, debs[0])
    ROOT = os.path.join(TMP, "root")
    CONTROL = os.path.join(TMP, "control")
    run(["dpkg-deb", "-x", DEB, ROOT])
    run(["dpkg-deb", "-e", DEB, CONTROL])
    for line in run(["dpkg-deb", "-c", DEB]).stdout.splitlines():
        fields = line.split(None, 5)
        path = fields[5].split(" -> ")[0]
        ENTRIES[path[2:] if path.startswith("./") else path] = (fields[0], fields[1])


def tearDownModule():
    if TMP is not None:
        shutil.rmtree(TMP, ignore_errors=True)


def settings_of(mxctl, *args):
    out = run([mxctl] + list(args)).stdout
    return dict(line.split(" = ", 1) if " = " in line else (line.rstrip(" ="), "") for line in out.splitlines())


class Contents(unittest.TestCase):
    def field(self, name):
        return run(["dpkg-deb", "-f", DEB, name]).stdout.strip()

    def test_control_fields(self):
        self.assertEqual(self.field("Package"), "mxd")
        with open(os.path.join(SRC, "CMakeLists.txt")) as f:
            version = re.search(r"project\(mxd VERSION ([\d.]+)", f.read()).group(1)
        self.assertTrue(self.field("Version").startswith(version + "-"), self.field("Version"))
        self.assertEqual(self.field("Architecture"), run(["dpkg", "--print-architecture"]).stdout.strip())
        self.assertEqual(self.field("Section"), "mail")
        self.assertIn("@", self.field("Maintainer"))
        depends = self.field("Depends")
        for dep in ("adduser", "libc6", "libevent-2.1-7", "libsqlite3-0", "libssl3", "libunbound8"):
            self.assertRegex(depends, r"(^|, )%s\b" % re.escape(dep), depends)

    def test_control_scripts(self):
        with open(os.path.join(CONTROL, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/mxd/mxd.conf"])
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(CONTROL, script)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o755, script)
            run(["sh", "-n", path])
            if shutil.which("shellcheck"):
                run(["shellcheck", "-s", "sh", path])
        with open(os.path.join(CONTROL, "postinst")) as f:
            postinst = f.read()
        self.assertIn("adduser --system", postinst)
        self.assertIn("--home /var/lib/mxd", postinst)
        self.assertIn("dpkg-statoverride", postinst)
        # mxadmin runs as its own user, in the group mxdb that shares the databases, and not in mxd's group
        self.assertRegex(postinst, r"adduser --system(?:[^\n]|\\\n)*\smxadmin\n")  # continued lines too
        self.assertIn("addgroup --system --quiet mxdb", postinst)
        self.assertIn("adduser --quiet mxadmin mxdb", postinst)
        self.assertIn("adduser --quiet mxd mxdb", postinst)
        self.assertNotRegex(postinst, r"adduser [^\n]*mxadmin mxd\b", "mxadmin in mxd's group reads the secrets")
        self.assertIn("2770", postinst)  # the database and queue directories: setgid mxdb, group-writable

    def test_files(self):
        want = {
            "usr/sbin/mxd": "-rwxr-xr-x", "usr/sbin/mxctl": "-rwxr-xr-x",
            "etc/mxd/mxd.conf": "-rw-r--r--",
            "lib/systemd/system/mxd.service": "-rw-r--r--",
            "usr/share/man/man8/mxd.8.gz": "-rw-r--r--", "usr/share/man/man8/mxctl.8.gz": "-rw-r--r--",
            "usr/share/man/man5/mxd.conf.5.gz": "-rw-r--r--",
            "var/lib/mxd/": "drwxr-x---", "var/spool/mxd/": "drwx------",
            "usr/share/doc/mxd/recipes/primary.conf": "-rw-r--r--",
        }
        if "usr/sbin/mxadmin" in ENTRIES:
            want.update({"usr/sbin/mxadmin": "-rwxr-xr-x", "lib/systemd/system/mxadmin.service": "-rw-r--r--",
                         "usr/share/man/man8/mxadmin.8.gz": "-rw-r--r--"})
        else:
            self.assertNotIn("lib/systemd/system/mxadmin.service", ENTRIES, "a unit without its program")
        for path, mode in want.items():
            self.assertIn(path, ENTRIES)
            self.assertEqual(ENTRIES[path], (mode, "root/root"), path)
        for path in ENTRIES:
            self.assertFalse(path.startswith("usr/local/"), path)
            self.assertFalse(re.search(r"(^|/)(test_|fuzz_)|\.a$|\.o$|CMake", path), path)

    def test_programs_stripped_and_run(self):
        for prog in ("mxd", "mxctl"):
            path = os.path.join(ROOT, "usr", "sbin", prog)
            self.assertNotIn("with debug_info", run(["file", path]).stdout)
        self.assertRegex(run([os.path.join(ROOT, "usr/sbin/mxd"), "-v"]).stdout, r"^mxd \d")

    def test_man_pages(self):
        pages = [p for p in ENTRIES if p.startswith("usr/share/man/") and p.endswith(".gz")]
        self.assertGreaterEqual(len(pages), 3)
        for page in pages:
            with gzip.open(os.path.join(ROOT, page), "rb") as f:
                text = f.read()
            r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=text, capture_output=True,
                               timeout=60, env=dict(os.environ, LC_ALL="C.UTF-8"))
            self.assertEqual((r.returncode, r.stderr.decode()), (0, ""), page)
        with gzip.open(os.path.join(ROOT, "usr/share/man/man5/mxd.conf.5.gz"), "rt") as f:
            conf5 = f.read()
        defaults = settings_of(os.path.join(ROOT, "usr/sbin/mxctl"), "-c", "/dev/null", "config", "-d")
        self.assertGreater(len(defaults), 30)
        for name, default in defaults.items():
            entry = "\\fB%s\\fR" % name.replace("-", "\\-")
            self.assertIn(entry, conf5, "mxd.conf(5) misses %s" % name)
        undescribed = re.findall(r"^\\fB(\w+)\\fR.*\n\\&Not described yet", conf5, re.M)
        if undescribed:
            print("note: settings without a description in deploy/man/mxd.conf.settings: %s"
                  % ", ".join(undescribed), file=sys.stderr)

    def test_default_config(self):
        mxctl = os.path.join(ROOT, "usr/sbin/mxctl")
        conf = os.path.join(ROOT, "etc/mxd/mxd.conf")
        s = settings_of(mxctl, "-c", conf, "config")
        want = {"role": "primary", "smtpd_listen": "0.0.0.0:25", "database": "/var/lib/mxd/mxd.db",
                "queue_directory": "/var/spool/mxd", "mail_owner": "mxd", "maillog_file": "",
                "mynetworks": "127.0.0.0/8, [::1]/128"}
        for name, value in want.items():
            self.assertEqual(s.get(name), value, name)
        self.assertEqual(run([mxctl, "-c", conf, "config", "-n"]).stdout, "", "the file repeats the defaults")
        # Every commented-out example is a valid setting with a valid value.
        with open(conf) as f:
            text = f.read()
        examples = re.findall(r"^#(\w+ = .*)$", text, re.M)
        self.assertGreaterEqual(len(examples), 5)
        uncommented = os.path.join(TMP, "uncommented.conf")
        with open(uncommented, "w") as f:
            f.write(text + "\n" + "\n".join(examples) + "\n")
        changed = settings_of(mxctl, "-c", uncommented, "config", "-n")
        for line in examples:
            name, value = line.split(" = ", 1)
            self.assertEqual(changed.get(name, value), value, name)


def install_allowed():
    if os.geteuid() != 0:
        return "not root"
    if not (os.environ.get("CI") or os.environ.get("MXD_TEST_INSTALL") == "1"):
        return "installs on this machine: only with CI set or MXD_TEST_INSTALL=1"
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "mxd"], capture_output=True, text=True)
    if "installed" in r.stdout and "not-installed" not in r.stdout:
        return "an mxd package is installed already; not touching it"
    return None


class Install(unittest.TestCase):
    def setUp(self):
        if os.geteuid() == 0:
            # Several checkouts' test suites may share a machine: one install test at a time.
            lockdir = "/run/lock" if os.path.isdir("/run/lock") else tempfile.gettempdir()
            self.lock = open(os.path.join(lockdir, "mxd-test-package-install.lock"), "w")
            self.addCleanup(self.lock.close)
            fcntl.flock(self.lock, fcntl.LOCK_EX)
        why = install_allowed()
        if why:
            self.skipTest(why)
        self.existed = {(kind, name): subprocess.run(["getent", kind, name], capture_output=True).returncode == 0
                        for kind, name in (("passwd", "mxd"), ("passwd", "mxadmin"), ("group", "mxd"),
                                           ("group", "mxadmin"), ("group", "mxdb"))}
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["dpkg", "-P", "mxd"], capture_output=True, timeout=120)
        for (kind, name), existed in self.existed.items():  # users first, then their groups
            if existed or subprocess.run(["getent", kind, name], capture_output=True).returncode != 0:
                continue
            delete = "userdel" if kind == "passwd" else "groupdel"
            r = subprocess.run([delete, name], capture_output=True, text=True)
            if r.returncode != 0:
                print("warning: %s %s (made by this test) failed: %s" % (delete, name, r.stderr.strip()),
                      file=sys.stderr)

    def serve(self, argv, port, want_uid):
        """Start an installed mxd, check its banner and its uid, stop it with SIGTERM (status 0)."""
        log = open(os.path.join(TMP, "installed-mxd.log"), "ab")
        p = subprocess.Popen(argv, stdout=log, stderr=log)
        self.procs.append(p)
        try:
            mxtest.wait_port("127.0.0.1", port, proc=p)
        except RuntimeError:
            log.close()
            self.fail(open(os.path.join(TMP, "installed-mxd.log")).read()[-3000:])
        c = mxtest.Client("127.0.0.1", port)
        self.assertTrue(c.reply().text.startswith("220 "))
        c.cmd("QUIT")
        c.close()
        with open("/proc/%d/status" % p.pid) as f:
            self.assertRegex(f.read(), r"Uid:\s+%d\s" % want_uid)
        # A SIGTERM within ~0.2 s of start-up can leave mxd hanging in qmgr_stop() (reported; not what this
        # test is about): let it settle first.
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rc = "no exit 30 s after SIGTERM"
        log.close()
        with open(os.path.join(TMP, "installed-mxd.log"), errors="replace") as f:
            self.assertEqual(rc, 0, f.read()[-3000:])

    def test_install_run_remove_purge(self):
        r = run(["dpkg", "-i", DEB], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), timeout=300)
        user = pwd.getpwnam("mxd")
        self.assertEqual(user.pw_dir, "/var/lib/mxd")
        self.assertEqual(grp.getgrgid(user.pw_gid).gr_name, "mxd")
        self.assertNotEqual(user.pw_uid, 0)
        self.assertLess(user.pw_uid, 1000, "a system user")
        for path in ("/var/lib/mxd", "/var/spool/mxd"):
            self.assertEqual(os.stat(path).st_uid, user.pw_uid, path)  # group and mode: below (mxdb, 2770)
        self.assertEqual(os.stat("/var/lib/mxd/mxd.db").st_uid, user.pw_uid, "postinst runs mxctl init as mxd")
        # mxadmin: a user of its own, in mxdb (the tables and the queue), not in mxd (the secrets)
        admin = pwd.getpwnam("mxadmin")
        mxdb = grp.getgrnam("mxdb")
        self.assertNotEqual(admin.pw_uid, user.pw_uid)
        self.assertIn("mxadmin", mxdb.gr_mem)
        self.assertIn("mxd", mxdb.gr_mem)
        self.assertNotIn("mxadmin", grp.getgrnam("mxd").gr_mem)
        self.assertNotEqual(admin.pw_gid, user.pw_gid)
        for path in ("/var/lib/mxd", "/var/spool/mxd"):
            st = os.stat(path)
            self.assertEqual((st.st_gid, stat.S_IMODE(st.st_mode)), (mxdb.gr_gid, 0o2770), path)
        st = os.stat("/var/lib/mxd/mxd.db")
        self.assertEqual((st.st_gid, stat.S_IMODE(st.st_mode)), (mxdb.gr_gid, 0o660))
        secret = "/etc/mxd/srs.secret"
        made_secret = not os.path.exists(secret)
        if made_secret:
            with open(secret, "w") as f:
                f.write("test-secret-0123456789abcdef\n")
            os.chown(secret, 0, user.pw_gid)
            os.chmod(secret, 0o640)
        try:
            r = subprocess.run(["runuser", "-u", "mxadmin", "--", "cat", secret], capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0, "mxadmin reads the SRS secret")
            r = subprocess.run(["runuser", "-u", "mxd", "--", "cat", secret], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            # ... and it reaches the tables (sqlite opens them read-write, -wal and -shm included)
            if os.path.exists("/usr/sbin/mxadmin"):
                r = subprocess.run(["runuser", "-u", "mxadmin", "--", "/usr/sbin/mxctl", "-o", "mail_owner=",
                                    "domain", "list"], capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            if made_secret:
                os.unlink(secret)
        self.assertTrue(os.path.islink("/etc/systemd/system/multi-user.target.wants/mxd.service"),
                        "postinst enables mxd.service")

        self.assertEqual(run(["/usr/sbin/mxctl", "config", "mail_owner"]).stdout.strip(), "mail_owner = mxd")
        run(["/usr/sbin/mxctl", "domain", "add", "example.com"])
        self.assertIn("example.com", run(["/usr/sbin/mxctl", "domain", "list"]).stdout)
        run(["/usr/sbin/mxctl", "init"])  # a second time (ExecStartPre, upgrades): nothing to do
        if shutil.which("systemd-analyze"):
            run(["systemd-analyze", "verify", "--man=no", "/lib/systemd/system/mxd.service"])

        # 600-899 here, 900-1023 in test_systemd.py: the two may run at the same time (ctest -j).
        port = free_privileged_port(899, 600)
        listen = "smtpd_listen=127.0.0.1:%d" % port
        # By hand, as root: binds, then switches to mail_owner mxd.
        self.serve(["/usr/sbin/mxd", "-o", listen, "-o", "resolver=127.0.0.1:9"], port, user.pw_uid)
        # As mxd.service starts it: user mxd from the start, with CAP_NET_BIND_SERVICE only.
        if shutil.which("setpriv"):
            self.serve(["setpriv", "--reuid=mxd", "--regid=mxd", "--init-groups", "--inh-caps=-all,+net_bind_service",
                        "--ambient-caps=-all,+net_bind_service", "--bounding-set=-all,+net_bind_service",
                        "--no-new-privs", "/usr/sbin/mxd", "-o", listen, "-o", "resolver=127.0.0.1:9"],
                       port, user.pw_uid)

        run(["dpkg", "-r", "mxd"])
        self.assertFalse(os.path.exists("/usr/sbin/mxd"))
        self.assertTrue(os.path.exists("/etc/mxd/mxd.conf"), "remove keeps the configuration")
        self.assertTrue(os.path.exists("/var/lib/mxd/mxd.db"), "remove keeps the tables")
        run(["dpkg", "-P", "mxd"])
        for path in ("/etc/mxd", "/var/lib/mxd", "/var/spool/mxd",
                     "/etc/systemd/system/multi-user.target.wants/mxd.service"):
            self.assertFalse(os.path.lexists(path), "%s left after purge" % path)


if __name__ == "__main__":
    unittest.main(verbosity=2)
