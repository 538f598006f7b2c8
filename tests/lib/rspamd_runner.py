"""rspamd for tests and benchmarks: Debian's rspamd started on a free loopback port with a minimal
configuration in a temporary directory (the proxy worker in milter mode, self_scan, no redis, no
hyperscan cache, DNS pointed at a loopback port nobody answers on, so nothing leaves the machine), in a
session of its own so that stop() ends its workers too."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

RSPAMD = shutil.which("rspamd")
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

# Only what the test needs: no redis (the modules that need it stay unconfigured, so disabled), no
# hyperscan cache, DNS to a loopback port nobody answers on (nothing leaves the machine), the headers
# routine of milter_headers for local clients too.
CONF = """
options {
  pidfile = "%(dir)s/rspamd.pid";
  dbdir = "%(dir)s/db";
  disable_hyperscan = true;
  dns { nameserver = ["127.0.0.1:9"]; timeout = 1s; retransmits = 1; }
}
logging { type = "file"; filename = "%(dir)s/rspamd.log"; level = "info"; }
actions { reject = 15; add_header = 6; greylist = 4; }
lua = "/usr/share/rspamd/rules/rspamd.lua";
modules { path = "/usr/share/rspamd/plugins"; }
milter_headers {
  use = ["x-spamd-result", "x-rspamd-queue-id", "x-spam-status"];
  extended_spam_headers = true;
  skip_local = false;
  skip_authenticated = false;
}
worker "rspamd_proxy" {
  bind_socket = "127.0.0.1:%(port)d";
  milter = yes;
  timeout = 30s;
  count = 1;
  upstream "local" { default = yes; self_scan = yes; }
}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("rspamd exited with status %d" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("rspamd did not listen on port %d within %ds" % (port, timeout))


class Rspamd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mxtest-rspamd-")
        os.mkdir(os.path.join(self.dir, "db"))
        self.port = free_port()
        self.conf = os.path.join(self.dir, "rspamd.conf")
        with open(self.conf, "w") as f:
            f.write(CONF % {"dir": self.dir, "port": self.port})
        argv = [RSPAMD, "-f", "-i", "-c", self.conf]
        if os.getuid() == 0:
            argv += ["-u", "root", "-g", "root"]
        self.out = open(os.path.join(self.dir, "stdout"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, 60, self.proc)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the main process and its workers
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def cleanup(self):
        self.stop()
        self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)
