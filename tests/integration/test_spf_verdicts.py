"""SPF verdicts that must not depend on luck or on a name's characters (issue #20, defects 1 and 2),
through mxd's own spf module in fresh processes (tests/tools/spfcheck.c: each run starts its own SPF
helper and libunbound context, so no cache carries a verdict over).

* The same verdict every time: the suite's mx-limit (11 MX names: permerror, RFC 7208 4.6.4) and
  ptr-limit (11 PTR names: the first 10 are used) against a DNS server that returns the records of each
  answer in a random order, 20 fresh processes each. libspf2 alone checked the first 10 in DNS order:
  pass or permerror, neutral or pass, by chance.
* Names from macro expansion are asked as they come (RFC 7208 7.3): a local part with a space, '%',
  '\\' or '|' makes a name with them, which the DNS server holds; mxd used to drop such names without a
  query (and so failed senders whose record lists them).
"""
import concurrent.futures
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import spfsuite  # noqa: E402

SPFCHECK = os.environ.get("MXD_SPFCHECK") or os.path.join(
    os.environ.get("MXD_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build")), "tests",
    "spfcheck")
RUNS = 20


def spfcheck(port, client, helo, sender):
    r = subprocess.run([SPFCHECK, "127.0.0.1:%d" % port, client, helo, sender], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("spfcheck: %s" % r.stderr)
    return r.stdout.split("\n", 1)[0]


class Verdicts(unittest.TestCase):
    def setUp(self):
        if not os.access(SPFCHECK, os.X_OK):
            self.fail("no spfcheck at %s (build the spfcheck target; ctest sets $MXD_SPFCHECK)" % SPFCHECK)
        self.dns = spfsuite.SuiteDNS(shuffle=True)

    def tearDown(self):
        self.dns.stop()

    def suite_case(self, name):
        for s in spfsuite.load():
            for c in s.cases:
                if c.name == name:
                    return s, c
        raise KeyError(name)

    def test_same_verdict_every_time(self):
        for name, allowed in (("mx-limit", {"permerror"}), ("ptr-limit", {"neutral", "pass"})):
            with self.subTest(case=name):
                scenario, case = self.suite_case(name)
                self.dns.set_zone(scenario.zone)
                with concurrent.futures.ThreadPoolExecutor(4) as pool:
                    verdicts = list(pool.map(lambda _: spfcheck(self.dns.port, case.host, case.helo, case.mailfrom),
                                             range(RUNS)))
                counts = {v: verdicts.count(v) for v in set(verdicts)}
                self.assertEqual(len(counts), 1, "%s: %s over %d fresh processes" % (name, counts, RUNS))
                self.assertIn(verdicts[0], allowed)

    def test_names_from_macros_are_asked(self):
        # %{l} is the local part as sent, quotes and all
        names = {'"a b"': '"a b".names.test', "100%": "100%.names.test", "x{y}|z": "x{y}|z.names.test",
                 '"tab\\ b"': '"tab\\ b".names.test'}
        zone = {"sender.test": [("TXT", ["v=spf1 a:%{l}.names.test -all"])]}
        zone.update({n.lower(): [("A", "192.0.2.1")] for n in names.values()})
        self.dns.set_zone(zone)
        for local in names:
            with self.subTest(local=local):
                self.assertEqual(spfcheck(self.dns.port, "192.0.2.1", "client.example", local + "@sender.test"),
                                 "pass")
                self.assertEqual(spfcheck(self.dns.port, "192.0.2.2", "client.example", local + "@sender.test"),
                                 "fail")
        asked = [n for n, t in self.dns.queries if t == "A"]
        for name in names.values():
            self.assertIn(name.lower(), asked)

if __name__ == "__main__":
    unittest.main()
