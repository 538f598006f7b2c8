"""admin_client: what the admin UI's tests share: an HTTP client with a cookie jar and the CSRF token
(Browser), mxadmin started and stopped beside a mxtest.Instance, a login from another loopback address,
and the fixture's passwords and patterns. Run with Debian's /usr/bin/python3; loopback only."""
import functools
import http.client
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import mxtest

BUILD_DIR = os.environ.get("MXD_BUILD_DIR", "build")
MXADMIN = os.path.join(BUILD_DIR, "admin", "mxadmin")
ROOT_PW = "root-Passw0rd-1"
DOMA_PW = "doma-Passw0rd-2"
EVIL_SENDER = '"<b>x&y\'z</b>"@send.test'  # a quoted local part: mxd takes it
CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
LOGIN_RE = re.compile(r'name="login_token" value="([0-9a-f]{64})"')
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def cookies(self):
        return self.headers.get_all("Set-Cookie") or []


class SourceHTTPHandler(urllib.request.HTTPHandler):
    """Plain HTTP from a chosen loopback source address (the throttle counts per client address)."""

    def __init__(self, source):
        super().__init__()
        self.source = source

    def http_open(self, req):
        return self.do_open(functools.partial(http.client.HTTPConnection, source_address=(self.source, 0)), req)


class Browser:
    """A browser-like client: its own cookie jar, no redirects followed, no exceptions for 4xx."""

    def __init__(self, base, context=None, source=None):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        if source is not None:
            handlers.append(SourceHTTPHandler(source))
        self.opener = urllib.request.build_opener(*handlers)
        self.csrf = None

    def request(self, method, path, data=None, headers=None, raw=None):
        body = raw
        hdrs = dict(headers or {})
        if data is not None:
            body = urllib.parse.urlencode(data, doseq=True).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=hdrs)
        try:
            with self.opener.open(req, timeout=20) as r:
                return Response(r.status, r.headers, r.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read().decode("utf-8", "replace"))

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, data=None, csrf=True, **kw):
        data = dict(data or {})
        if csrf and "csrf_token" not in data:
            data["csrf_token"] = self.csrf
        return self.request("POST", path, data=data, **kw)

    def login(self, name, password):
        r = self.get("/login")
        token = LOGIN_RE.search(r.body).group(1)
        r = self.request("POST", "/login", data={"name": name, "password": password, "login_token": token})
        if r.status == 303:
            self.csrf = CSRF_RE.search(self.get("/").body).group(1)
        return r

    def session_cookie(self):
        for c in self.jar:
            if c.name.endswith("mxadmin_session"):
                return c.value
        return None

    def api(self, method, path, payload=None, token=None, csrf=None):
        headers = {}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf
        raw = None
        if payload is not None:
            raw = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        return self.request(method, "/api/v1" + path, headers=headers, raw=raw)


def add_admin(inst, name, password, *role):
    """mxctl admin add NAME with role ("--superadmin" or "--domain", DOMAIN), the password through a file
    in the instance's directory (as an operator would pass it)."""
    pwfile = os.path.join(inst.dir, "pw")
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    return inst.mxctl("admin", "add", name, "--password-file", pwfile, *role)


def start_mxadmin(conf, port, extra=(), scheme="http"):
    log = open(os.path.join(os.path.dirname(conf), "mxadmin-%d.stderr" % port), "ab")
    proc = subprocess.Popen([MXADMIN, "-c", conf, "-o", "admin_listen=127.0.0.1:%d" % port] + list(extra),
                            stdout=log, stderr=log)
    mxtest.wait_port("127.0.0.1", port, proc=proc)
    return proc, log


def stop_mxadmin(proc, log):
    """SIGTERM must end mxadmin cleanly: status 0, the sanitizers quiet."""
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=20)
    log.close()
    with open(log.name, errors="replace") as f:
        err = f.read()
    if rc != 0 or "Sanitizer" in err:
        raise AssertionError("mxadmin exited with %d:\n%s" % (rc, err[-4000:]))


def login_from(port, source, name, password):
    """A login attempt from another loopback source address (http.client can bind one)."""
    def call(method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20, source_address=(source, 0))
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        out = Response(r.status, r.headers, r.read().decode())
        c.close()
        return out
    r = call("GET", "/login")
    token = LOGIN_RE.search(r.body).group(1)
    cookie = [v.split(";")[0] for v in r.cookies() if v.startswith("mxadmin_login=")][0]
    body = urllib.parse.urlencode({"name": name, "password": password, "login_token": token})
    return call("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
