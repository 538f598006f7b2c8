"""Memory per idle connection: open N connections, read the greeting, send EHLO, read the reply, and
hold them all open; then read the server's memory.

* mxd (one process): (RSS with N idle connections - RSS before) / N, at 1,000 and 10,000 connections
  (smtpd_connection_limit and smtpd_client_connection_limit are raised in the bench configuration).
* Postfix (one smtpd process per connection, capped by process limits): sum of the smtpd processes'
  RSS / number of smtpd processes at 100 connections, and the same with PSS (shared pages divided
  among the processes that map them), which is the fairer figure of what each really costs.
* Whether mxd raises RLIMIT_NOFILE itself: mxd is started with a soft limit of 1024 (hard 65536) and
  /proc/PID/limits is read.

    memory.py [--conns 1000,10000] [--postfix-conns 100]

RESULTS/memory.json.
"""
import argparse
import resource
import selectors
import socket
import time

import benchlib as b


def open_idle(port, n, timeout=120):
    """n connections that have each had their greeting and their EHLO answered."""
    sel = selectors.DefaultSelector()
    conns = []
    state = {}
    deadline = time.monotonic() + timeout
    pending = 0
    opened = 0
    while (opened < n or pending > 0) and time.monotonic() < deadline:
        # keep at most 200 handshakes in flight (the listen backlog stays short)
        while opened < n and pending < 200:
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            sel.register(s, selectors.EVENT_READ)
            state[s] = [0, b""]  # 0: waiting for the greeting, 1: for the EHLO reply, 2: done
            conns.append(s)
            opened += 1
            pending += 1
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            if not data:
                raise RuntimeError("server closed connection %d: %r" % (len(conns), state[s][1][-200:]))
            st = state[s]
            st[1] += data
            lines = st[1].split(b"\r\n")
            last = [l for l in lines[:-1] if len(l) >= 4 and l[3:4] == b" "]
            if not last:
                continue
            if not last[-1].startswith(b"2"):
                raise RuntimeError("refused: %r" % last[-1])
            st[1] = b""
            if st[0] == 0:
                st[0] = 1
                s.send(b"EHLO idle.bench\r\n")
            else:
                st[0] = 2
                sel.unregister(s)
                pending -= 1
    done = sum(1 for s in conns if state[s][0] == 2)
    if done < n:
        raise RuntimeError("only %d of %d connections got through EHLO" % (done, n))
    sel.close()
    return conns


def close_all(conns):
    for s in conns:
        try:
            s.close()
        except OSError:
            pass


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def mxd_fd_limit_check(settings):
    """Does mxd raise its own open-files limit? Start it with a soft limit of 1024 (the hard limit as it
    is) and read /proc/PID/limits."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    m = b.Mxd(name="mxd-nofile", settings=settings)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, old[1]))
        m.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)
    try:
        with open("/proc/%d/limits" % m.pid) as f:
            line = [l for l in f if l.startswith("Max open files")][0].split()
        soft, hard = int(line[3]), int(line[4])
    finally:
        m.cleanup()
    return {"started_with": [1024, old[1]], "soft_after_start": soft, "hard_after_start": hard,
            "raises_itself": soft > 1024, "settings": settings}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", default="1000,10000")
    ap.add_argument("--postfix-conns", type=int, default=100)
    args = ap.parse_args()
    counts = [int(x) for x in args.conns.split(",")]
    need = max(counts) + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:  # run.sh raises the hard limit where it may (ulimit -Hn); the soft one is ours
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    results = {"mxd": {}, "postfix": {}, "mxd_nofile": []}

    # with the defaults (smtpd_connection_limit 20000) and with a limit that fits under the hard limit
    for settings in ({"smtpd_connection_limit": "20000"}, {"smtpd_connection_limit": "10000"}):
        chk = mxd_fd_limit_check(settings)
        results["mxd_nofile"].append(chk)
        b.log("mxd open-files limit with smtpd_connection_limit = %s: started with soft 1024 (hard %d), "
              "runs with soft %d (raises it itself: %s)" % (settings["smtpd_connection_limit"],
                                                           chk["started_with"][1], chk["soft_after_start"],
                                                           chk["raises_itself"]))

    sink = b.Sink()
    m = b.Mxd(relay_port=sink.port)
    m.add_forwarding()
    m.start()
    try:
        close_all(open_idle(m.port, 50))  # warm-up: the first sessions' allocations are not per connection
        time.sleep(1)
        for n in counts:
            before = b.rss_kib(m.pid)
            t0 = time.monotonic()
            conns = open_idle(m.port, n)
            took = time.monotonic() - t0
            time.sleep(1)
            after = b.rss_kib(m.pid)
            per = (after - before) / n
            results["mxd"][str(n)] = {"rss_before_kib": before, "rss_after_kib": after,
                                      "kib_per_conn": round(per, 2), "open_s": round(took, 2)}
            b.log("mxd: %d idle connections: RSS %d -> %d KiB, %.2f KiB per connection (opened in %.1fs)"
                  % (n, before, after, per, took))
            close_all(conns)
            time.sleep(2)  # let mxd see every close before the next count
    finally:
        m.cleanup()
        sink.stop()

    sink = b.Sink()
    pf = b.Postfix(sink.port, process_limit=max(200, args.postfix_conns + 50))
    pf.start()
    try:
        n = args.postfix_conns
        conns = open_idle(pf.port, n)
        time.sleep(1)
        pids = pf.processes("smtpd")
        rss = [b.rss_kib(p) for p in pids]
        pss = [pss_kib(p) for p in pids]
        results["postfix"][str(n)] = {
            "smtpd_processes": len(pids), "rss_sum_kib": sum(rss),
            "kib_per_smtpd_rss": round(sum(rss) / max(1, len(pids)), 1),
            "kib_per_smtpd_pss": round(sum(pss) / max(1, len(pids)), 1),
        }
        b.log("postfix: %d idle connections, %d smtpd: %.0f KiB RSS per smtpd (PSS %.0f KiB)"
              % (n, len(pids), sum(rss) / max(1, len(pids)), sum(pss) / max(1, len(pids))))
        close_all(conns)
    finally:
        pf.cleanup()
        sink.stop()
    b.save("memory", results)


if __name__ == "__main__":
    main()
