"""Accept latency: p50/p99 from the end of DATA to the 250, mxd against Postfix, measured in alternation
with acceptlat (C, one thread per connection) while each MTA also forwards to its own smtp-sink.

    latency.py [--runs 3] [--msgs 2000] [--conns 20,100] [--size 4096]

Also reports the client's own CPU use, to show it is not the bottleneck. RESULTS/latency.json.
"""
import argparse
import json
import os
import resource
import subprocess
import time

import benchlib as b

ACCEPTLAT = os.environ.get("MXD_BENCH_ACCEPTLAT", os.path.join(b.WORK, "bin", "acceptlat"))


def run_client(port, msgs, conns, size):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run([ACCEPTLAT, "127.0.0.1", str(port), str(msgs), str(conns), str(size)],
                       capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        b.log("  acceptlat failed: %s" % r.stderr.strip())
        return None
    res = json.loads(r.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    res["client_cpu_share"] = round(cpu / wall, 3)  # fraction of one core used by acceptlat
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--msgs", type=int, default=2000)
    ap.add_argument("--conns", default="20,100")
    ap.add_argument("--size", type=int, default=4096)
    args = ap.parse_args()

    sink_m, sink_p = b.Sink(), b.Sink()
    mxd = b.Mxd(relay_port=sink_m.port)
    mxd.add_forwarding()
    mxd.start()
    pf = b.Postfix(sink_p.port)
    pf.start()
    results = {"msgs": args.msgs, "runs": args.runs, "size": args.size, "cases": {}}
    try:
        run_client(mxd.port, 200, 10, args.size)  # warm-up
        run_client(pf.port, 200, 10, args.size)
        for k in [int(x) for x in args.conns.split(",")]:
            b.log("latency: %d connections, %d messages of %d bytes" % (k, args.msgs, args.size))
            runs = {"mxd": [], "postfix": []}
            for i in range(args.runs):
                for who, mta, sink in (("mxd", mxd, sink_m), ("postfix", pf, sink_p)):
                    base = sink.count()
                    res = run_client(mta.port, args.msgs, k, args.size)
                    sink.wait(base + args.msgs, 300)  # let delivery finish before the next run
                    runs[who].append(res)
                    if res:
                        b.log("  run %d %-7s p50 %.2f ms  p99 %.2f ms  max %.1f ms  %.0f msgs/s  client cpu %.0f%%"
                              % (i + 1, who, res["p50_ms"], res["p99_ms"], res["max_ms"], res["msgs_per_s"],
                                 res["client_cpu_share"] * 100))
            case = {}
            for who in runs:
                ok = [r for r in runs[who] if r]
                for key in ("p50_ms", "p99_ms", "max_ms", "msgs_per_s", "client_cpu_share"):
                    case.setdefault(who, {})[key] = b.summarize([r[key] for r in ok])
            results["cases"][str(k)] = case
            b.save("latency", results)
    finally:
        mxd.cleanup()
        pf.cleanup()
        sink_m.stop()
        sink_p.stop()
    print_table(results)


def print_table(results):
    print("\naccept latency (end of DATA -> 250), ms, median (min-max) of %d runs of %d messages"
          % (results["runs"], results["msgs"]))
    print("%-6s %-8s %-20s %-20s %-12s" % ("conns", "mta", "p50", "p99", "msgs/s"))
    for k, case in results["cases"].items():
        for who in ("mxd", "postfix"):
            c = case[who]
            f = lambda s, d=2: "-" if s["median"] is None else "%.*f (%.*f-%.*f)" % (d, s["median"], d, s["min"], d, s["max"])
            print("%-6s %-8s %-20s %-20s %-12s" % (k, who, f(c["p50_ms"]), f(c["p99_ms"]), f(c["msgs_per_s"], 0)))


if __name__ == "__main__":
    main()
