#!/usr/bin/python3
"""test_admin: black-box tests of mxadmin, the admin UI and JSON API, beside a running mxd.

One mxd (mxtest.Instance) and one mxadmin on free loopback ports share a temporary configuration and
database; a few tests start a second mxadmin (admin_allow, HTTPS). HTTP is spoken with urllib and
http.cookiejar only (http.client where a test needs another loopback source address). mxadmin is found
as $MXD_BUILD_DIR/admin/mxadmin.

Covers: login (good, bad, throttled per account and per client address), cookie flags, a new session
id at login, no session after logout, CSRF (missing, forged) on forms and on the API, GET never
changing anything, a domain admin kept out of other domains by every URL and id (pages, API, queue,
audit), protected aliases, stored XSS through every displayed field, admin_allow, API tokens and 4xx
JSON errors naming the field, a change made in the UI applying in the running mxd within 1 s, the
audit log, body limits, the stylesheet, security headers and HTTPS cookies.
"""
import http.client
import http.cookiejar
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402

from admin_client import (CSP, DOMA_PW, EVIL_SENDER, MXADMIN, ROOT_PW, Browser, Response,  # noqa: E402
                          login_from, start_mxadmin, stop_mxadmin)


class Admin(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = mxtest.free_port()
        cls.inst = mxtest.Instance({"admin_listen": "127.0.0.1:%d" % cls.port})
        inst = cls.inst
        cls.pwfile = os.path.join(inst.dir, "pw")
        for name, pw, role in (("root", ROOT_PW, ["--superadmin"]), ("doma", DOMA_PW, [])):
            with open(cls.pwfile, "w") as f:
                f.write(pw + "\n")
            if name == "doma":
                for d in ("a.test", "b.test"):
                    inst.mxctl("domain", "add", d)
                role = ["--domain", "a.test"]
            inst.mxctl("admin", "add", name, "--password-file", cls.pwfile, *role)
        for d in ("a.test", "b.test"):  # distinct destinations: the queue keeps one recipient per final address
            inst.mxctl("alias", "add", "info@" + d, "someone-%s@ext.test" % d[0])
        inst.mxctl("alias", "add", "postmaster@a.test", "pm@ext.test")
        inst.mxctl("alias", "add", "abuse@a.test", "pm@ext.test")
        inst.start()
        cls.proc, cls.log = start_mxadmin(inst.conf, cls.port)
        cls.base = "http://127.0.0.1:%d" % cls.port
        cls.root = Browser(cls.base)
        assert cls.root.login("root", ROOT_PW).status == 303
        cls.doma = Browser(cls.base)
        assert cls.doma.login("doma", DOMA_PW).status == 303
        cls.root_token = inst.mxctl("admin", "token", "root").stdout.strip()
        cls.doma_token = inst.mxctl("admin", "token", "doma").stdout.strip()
        # Queue: one message for each domain and one for both, sent with hostile sender and subject.
        cls.ids = {}
        for key, rcpts in (("a", ["info@a.test"]), ("b", ["info@b.test"]), ("ab", ["info@a.test", "info@b.test"])):
            c = inst.client()
            msg = mxtest.make_message("%s@send.test" % key, subject="<script>alert('%s')</script> & \"q\"" % key,
                                      sender="s@send.test", to=rcpts[0])
            r = c.send_mail(EVIL_SENDER, rcpts, msg)
            assert r.code == 250, r
            cls.ids[key] = re.search(r"queued as (\w+)", r.text).group(1)
            c.close()

    @classmethod
    def tearDownClass(cls):
        try:
            stop_mxadmin(cls.proc, cls.log)
        finally:
            cls.inst.stop()
            cls.inst.cleanup()

    def domains_via_api(self):
        return [d["domain"] for d in self.root.api("GET", "/domains", token=self.root_token).json()["domains"]]

    # --- login, sessions, cookies ---

    def test_login_ok_bad_and_cookie_flags(self):
        b = Browser(self.base)
        r = b.get("/")
        self.assertEqual(r.status, 303)
        self.assertEqual(r.headers["Location"], "/login")
        r = b.login("root", "wrong-password-x")
        self.assertEqual(r.status, 401)
        self.assertIn("Wrong name or password", r.body)
        self.assertIsNone(b.session_cookie())
        r = b.login("no-such-admin", "wrong-password-x")
        self.assertEqual(r.status, 401)
        r = b.login("root", ROOT_PW)
        self.assertEqual(r.status, 303)
        cookie = [c for c in r.cookies() if c.startswith("mxadmin_session=")][0]
        for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
            self.assertIn(flag, cookie)
        self.assertNotIn("Secure", cookie)  # plain HTTP here; see test_https
        self.assertGreaterEqual(len(cookie.split(";")[0].split("=")[1]), 32)  # >= 128 bits in hex
        self.assertEqual(b.get("/").status, 200)

    def test_new_session_id_at_login_and_logout(self):
        b = Browser(self.base)
        b.login("root", ROOT_PW)
        first = b.session_cookie()
        b.login("root", ROOT_PW)
        second = b.session_cookie()
        self.assertNotEqual(first, second)
        old = Browser(self.base)
        r = old.get("/", headers={"Cookie": "mxadmin_session=" + first})
        self.assertEqual(r.status, 303, "the session before the new login must be gone")
        r = b.post("/logout")
        self.assertEqual(r.status, 303)
        r = old.get("/", headers={"Cookie": "mxadmin_session=" + second})
        self.assertEqual(r.status, 303)
        self.assertEqual(r.headers["Location"], "/login")
        r = old.request("GET", "/api/v1/session", headers={"Cookie": "mxadmin_session=" + second})
        self.assertEqual(r.status, 401)

    def test_throttle_per_account_and_per_address(self):
        with open(self.pwfile, "w") as f:
            f.write("throttle-Passw0rd\n")
        self.inst.mxctl("admin", "add", "thr", "--password-file", self.pwfile, "--domain", "a.test")
        for i in range(5):
            self.assertEqual(login_from(self.port, "127.0.0.5", "thr", "bad-password-%d" % i).status, 401)
        r = login_from(self.port, "127.0.0.5", "thr", "throttle-Passw0rd")
        self.assertEqual(r.status, 429, "the address that failed is throttled")
        self.assertTrue(int(r.headers["Retry-After"]) > 0)
        # The owner, from an address with no failures of its own, still logs in: an attacker cannot lock
        # the account for everyone.
        self.assertEqual(login_from(self.port, "127.0.0.7", "thr", "throttle-Passw0rd").status, 303,
                         "account locked for a client that never failed")
        # While the account is under attack, another address gets one try of its own, not a full allowance.
        self.assertEqual(login_from(self.port, "127.0.0.9", "thr", "bad-password-x").status, 401)
        r = login_from(self.port, "127.0.0.9", "thr", "throttle-Passw0rd")
        self.assertEqual(r.status, 429, "account-wide failures slow an address that failed too")
        self.assertEqual(login_from(self.port, "127.0.0.7", "thr", "throttle-Passw0rd").status, 303)
        for i in range(5):
            self.assertEqual(login_from(self.port, "127.0.0.6", "ghost%d" % i, "bad-password").status, 401)
        self.assertEqual(login_from(self.port, "127.0.0.6", "root", ROOT_PW).status, 429, "address throttled")
        self.assertEqual(login_from(self.port, "127.0.0.8", "root", ROOT_PW).status, 303)

    def test_current_password_check_is_throttled(self):
        with open(self.pwfile, "w") as f:
            f.write("stolen-Passw0rd\n")
        self.inst.mxctl("admin", "add", "stolen", "--password-file", self.pwfile, "--domain", "a.test")
        t = Browser(self.base, source="127.0.0.12")
        self.assertEqual(t.login("stolen", "stolen-Passw0rd").status, 303)
        for i in range(5):
            r = t.post("/account/password", {"current_password": "guess-%d-xxxxx" % i, "password": "new-Passw0rd-55",
                                             "password2": "new-Passw0rd-55"})
            self.assertEqual(r.status, 403, r.body)
        r = t.post("/account/password", {"current_password": "stolen-Passw0rd", "password": "new-Passw0rd-55",
                                         "password2": "new-Passw0rd-55"})
        self.assertEqual(r.status, 429, "a session can guess the password without limit")
        self.assertTrue(int(r.headers["Retry-After"]) > 0)
        self.assertIn("Too many failed", r.body)
        self.assertEqual(t.get("/").status, 200, "the session stays; the password was not changed")
        self.assertEqual(login_from(self.port, "127.0.0.12", "stolen", "stolen-Passw0rd").status, 429,
                         "the same counters as the login")
        self.assertEqual(Browser(self.base, source="127.0.0.13").login("stolen", "stolen-Passw0rd").status, 303,
                         "the password is unchanged")

    # --- CSRF and GET ---

    def test_csrf_missing_or_forged(self):
        r = self.root.post("/domains/add", {"domain": "csrf1.test"}, csrf=False)
        self.assertEqual(r.status, 403)
        r = self.root.post("/domains/add", {"domain": "csrf2.test", "csrf_token": "0" * 64})
        self.assertEqual(r.status, 403)
        r = self.root.post("/domains/add", {"domain": "csrf3.test", "csrf_token": [self.root.csrf, "0" * 64]})
        self.assertEqual(r.status, 403, "a duplicated token field is no token")
        r = self.doma.post("/aliases/add", {"domain": "a.test", "address": "c", "destinations": "d@ext.test",
                                             "csrf_token": self.root.csrf})
        self.assertEqual(r.status, 403, "another session's token")
        r = self.root.post("/domains/add", {"domain": "csrf4.test"},
                           headers={"Origin": "http://evil.example"})
        self.assertEqual(r.status, 403, "cross-site Origin")
        # Under Referrer-Policy: no-referrer, browsers send "Origin: null" on form POSTs: ours only when
        # Sec-Fetch-Site says so
        r = self.root.post("/domains/add", {"domain": "csrf7.test"}, headers={"Origin": "null"})
        self.assertEqual(r.status, 403, "Origin: null alone")
        r = self.root.post("/domains/add", {"domain": "csrf8.test"},
                           headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"})
        self.assertEqual(r.status, 403, "Origin: null, cross-site")
        r = self.root.post("/domains/add", {"domain": "nullorigin.test"},
                           headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(r.status, 303, "Origin: null from a same-origin form")
        domains = self.domains_via_api()
        self.assertIn("nullorigin.test", domains)
        for d in ("csrf1.test", "csrf2.test", "csrf3.test", "csrf4.test", "csrf7.test", "csrf8.test"):
            self.assertNotIn(d, domains)
        # API with the session cookie: X-CSRF-Token needed for changes
        r = self.root.api("POST", "/domains", {"domain": "csrf5.test"})
        self.assertEqual(r.status, 403)
        token = self.root.api("GET", "/session").json()["csrf_token"]
        r = self.root.api("POST", "/domains", {"domain": "csrf5.test"}, csrf="f" * 64)
        self.assertEqual(r.status, 403)
        r = self.root.api("POST", "/domains", {"domain": "csrf5.test"}, csrf="f" * 64)
        self.assertIsNone(r.json()["error"]["field"])
        self.assertIn("X-CSRF-Token", r.json()["error"]["message"])
        r = self.root.request("POST", "/api/v1/domains", raw=b'{"domain": "csrf6.test"}',
                              headers={"Content-Type": "application/json", "X-CSRF-Token": token,
                                       "Origin": "http://evil.example"})
        self.assertEqual(r.status, 403, "cross-site Origin on the API")
        self.assertEqual(r.json()["error"], {"field": None, "message": "Forbidden: cross-site request"})
        r = self.root.api("POST", "/domains", {"domain": "csrf5.test"}, csrf=token)
        self.assertEqual(r.status, 201)
        self.assertIn("csrf5.test", self.domains_via_api())
        self.assertNotIn("csrf6.test", self.domains_via_api())

    def test_get_never_changes_state(self):
        self.root.post("/domains/add", {"domain": "keep.test"})
        self.root.post("/aliases/add", {"domain": "keep.test", "address": "x", "destinations": "y@ext.test"})
        r = self.root.get("/domain/delete?name=keep.test")
        self.assertEqual(r.status, 200)
        self.assertIn("Delete", r.body)
        self.assertEqual(self.root.get("/alias/delete?address=x@keep.test").status, 200)
        for path in ("/domains/add?domain=get.test", "/domain/delete?name=keep.test&csrf_token=" + self.root.csrf,
                     "/alias/disable?address=x@keep.test", "/queue/flush", "/logout"):
            r = self.root.get(path)
            self.assertIn(r.status, (200, 405), path)
        self.assertIn("keep.test", self.domains_via_api())
        self.assertNotIn("get.test", self.domains_via_api())
        a = self.root.api("GET", "/aliases/x@keep.test", token=self.root_token).json()
        self.assertTrue(a["active"])
        self.assertEqual(self.root.get("/").status, 200, "GET /logout did not log out")

    # --- domain admins ---

    def test_domain_admin_cannot_reach_other_domains(self):
        d = self.doma
        listing = d.get("/domains").body
        self.assertIn("a.test", listing)
        self.assertNotIn("b.test", listing)
        for path in ("/aliases?domain=b.test", "/aliases?domain=B.TEST", "/domain?name=b.test",
                     "/alias?address=info@b.test", "/alias/delete?address=info@b.test",
                     "/domain/delete?name=b.test", "/aliases?domain=nonexistent.test", "/routes", "/admins"):
            r = d.get(path)
            self.assertEqual(r.status, 403, path)
            self.assertNotIn("someone-b@ext.test", r.body)
        for path, data in (("/aliases/add", {"domain": "b.test", "address": "evil", "destinations": "e@ext.test"}),
                           ("/aliases/add", {"domain": "a.test", "address": "evil@b.test",
                                             "destinations": "e@ext.test"}),
                           ("/alias/edit", {"address": "info@b.test", "destinations": "e@ext.test"}),
                           ("/alias/disable", {"address": "info@b.test"}),
                           ("/alias/delete", {"address": "info@b.test"}),
                           ("/domain/edit", {"name": "b.test", "description": "pwned"}),
                           ("/domain/edit", {"name": "a.test", "alias_limit": "1"}),
                           ("/domain/delete", {"name": "a.test"}),
                           ("/domains/add", {"domain": "new.test"}),
                           ("/aliasdomains/add", {"alias_domain": "c.test", "target_domain": "a.test"}),
                           ("/routes/add", {"match": "*", "nexthop": "[127.0.0.1]:9"}),
                           ("/admins/add", {"name": "x", "password": "xxxxxxxxxxxx", "superadmin": "1"}),
                           ("/queue/flush", {})):
            r = d.post(path, data)
            self.assertIn(r.status, (400, 403), "%s %s" % (path, data))
        b = self.root.api("GET", "/aliases/info@b.test", token=self.root_token).json()
        self.assertEqual(b["destinations"], ["someone-b@ext.test"])
        self.assertTrue(b["active"])
        self.assertNotIn("new.test", self.domains_via_api())
        # API with doma's token
        t = self.doma_token
        self.assertEqual([x["domain"] for x in d.api("GET", "/domains", token=t).json()["domains"]], ["a.test"])
        for method, path, payload in (("GET", "/domains/b.test", None), ("GET", "/domains/b.test/aliases", None),
                                      ("POST", "/domains/b.test/aliases", {"address": "e", "destinations": ["e@x.test"]}),
                                      ("GET", "/aliases/info@b.test", None),
                                      ("PATCH", "/aliases/info@b.test", {"active": False}),
                                      ("DELETE", "/aliases/info@b.test", None),
                                      ("PATCH", "/domains/b.test", {"description": "x"}),
                                      ("DELETE", "/domains/a.test", None), ("GET", "/routes", None)):
            r = d.api(method, path, payload, token=t)
            self.assertEqual(r.status, 403, "%s %s" % (method, path))
            self.assertTrue(r.json()["error"]["message"], r.body)
        # the queue: a.test's message is visible; b.test's is not, by list or by id
        body = d.get("/queue").body
        self.assertIn(self.ids["a"], body)
        self.assertIn(self.ids["ab"], body)
        self.assertNotIn(self.ids["b"], body)
        self.assertNotIn("info@b.test", body)
        self.assertEqual(d.get("/queue/show?id=" + self.ids["b"]).status, 404)
        self.assertEqual(d.post("/queue/hold", {"id": self.ids["b"]}).status, 404)
        self.assertEqual(d.post("/queue/delete", {"id": self.ids["ab"]}).status, 403, "shared message")
        ids = [m["id"] for m in d.api("GET", "/queue", token=t).json()["messages"]]
        self.assertIn(self.ids["a"], ids)
        self.assertNotIn(self.ids["b"], ids)
        self.assertEqual(d.api("GET", "/queue/" + self.ids["b"], token=t).status, 404)
        self.assertEqual(d.api("DELETE", "/queue/" + self.ids["b"], token=t).status, 404)
        self.assertEqual(d.api("POST", "/queue/" + self.ids["b"] + "/hold", token=t).status, 404)
        shared = d.api("GET", "/queue/" + self.ids["ab"], token=t).json()
        self.assertEqual([r["orig_address"] for r in shared["recipients"]], ["info@a.test"])
        # the root still sees everything; the messages are untouched
        ids = [m["id"] for m in self.root.api("GET", "/queue", token=self.root_token).json()["messages"]]
        for key in ("a", "b", "ab"):
            self.assertIn(self.ids[key], ids)
        # the audit log shows doma nothing about b.test
        self.root.post("/domain/edit", {"name": "b.test", "description": "b-secret-audit"})
        self.assertNotIn("b-secret-audit", d.get("/audit").body)
        self.assertIn("b-secret-audit", self.root.get("/audit").body)
        for e in d.api("GET", "/audit", token=t).json()["entries"]:
            self.assertEqual(e["domain"], "a.test")

    def test_domain_admin_manages_own_domain(self):
        d = self.doma
        r = d.post("/aliases/add", {"domain": "a.test", "address": "team",
                                    "destinations": "one@ext.test\r\ntwo@ext.test, three@ext.test"})
        self.assertEqual(r.status, 303)
        a = d.api("GET", "/aliases/team@a.test", token=self.doma_token).json()
        self.assertEqual(a["destinations"], ["one@ext.test", "two@ext.test", "three@ext.test"])
        self.assertEqual(d.post("/aliases/add", {"domain": "a.test", "address": "@", "destinations": "c@ext.test"}
                                ).status, 303)
        self.assertIn("(catch-all)", d.get("/aliases?domain=a.test").body)
        self.assertEqual(d.post("/alias/disable", {"address": "team@a.test"}).status, 303)
        self.assertFalse(d.api("GET", "/aliases/team@a.test", token=self.doma_token).json()["active"])
        self.assertIn("team@a.test", d.get("/aliases?domain=a.test&q=TEAM").body)
        self.assertNotIn("team@a.test", d.get("/aliases?domain=a.test&q=nomatch").body)
        self.assertEqual(d.post("/alias/delete", {"address": "team@a.test"}).status, 303)
        self.assertEqual(d.post("/domain/edit", {"name": "a.test", "description": "Domain A"}).status, 303)
        self.assertIn("Domain A", d.get("/domains").body)

    def test_protected_aliases(self):
        d = self.doma
        for path in ("/alias/delete", "/alias/disable"):
            r = d.post(path, {"address": "postmaster@a.test"})
            self.assertEqual(r.status, 403, path)
            self.assertIn("protected", r.body)
        self.assertEqual(d.get("/alias/delete?address=abuse@a.test").status, 403)
        r = d.api("DELETE", "/aliases/abuse@a.test", token=self.doma_token)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json()["error"]["field"], "address")
        self.assertIn("protected", r.json()["error"]["message"])
        self.assertEqual(d.post("/alias/edit", {"address": "postmaster@a.test",
                                                "destinations": "pm2@ext.test"}).status, 303)
        # a superadmin may, with a warning
        r = self.root.get("/alias/delete?address=postmaster@a.test")
        self.assertIn("protected address", r.body)
        r = self.root.post("/alias/delete", {"address": "postmaster@a.test"})
        self.assertEqual(r.status, 303)
        self.assertIn("Warning", self.root.get(r.headers["Location"]).body)
        r = self.root.api("PATCH", "/aliases/abuse@a.test", {"active": False}, token=self.root_token)
        self.assertEqual(r.status, 200)
        self.assertIn("protected", r.json()["warning"])
        self.root.api("PATCH", "/aliases/abuse@a.test", {"active": True}, token=self.root_token)
        self.inst.mxctl("alias", "add", "postmaster@a.test", "pm@ext.test")

    # --- output escaping ---

    def test_stored_xss_is_escaped_everywhere(self):
        evil = "<script>alert(\"d\")</script> & 'q'"
        r = self.root.post("/domains/add", {"domain": "xss.test", "description": evil})
        self.assertEqual(r.status, 303)
        r = self.root.post("/aliases/add", {"domain": "xss.test", "address": "a&b'c",
                                            "destinations": "x&y'z{w}@ext.test"})
        self.assertEqual(r.status, 303)
        escaped = "&lt;script&gt;alert(&quot;d&quot;)&lt;/script&gt; &amp; &#39;q&#39;"
        pages = [self.root.get(p).body for p in ("/domains", "/domain?name=xss.test", "/audit",
                                                 "/aliases?domain=xss.test", "/alias?address=a%26b%27c@xss.test")]
        for body in pages:
            self.assertNotIn("<script", body)
            self.assertNotIn("x&y'z{w}", body)
        self.assertIn(escaped, pages[0])
        self.assertIn(escaped, pages[1])
        self.assertIn(escaped, pages[2])
        self.assertIn("x&amp;y&#39;z{w}@ext.test", pages[3])
        self.assertIn("a&amp;b&#39;c@xss.test", pages[3])
        # reflected: a query value comes back escaped too
        r = self.root.get("/aliases?domain=xss.test&q=%3Cscript%3E%22")
        self.assertIn("&lt;script&gt;&quot;", r.body)
        self.assertNotIn("<script>", r.body)
        r = self.root.get("/aliases?domain=%3Cscript%3E.test")
        self.assertNotIn("<script>", r.body)
        # queue: sender and subject came in over SMTP
        body = self.root.get("/queue").body
        self.assertIn("&quot;&lt;b&gt;x&amp;y&#39;z&lt;/b&gt;&quot;@send.test", body)
        self.assertNotIn("<b>x", body)
        body = self.root.get("/queue/show?id=" + self.ids["a"]).body
        self.assertIn("Subject: &lt;script&gt;alert(&#39;a&#39;)&lt;/script&gt; &amp; &quot;q&quot;", body)
        self.assertNotIn("<script>", body)
        # JSON: valid, and no raw angle brackets
        r = self.root.api("GET", "/queue/" + self.ids["a"], token=self.root_token)
        self.assertNotIn("<script>", r.body)
        self.assertIn("<script>alert('a')</script>", r.json()["headers"])
        self.assertEqual(r.headers["Content-Type"], "application/json")

    # --- admin_allow, API tokens, errors ---

    def test_admin_allow(self):
        port = mxtest.free_port()
        proc, log = start_mxadmin(self.inst.conf, port, ["-o", "admin_allow=192.0.2.0/24, [2001:db8::]/32"])
        try:
            b = Browser("http://127.0.0.1:%d" % port)
            for path in ("/", "/login", "/static/style.css", "/api/v1/domains"):
                self.assertEqual(b.get(path).status, 403, path)
            r = b.get("/api/v1/domains")  # the API answers in its JSON error format even here
            self.assertEqual(r.headers["Content-Type"], "application/json")
            self.assertEqual(r.json()["error"],
                             {"field": None, "message": "Forbidden: your address is not in admin_allow"})
            r = b.request("POST", "/login", data={"name": "root", "password": ROOT_PW})
            self.assertEqual(r.status, 403)
        finally:
            stop_mxadmin(proc, log)

    def test_host_header_checked(self):
        def get(path, host, port=None):
            c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=20)
            c.putrequest("GET", path, skip_host=True)
            if host is not None:
                c.putheader("Host", host)
            c.endheaders()
            r = c.getresponse()
            out = Response(r.status, r.headers, r.read().decode())
            c.close()
            return out
        p = self.port
        for host in ("127.0.0.1:%d" % p, "127.0.0.1", "localhost:%d" % p, "LocalHost", "[::1]:%d" % p):
            self.assertEqual(get("/login", host).status, 200, host)
        for host in ("evil.example", "evil.example:%d" % p, "localhost:%d" % (p + 1), "127.0.0.1:80",
                     "localhost.evil.example", "127.0.0.2:%d" % p, "localhost:%dx" % p, "[::1"):
            r = get("/login", host)
            self.assertEqual(r.status, 421, host)
            self.assertIn("admin_hostnames", r.body)
        r = get("/api/v1/domains", "rebind.example:%d" % p)
        self.assertEqual(r.status, 421)
        self.assertEqual(r.headers["Content-Type"], "application/json")
        self.assertIn("admin_hostnames", r.json()["error"]["message"])
        port = mxtest.free_port()
        proc, log = start_mxadmin(self.inst.conf, port, ["-o", "admin_hostnames=Admin.Example.NET, proxy.example:8443"])
        try:
            for host in ("admin.example.net", "admin.example.net:%d" % port, "proxy.example:8443",
                         "127.0.0.1:%d" % port, "[::1]:%d" % port):
                self.assertEqual(get("/login", host, port).status, 200, host)
            for host in ("localhost:%d" % port, "proxy.example", "proxy.example:%d" % port, "evil.example"):
                self.assertEqual(get("/login", host, port).status, 421, host)
        finally:
            stop_mxadmin(proc, log)
        r = subprocess.run([MXADMIN, "-c", self.inst.conf, "-o", "admin_listen=127.0.0.1:%d" % mxtest.free_port(),
                            "-o", "admin_hostnames=ok.example, bad/name"], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("admin_hostnames", r.stderr)

    def test_api_token_flow_and_errors(self):
        b = Browser(self.base)
        t = self.root_token
        self.assertEqual(b.api("GET", "/domains").status, 401)
        r = b.api("GET", "/domains", token="0" * 64)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.headers["Content-Type"], "application/json")
        self.assertEqual(set(r.json()), {"error"})
        self.assertIsNone(r.json()["error"]["field"])
        self.assertIn("authentication required", r.json()["error"]["message"])
        self.assertEqual(b.api("GET", "/session", token=t).json()["admin"], "root")
        cases = [
            ("POST", "/domains", {"domain": "bad_domain"}, 400, "domain"),
            ("POST", "/domains", {"domain": "api.test", "alias_limit": "many"}, 400, "alias_limit"),
            ("POST", "/domains", {"domain": "api.test", "description": "x" * 300}, 400, "description"),
            ("POST", "/domains", {"domain": "api.test", "alias_limit": 1}, 201, None),
            ("POST", "/domains", {"domain": "api.test"}, 409, "domain"),
            ("POST", "/domains/api.test/aliases", {"address": "x", "destinations": ["bad@"]}, 400, "destinations"),
            ("POST", "/domains/api.test/aliases", {"destinations": ["ok@ext.test"]}, 400, "address"),
            ("POST", "/domains/api.test/aliases", {"address": "x@other.test", "destinations": "ok@ext.test"}, 400,
             "address"),
            ("POST", "/domains/api.test/aliases", {"address": "x", "destinations": ["a@ext.test", "b@ext.test"]},
             201, None),
            ("POST", "/domains/api.test/aliases", {"address": "y", "destinations": ["c@ext.test"]}, 400, "address"),
            ("PATCH", "/aliases/x@api.test", {"active": "maybe"}, 400, "active"),
            ("GET", "/aliases/nobody@api.test", None, 404, "address"),
            ("POST", "/aliasdomains", {"alias_domain": "api.test", "target_domain": "a.test"}, 400, "alias_domain"),
            ("POST", "/aliasdomains", {"alias_domain": "mirror.test", "target_domain": "nowhere.test"}, 404,
             "target_domain"),
            ("POST", "/aliasdomains", {"alias_domain": "mirror.test", "target_domain": "api.test"}, 201, None),
            ("POST", "/routes", {"match": "api.test", "nexthop": "[relay"}, 400, "nexthop"),
            ("POST", "/routes", {"match": "api.test", "nexthop": "[127.0.0.1]:2", "weight": 0}, 400, "weight"),
            ("POST", "/routes", {"match": "api.test", "nexthop": "[127.0.0.1]:2", "auth_user": "alice"}, 400,
             "auth_password"),
            ("POST", "/routes", {"match": "api.test", "nexthop": "[127.0.0.1]:2", "auth_user": "alice",
                                 "auth_password": "s3cret-route-pw"}, 201, None),
            ("DELETE", "/routes/nomatch.test", None, 404, "match"),
            ("GET", "/queue/ZZZ", None, 400, "id"),
            ("GET", "/nothing", None, 404, None),
            ("PATCH", "/domains/api.test", {}, 400, None),
        ]
        for method, path, payload, status, field in cases:
            r = b.api(method, path, payload, token=t)
            self.assertEqual(r.status, status, "%s %s %s: %s" % (method, path, payload, r.body))
            if status >= 400:  # {"error": {"field": NAME or null, "message": TEXT}} and nothing else
                err = r.json()
                self.assertEqual(list(err), ["error"], r.body)
                self.assertEqual(set(err["error"]), {"field", "message"}, r.body)
                self.assertEqual(err["error"]["field"], field, "%s %s: %s" % (method, path, r.body))
                self.assertTrue(err["error"]["message"], r.body)
                self.assertEqual(r.headers["Content-Type"], "application/json")
        routes = b.api("GET", "/routes", token=t)
        self.assertNotIn("s3cret-route-pw", routes.body)
        self.assertIn("user=alice password=****", routes.body)
        self.assertNotIn("s3cret-route-pw", self.root.get("/routes").body)
        self.assertIn("user=alice password=****", self.root.get("/routes").body)
        r = b.request("POST", "/api/v1/domains", raw=b'{"domain": "x.test",}',
                      headers={"Authorization": "Bearer " + t, "Content-Type": "application/json"})
        self.assertEqual(r.status, 400)
        self.assertIn("JSON", r.json()["error"]["message"])
        self.assertIsNone(r.json()["error"]["field"])
        r = b.request("POST", "/api/v1/domains", raw=b"domain=form.test",
                      headers={"Authorization": "Bearer " + t, "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 201)
        self.assertEqual(b.api("DELETE", "/domains/form.test", token=t).status, 200)
        self.assertNotIn("form.test", self.domains_via_api())

    # --- mxd sees changes at once ---

    def test_change_applies_in_running_mxd(self):
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<s@send.test>")
        self.assertEqual(c.cmd("RCPT TO:<fresh@b.test>").code, 550)
        r = self.root.post("/aliases/add", {"domain": "b.test", "address": "fresh", "destinations": "f@ext.test"})
        self.assertEqual(r.status, 303)
        deadline = time.time() + 1.0
        code = None
        while time.time() < deadline:
            code = c.cmd("RCPT TO:<fresh@b.test>").code
            if code == 250:
                break
            time.sleep(0.05)
        self.assertEqual(code, 250, "the new alias did not apply within 1 s")
        c.cmd("QUIT")
        c.close()

    # --- audit log ---

    def test_audit_rows(self):
        self.root.post("/aliases/add", {"domain": "a.test", "address": "audited", "destinations": "au@ext.test"})
        self.root.post("/alias/disable", {"address": "audited@a.test"})
        self.root.post("/alias/delete", {"address": "audited@a.test"})
        entries = self.root.api("GET", "/audit", token=self.root_token).json()["entries"]
        mine = [(e["action"], e["admin"], e["client_addr"]) for e in entries if e["object"] == "audited@a.test"]
        self.assertEqual(mine, [("alias.delete", "root", "127.0.0.1"), ("alias.disable", "root", "127.0.0.1"),
                                ("alias.add", "root", "127.0.0.1")])
        actions = {e["action"] for e in entries}
        for a in ("session.login", "admin.add", "admin.token"):
            self.assertIn(a, actions)
        self.assertTrue(all(e["time"] > 0 for e in entries))
        # failed changes write nothing
        n = len(entries)
        self.root.post("/aliases/add", {"domain": "a.test", "address": "bad", "destinations": "nope"})
        self.assertEqual(len(self.root.api("GET", "/audit", token=self.root_token).json()["entries"]), n)

    # --- admins ---

    def test_admins_page_and_own_password(self):
        r = self.root.post("/admins/add", {"name": "temp", "password": "temp-Passw0rd-9", "domains": "a.test, b.test"})
        self.assertEqual(r.status, 303)
        self.assertIn("temp", self.root.get("/admins").body)
        t = Browser(self.base)
        self.assertEqual(t.login("temp", "temp-Passw0rd-9").status, 303)
        self.assertIn("b.test", t.get("/domains").body)
        self.assertEqual(self.root.post("/admins/role", {"name": "temp", "domains": "a.test"}).status, 303)
        self.assertEqual(t.get("/aliases?domain=b.test").status, 403, "rights apply at once")
        r = t.post("/account/password", {"current_password": "wrong-one-xx", "password": "new-Passw0rd-77",
                                         "password2": "new-Passw0rd-77"})
        self.assertEqual(r.status, 403)
        r = t.post("/account/password", {"current_password": "temp-Passw0rd-9", "password": "new-Passw0rd-77",
                                         "password2": "new-Passw0rd-77"})
        self.assertEqual(r.status, 303)
        self.assertEqual(t.get("/").status, 303, "sessions end with a password change")
        self.assertEqual(t.login("temp", "new-Passw0rd-77").status, 303)
        self.assertEqual(self.root.post("/admins/delete", {"name": "root"}).status, 400, "not yourself")
        self.assertEqual(self.root.post("/admins/delete", {"name": "temp"}).status, 303)
        self.assertEqual(t.get("/").status, 303, "a deleted admin's session ends")

    # --- HTTP details ---

    def test_headers_static_and_limits(self):
        r = self.root.get("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Security-Policy"], CSP)
        self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(r.headers["Referrer-Policy"], "no-referrer")
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        self.assertNotIn("<script", r.body)
        self.assertNotIn("style=", r.body)
        self.assertIn("<h2>Last 24 hours</h2>", r.body)
        self.assertIn("<h2>Replication</h2>", r.body)  # superadmin: the primary's change log
        self.assertIn("Change log", r.body)
        r = self.root.get("/static/style.css")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/css"))
        self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(self.root.get("/no/such/page").status, 404)
        r = self.root.post("/domains/add", {"domain": "big.test", "description": "x" * (70 * 1024)})
        self.assertEqual(r.status, 413)
        r = self.root.request("POST", "/domains/add", raw=b"domain=%zz&csrf_token=" + self.root.csrf.encode(),
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 400)
        self.assertNotIn("big.test", self.domains_via_api())


class MxctlAdmin(unittest.TestCase):
    """mxctl admin add|list|del|passwd|token: passwords from a file or stdin, never from argv."""

    def setUp(self):
        self.inst = mxtest.Instance()
        self.inst.mxctl("domain", "add", "a.test")

    def tearDown(self):
        self.inst.cleanup()

    def run_mxctl(self, *args, stdin=None):
        return subprocess.run([mxtest.MXCTL, "-c", self.inst.conf, "admin"] + list(args), input=stdin,
                              capture_output=True, text=True, timeout=60)

    def test_mxctl_admin(self):
        r = self.run_mxctl("add", "x", "--password", "on-the-command-line")
        self.assertEqual(r.returncode, 2)
        self.assertIn("not taken on the command line", r.stderr)
        r = self.run_mxctl("add", "x", "--superadmin", "--domain", "a.test", stdin="pw-from-stdin-1\n")
        self.assertEqual(r.returncode, 2)
        r = self.run_mxctl("add", "x", stdin="short\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("password: shorter than 10", r.stderr)
        r = self.run_mxctl("add", "x", "--domain", "nowhere.test", stdin="pw-from-stdin-1\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a hosted domain", r.stderr)
        r = self.run_mxctl("add", "Boss", "--superadmin", stdin="pw-from-stdin-1\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_mxctl("add", "x", "--domain", "a.test", stdin="pw-from-stdin-2\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_mxctl("list")
        self.assertRegex(r.stdout, r"boss\s+superadmin")
        self.assertRegex(r.stdout, r"x\s+domain-admin\s+.*a\.test")
        self.assertNotIn("pw-from-stdin", r.stdout + r.stderr)
        self.assertEqual(self.run_mxctl("passwd", "x", stdin="pw-from-stdin-3\n").returncode, 0)
        tokens = [self.run_mxctl("token", "x").stdout.strip() for _ in range(2)]
        for t in tokens:
            self.assertRegex(t, r"^[0-9a-f]{64}$")
        self.assertNotEqual(tokens[0], tokens[1])
        r = self.run_mxctl("token", "x", "--revoke")
        self.assertIn("2 API tokens revoked", r.stdout)
        self.assertEqual(self.run_mxctl("del", "x").returncode, 0)
        r = self.run_mxctl("del", "x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such admin", r.stderr)
        self.assertEqual(self.run_mxctl("frobnicate").returncode, 2)


class AdminHTTPS(unittest.TestCase):
    def test_https_cookie_is_secure_host_prefixed(self):
        inst = mxtest.Instance()
        try:
            pki = mxtest.make_ca(inst.dir, hostname="localhost")
            with open(os.path.join(inst.dir, "pw"), "w") as f:
                f.write(ROOT_PW + "\n")
            inst.mxctl("admin", "add", "root", "--superadmin", "--password-file", os.path.join(inst.dir, "pw"))
            port = mxtest.free_port()
            proc, log = start_mxadmin(inst.conf, port, ["-o", "admin_tls_cert_file=" + pki["cert"],
                                                        "-o", "admin_tls_key_file=" + pki["key"]])
            try:
                import ssl
                ctx = ssl.create_default_context(cafile=pki["ca"])
                ctx.check_hostname = False
                b = Browser("https://127.0.0.1:%d" % port, context=ctx)
                r = b.login("root", ROOT_PW)
                self.assertEqual(r.status, 303)
                cookie = [c for c in r.cookies() if "mxadmin_session=" in c][0]
                self.assertTrue(cookie.startswith("__Host-mxadmin_session="), cookie)
                for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
                    self.assertIn(flag, cookie)
                self.assertEqual(b.get("/").status, 200)
            finally:
                stop_mxadmin(proc, log)
        finally:
            inst.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
