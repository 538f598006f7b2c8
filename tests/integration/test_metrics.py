"""The Prometheus endpoint: scraped and parsed as a monitoring system would, after real traffic."""
import os
import re
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
from fixtures import hosted, stop_and_cleanup  # noqa: E402


def parse(text):
    """Prometheus text format: {(name, frozenset(labels)): value}; every sample line must parse."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+]+)', line)
        assert m, "unparsable sample line %r" % line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


class Metrics(unittest.TestCase):
    def setUp(self):
        self.port = mxtest.free_port()
        self.inst = mxtest.Instance({"metrics_listen": "127.0.0.1:%d" % self.port})
        hosted(self.inst)
        self.inst.start()

    def tearDown(self):
        stop_and_cleanup(self.inst)

    def scrape(self, path="/metrics"):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=10) as r:
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
            return parse(r.read().decode())

    def test_scrape_after_traffic(self):
        c = self.inst.client()
        r = c.send_mail("a@sender.test", ["nobody@example.com", "info@example.com"], mxtest.make_message("m1@test"))
        self.assertEqual(r.code, 250)
        c.cmd("RCPT TO:<x@elsewhere.test>")
        c.close()
        s = self.scrape()
        self.assertEqual(s[("mxd_smtpd_messages_accepted_total", frozenset())], 1)
        self.assertEqual(s[("mxd_smtpd_rejected_total", frozenset({("code", "5.1.1")}))], 1)
        self.assertGreaterEqual(s[("mxd_smtpd_connections_total", frozenset())], 1)
        self.assertEqual(s[("mxd_queue_messages", frozenset())], 1)
        self.assertIn(("mxd_delivery_sent_total", frozenset()), s)
        self.assertIn(("mxd_dns_lookups_total", frozenset()), s)

    def test_mxctl_status(self):
        c = self.inst.client()
        self.assertEqual(c.send_mail("a@sender.test", ["info@example.com"], mxtest.make_message("s1@test")).code, 250)
        c.close()
        out = self.inst.mxctl("status").stdout
        self.assertIn("queue:             1 messages", out)
        self.assertIn("accepted:          1 messages", out)

    def test_other_paths_and_methods(self):
        with self.assertRaises(urllib.error.HTTPError) as e:
            self.scrape("/admin")
        self.assertEqual(e.exception.code, 404)
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % self.port, data=b"x", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        self.assertIn(e.exception.code, (405, 413, 501))


if __name__ == "__main__":
    unittest.main(verbosity=2)
