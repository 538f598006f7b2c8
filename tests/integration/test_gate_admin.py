"""The admin dashboard shows the clients the connection gate refused, by reason (issue 16, visibility).

These refusals come before any message, so they are not in the delivery log: mxadmin reads them from
mxd's metrics endpoint (metrics_listen). A superadmin sees the section; a domain admin does not; without
metrics_listen, or with mxd down, the section says so.
"""
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
from admin_client import Browser, DOMA_PW, ROOT_PW, add_admin, start_mxadmin, stop_mxadmin  # noqa: E402
from fixtures import hosted, stop_and_cleanup, wait_for  # noqa: E402


def early_talk(inst, source):
    """A client that speaks before the banner (as spam software does): refused by the pregreet test."""
    s = socket.socket()
    s.settimeout(10)
    s.bind((source, 0))
    s.connect(("127.0.0.1", inst.port))
    s.sendall(b"EHLO spammer.example\r\n")
    data = b""
    while True:
        try:
            chunk = s.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def section(page):
    m = re.search(r"<h2>Refused at the gate</h2>(.*?)</section>", page, re.S)
    return m.group(1) if m else None


class GateOnDashboard(unittest.TestCase):
    def start(self, **settings):
        self.inst = mxtest.Instance(dict({"postscreen_greet_wait": "1s"}, **settings))
        hosted(self.inst)
        for name, pw, role in (("root", ROOT_PW, ["--superadmin"]), ("owner", DOMA_PW, ["--domain", "example.com"])):
            add_admin(self.inst, name, pw, *role)
        self.inst.start()
        self.port = mxtest.free_port()
        self.proc, self.log = start_mxadmin(self.inst.conf, self.port)
        base = "http://127.0.0.1:%d" % self.port
        self.root, self.owner = Browser(base), Browser(base)
        self.assertEqual(self.root.login("root", ROOT_PW).status, 303)
        self.assertEqual(self.owner.login("owner", DOMA_PW).status, 303)

    def tearDown(self):
        try:
            if getattr(self, "proc", None) is not None:
                stop_mxadmin(self.proc, self.log)
        finally:
            if self.inst.proc is not None:
                stop_and_cleanup(self.inst)
            else:
                self.inst.cleanup()

    def test_refusals_by_reason(self):
        metrics = mxtest.free_port()
        self.start(metrics_listen="127.0.0.1:%d" % metrics)
        self.assertIn("No client refused", section(self.root.get("/").body))
        self.assertIn(b"554 5.5.0", early_talk(self.inst, "127.0.0.20"))
        self.assertTrue(wait_for(lambda: "pregreet" in (section(self.root.get("/").body) or ""), 5))
        gate = section(self.root.get("/").body)
        self.assertRegex(gate, r"<dt>pregreet</dt><dd>1</dd>")
        self.assertNotIn("dnsbl", gate)  # reasons with nothing refused are left out
        # global figures, not a domain's: a domain admin does not get the section
        self.assertIsNone(section(self.owner.get("/").body))
        # mxd down: said, and the page still answers
        self.inst.stop()
        page = self.root.get("/")
        self.assertEqual(page.status, 200)
        self.assertIn("mxd does not answer on metrics_listen 127.0.0.1:%d" % metrics, section(page.body))

    def test_without_metrics_listen(self):
        self.start()
        self.assertIn("Set metrics_listen", section(self.root.get("/").body))


if __name__ == "__main__":
    unittest.main()
