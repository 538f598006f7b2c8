"""High availability across hosts: a primary and a secondary MX, a DNS server, the recipients' mailbox
provider and a sending MTA, each in a network namespace of its own, joined by a bridge in one more.

The sending MTA is Debian's Postfix (PostfixSender: a private configuration, queue and log, started in
the sender's namespace, resolving through /etc/netns/NS/resolv.conf), as deploy/install-deps.sh installs
it; without Postfix (or with MXD_TEST_NO_POSTFIX=1) it is a small MTA written here (Sender: MX lookup
against the test DNS with dnslib, then the MX hosts by preference, the next one on a connection failure).

    PREFIX-lan   bridge br0, one veth per host; nothing else
    PREFIX-dns   NET.1    tests/lib/dnsserver.py: example.com MX 10 mx1, MX 20 mx2; gmail.test MX mbox
    PREFIX-mx1   NET.11   mxd, role primary (mx1.example.com): info@example.com -> someone@gmail.test
    PREFIX-mx2   NET.12   mxd, role secondary (mx2.example.com), no primary_hosts: relays to the better MX
    PREFIX-mbox  NET.20   tests/lib/sinkmx.py --store DIR (the external mailbox)
    PREFIX-snd   NET.30   the sending MTA; the test's own SMTP clients also connect from here (sockets
                          opened by a thread that entered the namespace)

Addresses exist only inside the namespaces; the namespaces, /etc/netns/PREFIX-snd and every process are
removed in the cleanup, whatever happened. PREFIX holds the pid and a random number: parallel runs do not
collide.
Needs root (ip netns add); skipped with a message otherwise.
"""
import ctypes
import glob
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
import sinkmx  # noqa: E402
from fixtures import hosted, wait_for  # noqa: E402

PY = "/usr/bin/python3"
LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib")
CLONE_NEWNET = 0x40000000
HOSTS = {"dns": 1, "mx1": 11, "mx2": 12, "mbox": 20, "snd": 30}
# Under valgrind (MXD_VALGRIND=1, tests/valgrind.cmake) mxd runs many times slower: the scenario's time
# limits are stretched by this factor there; what happens, and in which order, is checked the same way.
SLOW = 3 if mxtest.VALGRIND else 1


def netns_permitted():
    name = "mxhaprobe%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        return False, (r.stderr or r.stdout).strip()
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return True, ""


def ns_call(ns, fn, *args):
    """Run fn(*args) in a thread that entered network namespace ns; sockets it opens stay in ns."""
    out = {}

    def run():
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/run/netns/" + ns, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + ns)
        finally:
            os.close(fd)
        try:
            out["value"] = fn(*args)
        except BaseException as e:  # noqa: B902 -- handed back to the caller
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


class Sender:
    """An MTA's outbound half: MX lookup, then each MX by preference until one answers."""

    def __init__(self, ns, dns_addr):
        self.ns = ns
        self.dns_addr = dns_addr
        self.tried = []  # (host, addr, outcome) of the last send

    def _lookup(self, name, qtype):
        import dnslib
        q = dnslib.DNSRecord.question(name, qtype)
        reply = dnslib.DNSRecord.parse(q.send(self.dns_addr, 53, timeout=3))
        return [r for r in reply.rr if r.rtype == getattr(dnslib.QTYPE, qtype)]

    def _mx_list(self, domain):
        mx = sorted(self._lookup(domain, "MX"), key=lambda r: r.rdata.preference)
        hosts = []
        for r in mx:
            host = str(r.rdata.label).rstrip(".")
            for a in self._lookup(host, "A"):
                hosts.append((host, str(a.rdata)))
        return hosts

    def _send(self, sender, rcpt, body):
        self.tried = []
        domain = rcpt.rsplit("@", 1)[1]
        for host, addr in self._mx_list(domain):
            try:
                c = mxtest.Client(addr, 25, timeout=5)
            except OSError as e:  # refused, unreachable, timeout: the next MX
                self.tried.append((host, addr, str(e)))
                continue
            try:
                r = c.send_mail(sender, [rcpt], body, helo="snd.sender.test")
                c.cmd("QUIT")
            finally:
                c.close()
            self.tried.append((host, addr, r.text))
            return host, r
        return None, None

    def send(self, sender, rcpt, body):
        """(MX host that took it, final reply); (None, None) when no MX answered."""
        return ns_call(self.ns, self._send, sender, rcpt, body)

    def _rcpt(self, addr, rcpt):
        c = mxtest.Client(addr, 25, timeout=5)
        try:
            c.reply()
            c.cmd("EHLO snd.sender.test")
            c.cmd("MAIL FROM:<a@sender.test>")
            return c.cmd("RCPT TO:<%s>" % rcpt)
        finally:
            c.close()

    def rcpt(self, addr, rcpt):
        """The reply of one MX to RCPT TO (no message sent)."""
        return ns_call(self.ns, self._rcpt, addr, rcpt)


POSTFIX_MAIN_CF = """compatibility_level = 3.6
queue_directory = {dir}/spool
data_directory = {dir}/data
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
myhostname = snd.sender.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
smtp_host_lookup = dns
smtp_connect_timeout = 5s
smtp_tls_security_level = none
alias_maps =
alias_database =
biff = no
"""


class PostfixSender(Sender):
    """Debian's Postfix, with a private configuration, queue and log, started in the sender's namespace:
    its smtp client looks up the MX records through /etc/netns/NS/resolv.conf (ip netns exec mounts it
    over /etc/resolv.conf) and falls back to the next MX on a connection failure. Mail is submitted over
    SMTP to its 127.0.0.1:25; where it went is read from its log."""

    def __init__(self, ns, dns_addr, directory):
        super().__init__(ns, dns_addr)
        self.dir = directory
        self.conf = os.path.join(directory, "conf")
        self.netns_etc = "/etc/netns/" + ns
        os.makedirs(self.netns_etc)
        with open(os.path.join(self.netns_etc, "resolv.conf"), "w") as f:
            f.write("nameserver %s\noptions timeout:2 attempts:2\n" % dns_addr)
        for d in ("conf", "spool", "data"):
            os.makedirs(os.path.join(directory, d))
        os.chmod(directory, 0o755)
        os.chmod(os.path.dirname(directory), 0o755)  # Postfix's daemons (user postfix) pass through
        shutil.chown(os.path.join(directory, "data"), "postfix")
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN_CF.format(dir=directory))
        # no chroot: the private queue directory holds no copy of /etc
        with open("/etc/postfix/master.cf") as src, open(os.path.join(self.conf, "master.cf"), "w") as dst:
            for line in src:
                fields = line.split()
                if line[:1].isalpha() and len(fields) >= 8:
                    fields[4] = "n"
                    line = "  ".join(fields) + "\n"
                dst.write(line)

    def start(self):
        self._postfix("set-permissions", check=False)
        self._postfix("start")
        ns_call(self.ns, mxtest.wait_port, "127.0.0.1", 25)

    def _postfix(self, *args, check=True):
        r = subprocess.run(["ip", "netns", "exec", self.ns, "postfix", "-c", self.conf] + list(args),
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("postfix %s: %s%s\n%s" % (" ".join(args), r.stdout, r.stderr, self.log()))

    def log(self):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        pidfile = os.path.join(self.dir, "spool", "pid", "master.pid")
        try:
            with open(pidfile) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        self._postfix("stop", check=False)
        if pid is not None:
            wait_for(lambda: not os.path.exists("/proc/%d" % pid), 10)
        shutil.rmtree(self.netns_etc, ignore_errors=True)

    def send(self, sender, rcpt, body):
        def submit():
            c = mxtest.Client("127.0.0.1", 25, timeout=10)
            try:
                r = c.send_mail(sender, [rcpt], body, helo="localhost")
                c.cmd("QUIT")
                return r
            finally:
                c.close()

        r = ns_call(self.ns, submit)
        m = re.search(r"queued as ([0-9A-Za-z]+)", r.text)
        if r.code != 250 or m is None:
            return None, r
        qid = m.group(1)
        sent = re.compile(r"%s: to=<%s>, relay=([^\[,]+)\[.*status=sent \((.*)\)$" % (qid, re.escape(rcpt)), re.M)
        found = {}

        def delivered():
            hit = sent.search(self.log())
            if hit:
                found["host"], found["reply"] = hit.group(1), hit.group(2)
            return hit is not None

        wait_for(delivered, 30)
        # what it tried, in order: its log's connection failures and the delivery
        self.tried = [line for line in self.log().splitlines()
                      if ("%s: " % qid in line and "relay=" in line) or "connect to " in line]
        if not found:
            return None, r
        return found["host"], mxtest.Reply([found["reply"]])


class NsInstance(mxtest.Instance):
    """An mxd Instance that runs in network namespace ns, listening on addr:25."""

    def __init__(self, ns, addr, settings):
        self.ns = ns
        self.addr = addr
        s = {"smtpd_listen": "%s:25" % addr}
        s.update(settings)
        super().__init__(s)

    def start(self, extra_args=(), env=None):
        self.stderr = open(os.path.join(self.dir, "mxd.stderr"), "ab")
        # ip netns exec execs mxd itself (or valgrind, which runs mxd in its own process): self.proc.pid
        # is mxd's, and stop() signals mxd
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns] + self.command(),
                                     stdout=self.stderr, stderr=self.stderr)

        def wait():
            mxtest.wait_port(self.addr, 25, proc=self.proc)
            c = mxtest.Client(self.addr, 25)
            c.reply()
            c.cmd("QUIT")
            c.closed()
            c.close()

        ns_call(self.ns, wait)
        time.sleep(0.05)
        return self


class HaNetns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ok, why = netns_permitted()
        if not ok:
            raise unittest.SkipTest("ip netns add is not permitted here (%s): this test needs root" % why)

    def setUp(self):
        self.prefix = "mxha%d%03d" % (os.getpid() % 100000, random.randrange(1000))
        self.net = "10.231.%d" % random.randrange(256)
        self.namespaces = []
        self.postfix = None
        self.procs = []
        self.instances = []
        self.dir = tempfile.mkdtemp(prefix="mxha-")
        self.addCleanup(self._cleanup)
        self._network()
        self._dns()
        self.mbox_dir = os.path.join(self.dir, "mailbox")
        self._spawn("mbox", [PY, os.path.join(LIB, "sinkmx.py"), "--listen", self.ip("mbox") + ":25",
                             "--store", self.mbox_dir, "--hostname", "mx.gmail.test"])
        self.primary = self._mxd("mx1", {
            "role": "primary",
            "myhostname": "mx1.example.com",
            "trusted_peers": self.ip("mx2") + "/32",
        })
        self.secondary = self._mxd("mx2", {
            "role": "secondary",
            "myhostname": "mx2.example.com",
            "primary_probe_interval": "1s",
            "replica_max_age": "1h",
            "trusted_peers": self.ip("mx1") + "/32",
        })
        self.mark_replica(self.secondary, time.time())
        # Debian's Postfix as the sending MTA when it is installed (deploy/install-deps.sh installs it),
        # else the small Python sender above
        self.sender = Sender(self.ns("snd"), self.ip("dns"))
        if shutil.which("postfix") and os.path.exists("/etc/postfix/master.cf") and not os.environ.get(
                "MXD_TEST_NO_POSTFIX"):
            self.postfix = PostfixSender(self.ns("snd"), self.ip("dns"), os.path.join(self.dir, "postfix"))
            self.postfix.start()
            self.sender = self.postfix

    # --- the network ---------------------------------------------------------------------------------

    def ns(self, host):
        return "%s-%s" % (self.prefix, host)

    def ip(self, host):
        return "%s.%d" % (self.net, HOSTS[host])

    def _ip(self, *args):
        subprocess.run(["ip"] + list(args), check=True, capture_output=True)

    def _network(self):
        lan = self.ns("lan")
        self._ip("netns", "add", lan)
        self.namespaces.append(lan)
        self._ip("-n", lan, "link", "add", "br0", "type", "bridge")
        self._ip("-n", lan, "link", "set", "br0", "up")
        for host in HOSTS:
            ns = self.ns(host)
            self._ip("netns", "add", ns)
            self.namespaces.append(ns)
            self._ip("-n", lan, "link", "add", "v-" + host, "type", "veth", "peer", "name", "eth0", "netns", ns)
            self._ip("-n", lan, "link", "set", "v-" + host, "master", "br0", "up")
            self._ip("-n", ns, "addr", "add", self.ip(host) + "/24", "dev", "eth0")
            self._ip("-n", ns, "link", "set", "eth0", "up")
            self._ip("-n", ns, "link", "set", "lo", "up")

    def _spawn(self, host, argv):
        log = open(os.path.join(self.dir, host + ".out"), "w+")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(host)] + argv, stdout=subprocess.PIPE, stderr=log,
                             text=True)
        self.procs.append((p, log))
        line = p.stdout.readline()
        if not line.startswith("READY"):
            log.seek(0)
            raise RuntimeError("%s did not start: %r %s" % (host, line, log.read()))
        return p

    def _dns(self):
        zone = os.path.join(self.dir, "zone")
        with open(zone, "w") as f:
            f.write("$ORIGIN example.com\n@ MX 10 mx1\n@ MX 20 mx2\nmx1 A %s\nmx2 A %s\n"
                    "$ORIGIN gmail.test\n@ MX 10 mx\nmx A %s\n" % (self.ip("mx1"), self.ip("mx2"), self.ip("mbox")))
        self._spawn("dns", [PY, os.path.join(LIB, "dnsserver.py"), "--address", self.ip("dns"), "--port", "53",
                            "--zone", zone])

    def _mxd(self, host, settings):
        base = {
            "resolver": self.ip("dns") + ":53",
            "smtp_tls_security_level": "none",
            "smtp_allow_private_destinations": "yes",  # the hosts' addresses are in 10.231.0.0/16
            "queue_run_delay": "300s",  # so that only the probe can drain the secondary quickly
            "minimal_backoff_time": "300s",
            "maximal_backoff_time": "600s",
        }
        base.update(settings)
        inst = NsInstance(self.ns(host), self.ip(host), base)
        self.instances.append(inst)
        hosted(inst)
        return inst

    def _cleanup(self):
        errors = []
        if self.postfix is not None:
            self.postfix.stop()
        for inst in self.instances:
            try:
                if inst.proc is not None:
                    inst.stop()
            except Exception as e:  # noqa: BLE001 -- report after the rest is cleaned up
                errors.append("%s: %s" % (inst.ns, e))
            inst.cleanup()
        for p, log in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            p.stdout.close()
            log.close()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["rm", "-rf", self.dir])
        if errors:
            raise AssertionError("; ".join(errors))

    # --- helpers -------------------------------------------------------------------------------------

    @staticmethod
    def mark_replica(inst, when):
        """What the sync client records after each pull from the primary (when: its time)."""
        db = sqlite3.connect(inst.settings["database"])
        db.execute("CREATE TABLE IF NOT EXISTS sync_state(key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT OR REPLACE INTO sync_state(key, value) VALUES ('last_sync', ?)", (str(int(when)),))
        db.commit()
        db.close()

    def mailbox(self):
        return [sinkmx.load_message(p) for p in sorted(glob.glob(os.path.join(self.mbox_dir, "*.msg")))]

    def with_msgid(self, msgid):
        return [m for m in self.mailbox() if ("Message-ID: <%s>" % msgid).encode() in m.data]

    def logs(self):
        return "--- mx1:\n%s\n--- mx2:\n%s" % (self.primary.read_log()[-3000:], self.secondary.read_log()[-3000:])

    # --- the scenario --------------------------------------------------------------------------------

    def test_outage_of_the_primary(self):
        self.primary.start()
        self.secondary.start()

        # 1. normal flow: the best MX, the primary, takes it and forwards it to the mailbox
        host, r = self.sender.send("a@sender.test", "info@example.com", mxtest.make_message("ha-1@test"))
        self.assertEqual(host, "mx1.example.com", self.sender.tried)
        self.assertEqual(r.code, 250, r)
        self.assertTrue(wait_for(lambda: self.with_msgid("ha-1@test"), 15 * SLOW), self.logs())
        self.assertEqual(self.with_msgid("ha-1@test")[0].rcpt_tos, ["someone@gmail.test"])
        self.assertEqual(self.with_msgid("ha-1@test")[0].peer.rsplit(":", 1)[0], self.ip("mx1"))
        self.assertNotIn("ha-1@test", self.secondary.read_log())

        # 2. the primary is down: the sender falls back to the secondary, which holds the message
        self.primary.stop()
        host, r = self.sender.send("a@sender.test", "info@example.com", mxtest.make_message("ha-2@test"))
        self.assertEqual(host, "mx2.example.com", self.sender.tried)
        self.assertEqual(r.code, 250, r)
        self.assertIn("mx1.example.com", str(self.sender.tried[0]), "tried the primary first")
        self.assertTrue(wait_for(lambda: "status=deferred" in self.secondary.read_log(), 20 * SLOW),
                        self.logs())
        self.assertEqual(self.with_msgid("ha-2@test"), [])
        # the queue manager writes the deferral to the queue a moment after it logs it
        self.assertTrue(wait_for(lambda: "deferred" in self.secondary.mxctl("queue", "list").stdout, 5 * SLOW),
                        self.secondary.mxctl("queue", "list").stdout)
        held = self.secondary.mxctl("queue", "list").stdout
        self.assertIn("info@example.com", held)
        status = self.secondary.mxctl("sync", "status").stdout
        self.assertIn("role: secondary", status)
        self.assertRegex(status, r"lag: \d+s")

        # the secondary knows the users (550 for unknown ones) while its replica is fresh...
        r = self.sender.rcpt(self.ip("mx2"), "nobody@example.com")
        self.assertTrue(r.text.startswith("550 5.1.1"), r.lines)
        # ...and answers 451 for them once the replica is older than replica_max_age
        self.mark_replica(self.secondary, time.time() - 7200)
        time.sleep(1.1)  # the policy reads last_sync at most once a second
        r = self.sender.rcpt(self.ip("mx2"), "nobody@example.com")
        self.assertTrue(r.text.startswith("451 4.3.0"), r.lines)
        self.mark_replica(self.secondary, time.time())

        # 3. the primary is back: the probe sees it, the secondary relays, the mailbox gets it once
        self.primary.start()
        t0 = time.time()
        self.assertTrue(wait_for(lambda: self.with_msgid("ha-2@test"), 15 * SLOW), self.logs())
        self.assertLess(time.time() - t0, 15 * SLOW)
        self.assertIn("primary answers again", self.secondary.read_log())
        time.sleep(3)  # nothing arrives twice
        got = self.with_msgid("ha-2@test")
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0].rcpt_tos, ["someone@gmail.test"])
        self.assertEqual(got[0].peer.rsplit(":", 1)[0], self.ip("mx1"), "relayed through the primary")
        self.assertIn("to=<info@example.com>, relay=mx1.example.com", self.secondary.read_log())
        self.assertNotIn("takeover", self.secondary.read_log(), "takeover_after is off by default")
        self.assertEqual(len(self.with_msgid("ha-1@test")), 1)
        self.assertTrue(wait_for(lambda: "removed" in self.secondary.read_log(), 5 * SLOW), self.logs())

    def _send_to(self, host, msgid):
        def run():
            c = mxtest.Client(self.ip(host), 25, timeout=5)
            try:
                return c.send_mail("a@sender.test", ["info@example.com"], mxtest.make_message(msgid))
            finally:
                c.close()
        return ns_call(self.ns("snd"), run)

    def test_takeover(self):
        """takeover_after: the primary down that long, the secondary expands and delivers directly; the
        primary back, the secondary relays to it again."""
        self.secondary.settings["takeover_after"] = "2s"
        self.secondary.write_conf()
        self.secondary.start()  # the primary is down from the start

        host, r = self.sender.send("a@sender.test", "info@example.com", mxtest.make_message("to-1@test"))
        self.assertEqual(host, "mx2.example.com", self.sender.tried)
        self.assertEqual(r.code, 250, r)
        self.assertTrue(wait_for(lambda: self.with_msgid("to-1@test"), 15 * SLOW), self.logs())
        # the mailbox has it a moment before the secondary logs the delivery (longer under valgrind)
        self.assertTrue(wait_for(lambda: "to=<someone@gmail.test>, orig_to=<info@example.com>"
                                 in self.secondary.read_log(), 5 * SLOW), self.logs())
        log = self.secondary.read_log()
        self.assertRegex(log, r"mxd/qmgr\[\d+\]: takeover: primary unreachable for \d+s, delivering directly")
        got = self.with_msgid("to-1@test")
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0].rcpt_tos, ["someone@gmail.test"], "the alias is expanded on the secondary")
        self.assertEqual(got[0].peer.rsplit(":", 1)[0], self.ip("mx2"), "delivered by the secondary itself")

        # the primary is back: the probe ends the takeover, and the next message goes to the primary
        self.primary.start()
        self.assertTrue(wait_for(lambda: "takeover ended: primary is back" in self.secondary.read_log(),
                                 10 * SLOW), self.logs())
        r = self._send_to("mx2", "to-2@test")
        self.assertEqual(r.code, 250, r)
        self.assertTrue(wait_for(lambda: self.with_msgid("to-2@test"), 15 * SLOW), self.logs())
        got = self.with_msgid("to-2@test")
        self.assertEqual(got[0].peer.rsplit(":", 1)[0], self.ip("mx1"), "relayed through the primary again")
        relayed = "to=<info@example.com>, relay=mx1.example.com"
        self.assertTrue(wait_for(lambda: relayed in self.secondary.read_log(), 5 * SLOW), self.logs())
        time.sleep(2)
        self.assertEqual(len(self.with_msgid("to-1@test")), 1)
        self.assertEqual(len(self.with_msgid("to-2@test")), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
