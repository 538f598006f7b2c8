#!/usr/bin/python3
"""test_admin_patch: mxadmin's JSON API for changes that must be whole, and the route flag
allow_unverified_tls, against one mxadmin on a fresh database (no mxd: only the tables matter here).

Covers: PATCH of a domain or an alias is all or nothing (a refused field leaves the fields before it
unsaved, and the 400 names the refused field); a domain's hourly message limit (the per-domain cap of
the connection gate) and its dmarc_from_rewrite (yes, no, default) through the API and the UI form,
superadmins only; a route's next hop with allow_unverified_tls through the
API and the UI form, shown back by both, refused without an auth user.
"""
import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
from admin_client import ROOT_PW, Browser, start_mxadmin, stop_mxadmin  # noqa: E402


class AdminPatch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = mxtest.free_port()
        cls.inst = mxtest.Instance({"admin_listen": "127.0.0.1:%d" % cls.port})
        inst = cls.inst
        pwfile = os.path.join(inst.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(ROOT_PW + "\n")
        inst.mxctl("admin", "add", "root", "--password-file", pwfile, "--superadmin")
        cls.relay_pw = os.path.join(inst.dir, "relay.pw")
        with open(cls.relay_pw, "w") as f:
            f.write("s3cret-relay-pw\n")
        cls.proc, cls.log = start_mxadmin(inst.conf, cls.port)
        cls.root = Browser("http://127.0.0.1:%d" % cls.port)
        assert cls.root.login("root", ROOT_PW).status == 303
        cls.token = inst.mxctl("admin", "token", "root").stdout.strip()
        # A domain admin of own.test, which has the protected postmaster@.
        inst.mxctl("domain", "add", "own.test", "--description", "mine")
        inst.mxctl("alias", "add", "postmaster@own.test", "pm@ext.test")
        with open(pwfile, "w") as f:
            f.write(ROOT_PW + "\n")
        inst.mxctl("admin", "add", "doma", "--password-file", pwfile, "--domain", "own.test")
        cls.doma_token = inst.mxctl("admin", "token", "doma").stdout.strip()

    @classmethod
    def tearDownClass(cls):
        try:
            stop_mxadmin(cls.proc, cls.log)
        finally:
            cls.inst.cleanup()

    def api(self, method, path, payload=None):
        return self.root.api(method, path, payload, token=self.token)

    def assert_error(self, r, status, field):
        self.assertEqual(r.status, status, r.body)
        err = r.json()["error"]
        self.assertEqual(err["field"], field, r.body)
        self.assertTrue(err["message"], r.body)
        return err

    # --- PATCH: all or nothing ---

    def test_domain_patch_all_or_nothing(self):
        self.assertEqual(self.api("POST", "/domains", {"domain": "whole.test", "description": "before"}).status,
                         201)
        r = self.api("PATCH", "/domains/whole.test", {"description": "after", "alias_limit": "-3"})
        self.assert_error(r, 400, "alias_limit")
        d = self.api("GET", "/domains/whole.test").json()
        self.assertEqual(d["description"], "before")
        self.assertEqual(d["alias_limit"], 0)
        # An active flag before a bad limit is not applied either.
        r = self.api("PATCH", "/domains/whole.test", {"active": False, "alias_limit": "many"})
        self.assert_error(r, 400, "alias_limit")
        self.assertTrue(self.api("GET", "/domains/whole.test").json()["active"])
        # A bad description with a good limit: nothing either.
        r = self.api("PATCH", "/domains/whole.test", {"alias_limit": 5, "description": "a\tb"})
        self.assert_error(r, 400, "description")
        self.assertEqual(self.api("GET", "/domains/whole.test").json()["alias_limit"], 0)
        # All good: all applied.
        r = self.api("PATCH", "/domains/whole.test", {"description": "after", "alias_limit": 5, "active": False})
        self.assertEqual(r.status, 200, r.body)
        d = self.api("GET", "/domains/whole.test").json()
        self.assertEqual((d["description"], d["alias_limit"], d["active"]), ("after", 5, False))

    def test_alias_patch_all_or_nothing(self):
        self.assertEqual(self.api("POST", "/domains", {"domain": "walias.test"}).status, 201)
        self.assertEqual(self.api("POST", "/domains/walias.test/aliases",
                                  {"address": "info", "destinations": ["a@ext.test"]}).status, 201)
        r = self.api("PATCH", "/aliases/info@walias.test",
                     {"destinations": ["b@ext.test"], "active": "sometimes"})
        self.assert_error(r, 400, "active")
        a = self.api("GET", "/aliases/info@walias.test").json()
        self.assertEqual(a["destinations"], ["a@ext.test"])
        self.assertTrue(a["active"])
        r = self.api("PATCH", "/aliases/info@walias.test", {"active": False, "destinations": ["not-an-address"]})
        self.assert_error(r, 400, "destinations")
        self.assertTrue(self.api("GET", "/aliases/info@walias.test").json()["active"])
        r = self.api("PATCH", "/aliases/info@walias.test", {"active": False, "destinations": ["b@ext.test"]})
        self.assertEqual(r.status, 200, r.body)
        a = self.api("GET", "/aliases/info@walias.test").json()
        self.assertEqual((a["destinations"], a["active"]), (["b@ext.test"], False))

    def test_domain_admin_patch_refused_whole(self):
        # A domain admin may change the description but not "active": the request is refused whole.
        r = self.root.api("PATCH", "/domains/own.test", {"description": "changed", "active": False},
                          token=self.doma_token)
        self.assertEqual(r.status, 403, r.body)
        d = self.api("GET", "/domains/own.test").json()
        self.assertEqual((d["description"], d["active"]), ("mine", True))

    def test_domain_admin_alias_patch_refused_whole(self):
        # A domain admin may change postmaster@'s destinations but not disable it: nothing changes.
        r = self.root.api("PATCH", "/aliases/postmaster@own.test", {"destinations": ["x@ext.test"], "active": False},
                          token=self.doma_token)
        self.assertEqual(r.status, 403, r.body)
        a = self.api("GET", "/aliases/postmaster@own.test").json()
        self.assertEqual((a["destinations"], a["active"]), (["pm@ext.test"], True))
        # Each allowed field alone still works.
        r = self.root.api("PATCH", "/aliases/postmaster@own.test", {"destinations": ["pm2@ext.test"]},
                          token=self.doma_token)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.api("GET", "/aliases/postmaster@own.test").json()["destinations"], ["pm2@ext.test"])

    # --- routes: allow_unverified_tls ---

    def hops(self, match):
        routes = self.api("GET", "/routes").json()["routes"]
        return {h["nexthop"]: h for r in routes if r["match"] == match for h in r["hops"]}

    def test_route_allow_unverified_tls_api(self):
        r = self.api("POST", "/routes", {"match": "tls.test", "nexthop": "[relay.test]:587", "auth_user": "alice",
                                         "auth_password": "pw-1", "allow_unverified_tls": True})
        self.assertEqual(r.status, 201, r.body)
        r = self.api("POST", "/routes", {"match": "tls.test", "nexthop": "[relay2.test]:587", "auth_user": "bob",
                                         "auth_password": "pw-2"})
        self.assertEqual(r.status, 201, r.body)
        hops = self.hops("tls.test")
        self.assertIs(hops["[relay.test]:587"]["allow_unverified_tls"], True)
        self.assertIn("unverified-tls-ok", hops["[relay.test]:587"]["auth"])
        self.assertIs(hops["[relay2.test]:587"]["allow_unverified_tls"], False)
        self.assertNotIn("pw-1", json.dumps(hops))
        # Refused without credentials, and for a value that is not a boolean, naming the field.
        self.assert_error(self.api("POST", "/routes", {"match": "tls2.test", "nexthop": "[relay.test]",
                                                       "allow_unverified_tls": True}), 400, "allow_unverified_tls")
        self.assert_error(self.api("POST", "/routes", {"match": "tls2.test", "nexthop": "[relay.test]",
                                                       "auth_user": "a", "auth_password": "b",
                                                       "allow_unverified_tls": "perhaps"}),
                          400, "allow_unverified_tls")
        self.assertEqual(self.hops("tls2.test"), {})
        # The same in the table mxd reads, and in mxctl's listing.
        con = sqlite3.connect(self.inst.settings["database"])
        rows = con.execute("SELECT nexthop, allow_unverified_tls FROM route_hops h JOIN routes r"
                           " ON r.id = h.route_id WHERE r.match = 'tls.test' ORDER BY nexthop").fetchall()
        con.close()
        self.assertEqual(rows, [("[relay.test]:587", 1), ("[relay2.test]:587", 0)])
        self.assertIn("unverified-tls-ok", self.inst.mxctl("route", "list").stdout)

    def test_route_allow_unverified_tls_form(self):
        page = self.root.get("/routes")
        self.assertIn('name="allow_unverified_tls"', page.body)
        r = self.root.post("/routes/add", {"match": "form.test", "nexthop": "[relay.test]:587", "auth_user": "carol",
                                           "auth_password": "pw-3", "allow_unverified_tls": "1"})
        self.assertEqual(r.status, 303, r.body)
        self.assertIs(self.hops("form.test")["[relay.test]:587"]["allow_unverified_tls"], True)
        self.assertIn("unverified-tls-ok", self.root.get("/routes").body)

    # --- the per-domain hourly message limit ---

    def test_domain_hourly_limit(self):
        self.assertEqual(self.api("POST", "/domains", {"domain": "cap.test", "description": "before"}).status, 201)
        self.assertEqual(self.api("GET", "/domains/cap.test").json()["hourly_message_limit"], 0)
        self.assertEqual(self.api("PATCH", "/domains/cap.test", {"hourly_message_limit": 300}).status, 200)
        self.assertEqual(self.api("GET", "/domains/cap.test").json()["hourly_message_limit"], 300)
        # all or nothing: a bad limit leaves the description before it unsaved
        r = self.api("PATCH", "/domains/cap.test", {"description": "after", "hourly_message_limit": "-1"})
        self.assert_error(r, 400, "hourly_message_limit")
        d = self.api("GET", "/domains/cap.test").json()
        self.assertEqual((d["description"], d["hourly_message_limit"]), ("before", 300))
        # a domain admin sees it but may not change it
        r = self.root.api("PATCH", "/domains/own.test", {"hourly_message_limit": 5}, token=self.doma_token)
        self.assert_error(r, 403, "hourly_message_limit")
        self.assertIn("hourly_message_limit", self.root.api("GET", "/domains/own.test", token=self.doma_token).body)
        # the UI form
        page = self.root.get("/domain?name=cap.test")
        self.assertIn('name="hourly_message_limit" value="300"', page.body)
        r = self.root.post("/domain/edit", {"name": "cap.test", "description": "before", "alias_limit": "0",
                                            "hourly_message_limit": "40"})
        self.assertEqual(r.status, 303, r.body)
        self.assertEqual(self.api("GET", "/domains/cap.test").json()["hourly_message_limit"], 40)
        self.assertIn("messages/hour: 40", self.inst.mxctl("domain", "show", "cap.test").stdout)


    def test_domain_dmarc_from_rewrite(self):
        self.assertEqual(self.api("POST", "/domains", {"domain": "rw.test"}).status, 201)
        self.assertEqual(self.api("GET", "/domains/rw.test").json()["dmarc_from_rewrite"], "default")
        r = self.api("PATCH", "/domains/rw.test", {"dmarc_from_rewrite": "yes"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.api("GET", "/domains/rw.test").json()["dmarc_from_rewrite"], "yes")
        self.assertIn("dmarc_from_rewrite: yes", self.inst.mxctl("domain", "show", "rw.test").stdout)
        # a bad value is refused with the field named, and the other fields stay
        r = self.api("PATCH", "/domains/rw.test", {"description": "new", "dmarc_from_rewrite": "sometimes"})
        self.assert_error(r, 400, "dmarc_from_rewrite")
        d = self.api("GET", "/domains/rw.test").json()
        self.assertEqual((d["description"], d["dmarc_from_rewrite"]), ("", "yes"))
        # a domain admin may not change it
        r = self.root.api("PATCH", "/domains/own.test", {"dmarc_from_rewrite": "no"}, token=self.doma_token)
        self.assertEqual(r.status, 403, r.body)
        self.assertEqual(self.api("GET", "/domains/own.test").json()["dmarc_from_rewrite"], "default")
        # the domain page's form
        page = self.root.get("/domain?name=rw.test")
        self.assertIn('<option value="yes" selected>', page.body)
        r = self.root.post("/domain/edit", {"name": "rw.test", "description": "", "alias_limit": "0",
                                            "dmarc_from_rewrite": "no"})
        self.assertEqual(r.status, 303, r.body)
        self.assertEqual(self.api("GET", "/domains/rw.test").json()["dmarc_from_rewrite"], "no")
        r = self.api("PATCH", "/domains/rw.test", {"dmarc_from_rewrite": "default"})
        self.assertEqual(r.status, 200, r.body)
        self.assertIn("dmarc_from_rewrite: no (the setting)", self.inst.mxctl("domain", "show", "rw.test").stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
