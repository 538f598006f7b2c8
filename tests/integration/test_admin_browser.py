#!/usr/bin/python3
"""test_admin_browser: mxadmin in a real browser (headless Chromium driven by Selenium), end to end.

One mxd and one mxadmin (as in test_admin.py), a sink on loopback standing in for the outside world and
a route '*' to it, so delivery needs no DNS. In the browser: log in as a superadmin, add a domain, add
an alias there whose destination is at an external domain; then a message sent over SMTP to the new
alias must reach the sink addressed to that destination. Every step leaves a screenshot in
$MXD_BUILD_DIR/test-artifacts/admin-browser/ (README.md's "Admin UI" tour uses some of them).

Needs Debian's chromium, chromium-driver and python3-selenium (deploy/install-deps.sh installs them);
skipped, saying so, only when /usr/bin/chromium or /usr/bin/chromedriver is missing. Chromium runs with
a fresh profile and without background networking: nothing leaves loopback.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
import sink  # noqa: E402

BUILD_DIR = os.environ.get("MXD_BUILD_DIR", "build")
MXADMIN = os.path.join(BUILD_DIR, "admin", "mxadmin")
ARTIFACTS = os.path.join(BUILD_DIR, "test-artifacts", "admin-browser")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "browser-Passw0rd-1"
DOMAIN = "shop.example"
ALIAS = "orders"
DESTINATION = "fulfilment@partner.test"  # an external domain: delivered through the route to the sink
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--no-default-browser-check", "--disable-default-apps",
                  "--disable-extensions", "--password-store=basic", "--window-size=1100,760",
                  # Even so, Chromium looks up Google's (autofill, sign-in, updates, password leak check)
                  # and its search engine's names: no name resolves, so no DNS query leaves loopback
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                  "--disable-features=AutofillServerCommunication,OptimizationHints,PasswordLeakDetection,"
                  "MediaRouter,Translate", "--disable-client-side-phishing-detection", "--no-pings",
                  "--dns-prefetch-disable"]


def wait_for(pred, timeout, step=0.1):
    """Poll pred; while a page is being replaced, the browser may answer with a stale or missing element:
    that is "not yet", not a failure."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return True
        except Exception:  # selenium's StaleElementReference, NoSuchElement during navigation
            pass
        time.sleep(step)
    return False


@unittest.skipUnless(os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER),
                     "needs %s and %s (Debian packages chromium and chromium-driver; deploy/install-deps.sh "
                     "installs them)" % (CHROMIUM, CHROMEDRIVER))
class AdminBrowser(unittest.TestCase):
    def setUp(self):
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError as e:
            self.fail("chromium is installed but Selenium is not (Debian package python3-selenium): %s" % e)
        os.makedirs(ARTIFACTS, exist_ok=True)
        for name in os.listdir(ARTIFACTS):
            if name.endswith((".png", ".html")):
                os.unlink(os.path.join(ARTIFACTS, name))
        self.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        self.addCleanup(self.sink.stop)
        self.port = mxtest.free_port()
        self.inst = mxtest.Instance({
            "admin_listen": "127.0.0.1:%d" % self.port,
            "smtp_tls_security_level": "none",
            "queue_run_delay": "1s", "minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
        })
        self.addCleanup(self.inst.cleanup)
        pwfile = os.path.join(self.inst.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        self.inst.mxctl("admin", "add", "admin", "--superadmin", "--password-file", pwfile)
        self.inst.mxctl("route", "add", "*", "[127.0.0.1]:%d" % self.sink.port)
        self.inst.start()
        self.addCleanup(self.inst.stop)
        self.start_mxadmin()
        self.base = "http://127.0.0.1:%d" % self.port
        self.profile = tempfile.mkdtemp(prefix="mxtest-chromium-")
        self.addCleanup(shutil.rmtree, self.profile, True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS + ["--user-data-dir=" + self.profile]:
            options.add_argument(flag)
        self.driver_log = os.path.join(self.inst.dir, "chromedriver.log")
        service = Service(executable_path=CHROMEDRIVER, log_path=self.driver_log)
        self.driver = webdriver.Chrome(service=service, options=options)
        self.addCleanup(self.driver.quit)
        self.driver.set_page_load_timeout(20)
        self.step = 0

    def start_mxadmin(self):
        self.admin_log = open(os.path.join(self.inst.dir, "mxadmin.stderr"), "ab")
        self.admin = subprocess.Popen([MXADMIN, "-c", self.inst.conf], stdout=self.admin_log,
                                      stderr=self.admin_log)
        self.addCleanup(self.stop_mxadmin)
        mxtest.wait_port("127.0.0.1", self.port, proc=self.admin)

    def stop_mxadmin(self):
        """SIGTERM must end mxadmin cleanly: status 0, the sanitizers quiet."""
        if self.admin.poll() is None:
            self.admin.send_signal(signal.SIGTERM)
        rc = self.admin.wait(timeout=20)
        self.admin_log.close()
        with open(self.admin_log.name, errors="replace") as f:
            err = f.read()
        if rc != 0 or "Sanitizer" in err:
            raise AssertionError("mxadmin exited with %d:\n%s" % (rc, err[-4000:]))

    # --- browser helpers ---

    def shot(self, name):
        """Save a screenshot of the page as it is now: NN-name.png in ARTIFACTS."""
        self.step += 1
        path = os.path.join(ARTIFACTS, "%02d-%s.png" % (self.step, name))
        self.assertTrue(self.driver.save_screenshot(path), path)

    def css(self, selector):
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def body_text(self):
        return self.css("body").text

    def fill(self, form_selector, fields, button_text):
        """Type into a form's fields as a user does; return its button (pressed after a screenshot)."""
        from selenium.webdriver.common.by import By
        form = self.css(form_selector)
        for name, value in fields.items():
            field = form.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)
        button = form.find_element(By.XPATH, ".//button[normalize-space()='%s']" % button_text)
        return button

    def keep_failure_page(self):
        """On a failure, keep the page that was showing (screenshot and HTML) beside the steps."""
        try:
            self.driver.save_screenshot(os.path.join(ARTIFACTS, "failure.png"))
            with open(os.path.join(ARTIFACTS, "failure.html"), "w") as f:
                f.write(self.driver.page_source)
        except Exception:  # the browser itself may be what failed
            pass

    # --- the scenario ---

    def test_login_domain_alias_then_mail_is_delivered(self):
        try:
            self.scenario()
        except BaseException:
            self.keep_failure_page()
            raise

    def scenario(self):
        d = self.driver
        # 1. Log in
        d.get(self.base + "/")
        self.assertTrue(d.current_url.endswith("/login"), d.current_url)
        button = self.fill("form[action='/login']", {"name": "admin", "password": PASSWORD}, "Log in")
        self.shot("login")
        button.click()
        self.assertTrue(wait_for(lambda: not d.current_url.endswith("/login"), 10), d.current_url)
        self.assertTrue(wait_for(lambda: "admin" in self.css(".who").text, 10), d.current_url)
        self.shot("dashboard")

        # 2. Add a domain
        d.get(self.base + "/domains")
        button = self.fill("form[action='/domains/add']", {"domain": DOMAIN, "description": "Web shop"},
                             "Add domain")
        self.shot("domain-form")
        button.click()
        self.assertTrue(wait_for(lambda: "Domain %s added." % DOMAIN in self.body_text(), 10), self.body_text())
        self.shot("domain-added")

        # 3. Add an alias in it, reached by the domain's link in the list
        self.assertTrue(wait_for(lambda: self.css("a[href='/aliases?domain=%s']" % DOMAIN) is not None, 10))
        self.css("a[href='/aliases?domain=%s']" % DOMAIN).click()
        self.assertTrue(wait_for(lambda: "/aliases?domain=" in d.current_url, 10), d.current_url)
        button = self.fill("form[action='/aliases/add']", {"address": ALIAS, "destinations": DESTINATION},
                             "Add alias")
        self.shot("alias-form")
        button.click()
        address = "%s@%s" % (ALIAS, DOMAIN)
        self.assertTrue(wait_for(lambda: "Alias %s added." % ALIAS in self.body_text(), 10), self.body_text())
        self.assertIn(DESTINATION, self.body_text())
        self.shot("alias-added")

        # 4. Mail to the new alias reaches the sink, addressed to the destination
        c = self.inst.client()
        r = c.send_mail("customer@buyer.test", [address],
                        mxtest.make_message("browser-%d@buyer.test" % time.time_ns(), subject="Order 1",
                                            sender="customer@buyer.test", to=address))
        self.assertEqual(r.code, 250, r.lines)
        c.cmd("QUIT")
        c.close()
        self.assertTrue(self.sink.wait(1, 30), "nothing reached the sink:\n" + self.inst.read_log()[-3000:])
        m = self.sink.messages[0]
        self.assertEqual(m.rcpt_tos, [DESTINATION])
        self.assertIn(b"Subject: Order 1", m.data)

        # 5. The audit log shows the changes
        d.get(self.base + "/audit")
        text = self.body_text()
        for action in ("domain.add", "alias.add"):
            self.assertIn(action, text)
        self.shot("audit")


if __name__ == "__main__":
    unittest.main(verbosity=2)
