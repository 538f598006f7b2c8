"""mxtest: the harness shared by mxd's Python tests (run with Debian's /usr/bin/python3).

An Instance is one mxd with its own temporary directory, configuration, SQLite database and queue,
listening on a free loopback port. It drives mxctl, starts and stops (or kill -9s) mxd, and speaks
SMTP to it with a small line-level client that lets tests send exactly the octets they want.
Everything stays on loopback; nothing here reaches outside the machine.

With MXD_VALGRIND=1 every mxd an Instance starts runs under valgrind (use a build without the
sanitizers for MXD_BIN: tests/valgrind.cmake makes one), one log per process; stopping it with SIGTERM
then also fails on any error or definite/indirect leak valgrind reports, printing its log.
"""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

MXD = os.environ.get("MXD_BIN", "build/mxd")
MXCTL = os.environ.get("MXCTL_BIN", "build/mxctl")
SOURCE_DIR = os.environ.get("MXD_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
VALGRIND = os.environ.get("MXD_VALGRIND", "") not in ("", "0")
VALGRIND_EXIT = 97  # valgrind's exit status when it found errors (--error-exitcode)
# under valgrind mxd starts (and drains its sessions at SIGTERM) many times slower
START_TIMEOUT = 90.0 if VALGRIND else 20.0
STOP_TIMEOUT = 120 if VALGRIND else 20


def valgrind_argv(log_file):
    """The valgrind command line that wraps one mxd when MXD_VALGRIND is set ([] otherwise)."""
    if not VALGRIND:
        return []
    argv = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
            "--error-exitcode=%d" % VALGRIND_EXIT, "--track-fds=no", "--num-callers=30",
            "--log-file=" + log_file]
    supp = os.path.join(SOURCE_DIR, "tests", "valgrind.supp")
    if os.path.exists(supp):
        argv.append("--suppressions=" + supp)
    return argv


def valgrind_problems(log_file):
    """What a valgrind log reports that fails a test ("" when it is clean)."""
    try:
        with open(log_file, errors="replace") as f:
            text = f.read()
    except OSError as e:
        return "no valgrind log %s: %s" % (log_file, e)
    problems = []
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    if m is None:
        problems.append("no ERROR SUMMARY (valgrind did not finish)")
    elif m.group(1) != "0":
        problems.append("%s errors" % m.group(1))
    for kind in ("definitely", "indirectly"):
        m = re.search(r"%s lost: ([\d,]+) bytes" % kind, text)
        if m is not None and m.group(1) != "0":
            problems.append("%s lost: %s bytes" % (kind, m.group(1)))
    if not problems:
        return ""
    return "valgrind: %s in %s:\n%s" % (", ".join(problems), log_file, text[-20000:])


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(host, port, timeout=START_TIMEOUT, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with status %s" % proc.returncode)
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on %s:%d after %.0fs" % (host, port, timeout))


class Instance:
    def __init__(self, settings=None, name="mxd"):
        self.dir = tempfile.mkdtemp(prefix="mxtest-")
        self.port = free_port()
        self.log = os.path.join(self.dir, "mail.log")
        self.conf = os.path.join(self.dir, "mxd.conf")
        self.proc = None
        self.starts = 0
        self.valgrind_log = None
        base = {
            "myhostname": "mx.mxd.test",
            "smtpd_listen": "127.0.0.1:%d" % self.port,
            "database": os.path.join(self.dir, "db", "mxd.db"),
            "queue_directory": os.path.join(self.dir, "queue"),
            "maillog_file": self.log,
            "mail_owner": "",
            "mynetworks": "127.0.0.2/32",  # loopback clients are NOT trusted unless a test says so
            # no DNS unless a test starts its own server: accepted mail stays queued (deferred, never bounced)
            "resolver": "127.0.0.1:9",
            # and so no SPF checks unless a test asks: each would wait for its lookup timeout
            "spf_policy": "off",
            # nor the self-check at start (mxd/check/check_startup.h): tests/integration/test_check.py runs it
            "check_at_start": "no",
            # no pregreet pause (the default 6s for each new client address would slow every test down);
            # the gate's own tests (test_gate, test_hostile) turn it on
            "postscreen_greet_wait": "0s",
            # nor DKIM/DMARC checks at the end of DATA (test_dmarc.py turns them on)
            "dmarc_policy": "off",
        }
        base.update(settings or {})
        self.settings = base
        self.write_conf()
        self.mxctl("init")

    def write_conf(self):
        with open(self.conf, "w") as f:
            for k, v in self.settings.items():
                f.write("%s = %s\n" % (k, v))

    def mxctl(self, *args, check=True):
        r = subprocess.run([MXCTL, "-c", self.conf] + list(args), capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("mxctl %s failed (%d): %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def command(self, extra_args=()):
        """mxd's command line for the next start (under valgrind with MXD_VALGRIND)."""
        self.starts += 1
        self.valgrind_log = os.path.join(self.dir, "valgrind.%d.log" % self.starts) if VALGRIND else None
        return valgrind_argv(self.valgrind_log) + [MXD, "-c", self.conf] + list(extra_args)

    def start(self, extra_args=(), env=None):
        self.stderr = open(os.path.join(self.dir, "mxd.stderr"), "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(self.command(extra_args), stdout=self.stderr,
                                     stderr=self.stderr, env=full_env)
        wait_port("127.0.0.1", self.port, proc=self.proc)
        # wait_port's probe connection counts against the per-address cap until mxd has seen it close:
        # a full dialogue (banner, QUIT, close) makes sure it has.
        c = self.client()
        c.reply()
        c.cmd("QUIT")
        c.closed()
        c.close()
        time.sleep(0.05)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stop mxd; with SIGTERM, require a clean exit (status 0, sanitizers or valgrind quiet)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.stderr.close()
        if sig == signal.SIGTERM and self.valgrind_log is not None:
            problems = valgrind_problems(self.valgrind_log)
            if problems:
                raise RuntimeError("mxd exited with %d; %s" % (rc, problems))
        if sig == signal.SIGTERM and rc != 0:
            raise RuntimeError("mxd exited with %d:\n%s" % (rc, self.read_stderr()[-4000:]))
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def read_stderr(self):
        try:
            with open(os.path.join(self.dir, "mxd.stderr"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        if self.proc is not None:
            self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, timeout=10, source=None):
        """A client; source is the local address to connect from (127.0.0.2 is in mynetworks)."""
        return Client("127.0.0.1", self.port, timeout, source)


class Reply:
    def __init__(self, lines):
        self.lines = lines
        self.code = int(lines[-1][:3])
        self.text = lines[-1]

    def __repr__(self):
        return "Reply(%r)" % self.lines


class Client:
    """A line-level SMTP client: send exactly what a test wants, read whole replies."""

    def __init__(self, host, port, timeout=10, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.banner = None  # the first reply read
        self.greeted = False  # EHLO/HELO answered 250 (reset by STARTTLS)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line.encode() + b"\r\n" if isinstance(line, str) else line + b"\r\n")
        r = self.reply()
        verb = (line if isinstance(line, str) else line.decode("latin-1"))[:4].upper()
        if verb in ("EHLO", "HELO") and r.code == 250:
            self.greeted = True
        return r

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        lines = []
        while True:
            line = self._line()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                r = Reply(lines)
                if self.banner is None:
                    self.banner = r
                return r

    def closed(self, timeout=5):
        """True when the server closes the connection (after any pending replies) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def starttls(self, cafile=None, server_hostname="mx.mxd.test"):
        r = self.cmd("STARTTLS")
        if r.code != 220:
            return r
        ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        self.greeted = False
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_mail(self, sender, rcpts, body, helo="client.example"):
        """A whole transaction; returns the reply to the end of DATA (or the first failing reply)."""
        if self.banner is None:
            self.reply()
        if not self.greeted:
            r = self.cmd("EHLO " + helo)
            if r.code != 250:
                return r
        r = self.cmd("MAIL FROM:<%s>" % sender)
        if r.code != 250:
            return r
        ok = 0
        for rc in rcpts:
            r = self.cmd("RCPT TO:<%s>" % rc)
            ok += r.code == 250
        if ok == 0:
            return r
        r = self.cmd("DATA")
        if r.code != 354:
            return r
        if isinstance(body, str):
            body = body.encode()
        lines = body.split(b"\r\n")
        stuffed = b"\r\n".join(b"." + l if l.startswith(b".") else l for l in lines)
        if not stuffed.endswith(b"\r\n"):
            stuffed += b"\r\n"
        self.send(stuffed + b".\r\n")
        return self.reply()


def make_message(msgid, subject="test", body="Hello.\r\n", sender="sender@example.org", to="info@example.com"):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\n%s" % (sender, to, subject, msgid, body))


def make_ca(directory, hostname="mx.mxd.test"):
    """A test CA and a server certificate for hostname, made with the openssl command. Returns paths."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True)
    ca_key, ca_crt = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.crt")
    key, csr, crt = (os.path.join(directory, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(directory, "ext.cnf")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "2",
        "-subj", "/CN=mxd test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + hostname)
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:%s\n" % hostname)
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt, "-days", "2",
        "-extfile", ext)
    return {"ca": ca_crt, "cert": crt, "key": key}
