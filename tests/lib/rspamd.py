"""rspamd as an independent DKIM and ARC verifier for the tests: a private rspamd (Debian's package, its
stock configuration) in a temporary directory, listening on loopback, resolving through the test DNS
server only, with hyperscan off so it starts in seconds. check() runs rspamc and returns the symbols.

    rs = rspamd.Rspamd(dns_port)   # starts it; rs.stop() ends it (its pid, nothing else)
    symbols = rs.check(message_bytes)  # {"ARC_ALLOW": {...}, "R_DKIM_ALLOW": {...}, ...}
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

RSPAMD = shutil.which("rspamd") or "/usr/bin/rspamd"
RSPAMC = shutil.which("rspamc") or "/usr/bin/rspamc"


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Rspamd:
    def __init__(self, dns_port, start_timeout=60):
        if not os.access(RSPAMD, os.X_OK):
            raise RuntimeError("rspamd is not installed (sh deploy/install-deps.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="mxtest-rspamd-")
        self.port = _free_port()
        over = os.path.join(self.dir, "override.d")
        for d in ("override.d", "local.d", "db", "run", "log"):
            os.makedirs(os.path.join(self.dir, d))
        files = {
            "worker-normal.inc": 'bind_socket = "127.0.0.1:%d";\ncount = 1;\n' % self.port,
            "worker-controller.inc": 'bind_socket = "127.0.0.1:%d";\ncount = 1;\n' % _free_port(),
            "worker-proxy.inc": 'bind_socket = "127.0.0.1:%d";\ncount = 0;\n' % _free_port(),
            "worker-fuzzy.inc": "count = 0;\n",
            "options.inc": ('dns {\n  nameserver = ["127.0.0.1:%d"];\n  timeout = 1s;\n  retransmits = 1;\n}\n'
                            "local_addrs = [];\ndisable_hyperscan = true;\n"
                            # a short public suffix list: the stock one takes rspamd ~20 s to compile
                            'url_tld = "%s/tld.dat";\n' % (dns_port, self.dir)),
            "logging.inc": 'type = "file";\nfilename = "%s/log/rspamd.log";\nlevel = "info";\n' % self.dir,
        }
        # modules that would talk to servers elsewhere (their DNS goes to the test server only anyway)
        for module in ("fuzzy_check", "rbl", "asn", "phishing", "url_redirector", "dcc", "replies",
                       "reputation", "neural", "ratelimit", "greylist", "history_redis", "metadata_exporter",
                       "external_services", "clickhouse", "elastic"):
            files[module + ".conf"] = "enabled = false;\n"
        with open(os.path.join(self.dir, "tld.dat"), "w") as f:
            f.write("test\ncom\norg\nnet\nexample\n")
        for name, text in files.items():
            with open(os.path.join(over, name), "w") as f:
                f.write(text)
        user = "root" if os.geteuid() == 0 else str(os.getuid())
        argv = [RSPAMD, "-f", "-i", "-c", "/etc/rspamd/rspamd.conf"]
        if os.geteuid() == 0:
            argv += ["-u", user, "-g", "root"]
        for var, sub in (("LOCAL_CONFDIR", ""), ("DBDIR", "db"), ("RUNDIR", "run"), ("LOGDIR", "log")):
            argv += ["--var", "%s=%s" % (var, os.path.join(self.dir, sub).rstrip("/"))]
        self.out = open(os.path.join(self.dir, "out.txt"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.out)
        deadline = time.time() + start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("rspamd exited: %s" % self.log()[-2000:])
            try:
                self.check(b"Subject: probe\r\n\r\nprobe\r\n")
                break
            except (RuntimeError, ValueError):
                if time.time() > deadline:
                    self.stop()
                    raise RuntimeError("rspamd did not answer within %ds" % start_timeout)
                time.sleep(0.5)

    def log(self):
        try:
            with open(os.path.join(self.dir, "log", "rspamd.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def check(self, message, ip="192.0.2.10"):
        """The symbols of message as if it came from ip (rspamd skips DKIM for local clients)."""
        r = subprocess.run([RSPAMC, "-j", "-h", "127.0.0.1:%d" % self.port, "-t", "20", "-i", ip, "symbols"],
                           input=message, capture_output=True, timeout=30)
        if r.returncode != 0 or not r.stdout.strip().startswith(b"{"):
            raise RuntimeError("rspamc: %s %s" % (r.stdout[-500:], r.stderr[-500:]))
        return json.loads(r.stdout).get("symbols", {})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)
