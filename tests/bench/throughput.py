"""End-to-end throughput: smtp-source -> MTA -> smtp-sink, msgs/s from the first connection until the sink
has every message. mxd and Postfix run side by side (each with its own sink) and are measured in
alternation, RUNS times each per case; smtp-source straight into smtp-sink is the harness's ceiling.

    throughput.py [--runs 3] [--msgs 2000] [--cases 20x4k1,100x4k1,...]

A case is SESSIONSxSIZE[k]RCPTS: 20x4k1 is 20 concurrent sessions, 4 KB messages, 1 recipient.
smtp-source opens one connection per message, speaks HELO and does not pipeline. Results go to
RESULTS/throughput.json and a table is printed.

CPU per message, from the same runs: each party runs in a cgroup of its own (cpuacct.py; /proc process trees
where cgroups cannot be written): mxd; Postfix's whole tree (master and every daemon it forks, short-lived
ones included); the harness (smtp-source and the smtp-sinks). Each is read before a run and after its queue
is empty again (so removing the delivered message counts), and divided by the messages of the run:
cpu_ms_per_msg {"mxd", "postfix", "harness"} per case, the harness's from the ceiling runs (and from the
MTAs' runs as harness_in_mxd_runs / harness_in_postfix_runs).
"""
import argparse
import re
import time

import benchlib as b
import cpuacct

DEFAULT_CASES = "20x4k1,100x4k1,20x100k1,100x100k1,20x4k5,100x4k5"


def parse_case(text):
    m = re.fullmatch(r"(\d+)x(\d+)k(\d+)", text)
    if m is None:
        raise SystemExit("bad case %r (expected e.g. 20x4k1)" % text)
    return {"name": text, "sessions": int(m.group(1)), "size": int(m.group(2)) * 1024,
            "rcpts": int(m.group(3))}


def one_run(target_port, sink, case, msgs, timeout=600, preexec=None, message_file=None):
    """msgs/s of one run (None when not every message arrived), and the acceptance time. preexec: the
    harness's cgroup for smtp-source; message_file: smtp-source -F (see benchlib.source)."""
    base = sink.count()
    t0 = time.monotonic()
    rc, err = b.source(target_port, msgs, case["sessions"], case["size"], case["rcpts"], timeout=timeout,
                       preexec=preexec, message_file=message_file)
    t_src = time.monotonic() - t0
    if rc != 0:
        b.log("  smtp-source exited %d: %s" % (rc, err[-300:]))
    t_end = sink.wait(base + msgs, timeout)
    if t_end is None:
        b.log("  only %d of %d messages arrived" % (sink.count() - base, msgs))
        return None, t_src
    return msgs / (t_end - t0), t_src


def settle(mta, timeout=60):
    """Wait until the MTA's queue is empty (the sink may have a message before it is removed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mta.queue_count() == 0:
            return
        time.sleep(0.1)
    b.log("  queue not empty after %ds: %d" % (timeout, mta.queue_count()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--msgs", type=int, default=2000)
    ap.add_argument("--cases", default=DEFAULT_CASES)
    ap.add_argument("--no-ceiling", action="store_true")
    args = ap.parse_args()
    cases = [parse_case(c) for c in args.cases.split(",")]

    acct = cpuacct.Accounting(["mxd", "postfix", "harness"])
    hx = acct.preexec("harness")
    acct.track_children("harness")
    sink_m, sink_p, sink_c = b.Sink(preexec=hx), b.Sink(preexec=hx), b.Sink(preexec=hx)
    for s in (sink_m, sink_p, sink_c):
        acct.track("harness", s.proc.pid)
    mxd = b.Mxd(relay_port=sink_m.port)
    mxd.add_forwarding()
    mxd.start(preexec=acct.preexec("mxd"))
    acct.track("mxd", mxd.pid)
    pf = b.Postfix(sink_p.port)
    pf.start(preexec=acct.preexec("postfix"))
    acct.track("postfix", pf.master_pid())
    b.log("CPU accounting: %s" % acct.describe())
    results = {"msgs": args.msgs, "runs": args.runs, "cpu_accounting": acct.describe(), "cases": {}}
    try:
        # warm-up: page cache, Postfix's processes, mxd's prepared statements
        for port, mta in ((mxd.port, mxd), (pf.port, pf)):
            one_run(port, sink_m if mta is mxd else sink_p, parse_case("20x4k1"), 200)
            settle(mta)
        for case in cases:
            b.log("case %s: %d sessions, %d KB, %d rcpt, %d msgs" % (
                case["name"], case["sessions"], case["size"] // 1024, case["rcpts"], args.msgs))
            r = {"mxd": [], "postfix": [], "ceiling": [], "mxd_accept_s": [], "postfix_accept_s": []}
            cpu = {"mxd": [], "postfix": [], "harness": [], "harness_in_mxd_runs": [],
                   "harness_in_postfix_runs": []}
            cpu_detail = []
            for i in range(args.runs):
                for who, port, sink, mta in (("mxd", mxd.port, sink_m, mxd), ("postfix", pf.port, sink_p, pf)):
                    s0 = acct.snapshot()
                    rate, t_src = one_run(port, sink, case, args.msgs, preexec=hx)
                    settle(mta)
                    d = acct.delta(s0, acct.snapshot())
                    r[who].append(rate)
                    r[who + "_accept_s"].append(round(t_src, 3))
                    per = d[who]["usage_ms"] / args.msgs if rate else None
                    cpu[who].append(per)
                    cpu["harness_in_%s_runs" % who].append(d["harness"]["usage_ms"] / args.msgs if rate else None)
                    cpu_detail.append(dict(d, run=i + 1, who=who))
                    b.log("  run %d %-7s %s msgs/s (smtp-source done after %.2fs), CPU %s ms/msg (%.2f cores)" % (
                        i + 1, who, "%.0f" % rate if rate else "FAIL", t_src, "%.3f" % per if per else "-",
                        d[who]["usage_ms"] / 1000.0 / d["wall_s"] if d["wall_s"] else 0))
                if not args.no_ceiling:
                    s0 = acct.snapshot()
                    rate, _ = one_run(sink_c.port, sink_c, case, args.msgs, preexec=hx)
                    d = acct.delta(s0, acct.snapshot())
                    r["ceiling"].append(rate)
                    cpu["harness"].append(d["harness"]["usage_ms"] / args.msgs if rate else None)
                    cpu_detail.append(dict(d, run=i + 1, who="ceiling"))
            res = {k: b.summarize(v) for k, v in r.items()}
            res["cpu_ms_per_msg"] = {k: b.summarize(v) for k, v in cpu.items()}
            res["cpu_runs"] = cpu_detail
            res.update(case)
            results["cases"][case["name"]] = res
            b.save("throughput", results)
    finally:
        mxd.cleanup()
        pf.cleanup()
        for s in (sink_m, sink_p, sink_c):
            s.stop()
        acct.close()
    print_table(results)


def fmt(s):
    if s is None or s.get("median") is None:
        return "-"
    return "%.0f (%.0f-%.0f)" % (s["median"], s["min"], s["max"])


def print_table(results):
    print("\nend-to-end msgs/s, median (min-max) of %d runs of %d messages" % (results["runs"], results["msgs"]))
    print("%-10s %-18s %-18s %-8s %-18s" % ("case", "mxd", "postfix", "ratio", "ceiling"))
    for name, r in results["cases"].items():
        ratio = "-"
        if r["mxd"]["median"] and r["postfix"]["median"]:
            ratio = "%.2fx" % (r["mxd"]["median"] / r["postfix"]["median"])
        print("%-10s %-18s %-18s %-8s %-18s" % (name, fmt(r["mxd"]), fmt(r["postfix"]), ratio, fmt(r["ceiling"])))
    print("\nCPU ms per message (accept, fsync, forward), median (min-max); %s" % results.get("cpu_accounting", ""))
    print("%-10s %-20s %-20s %-20s" % ("case", "mxd", "postfix (all)", "harness (ceiling)"))
    for name, r in results["cases"].items():
        c = r.get("cpu_ms_per_msg", {})
        print("%-10s %-20s %-20s %-20s" % (name, *(fmt3(c.get(k)) for k in ("mxd", "postfix", "harness"))))


def fmt3(s):
    if s is None or s.get("median") is None:
        return "-"
    return "%.3f (%.3f-%.3f)" % (s["median"], s["min"], s["max"])


if __name__ == "__main__":
    main()
