"""The cost of milters: end-to-end msgs/s (smtp-source -> mxd -> smtp-sink) with no milter configured and
with rspamd as the milter (tests/lib/rspamd_runner.py: its proxy worker in milter mode, self_scan, the
minimal loopback configuration of test_milter_rspamd), and, with --baseline-build, the same "no milter"
case with an mxd built from before the milters (must stay within 10 %). Cases alternate, RUNS times each.

    milter.py [--runs 3] [--msgs 1000] [--sessions 20] [--size 4096] [--baseline-build DIR]

Results go to RESULTS/milter.json and a table is printed.
"""
import argparse
import os
import sys
import time

import benchlib as b

sys.path.insert(0, os.path.join(b.REPO, "tests", "lib"))
import rspamd_runner  # noqa: E402


def run_case(name, sink, settings, msgs, sessions, size, binary_dir=None):
    saved = (b.MXD, b.MXCTL)
    if binary_dir is not None:
        b.MXD, b.MXCTL = os.path.join(binary_dir, "mxd"), os.path.join(binary_dir, "mxctl")
    try:
        m = b.Mxd(name="milter-" + name, relay_port=sink.port, settings=settings)
        m.add_forwarding()
        m.start()
        try:
            base = sink.count()
            t0 = time.monotonic()
            rc, err = b.source(m.port, msgs, sessions, size, 1)
            if rc != 0:
                b.log("  smtp-source exited %d: %s" % (rc, err[-300:]))
            t_end = sink.wait(base + msgs, 600)
            if t_end is None:
                b.log("  %s: only %d of %d messages arrived" % (name, sink.count() - base, msgs))
                return None
            return msgs / (t_end - t0)
        finally:
            m.cleanup()
    finally:
        b.MXD, b.MXCTL = saved


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--msgs", type=int, default=1000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--baseline-build", default=None)
    args = ap.parse_args()
    if rspamd_runner.RSPAMD is None:
        raise SystemExit("milter.py: rspamd is not installed")
    rs = rspamd_runner.Rspamd()
    sink = b.Sink()
    cases = [("no-milter", {}, None), ("rspamd", {"smtpd_milters": "inet:127.0.0.1:%d" % rs.port}, None)]
    if args.baseline_build:
        cases.insert(0, ("before", {}, args.baseline_build))
    results = {name: [] for name, _, _ in cases}
    try:
        for i in range(args.runs):
            for name, settings, bdir in cases:
                v = run_case(name, sink, settings, args.msgs, args.sessions, args.size, bdir)
                b.log("run %d %-10s %s msgs/s" % (i + 1, name, "%.0f" % v if v else "failed"))
                if v:
                    results[name].append(v)
    finally:
        sink.stop()
        rs.cleanup()
    out = {"case": "%dx%dk1" % (args.sessions, args.size // 1024), "msgs": args.msgs,
           "results": {k: b.summarize(v) for k, v in results.items() if v}}
    b.save("milter", out)
    print("%-10s %10s %10s" % ("milter", "median", "vs none"))
    none = out["results"].get("no-milter", {}).get("median")
    for name in results:
        r = out["results"].get(name)
        if r is None:
            print("%-10s %10s" % (name, "failed"))
            continue
        print("%-10s %10.0f %9.0f%%" % (name, r["median"], 100.0 * r["median"] / none if none else 0))


if __name__ == "__main__":
    main()
