"""libspf2 runs in a sandboxed helper process (README.md, "SPF"): the helpers of a running mxd are
confined (seccomp filter, no_new_privs, nothing open but the socket to mxd); a helper killed while its
check waits for a DNS answer gives that check a temperror at once (451 4.7.24 with spf_policy =
reject), mxd keeps running, and the next check passes through a restarted helper; and every hostile
SPF record of tests/fuzz/corpus/fuzz_spf_record (long macros, %{l1r-}, the pattern of CVE-2023-42118,
deep includes, huge CIDR lengths, non-ASCII) gets a verdict or a temperror, never a crash of mxd."""
import os
import signal
import sys
import time
import unittest

from dnslib import QTYPE, RR, TXT

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import fixtures  # noqa: E402
import mxtest  # noqa: E402

CORPUS = os.path.join(os.path.dirname(__file__), "..", "fuzz", "corpus", "fuzz_spf_record")

ZONES = """
$ORIGIN pass.test
@        TXT "v=spf1 ip4:127.0.0.0/8 -all"
$ORIGIN slow.test
@        TIMEOUT
$ORIGIN corpus.test
many     MX 10 a.many
many     MX 20 b.many
a.many   A 127.0.0.1
b.many   A 127.0.0.2
d1       TXT "v=spf1 include:d2.corpus.test -all"
d2       TXT "v=spf1 include:d3.corpus.test -all"
d3       TXT "v=spf1 include:d4.corpus.test -all"
d4       TXT "v=spf1 include:d5.corpus.test -all"
d5       TXT "v=spf1 include:d6.corpus.test -all"
d6       TXT "v=spf1 include:d7.corpus.test -all"
d7       TXT "v=spf1 include:d8.corpus.test -all"
d8       TXT "v=spf1 include:d9.corpus.test -all"
d9       TXT "v=spf1 include:d10.corpus.test -all"
d10      TXT "v=spf1 include:d11.corpus.test -all"
d11      TXT "v=spf1 include:d12.corpus.test -all"
d12      TXT "v=spf1 +all"
exp1     TXT "%{l1r-} %{d0} %{ir} %{L} %{c} %{r} %{t} %{p}"
exp2     TXT "bye\\013\\010X-Injected: %{l1r-}%{o}"
"""


def corpus():
    return sorted(f for f in os.listdir(CORPUS) if not f.startswith("."))


def zones():
    z = dnsserver.Zones(ZONES)
    for name in corpus():
        with open(os.path.join(CORPUS, name), "rb") as f:
            record = f.read()
        owner = "%s.corpus.test" % name.replace("_", "-")
        chunks = [record[i:i + 255] for i in range(0, len(record), 255)] or [b""]
        z.records.setdefault(owner, []).append(RR(owner + ".", QTYPE.TXT, ttl=300, rdata=TXT(chunks)))
        z.existing.add(owner)
    return z


def children(pid):
    """The pids of the SPF helpers of mxd process pid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"--spf-helper" in cmdline:
            found.append(int(entry))
    return found


def status_fields(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


class SpfHelper(unittest.TestCase):
    def setUp(self):
        self.dns = dnsserver.start(zones(), port=0)
        self.addCleanup(self.dns.stop)
        self.inst = mxtest.Instance({
            "resolver": "127.0.0.1:%d" % self.dns.port,
            "spf_policy": "reject",
            "smtpd_timeout": "60s",
            "smtpd_client_connection_limit": "1000",
        })
        self.addCleanup(self.inst.cleanup)
        self.inst.mxctl("domain", "add", "example.com")
        self.inst.start()
        self.addCleanup(self.inst.stop)

    def mail(self, sender, timeout=30):
        c = self.inst.client(timeout=timeout)
        try:
            c.reply()
            c.cmd("EHLO client.example")
            return c.cmd("MAIL FROM:<%s>" % sender)
        finally:
            c.close()

    def alive(self):
        self.assertIsNone(self.inst.proc.poll(), "mxd died:\n" + self.inst.read_stderr()[-3000:])

    def test_helpers_are_sandboxed(self):
        self.assertEqual(self.mail("alice@pass.test").code, 250)
        helpers = children(self.inst.proc.pid)
        self.assertTrue(helpers, "no SPF helper runs")
        for pid in helpers:
            st = status_fields(pid)
            self.assertEqual(st["Seccomp"], "2", "helper %d: %s" % (pid, st))
            self.assertEqual(st["NoNewPrivs"], "1")
            self.assertNotEqual(st["Uid"].split()[1], "0", "the helper runs as root")
            self.assertEqual(sorted(int(fd) for fd in os.listdir("/proc/%d/fd" % pid)), [0, 1, 2, 3])
            self.assertEqual(os.readlink("/proc/%d/fd/0" % pid), "/dev/null")

    def test_helper_killed_mid_check(self):
        self.assertEqual(self.mail("alice@pass.test").code, 250)
        c = self.inst.client(timeout=30)
        self.addCleanup(c.close)
        c.reply()
        c.cmd("EHLO client.example")
        c.send("MAIL FROM:<bob@slow.test>\r\n")
        fixtures.wait_for(lambda: ("slow.test", "TXT") in self.dns.queries, timeout=10)
        before = children(self.inst.proc.pid)
        self.assertTrue(before)
        started = time.time()
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        r = c.reply()
        # the lookup timeout is 10 s: the answer comes from the helper's death, not from DNS
        self.assertEqual(r.code, 451, r.lines)
        self.assertIn("4.7.24", r.lines[-1])
        self.assertLess(time.time() - started, 5)
        self.alive()
        self.assertEqual(self.mail("carol@pass.test").code, 250)
        after = children(self.inst.proc.pid)
        self.assertTrue(after)
        self.assertFalse(set(before) & set(after), "the killed helpers were not replaced")
        self.assertIn("SPF helper", self.inst.read_log())
        self.alive()

    def test_hostile_records(self):
        codes = {}
        for name in corpus():
            owner = name.replace("_", "-")
            r = self.mail("x.y-z@%s.corpus.test" % owner)
            self.assertIn(r.code, (250, 451, 550), "%s: %s" % (name, r.lines))
            codes[name] = r.code
            self.alive()
        # the helpers survived or were replaced (after a backoff, if they kept failing): an ordinary
        # sender still passes
        self.assertTrue(fixtures.wait_for(lambda: self.mail("alice@pass.test").code == 250, timeout=15))
        print("verdicts: %s" % {code: sum(1 for c in codes.values() if c == code) for code in (250, 451, 550)},
              file=sys.stderr)
        self.alive()


if __name__ == "__main__":
    unittest.main()
