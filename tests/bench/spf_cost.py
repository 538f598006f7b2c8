#!/usr/bin/python3
"""spf_cost: what an SPF check costs per message, measured end to end through a live mxd on the OpenSPF
RFC 7208 suite (tests/spf/rfc7208-tests.yml, 203 cases; the harness of tests/integration/test_spf_rfc7208.py,
tests/lib/spfsuite.py): each case one SMTP session from its client address, one at a time, so that the
time from MAIL FROM to its reply is the check alone (the check runs there), and every DNS query the test
server receives in between belongs to it. A fresh mxd per scenario (cold cache for its first case).

    sudo MXD_BIN=build-a/mxd MXCTL_BIN=build-a/mxctl PYTHONPATH=tests/lib tests/bench/spf_cost.py before
    sudo MXD_BIN=build-b/mxd MXCTL_BIN=build-b/mxctl PYTHONPATH=tests/lib tests/bench/spf_cost.py after

prints one row: MAIL latency in ms with spf_policy = tag (mean, p50, p95, max) and with spf_policy = off
(the same sessions without a check: the floor), DNS queries per check (mean, max) and their total; then
a hostile sender (hostile(): a record of 82 DNS-querying terms, all void, 5 messages): its MAIL latency
(mean) and the DNS queries of one check. Needs root (a network namespace holds the suite's client
addresses). Asserts nothing.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mxtest  # noqa: E402
import sink  # noqa: E402
import spfsuite  # noqa: E402


def hostile():
    """A scenario of one sender whose record asks for much: 9 includes of 9 "a" terms each (82 terms
    that query DNS; RFC 7208 allows 10), every name void."""
    zone = {"hostile.test": ["v=spf1 " + " ".join("include:i%d.hostile.test" % i for i in range(9)) + " -all"]}
    for i in range(9):
        zone["i%d.hostile.test" % i] = ["v=spf1 " + " ".join("a:x%d-%d.hostile.test" % (i, j) for j in range(9))]
    data = {"description": "hostile", "zonedata": {n: [{"TXT": t[0]}] for n, t in zone.items()},
            "tests": {"hostile-%d" % k: {"helo": "mail.example.net", "host": "192.0.2.5",
                                         "mailfrom": "x%d@hostile.test" % k, "result": "permerror"}
                      for k in range(5)}}
    return spfsuite.Scenario(data)


def start(dns_port, sink_port, policy):
    inst = mxtest.Instance({
        "resolver": "127.0.0.1:%d" % dns_port, "relayhost": "[127.0.0.1]:%d" % sink_port,
        "smtp_tls_security_level": "none", "spf_policy": policy, "spf_check_limit": "1000",
        "spf_client_check_limit": "1000", "mynetworks": "127.0.0.2/32",
    })
    inst.port6 = mxtest.free_port()
    inst.settings["smtpd_listen"] = "0.0.0.0:%d, [::]:%d" % (inst.port, inst.port6)
    inst.write_conf()
    inst.mxctl("domain", "add", "rcpt.mxd.test")
    inst.mxctl("alias", "add", spfsuite.RCPT, "someone@sink.mxd.test")
    inst.start()
    return inst


def run(scenarios, dns, snk, policy):
    lat, queries = [], []
    for s in scenarios:
        dns.set_zone(s.zone)
        inst = start(dns.port, snk.port, policy)
        try:
            for c in s.cases:
                before = len(dns.queries)
                t = {}
                port = inst.port6 if ":" in c.source() else inst.port
                spfsuite.send_case(port, c, timings=t)
                if "MAIL" in t:
                    lat.append(t["MAIL"] * 1000)
                    queries.append(len(dns.queries) - before)
        finally:
            inst.stop()
            inst.cleanup()
    return lat, queries


def main():
    label = sys.argv[1] if len(sys.argv) > 1 else "mxd"
    ok, why = spfsuite.netns_permitted()
    if not ok:
        sys.exit("spf_cost: needs network namespaces (root): %s" % why)
    scenarios = spfsuite.load()
    ns = spfsuite.Namespace(scenarios, prefix="mxspfb")
    try:
        ns.enter()
        dns = spfsuite.SuiteDNS()
        snk = sink.Sink("127.0.0.1", mxtest.free_port())
        try:
            t0 = time.time()
            lat, q = run(scenarios, dns, snk, "tag")
            floor, _ = run(scenarios, dns, snk, "off")
            hlat, hq = run([hostile()], dns, snk, "tag")
        finally:
            snk.stop()
            dns.stop()
    finally:
        ns.remove()
    p = statistics.quantiles(lat, n=20)
    print("| %s | %d | %.2f | %.2f | %.2f | %.1f | %.2f | %.2f | %d | %d | %.1f | %d | %.0f s |" % (
        label, len(lat), statistics.mean(lat), statistics.median(lat), p[18], max(lat), statistics.mean(floor),
        statistics.mean(q), max(q), sum(q), statistics.mean(hlat), max(hq), time.time() - t0))


if __name__ == "__main__":
    main()
