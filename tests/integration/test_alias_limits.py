#!/usr/bin/python3
"""test_alias_limits: alias expansion does bounded work whatever the tables hold (hardening issue, item 1).

- Sixteen aliases of one domain that all list each other: one RCPT used to enumerate every simple path
  (about 2e9 lookups) on the event loop that serves every session. Now it is answered within 1 s, and a
  second session is served while it runs.
- A transaction whose recipients expand to more than the per-message bound gets 452 4.5.3 for the RCPT
  that would pass it; the recipients before it stay accepted.
- An alias change whose expansion would pass the limits is refused when it is made, in mxctl and in the
  API (mxadmin), with an error naming the destinations; nothing of it is stored.
"""
import json
import os
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402

MXADMIN = os.path.join(os.environ.get("MXD_BUILD_DIR", "build"), "admin", "mxadmin")


class MutualAliases(unittest.TestCase):
    def setUp(self):
        self.inst = mxtest.Instance()
        inst = self.inst
        inst.mxctl("domain", "add", "example.com")
        inst.mxctl("alias", "add", "info@example.com", "someone@gmail.test")
        k = 16
        names = ["a%d@example.com" % i for i in range(k)]
        for i, name in enumerate(names):
            others = [n for n in names if n != name] + ["out%d@gmail.test" % i]
            inst.mxctl("alias", "add", name, *others)
        inst.start()

    def tearDown(self):
        self.inst.stop()
        self.inst.cleanup()

    def test_rcpt_answered_within_a_second_while_others_are_served(self):
        slow = self.inst.client(timeout=30)
        slow.reply()
        slow.cmd("EHLO client.example")
        self.assertEqual(slow.cmd("MAIL FROM:<s@example.org>").code, 250)
        result = {}

        def other_session():
            time.sleep(0.05)  # let the first RCPT start
            t0 = time.time()
            c = self.inst.client(timeout=30)
            r = c.send_mail("t@example.org", ["info@example.com"], mxtest.make_message("other@test"))
            result["other"] = (r.code, time.time() - t0)
            c.close()

        th = threading.Thread(target=other_session)
        th.start()
        t0 = time.time()
        r = slow.cmd("RCPT TO:<a0@example.com>")
        elapsed = time.time() - t0
        th.join(timeout=40)
        self.assertLess(elapsed, 1.0, "RCPT took %.1f s" % elapsed)
        self.assertEqual(r.code, 250, r.lines)
        self.assertIn("other", result, "the other session got no answer")
        self.assertEqual(result["other"][0], 250)
        self.assertLess(result["other"][1], 1.0, "the other session waited %.1f s" % result["other"][1])
        # every external destination is a final, once
        self.assertEqual(slow.cmd("DATA").code, 354)
        r = slow.cmd(mxtest.make_message("mutual@test").rstrip("\r\n") + "\r\n.")
        self.assertEqual(r.code, 250, r.lines)
        qid = r.text.split()[-1]
        show = self.inst.mxctl("queue", "show", qid).stdout
        for i in range(16):
            self.assertEqual(show.count("out%d@gmail.test" % i), 1, show)


class PerMessageBound(unittest.TestCase):
    def setUp(self):
        self.inst = mxtest.Instance()
        inst = self.inst
        inst.mxctl("domain", "add", "example.com")
        # 101 aliases of 100 distinct external destinations each
        for a in range(101):
            inst.mxctl("alias", "add", "list%d@example.com" % a, *["m%d-%d@ext.test" % (a, i) for i in range(100)])
        inst.start()

    def tearDown(self):
        self.inst.stop()
        self.inst.cleanup()

    def test_rcpt_past_the_bound_gets_452(self):
        c = self.inst.client(timeout=30)
        c.reply()
        c.cmd("EHLO client.example")
        self.assertEqual(c.cmd("MAIL FROM:<s@example.org>").code, 250)
        t0 = time.time()
        for a in range(100):  # 10,000 distinct finals: the bound
            r = c.cmd("RCPT TO:<list%d@example.com>" % a)
            self.assertEqual(r.code, 250, (a, r.lines))
        # a recipient whose finals are all in already adds nothing and is accepted
        self.assertEqual(c.cmd("RCPT TO:<list7+again@example.com>").code, 250)
        r = c.cmd("RCPT TO:<list100@example.com>")
        self.assertEqual((r.code, r.lines[0].split()[1]), (452, "4.5.3"), r.lines)
        self.assertLess(time.time() - t0, 10.0, "100 RCPTs of 100 finals each took too long")
        self.assertEqual(c.cmd("DATA").code, 354)
        r = c.cmd(mxtest.make_message("bound@test").rstrip("\r\n") + "\r\n.")
        self.assertEqual(r.code, 250, r.lines)
        c.close()


class WriteTimeCheck(unittest.TestCase):
    def setUp(self):
        self.inst = mxtest.Instance()
        inst = self.inst
        inst.mxctl("domain", "add", "example.com")
        for a in range(11):
            inst.mxctl("alias", "add", "list%d@example.com" % a, *["m%d-%d@ext.test" % (a, i) for i in range(100)])

    def tearDown(self):
        self.inst.cleanup()

    def test_mxctl_refuses_an_alias_past_the_limits(self):
        lists = ["list%d@example.com" % a for a in range(11)]
        r = self.inst.mxctl("alias", "add", "all@example.com", *lists, check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("destinations: the alias would expand to more than 1000 addresses", r.stderr)
        r = self.inst.mxctl("alias", "show", "all@example.com", check=False)
        self.assertNotEqual(r.returncode, 0, "the refused alias was stored: " + r.stdout)
        # ten lists (1,000 finals) are within the limit
        self.inst.mxctl("alias", "add", "all@example.com", *lists[:10])
        # and growing it past the limit later is refused too, leaving the old destinations
        r = self.inst.mxctl("alias", "add", "--replace", "all@example.com", *lists, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("more than 1000 addresses", r.stderr)
        self.assertIn("list9@example.com", self.inst.mxctl("alias", "show", "all@example.com").stdout)

    def test_api_refuses_an_alias_past_the_limits(self):
        port = mxtest.free_port()
        self.inst.settings["admin_listen"] = "127.0.0.1:%d" % port
        self.inst.write_conf()
        pw = os.path.join(self.inst.dir, "pw")
        with open(pw, "w") as f:
            f.write("correct horse battery staple\n")
        self.inst.mxctl("admin", "add", "root", "--password-file", pw, "--superadmin")
        token = self.inst.mxctl("admin", "token", "root").stdout.strip()
        log = open(os.path.join(self.inst.dir, "mxadmin.stderr"), "ab")
        import subprocess
        proc = subprocess.Popen([MXADMIN, "-c", self.inst.conf], stdout=log, stderr=log)
        try:
            mxtest.wait_port("127.0.0.1", port, proc=proc)
            body = json.dumps({"address": "all", "destinations": ["list%d@example.com" % a for a in range(11)]})
            req = urllib.request.Request("http://127.0.0.1:%d/api/v1/domains/example.com/aliases" % port,
                                         data=body.encode(), method="POST",
                                         headers={"Authorization": "Bearer " + token,
                                                  "Content-Type": "application/json"})
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(req, timeout=20)
            self.assertEqual(cm.exception.code, 400)
            err = json.loads(cm.exception.read())["error"]
            self.assertEqual(err["field"], "destinations")
            self.assertIn("more than 1000 addresses", err["message"])
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            log.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
