"""End-to-end throughput: smtp-source -> MTA -> smtp-sink, msgs/s from the first connection until the sink
has every message. mxd and Postfix run side by side (each with its own sink) and are measured in
alternation, RUNS times each per case; smtp-source straight into smtp-sink is the harness's ceiling.

    throughput.py [--runs 3] [--msgs 2000] [--cases 20x4k1,100x4k1,...]

A case is SESSIONSxSIZE[k]RCPTS: 20x4k1 is 20 concurrent sessions, 4 KB messages, 1 recipient.
smtp-source opens one connection per message, speaks HELO and does not pipeline. Results go to
RESULTS/throughput.json and a table is printed.
"""
import argparse
import re
import time

import benchlib as b

DEFAULT_CASES = "20x4k1,100x4k1,20x100k1,100x100k1,20x4k5,100x4k5"


def parse_case(text):
    m = re.fullmatch(r"(\d+)x(\d+)k(\d+)", text)
    if m is None:
        raise SystemExit("bad case %r (expected e.g. 20x4k1)" % text)
    return {"name": text, "sessions": int(m.group(1)), "size": int(m.group(2)) * 1024,
            "rcpts": int(m.group(3))}


def one_run(target_port, sink, case, msgs, timeout=600):
    """msgs/s of one run (None when not every message arrived), and the acceptance time."""
    base = sink.count()
    t0 = time.monotonic()
    rc, err = b.source(target_port, msgs, case["sessions"], case["size"], case["rcpts"], timeout=timeout)
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

    sink_m, sink_p, sink_c = b.Sink(), b.Sink(), b.Sink()
    mxd = b.Mxd(relay_port=sink_m.port)
    mxd.add_forwarding()
    mxd.start()
    pf = b.Postfix(sink_p.port)
    pf.start()
    results = {"msgs": args.msgs, "runs": args.runs, "cases": {}}
    try:
        # warm-up: page cache, Postfix's processes, mxd's prepared statements
        for port, mta in ((mxd.port, mxd), (pf.port, pf)):
            one_run(port, sink_m if mta is mxd else sink_p, parse_case("20x4k1"), 200)
            settle(mta)
        for case in cases:
            b.log("case %s: %d sessions, %d KB, %d rcpt, %d msgs" % (
                case["name"], case["sessions"], case["size"] // 1024, case["rcpts"], args.msgs))
            r = {"mxd": [], "postfix": [], "ceiling": [], "mxd_accept_s": [], "postfix_accept_s": []}
            for i in range(args.runs):
                for who, port, sink, mta in (("mxd", mxd.port, sink_m, mxd), ("postfix", pf.port, sink_p, pf)):
                    rate, t_src = one_run(port, sink, case, args.msgs)
                    settle(mta)
                    r[who].append(rate)
                    r[who + "_accept_s"].append(round(t_src, 3))
                    b.log("  run %d %-7s %s msgs/s (smtp-source done after %.2fs)" % (
                        i + 1, who, "%.0f" % rate if rate else "FAIL", t_src))
                if not args.no_ceiling:
                    rate, _ = one_run(sink_c.port, sink_c, case, args.msgs)
                    r["ceiling"].append(rate)
            res = {k: b.summarize(v) for k, v in r.items()}
            res.update(case)
            results["cases"][case["name"]] = res
            b.save("throughput", results)
    finally:
        mxd.cleanup()
        pf.cleanup()
        for s in (sink_m, sink_p, sink_c):
            s.stop()
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


if __name__ == "__main__":
    main()
