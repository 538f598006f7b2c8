"""Rate caps (issue #17, part 5): a route's next hop with --rate N/unit never gets more than that (within
10 % over 200 messages), mxctl route set changes the cap and the weight of a hop in place, and bad
input is named."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dnsserver  # noqa: E402
import mxtest  # noqa: E402
import sink  # noqa: E402
from admin_client import Browser, add_admin, start_mxadmin, stop_mxadmin  # noqa: E402
from fixtures import wait_for  # noqa: E402
import urllib.parse  # noqa: E402

ROOT_PW = "root-Passw0rd-1"
OWNER_PW = "owner-Passw0rd-2"

ZONES = """
$ORIGIN sender.test
@        MX 10 mx
mx       A 127.0.0.1
"""

N = 200


class Rate(unittest.TestCase):
    def setUp(self):
        self.dns = dnsserver.start(ZONES, port=0)
        self.relay = sink.Sink("127.0.0.1", mxtest.free_port())
        self.inst = mxtest.Instance({
            "resolver": "127.0.0.1:%d" % self.dns.port,
            "queue_run_delay": "1s", "minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
            "smtp_tls_security_level": "none",
        })
        self.inst.mxctl("domain", "add", "example.com")
        self.inst.mxctl("alias", "add", "r@example.com", "user@capped.test")
        self.hop = "[127.0.0.1]:%d" % self.relay.port

    def tearDown(self):
        try:
            self.inst.stop()
        finally:
            self.inst.cleanup()
            self.relay.stop()
            self.dns.stop()

    def arrivals(self, n, timeout=60):
        """Times at which the relay had received 1 and n messages (polled every millisecond)."""
        first = last = None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            count = len(self.relay.messages)
            now = time.monotonic()
            if first is None and count >= 1:
                first = now
            if count >= n:
                last = now
                break
            time.sleep(0.001)
        return first, last

    def test_cap_holds_within_ten_percent(self):
        self.inst.mxctl("route", "add", "capped.test", self.hop, "--rate", "100/s")
        self.assertIn("100/s", self.inst.mxctl("route", "list").stdout)
        self.inst.start()
        result = {}

        def watch():
            result["t"] = self.arrivals(N)
        watcher = threading.Thread(target=watch)
        watcher.start()
        c = self.inst.client()
        for k in range(N):
            r = c.send_mail("alice@sender.test", ["r@example.com"], mxtest.make_message("rate%d@test" % k))
            self.assertEqual(r.code, 250, r.lines)
        c.cmd("QUIT")
        c.close()
        watcher.join()
        first, last = result["t"]
        self.assertIsNotNone(last, "only %d of %d arrived" % (len(self.relay.messages), N))
        rate = (N - 1) / (last - first)
        self.assertLessEqual(rate, 110, "%.1f messages/s through a 100/s cap" % rate)
        self.assertGreaterEqual(rate, 30, "%.1f messages/s: the cap should not slow it this much" % rate)

    def test_weight_schedule(self):
        b = sink.Sink("127.0.0.1", mxtest.free_port())
        try:
            hop_b = "[127.0.0.1]:%d" % b.port
            self.inst.mxctl("route", "add", "capped.test", self.hop, "--weight", "20")
            self.inst.mxctl("route", "add", "capped.test", hop_b, "--weight", "80")
            # the warm-up has grown: from a past date the new hop takes 80 %; a future step does not count yet
            self.inst.mxctl("route", "schedule", "capped.test", self.hop, "2020-01-01", "80")
            self.inst.mxctl("route", "schedule", "capped.test", hop_b, "2020-01-01", "20")
            self.inst.mxctl("route", "schedule", "capped.test", hop_b, "2999-01-01", "10000")
            out = self.inst.mxctl("route", "list").stdout
            self.assertIn("capped.test %s: 2020-01-01=20,2999-01-01=10000" % hop_b, out)
            for bad, words in ((["2026-02-30", "5"], "date '2026-02-30'"), (["tomorrow", "5"], "date 'tomorrow'"),
                               (["2026-01-01", "x"], "weight")):
                r = self.inst.mxctl("route", "schedule", "capped.test", self.hop, *bad, check=False)
                self.assertNotEqual(r.returncode, 0, bad)
                self.assertIn(words, r.stderr)
            self.inst.start()
            c = self.inst.client()
            for k in range(10):
                r = c.send_mail("alice@sender.test", ["r@example.com"], mxtest.make_message("w%d@test" % k))
                self.assertEqual(r.code, 250, r.lines)
            c.close()
            self.assertTrue(wait_for(lambda: len(self.relay.messages) + len(b.messages) >= 10, 30),
                            self.inst.read_log()[-2000:])
            time.sleep(0.5)
            self.assertEqual((len(self.relay.messages), len(b.messages)), (8, 2))
            # a step removed (weight 0): the hop's own weight again
            self.inst.mxctl("route", "schedule", "capped.test", self.hop, "2020-01-01", "0")
            self.assertNotIn("capped.test %s: 2020" % self.hop, self.inst.mxctl("route", "list").stdout)
        finally:
            b.stop()

    def test_set_and_bad_input(self):
        self.inst.mxctl("route", "add", "capped.test", self.hop, "--weight", "20")
        for bad, words in (("10", "expected N/unit"), ("0/s", "expected N/unit"), ("5/w", "unknown unit"),
                           ("x/s", "expected N/unit"), ("10/ss", "expected N/unit")):
            r = self.inst.mxctl("route", "set", "capped.test", self.hop, "--rate", bad, check=False)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn("rate '%s'" % bad, r.stderr)
            self.assertIn(words, r.stderr)
        r = self.inst.mxctl("route", "add", "other.test", self.hop, "--rate", "1/y", check=False)
        self.assertIn("rate '1/y'", r.stderr)
        r = self.inst.mxctl("route", "set", "capped.test", "[127.0.0.1]:1", "--rate", "1/s", check=False)
        self.assertIn("no such next hop", r.stderr)
        r = self.inst.mxctl("route", "set", "capped.test", self.hop, check=False)
        self.assertIn("nothing to change", r.stderr)
        self.inst.mxctl("route", "set", "capped.test", self.hop, "--rate", "30/m", "--weight", "50")
        out = self.inst.mxctl("route", "list").stdout
        self.assertRegex(out, r"%s\s+50\s+0\s+default\s+yes\s+30/m" % self.hop.replace("[", r"\[").replace("]", r"\]"))
        self.inst.mxctl("route", "set", "capped.test", self.hop, "--rate", "none")
        self.assertNotIn("30/m", self.inst.mxctl("route", "list").stdout)


class RateAdmin(unittest.TestCase):
    """A hop's weight and rate cap in mxadmin and the API: superadmins only, bad input named."""

    def setUp(self):
        self.inst = mxtest.Instance()
        self.inst.mxctl("domain", "add", "example.com")
        self.hop = "[127.0.0.1]:2525"
        self.inst.mxctl("route", "add", "capped.test", self.hop, "--weight", "20")
        for name, pw, role in (("root", ROOT_PW, ["--superadmin"]), ("owner", OWNER_PW, ["--domain", "example.com"])):
            add_admin(self.inst, name, pw, *role)
        self.port = mxtest.free_port()
        self.proc, self.log = start_mxadmin(self.inst.conf, self.port)
        base = "http://127.0.0.1:%d" % self.port
        self.root, self.owner = Browser(base), Browser(base)
        self.assertEqual(self.root.login("root", ROOT_PW).status, 303)
        self.assertEqual(self.owner.login("owner", OWNER_PW).status, 303)

    def tearDown(self):
        try:
            stop_mxadmin(self.proc, self.log)
        finally:
            self.inst.cleanup()

    def hop_json(self):
        routes = self.root.api("GET", "/routes").json()["routes"]
        return [h for r in routes for h in r["hops"] if h["nexthop"] == self.hop][0]

    def test_api_and_page(self):
        path = "/routes/capped.test?nexthop=" + urllib.parse.quote(self.hop)
        r = self.root.api("PATCH", path, {"weight": "40", "rate": "5/m"}, csrf=self.root.csrf)
        self.assertEqual(r.status, 200, r.body)
        h = self.hop_json()
        self.assertEqual((h["weight"], h["rate"], h["throttled"], h["conn_failures"]), (40, "5/m", 0, 0))
        r = self.root.api("PATCH", path, {"rate": "5 per minute"}, csrf=self.root.csrf)
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"]["field"], "rate")
        r = self.owner.api("PATCH", path, {"weight": "99"}, csrf=self.owner.csrf)
        self.assertEqual(r.status, 403, r.body)
        self.assertEqual(self.hop_json()["weight"], 40)
        r = self.root.post("/routes/sethop", {"match": "capped.test", "nexthop": self.hop, "weight": "60",
                                              "rate": ""})
        self.assertEqual(r.status, 303, r.body)
        h = self.hop_json()
        self.assertEqual((h["weight"], h["rate"]), (60, ""))
        self.assertIn('name="rate" value=""', self.root.get("/routes").body)
        r = self.root.api("PATCH", path, {"schedule_date": "2027-01-31", "schedule_weight": "90"}, csrf=self.root.csrf)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.hop_json()["weight_schedule"], "2027-01-31=90")
        self.assertIn("schedule (UTC): 2027-01-31=90", self.root.get("/routes").body)
        r = self.root.api("PATCH", path, {"schedule_date": "2027-02-30", "schedule_weight": "90"}, csrf=self.root.csrf)
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"]["field"], "schedule_date")
        r = self.owner.api("PATCH", path, {"schedule_date": "2027-01-31", "schedule_weight": "0"}, csrf=self.owner.csrf)
        self.assertEqual(r.status, 403, r.body)
        self.assertEqual(self.hop_json()["weight_schedule"], "2027-01-31=90")


if __name__ == "__main__":
    unittest.main()
