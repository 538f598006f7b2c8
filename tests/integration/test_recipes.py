"""The configuration recipes in deploy/recipes/ and the cloud-init user data in deploy/cloud-init/ stay true.

For each recipe (*.conf): a temp copy with the production paths moved under a temp dir (/etc/mxd,
/var/lib/mxd, /var/spool/mxd) and, appended, this test's listener, log, user and DNS; the files it names
made up (a TLS certificate from a test CA, relay passwords); then its "#$" commands run with /bin/sh
(mxctl being the built one with -c the copy), mxd starts with it and answers, "mxctl config -n" shows
exactly the recipe's settings, and "mxctl route list" shows every route the commands added (and no
password). Commented-out settings in recipes are reported when mxd does not know them (yet).

The primary/secondary pair also runs together: mail to the secondary reaches the primary (primary_hosts
and trusted_peers pointed at loopback), and their DNS zone files load into the test DNS server and say
what the recipes say (MX 10 / MX 20, the addresses in trusted_peers, SPF for the SRS domain).

The cloud-init files are valid YAML with a #cloud-config header, their embedded mxd.conf passes
"mxctl config", they build and install the package, and the README lists the security-group ports.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
from fixtures import stop_and_cleanup, wait_for  # noqa: E402

SRC = mxtest.SOURCE_DIR
RECIPES = os.path.join(SRC, "deploy", "recipes")
CLOUD = os.path.join(SRC, "deploy", "cloud-init")
TEST_PASSWORD = "recipe-test-secret-7"


def defaults():
    r = subprocess.run([mxtest.MXCTL, "-c", "/dev/null", "config", "-d"], capture_output=True, text=True, check=True)
    return dict(parse_settings(r.stdout))


def parse_settings(text):
    """(name, value) for each "name = value" line (continuation lines joined), comments skipped."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
            continue
        name, _, value = line.partition("=")
        out.append((name.strip(), value.strip()))
    return out


class RecipeRun:
    """One recipe moved into a temp dir, its commands run, its mxd started."""

    def __init__(self, name, extra=None):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="mxtest-recipe-")
        self.port = mxtest.free_port()
        self.proc = None
        with open(os.path.join(RECIPES, name)) as f:
            self.original = f.read()
        text = self.moved(self.original)
        self.commands = [line[3:] for line in text.splitlines() if line.startswith("#$ ")]
        self.overrides = {
            "database": os.path.join(self.dir, "lib", "mxd.db"),
            "queue_directory": os.path.join(self.dir, "spool"),
            "smtpd_listen": "127.0.0.1:%d" % self.port,
            "maillog_file": os.path.join(self.dir, "mail.log"),
            "mail_owner": "",
            "resolver": "127.0.0.1:9",  # tests never leave loopback: no DNS
        }
        self.overrides.update(extra or {})
        self.conf = os.path.join(self.dir, "mxd.conf")
        with open(self.conf, "w") as f:
            f.write(text)
            f.write("\n# test_recipes.py: this machine's listener, log, user and DNS\n")
            for k, v in self.overrides.items():
                f.write("%s = %s\n" % (k, v))
        self.settings = dict(parse_settings(text))
        self.settings.update(self.overrides)
        self.make_files()

    def moved(self, text):
        for prod, sub in (("/etc/mxd/", "etc/"), ("/var/lib/mxd", "lib"), ("/var/spool/mxd", "spool")):
            text = text.replace(prod, os.path.join(self.dir, sub))
        return text

    def make_files(self):
        """What the recipe expects to exist: TLS files, password files read by its commands."""
        os.makedirs(os.path.join(self.dir, "etc"), exist_ok=True)
        cert, key = self.settings.get("smtpd_tls_cert_file"), self.settings.get("smtpd_tls_key_file")
        if cert or key:
            pki = mxtest.make_ca(self.dir, hostname=self.settings.get("myhostname", "mx.mxd.test"))
            for src, dst in ((pki["cert"], cert), (pki["key"], key)):
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy(src, dst)
        for cmd in self.commands:
            for path in re.findall(r"<\s*(\S+)", cmd) + re.findall(r"--auth-password-file[= ](\S+)", cmd):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(TEST_PASSWORD + "\n")
                os.chmod(path, 0o600)

    def mxctl(self, *args):
        r = subprocess.run([mxtest.MXCTL, "-c", self.conf] + list(args), capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("%s: mxctl %s failed: %s%s" % (self.name, " ".join(args), r.stdout, r.stderr))
        return r.stdout

    def run_commands(self):
        # Never the machine's own /var/lib/mxd or /var/spool/mxd.
        for name in ("database", "queue_directory", "maillog_file"):
            value = self.mxctl("config", name).split(" = ", 1)[1].strip()
            if not value.startswith(self.dir + "/"):
                raise AssertionError("%s: %s = %s is outside the test's directory" % (self.name, name, value))
        script = "set -e\nmxctl() { \"$MXCTL_BIN\" -c \"$MXD_RECIPE_CONF\" \"$@\"; }\n" + "\n".join(self.commands) + "\n"
        env = dict(os.environ, MXCTL_BIN=mxtest.MXCTL, MXD_RECIPE_CONF=self.conf)
        r = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, env=env, timeout=120)
        if r.returncode != 0:
            raise AssertionError("%s: its commands failed (%d):\n%s%s" % (self.name, r.returncode, r.stdout, r.stderr))
        return r.stdout

    def routes_added(self):
        """(match, nexthop, weight, priority) of every "mxctl route add" in the commands."""
        routes = []
        for cmd in self.commands:
            argv = shlex.split(cmd.split("<")[0])
            if argv[:3] != ["mxctl", "route", "add"]:
                continue
            weight = argv[argv.index("--weight") + 1] if "--weight" in argv else "1"
            prio = argv[argv.index("--priority") + 1] if "--priority" in argv else "0"
            routes.append((argv[3], argv[4], weight, prio))
        return routes

    def start(self):
        self.log = open(os.path.join(self.dir, "mxd.stderr"), "ab")
        self.proc = subprocess.Popen([mxtest.MXD, "-c", self.conf], stdout=self.log, stderr=self.log)
        try:
            mxtest.wait_port("127.0.0.1", self.port, proc=self.proc)
        except RuntimeError as e:
            raise AssertionError("%s: mxd did not start (%s):\n%s" % (self.name, e, self.read("mxd.stderr")))
        c = mxtest.Client("127.0.0.1", self.port)
        banner = c.reply()
        c.cmd("QUIT")
        c.close()
        return banner

    def read(self, name):
        try:
            with open(os.path.join(self.dir, name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        time.sleep(0.3)  # a SIGTERM right at start-up can hang mxd in qmgr_stop() (reported separately)
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "hung after SIGTERM"
        self.proc = None
        self.log.close()
        if rc != 0:
            raise AssertionError("%s: mxd exited with %s:\n%s" % (self.name, rc, self.read("mxd.stderr")[-3000:]))

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Recipes(unittest.TestCase):
    def setUp(self):
        self.defaults = defaults()
        self.runs = []

    def tearDown(self):
        for r in self.runs:
            stop_and_cleanup(r)

    def recipe(self, name, extra=None):
        r = RecipeRun(name, extra)
        self.runs.append(r)
        return r

    def check_recipe(self, r):
        self.assertTrue(r.commands, "%s has no #$ commands" % r.name)
        for name, _ in parse_settings(r.original):
            self.assertIn(name, self.defaults, "%s: unknown setting %s" % (r.name, name))
        r.run_commands()
        banner = r.start()
        self.assertTrue(banner.text.startswith("220 "), banner.lines)
        # config -n: exactly the recipe's settings (with this test's overrides), nothing else.
        want = {k: v for k, v in r.settings.items() if self.defaults.get(k) != v}
        self.assertEqual(dict(parse_settings(r.mxctl("config", "-n"))), want, r.name)
        listing = r.mxctl("route", "list")
        self.assertNotIn(TEST_PASSWORD, listing)
        rows = {tuple(line.split()[:4]) for line in listing.splitlines()[1:]}
        for route in r.routes_added():
            self.assertIn(route, rows, "%s: route list misses %r:\n%s" % (r.name, route, listing))
        for line in re.findall(r"^#(\w+) = ", r.original, re.M):
            if line not in self.defaults:
                print("note: %s documents '%s', which mxd does not know yet" % (r.name, line), file=sys.stderr)
        return r

    def test_every_recipe_is_tested(self):
        confs = sorted(f for f in os.listdir(RECIPES) if f.endswith(".conf"))
        tested = sorted(n[len("test_"):].replace("_", "-") + ".conf" for n in dir(self)
                        if n.startswith("test_") and n not in ("test_every_recipe_is_tested", "test_zones",
                                                               "test_zones_pass_the_check",
                                                               "test_primary_and_secondary"))
        self.assertEqual(sorted(set(confs) - {"primary.conf", "secondary.conf"}), tested)
        self.assertIn("primary.conf", confs)
        self.assertIn("secondary.conf", confs)
        with open(os.path.join(RECIPES, "README.md")) as f:
            readme = f.read()
        for conf in confs:
            self.assertIn("`%s`" % conf, readme, "README.md misses %s" % conf)

    def test_relay_auth(self):
        r = self.check_recipe(self.recipe("relay-auth.conf"))
        listing = r.mxctl("route", "list")
        self.assertRegex(listing, r"corp\.example\s.*verify.*user=relay@example\.com password=\*\*\*\*")

    def test_relay_all(self):
        r = self.check_recipe(self.recipe("relay-all.conf"))
        self.assertEqual(r.mxctl("config", "default_destination_concurrency_limit", "minimal_backoff_time"),
                         "default_destination_concurrency_limit = 10\nminimal_backoff_time = 5s\n")
        self.assertEqual([route[0] for route in r.routes_added()], ["*"])

    def test_warmup_split(self):
        r = self.check_recipe(self.recipe("warmup-split.conf"))
        self.assertEqual(sorted(int(route[2]) for route in r.routes_added()), [20, 80])

    def test_failover(self):
        r = self.check_recipe(self.recipe("failover.conf"))
        self.assertEqual(sorted(route[3] for route in r.routes_added()), ["1", "2"])
        self.assertEqual(r.mxctl("route", "list").count("password=****"), 2)

    def test_primary_and_secondary(self):
        primary = self.recipe("primary.conf", {"trusted_peers": "127.0.0.1/32"})
        self.check_recipe(primary)
        secondary = self.recipe("secondary.conf", {"primary_hosts": "[127.0.0.1]:%d" % primary.port,
                                                   "trusted_peers": "127.0.0.1/32"})
        self.check_recipe(secondary)
        # Mail for a hosted address at the secondary is relayed to the primary, which takes it.
        c = mxtest.Client("127.0.0.1", secondary.port)
        r = c.send_mail("alice@sender.example", ["info@example.com"], mxtest.make_message("pair-1@test"))
        self.assertEqual(r.code, 250, r.lines)
        c.cmd("QUIT")
        c.close()
        self.assertTrue(wait_for(lambda: "status=sent" in secondary.read("mail.log"), 30),
                        secondary.read("mail.log")[-3000:])
        self.assertTrue(wait_for(lambda: "from=<alice@sender.example>" in primary.read("mail.log"), 10),
                        primary.read("mail.log")[-3000:])

    def test_zones(self):
        import dnslib
        import dnsserver
        zones = ""
        for name in ("example.net.zone", "example.com.zone"):
            with open(os.path.join(RECIPES, name)) as f:
                zones += f.read() + "\n"
        srv = dnsserver.start(zones, port=0)
        try:
            def ask(qname, qtype):
                reply = dnslib.DNSRecord.parse(dnslib.DNSRecord.question(qname, qtype).send("127.0.0.1", srv.port,
                                                                                           timeout=5))
                self.assertEqual(dnslib.RCODE[reply.header.rcode], "NOERROR", (qname, qtype))
                return [rr.rdata for rr in reply.rr if dnslib.QTYPE[rr.rtype] == qtype]

            mx = sorted((r.preference, str(r.label)) for r in ask("example.com", "MX"))
            self.assertEqual(mx, [(10, "mx1.example.net."), (20, "mx2.example.net.")])
            mx1, = [str(a) for a in ask("mx1.example.net", "A")]
            mx2, = [str(a) for a in ask("mx2.example.net", "A")]
            spf = [b"".join(t.data).decode() for t in ask("srs.example.net", "TXT")]
            self.assertEqual(len(spf), 1)
            self.assertTrue(spf[0].startswith("v=spf1 ") and spf[0].endswith(" -all"), spf)
            self.assertIn("ip4:%s" % mx1, spf[0].split())
            self.assertIn("ip4:%s" % mx2, spf[0].split())
            self.assertEqual(sorted((r.preference, str(r.label)) for r in ask("srs.example.net", "MX")), mx)
        finally:
            srv.stop()
        # The recipes agree with the zones.
        with open(os.path.join(RECIPES, "primary.conf")) as f:
            primary = dict(parse_settings(f.read()))
        with open(os.path.join(RECIPES, "secondary.conf")) as f:
            secondary = dict(parse_settings(f.read()))
        self.assertEqual(primary["myhostname"], "mx1.example.net")
        self.assertEqual(secondary["myhostname"], "mx2.example.net")
        self.assertEqual(primary["trusted_peers"], "%s/32" % mx2)
        self.assertEqual(secondary["trusted_peers"], "%s/32" % mx1)
        self.assertEqual(secondary["primary_hosts"], "[mx1.example.net]:25")
        with open(os.path.join(RECIPES, "primary.conf")) as f:
            self.assertIn("#srs_domain = srs.example.net", f.read())

    def test_zones_pass_the_check(self):
        """With the records mxctl dkim keygen prints pasted in, the zones make mxctl check say OK on both
        hosts; with the examples left in, it says FAIL and prints the record to publish."""
        import dnsserver
        tmp = tempfile.mkdtemp(prefix="mxtest-recipe-check-")
        zones = ""
        for name in ("example.net.zone", "example.com.zone", "reverse.zone"):
            with open(os.path.join(RECIPES, name)) as f:
                zones += f.read() + "\n"
        srv = dnsserver.start(zones, port=0)
        try:
            hosts = {}
            for role, recipe in (("primary", "primary.conf"), ("secondary", "secondary.conf")):
                with open(os.path.join(RECIPES, recipe)) as f:
                    settings = dict(parse_settings(f.read()))
                conf = os.path.join(tmp, role + ".conf")
                with open(conf, "w") as f:
                    for k in ("role", "myhostname", "trusted_peers", "primary_hosts"):
                        if k in settings:
                            f.write("%s = %s\n" % (k, settings[k]))
                    f.write("srs_domain = srs.example.net\nresolver = 127.0.0.1:%d\ncheck_smtp_probe =\n"
                            "mail_owner =\ndatabase = %s/%s.db\nqueue_directory = %s/%s.q\n"
                            "dkim_key_directory = %s/dkim\n" % (srv.port, tmp, role, tmp, role, tmp))
                hosts[role] = conf

                def mxctl(*args, conf=conf, check=True):
                    r = subprocess.run([mxtest.MXCTL, "-c", conf] + list(args), capture_output=True, text=True,
                                       timeout=60)
                    if check:
                        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    return r
                mxctl("init")
                mxctl("domain", "add", "example.com")
                if role == "primary":
                    records = [mxctl("dkim", "keygen", d).stdout.strip()
                               for d in ("mx1.example.net", "srs.example.net", "mx2.example.net")]
                    before = mxctl("check", check=False)
                    self.assertEqual(before.returncode, 1)
                    self.assertIn("FAIL dkim    mxd._domainkey.mx1.example.net: ", before.stdout)
                    self.assertIn("publish " + records[0], before.stdout)
                    self.assertIn("FAIL arc     mxd._domainkey.srs.example.net: ", before.stdout)
                    pasted = zones
                    for rec in records:
                        name = rec.split(".", 3)[:3]  # mxd, _domainkey, mx1|srs|mx2
                        pasted = re.sub(r"(?m)^%s\._domainkey\.%s IN TXT .*$" % (name[0], name[2]),
                                        rec.replace("\\", "\\\\"), pasted)
                    srv.set_zones(pasted)
                out = mxctl("check", check=False).stdout
                lines = {tuple(l.split()[:2]) for l in out.splitlines()}
                for check in ("mx", "spf", "dmarc", "fcrdns"):
                    self.assertIn(("OK", check), lines, "%s:\n%s" % (role, out))
                self.assertNotIn(("FAIL", "mx"), lines, out)
                self.assertNotIn(("FAIL", "spf"), lines, out)
                self.assertNotIn(("FAIL", "fcrdns"), lines, out)
                if role == "primary":
                    self.assertEqual(mxctl("check", check=False).returncode, 0, out)
                    self.assertIn(("OK", "dkim"), lines, out)
                    self.assertIn(("OK", "arc"), lines, out)
                else:
                    self.assertRegex(out, r"OK +mx +example\.com: MX 20 mx2\.example\.net, the secondary")
        finally:
            srv.stop()
            shutil.rmtree(tmp, ignore_errors=True)


class CloudInit(unittest.TestCase):
    def setUp(self):
        try:
            import yaml  # noqa: F401
        except ImportError:
            self.skipTest("python3-yaml is missing (deploy/install-deps.sh installs it)")
        self.tmp = tempfile.mkdtemp(prefix="mxtest-cloud-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check(self, name, role, recipe):
        import yaml
        with open(os.path.join(CLOUD, name)) as f:
            text = f.read()
        self.assertTrue(text.startswith("#cloud-config\n"), name)
        data = yaml.safe_load(text)
        files = {f["path"]: f for f in data["write_files"]}
        conf = files["/etc/mxd/mxd.conf"]["content"]
        path = os.path.join(self.tmp, name + ".conf")
        with open(path, "w") as f:
            f.write(conf)
        r = subprocess.run([mxtest.MXCTL, "-c", path, "config", "-n"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = dict(parse_settings(r.stdout))
        self.assertEqual(got.get("role", "primary"), role)
        # The same values as the recipe it comes from, for every setting both have.
        with open(os.path.join(RECIPES, recipe)) as f:
            want = dict(parse_settings(f.read()))
        for k, v in dict(parse_settings(conf)).items():
            if k in want:
                self.assertEqual(v, want[k], "%s: %s differs from %s" % (name, k, recipe))
        commands = "\n".join(" ".join(c) if isinstance(c, list) else c for c in data["runcmd"])
        for step in ("cpack -G DEB", "apt-get install", "--force-confold", "systemctl enable --now mxd.service",
                     "mxctl init", "-DMXD_TESTS=OFF"):
            self.assertIn(step, commands, name)
        packages = set(data["packages"])
        for pkg in ("cmake", "dpkg-dev", "file", "libevent-dev", "libsqlite3-dev", "libunbound-dev"):
            self.assertIn(pkg, packages, name)

    def test_primary(self):
        self.check("primary.yaml", "primary", "primary.conf")

    def test_secondary(self):
        self.check("secondary.yaml", "secondary", "secondary.conf")

    def test_readme_lists_ports(self):
        with open(os.path.join(CLOUD, "README.md")) as f:
            readme = f.read()
        for port in ("25/tcp", "22/tcp", "587/tcp", "53/udp"):
            self.assertIn(port, readme)
        self.assertIn("availability zone", readme)


if __name__ == "__main__":
    unittest.main(verbosity=2)
