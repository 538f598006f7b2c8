"""benchlib: what the benchmark scripts share (Debian's /usr/bin/python3, standard library only).

* Mxd: one release-build mxd with its own directory, configuration, tables and queue, forwarding
  everything to a relayhost (the sink) so that no DNS is needed.
* Postfix: Debian's Postfix as the same forwarder, an instance of its own (config directory, queue
  directory, data directory, ports) started with "postfix -c DIR start"; durable defaults kept.
* Sink: Postfix's smtp-sink on a loopback port, counting messages (-c counters written to a file).
* source(): Postfix's smtp-source, the load generator.
* rss_kib(), stats helpers, results written as JSON for summary.py.

Everything listens on 127.0.0.1 only. Paths come from the environment that run.sh sets:
MXD_BENCH_BUILD (the release build dir), MXD_BENCH_WORK (scratch dir), MXD_BENCH_RESULTS (JSON dir).
"""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("MXD_BENCH_BUILD", os.path.join(REPO, "build-bench"))
WORK = os.environ.get("MXD_BENCH_WORK", "/tmp/mxd-bench")
RESULTS = os.environ.get("MXD_BENCH_RESULTS", os.path.join(WORK, "results"))
MXD = os.path.join(BUILD, "mxd")
MXCTL = os.path.join(BUILD, "mxctl")
SMTP_SOURCE = "/usr/sbin/smtp-source"
SMTP_SINK = "/usr/sbin/smtp-sink"

# The forwarding set-up shared by both MTAs: smtp-source's recipients (-t info@example.com -r N sends
# to info@, 1info@, 2info@, ...) each map to a distinct external mailbox.
DOMAIN = "example.com"
ALIASES = [("info@example.com", "someone@gmail.test")] + [
    ("%dinfo@example.com" % i, "someone%d@gmail.test" % i) for i in range(1, 10)]
SENDER = "alice@sender.test"


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=30.0, proc=None, step=0.002, greet_timeout=2):
    """Seconds until 127.0.0.1:port accepts a connection and sends its greeting's first octets (within
    greet_timeout: more for an mxd whose pregreet pause is on)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with status %s" % proc.returncode)
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=greet_timeout)
            try:
                s.recv(64)
            finally:
                s.close()
            return time.monotonic() - t0
        except OSError:
            time.sleep(step)
    raise RuntimeError("nothing answers on 127.0.0.1:%d after %.0fs" % (port, timeout))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(pid):
    """Every descendant pid of pid."""
    out = []
    try:
        kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                              text=True).stdout.split()
    except OSError:
        return out
    for k in kids:
        out.append(int(k))
        out.extend(children(int(k)))
    return out


def cpu_ticks(pid):
    """utime + stime of a process (clock ticks), threads included."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def summarize(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "runs": values}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "runs": values}


def save(name, data):
    """RESULTS/name.json, with the load average when saved (the machine may be shared)."""
    data = dict(data, loadavg_at_save=os.getloadavg())
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, name + ".json"), "w") as f:
        json.dump(data, f, indent=1)


def load(name):
    try:
        with open(os.path.join(RESULTS, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Sink:
    """smtp-sink on a loopback port; count() reads its running message counter."""

    def __init__(self, port=None, backlog=4096, preexec=None):
        self.port = port or free_port()
        os.makedirs(WORK, exist_ok=True)
        self.out = os.path.join(WORK, "sink-%d.out" % self.port)
        self.f = open(self.out, "wb")
        # -c counters; -m: connections handled at once (both MTAs open at most a few dozen)
        self.proc = subprocess.Popen([SMTP_SINK, "-c", "-u", "nobody", "-m", "1000",
                                      "127.0.0.1:%d" % self.port, str(backlog)],
                                     stdout=self.f, stderr=subprocess.STDOUT, preexec_fn=preexec)
        wait_port(self.port, proc=self.proc)
        self.base = self.count()  # wait_port's probe is a session, not a message

    def count(self):
        try:
            with open(self.out, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 200))
                tail = f.read()
        except OSError:
            return 0
        m = re.findall(rb"mesg=(\d+)", tail)
        return int(m[-1]) if m else 0

    def wait(self, n, timeout, step=0.01):
        """Monotonic time at which the sink had n messages, or None after timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= n:
                return time.monotonic()
            time.sleep(step)
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.f.close()
        try:
            os.unlink(self.out)
        except OSError:
            pass


def source(port, msgs, sessions, size, rcpts, timeout=600, preexec=None, message_file=None):
    """Run smtp-source (one connection per message, HELO, no pipelining); returns (rc, stderr).
    message_file: send that file's header and body (smtp-source -F: lines end in LF, it sends CRLF)
    instead of size octets of its own."""
    cmd = [SMTP_SOURCE, "-s", str(sessions), "-m", str(msgs), "-r", str(rcpts),
           "-f", SENDER, "-t", "info@example.com", "-M", "client.bench", "127.0.0.1:%d" % port]
    cmd[1:1] = ["-F", message_file] if message_file else ["-l", str(size)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=preexec)
    return r.returncode, r.stderr.strip()


class Mxd:
    """One mxd (release build) in WORK/name, relaying to relay_port when given."""

    def __init__(self, name="mxd", relay_port=None, settings=None):
        self.dir = os.path.join(WORK, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "mxd.conf")
        self.log = os.path.join(self.dir, "mail.log")
        self.db = os.path.join(self.dir, "db", "mxd.db")
        self.queue = os.path.join(self.dir, "queue")
        self.proc = None
        s = {
            "myhostname": "mx.mxd.bench",
            "smtpd_listen": "127.0.0.1:%d" % self.port,
            "database": self.db,
            "queue_directory": self.queue,
            "maillog_file": self.log,
            "mail_owner": "",
            "mynetworks": "127.0.0.0/8",
            "resolver": "127.0.0.1:9",  # no DNS: the relayhost is an address
            "smtp_tls_security_level": "none",
            "smtpd_client_connection_limit": "20000",
            "smtpd_connection_limit": "20000",
        }
        if relay_port is not None:
            s["relayhost"] = "[127.0.0.1]:%d" % relay_port
        s.update(settings or {})
        self.settings = s
        self.write_conf()
        self.mxctl("init")

    def write_conf(self):
        with open(self.conf, "w") as f:
            for k, v in self.settings.items():
                f.write("%s = %s\n" % (k, v))

    def mxctl(self, *args):
        r = subprocess.run([MXCTL, "-c", self.conf] + list(args), capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("mxctl %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout

    def add_forwarding(self):
        self.mxctl("domain", "add", DOMAIN)
        for a, d in ALIASES:
            self.mxctl("alias", "add", a, d)

    def start(self, wrap=(), timeout=60, greet_timeout=2, preexec=None):
        """Start mxd; returns seconds until its port answered. preexec: cpuacct's, to start it in a cgroup."""
        self.err = open(os.path.join(self.dir, "mxd.stderr"), "ab")
        if not wrap and os.environ.get("MXD_BENCH_PERF"):  # a profile of each mxd: DIR/perf-NAME.data
            os.makedirs(os.environ["MXD_BENCH_PERF"], exist_ok=True)
            wrap = ("perf", "record", "-F", "999", "-g", "-o",
                    os.path.join(os.environ["MXD_BENCH_PERF"], "perf-%s.data" % os.path.basename(self.dir)))
        t0 = time.monotonic()
        self.proc = subprocess.Popen(list(wrap) + [MXD, "-c", self.conf], stdout=self.err, stderr=self.err,
                                     preexec_fn=preexec)
        wait_port(self.port, timeout=timeout, proc=self.proc, greet_timeout=greet_timeout)
        return time.monotonic() - t0

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.err.close()

    def queue_count(self):
        import sqlite3
        c = sqlite3.connect(os.path.join(self.queue, "queue.db"), timeout=30)
        try:
            return c.execute("SELECT count(*) FROM messages").fetchone()[0]
        finally:
            c.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


POSTFIX_MAIN = """\
# mxd benchmark: Postfix as the same forwarder as mxd (virtual alias domain, relay to the sink).
# Durable defaults kept: cleanup fsyncs every queue file before smtpd answers 250.
compatibility_level = 3.6
myhostname = mx.postfix.bench
mydomain = postfix.bench
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
virtual_alias_domains = example.com
virtual_alias_maps = hash:{confdir}/virtual
relayhost = [127.0.0.1]:{sink_port}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_tls_security_level = none
smtpd_tls_security_level = none
queue_directory = {queue}
data_directory = {data}
maillog_file = {maillog}
maillog_file_prefixes = /var, /tmp, {work}
biff = no
append_dot_mydomain = no
message_size_limit = 10240000
# 100 concurrent sessions need 100 smtpd processes: default_process_limit (100) is raised so that the
# smtpd service is not the cap (it applies to every service; the delivery concurrency stays at
# default_destination_concurrency_limit = 20).
default_process_limit = {process_limit}
# no per-client throttling of the load generator (anvil)
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_client_new_tls_session_rate_limit = 0
"""

# Debian's master.cf with every daemon out of the chroot (loopback-only, no /var/spool/... chroot copies
# of resolv.conf etc. needed) and smtpd on our own port.
POSTFIX_MASTER = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
        -o syslog_name=postfix/$service_name
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def work_suffix():
    """"" for the default MXD_BENCH_WORK, else "-" and a short hash of it: the directories outside WORK
    (Postfix's queue and data) of two benchmark runs with different work dirs never clash."""
    if os.path.abspath(WORK) == "/tmp/mxd-bench":
        return ""
    import hashlib
    return "-" + hashlib.sha1(os.path.abspath(WORK).encode()).hexdigest()[:8]


class Postfix:
    """A Postfix instance of our own: config in WORK/postfix/etc, queue in /var/spool/postfix-mxbench
    (postfix-mxbench-HASH for a MXD_BENCH_WORK other than the default, see work_suffix())."""

    def __init__(self, relay_port, process_limit=200, name="postfix"):
        self.base = os.path.join(WORK, name)
        self.confdir = os.path.join(self.base, "etc")
        self.queue = "/var/spool/%s-mxbench%s" % (name, work_suffix())
        self.data = "/var/lib/%s-mxbench%s" % (name, work_suffix())
        self.port = free_port()
        self.maillog = os.path.join(self.base, "mail.log")
        self.stop_any()
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.queue, ignore_errors=True)
        shutil.rmtree(self.data, ignore_errors=True)
        os.makedirs(self.confdir)
        os.makedirs(self.data)
        os.makedirs(self.queue)
        subprocess.run(["chown", "postfix:postfix", self.data], check=True)
        os.chmod(self.base, 0o755)
        with open(os.path.join(self.confdir, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN.format(confdir=self.confdir, sink_port=relay_port, queue=self.queue,
                                        data=self.data, maillog=self.maillog, work=WORK,
                                        process_limit=process_limit))
        with open(os.path.join(self.confdir, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER.format(port=self.port))
        with open(os.path.join(self.confdir, "virtual"), "w") as f:
            for a, d in ALIASES:
                f.write("%s %s\n" % (a, d))
        self.postcmd("postmap", os.path.join(self.confdir, "virtual"))
        # queue subdirectories and their permissions (post-install create-missing)
        self.postcmd("postfix", "-c", self.confdir, "check")

    def postcmd(self, *args, check=True):
        r = subprocess.run(list(args), capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, MAIL_CONFIG=self.confdir))
        if check and r.returncode != 0:
            raise RuntimeError("%s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r

    def start(self, preexec=None):
        """postfix start; preexec: cpuacct's, so that master and every daemon it forks are in a cgroup."""
        t0 = time.monotonic()
        r = subprocess.run(["postfix", "-c", self.confdir, "start"], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, MAIL_CONFIG=self.confdir), preexec_fn=preexec)
        if r.returncode != 0:
            raise RuntimeError("postfix start: %s%s" % (r.stdout, r.stderr))
        wait_port(self.port)
        return time.monotonic() - t0

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def processes(self, name=None):
        """pids of the instance's daemons (all, or those whose command is name)."""
        mp = self.master_pid()
        if mp is None:
            return []
        out = []
        for pid in children(mp):
            try:
                with open("/proc/%d/comm" % pid) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if name is None or comm == name:
                out.append(pid)
        return out

    def queue_count(self):
        n = 0
        for sub in ("incoming", "active", "deferred", "hold", "maildrop"):
            for _root, _dirs, files in os.walk(os.path.join(self.queue, sub)):
                n += len(files)
        return n

    def stop_any(self):
        if os.path.isdir(self.confdir if hasattr(self, "confdir") else ""):
            subprocess.run(["postfix", "-c", self.confdir, "stop"], capture_output=True,
                           env=dict(os.environ, MAIL_CONFIG=self.confdir))

    def stop(self):
        self.postcmd("postfix", "-c", self.confdir, "stop", check=False)
        for _ in range(100):
            if self.master_pid() is None or not os.path.exists("/proc/%d" % self.master_pid()):
                break
            time.sleep(0.1)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.queue, ignore_errors=True)
        shutil.rmtree(self.data, ignore_errors=True)
