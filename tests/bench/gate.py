"""The cost of the connection gate (issue 16): end-to-end msgs/s of three mxd instances measured in
alternation, each with its own smtp-sink:

  skipped     the load generator in mynetworks: the gate is skipped (as in throughput.py)
  default     the load generator outside mynetworks, spf_policy = off, every gate setting at its default:
              the pregreet pause with its pass cache (the warm-up pays the 6 s once), the pipelining
              check, the hourly-limit lookup of the recipient domain on each RCPT (none set)
  configured  as default, plus the rate limits set (high enough never to refuse) and an hourly limit on
              example.com: every connection, MAIL and RCPT is counted in the anvil

    gate.py [--runs 3] [--msgs 1000] [--cases 20x4k1,20x4k5]

No DNSBL lookups: their cost is the resolver's (cached by TTL), not mxd's. Results go to
RESULTS/gate.json and a table is printed (the ratio to "skipped" is what matters: within noise).
"""
import argparse

import benchlib as b
from throughput import one_run, parse_case, settle

UNTRUSTED = {"mynetworks": "127.0.0.2/32", "spf_policy": "off"}
LIMITS = {"smtpd_client_connection_rate_limit": "100000000", "smtpd_client_message_rate_limit": "100000000",
          "smtpd_client_recipient_rate_limit": "100000000"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--msgs", type=int, default=1000)
    ap.add_argument("--cases", default="20x4k1,20x4k5")
    args = ap.parse_args()
    cases = [parse_case(c) for c in args.cases.split(",")]
    setups = (("skipped", {}), ("default", UNTRUSTED), ("configured", dict(UNTRUSTED, **LIMITS)))
    mtas, sinks = [], []
    try:
        for name, settings in setups:
            sink = b.Sink()
            sinks.append(sink)
            mxd = b.Mxd(name="gate-" + name, relay_port=sink.port, settings=settings)
            mxd.add_forwarding()
            if name == "configured":
                mxd.mxctl("domain", "set", "example.com", "--hourly-message-limit", "100000000")
            mtas.append((name, mxd, sink))
            mxd.start(greet_timeout=10)  # the first greeting comes after the pregreet pause
        for name, mxd, sink in mtas:  # warm-up: the pregreet pass, page cache, prepared statements
            one_run(mxd.port, sink, parse_case("20x4k1"), 200)
            settle(mxd)
        results = {"msgs": args.msgs, "runs": args.runs, "cases": {}}
        for case in cases:
            r = {name: [] for name, _, _ in mtas}
            for i in range(args.runs):
                for name, mxd, sink in mtas:
                    rate, _ = one_run(mxd.port, sink, case, args.msgs)
                    settle(mxd)
                    if rate is not None:
                        r[name].append(rate)
                    b.log("  %s run %d %s: %s msgs/s" % (case["name"], i + 1, name,
                                                         "%.0f" % rate if rate else "-"))
            results["cases"][case["name"]] = {n: b.summarize(v) for n, v in r.items()}
        b.save("gate", results)
        print("%-8s %12s %12s %12s %9s %9s" % ("case", "skipped", "default", "configured", "def/skip",
                                                "conf/skip"))
        for cname, c in results["cases"].items():
            med = {n: (c[n] or {}).get("median") for n in c}
            ratio = (lambda n: "%.2f" % (med[n] / med["skipped"]) if med[n] and med["skipped"] else "-")
            print("%-8s %12s %12s %12s %9s %9s" % (cname, *("%.0f" % med[n] if med[n] else "-" for n in
                                                             ("skipped", "default", "configured")),
                                                    ratio("default"), ratio("configured")))
    finally:
        for _, mxd, _ in mtas:
            mxd.stop()
            mxd.cleanup()
        for sink in sinks:
            sink.stop()


if __name__ == "__main__":
    main()
