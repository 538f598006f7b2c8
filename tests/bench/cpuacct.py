"""cpuacct: CPU time of each party of a benchmark (mxd, Postfix's whole process tree, the harness), read
before and after a timed window.

With a writable cgroup v2 hierarchy (/sys/fs/cgroup, or the "unified" cgroup2 mount of a hybrid set-up,
found in /proc/self/mountinfo), each party gets a cgroup of its own, mxbench-PARTY-PID (PID: this
driver's, so that two benchmark runs never share one), made under this process's own cgroup. A process
is started inside it (preexec(): the child writes its pid to cgroup.procs before exec, so everything it
forks is counted too, short-lived processes included: Postfix's smtpd, cleanup, smtp, trivial-rewrite...)
and usage_usec, user_usec and system_usec of cpu.stat are read (they exist even when the cpu controller
is not enabled for the subtree). close() removes the cgroups.

Without one (no cgroup2 mount, or not writable), it falls back to /proc: utime + stime + cutime + cstime of
every live process under the pids given to track() (10 ms ticks; CPU of a process that exited is counted
once its parent has reaped it; MXD_BENCH_CPUACCT=proc chooses it where cgroups would work), plus, for a party given track_children(), the driver's own RUSAGE_CHILDREN
(the smtp-source runs it waits for). mode says which ("cgroup2" or "proc"); the results carry it.

    acct = cpuacct.Accounting(["mxd", "postfix", "harness"])
    p = subprocess.Popen(cmd, preexec_fn=acct.preexec("mxd")); acct.track("mxd", p.pid)
    s0 = acct.snapshot(); ...; s1 = acct.snapshot()
    acct.delta(s0, s1)    # {"mxd": {"usage_ms": .., "user_ms": .., "system_ms": ..}, ...}
    acct.close()
"""
import atexit
import os
import resource
import time

TICK = os.sysconf("SC_CLK_TCK")


def cgroup2_root():
    """The directory of this process's cgroup v2 (the mount point plus its own path), or None."""
    mount = None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split()[0] == "cgroup2":
                    mount = left.split()[4]
                    if mount == "/sys/fs/cgroup":
                        break
    except (OSError, IndexError):
        return None
    if mount is None:
        return None
    own = "/"
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    own = line[3:].strip()
    except OSError:
        pass
    path = os.path.join(mount, own.lstrip("/"))
    return path if os.path.isfile(os.path.join(path, "cgroup.procs")) else None


def read_cpu_stat(path):
    out = {}
    with open(os.path.join(path, "cpu.stat")) as f:
        for line in f:
            k, v = line.split()
            out[k] = int(v)
    return out


def children_of():
    """{ppid: [pid, ...]} of every process."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(d))
    return kids


def proc_times(pid):
    """(user, system) ticks of pid, its reaped children's included."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0
    return int(fields[11]) + int(fields[13]), int(fields[12]) + int(fields[14])


class Accounting:
    def __init__(self, parties, force_proc=None):
        if force_proc is None:  # MXD_BENCH_CPUACCT=proc: the fallback even where cgroups work
            force_proc = os.environ.get("MXD_BENCH_CPUACCT") == "proc"
        self.parties = list(parties)
        self.paths = {}
        self.roots = {p: set() for p in self.parties}
        self.with_children = set()
        self.mode = "proc"
        self.why = ""
        base = None if force_proc else cgroup2_root()
        if base is None:
            self.why = "no cgroup v2 hierarchy" if not force_proc else "asked for /proc"
        else:
            self._remove_stale(base)
            try:
                with open(os.path.join(base, "cgroup.controllers")) as f:
                    if "cpu" in f.read().split():
                        try:
                            with open(os.path.join(base, "cgroup.subtree_control"), "w") as g:
                                g.write("+cpu")
                        except OSError:
                            pass  # usage_usec is there without the controller
                for p in self.parties:
                    path = os.path.join(base, "mxbench-%s-%d" % (p, os.getpid()))
                    os.makedirs(path, exist_ok=True)
                    read_cpu_stat(path)
                    self.paths[p] = path
                # can we move a process in? (this one, and back)
                self._move(os.getpid(), self.paths[self.parties[0]])
                self._move(os.getpid(), base)
                self.base = base
                self.mode = "cgroup2"
            except OSError as e:
                self.why = "cgroup v2 not writable (%s)" % e
                self._rmdirs()
                self.paths = {}
        atexit.register(self.close)

    @staticmethod
    def _remove_stale(base):
        """mxbench-*-PID cgroups of a driver that is gone (killed before close()) and that are empty."""
        try:
            names = os.listdir(base)
        except OSError:
            return
        for n in names:
            pid = n.rsplit("-", 1)[-1]
            if not n.startswith("mxbench-") or not pid.isdigit() or os.path.exists("/proc/" + pid):
                continue
            try:
                os.rmdir(os.path.join(base, n))
            except OSError:
                pass

    @staticmethod
    def _move(pid, path):
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def describe(self):
        if self.mode == "cgroup2":
            return "cgroup2 (%s/mxbench-*-%d, cpu.stat usage_usec)" % (os.path.dirname(self.paths[self.parties[0]]),
                                                                      os.getpid())
        return "/proc utime+stime of the process trees (fallback: %s)" % self.why

    def preexec(self, party):
        """A preexec_fn for subprocess: the child joins the party's cgroup before exec (no-op without)."""
        path = self.paths.get(party)
        if path is None:
            return None
        procs = os.path.join(path, "cgroup.procs")

        def join():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        return join

    def track(self, party, pid):
        """/proc fallback: count the tree under pid (harmless with cgroups)."""
        if pid:
            self.roots[party].add(pid)

    def track_children(self, party):
        """/proc fallback: count the driver's reaped children (smtp-source) for this party."""
        self.with_children.add(party)

    def snapshot(self):
        snap = {"t": time.monotonic()}
        if self.mode == "cgroup2":
            for p, path in self.paths.items():
                s = read_cpu_stat(path)
                snap[p] = (s.get("usage_usec", 0), s.get("user_usec", 0), s.get("system_usec", 0))
            return snap
        kids = children_of()
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        for p in self.parties:
            seen, stack, user, system = set(), list(self.roots[p]), 0, 0
            while stack:
                pid = stack.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                u, s = proc_times(pid)
                user += u
                system += s
                stack.extend(kids.get(pid, []))
            user = user * 1e6 / TICK
            system = system * 1e6 / TICK
            if p in self.with_children:
                user += ru.ru_utime * 1e6
                system += ru.ru_stime * 1e6
            snap[p] = (user + system, user, system)
        return snap

    def delta(self, s0, s1):
        """{party: {"usage_ms", "user_ms", "system_ms"}} between two snapshots, and "wall_s"."""
        out = {"wall_s": round(s1["t"] - s0["t"], 3)}
        for p in self.parties:
            a, b_ = s0[p], s1[p]
            out[p] = {"usage_ms": (b_[0] - a[0]) / 1000.0, "user_ms": (b_[1] - a[1]) / 1000.0,
                      "system_ms": (b_[2] - a[2]) / 1000.0}
        return out

    def _rmdirs(self):
        for path in self.paths.values():
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    # still populated: a process on its way out; after 5 s, move what is left out
                    time.sleep(0.1)
            else:
                try:
                    with open(os.path.join(path, "cgroup.procs")) as f:
                        left = f.read().split()
                    for pid in left:
                        self._move(int(pid), os.path.dirname(path))
                    os.rmdir(path)
                except OSError:
                    pass

    def close(self):
        """Remove the cgroups (their processes must have been stopped)."""
        if self.paths:
            self._rmdirs()
            self.paths = {}


if __name__ == "__main__":
    import subprocess
    a = Accounting(["burn"])
    print(a.mode, a.describe())
    s0 = a.snapshot()
    p = subprocess.Popen(["sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"], preexec_fn=a.preexec("burn"))
    a.track("burn", p.pid)
    p.wait()
    print(a.delta(s0, a.snapshot()))
    a.close()
