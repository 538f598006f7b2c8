"""The trust cost: end-to-end msgs/s and mxd's CPU per message with the sender checks and ARC sealing off and
on, no milter (issue #18: on must stay within 15 % of off).

  off   the load generator in mynetworks (as throughput.py): no SPF, DKIM or DMARC, and no ARC key
  on    the load generator outside mynetworks (127.0.0.1 is not in mynetworks = 127.0.0.2/32): SPF at
        MAIL FROM (spf_policy = tag), DKIM verification and DMARC at the end of DATA (dmarc_policy = tag),
        and every forwarded message sealed with ARC (arc_signing_domain = fwd.bench, key --arc-key)

With --breakdown, the steps between (each its own mxd, measured in alternation with the others):

  gate      outside mynetworks, spf_policy = off, dmarc_policy = off, no ARC: the connection gate alone
  spf       + SPF
  dkim      + DKIM verification and DMARC
  on        + ARC sealing (the full set)

Every message is the same DKIM-signed one (python3-dkim, RSA-2048, d=sender.test, relaxed/relaxed; sent
with smtp-source -F), From: alice@sender.test, whose SPF record passes 127.0.0.1 and whose DMARC record is
p=reject: SPF, DKIM and DMARC all pass. A DNS server of the tests (tests/lib/dnsserver.py, in this process,
dnslib) serves the zones; every mxd resolves through it (libunbound caches: after the warm-up a message
costs no query). spf_check_limit and spf_client_check_limit are raised to 10,000: every session comes from
127.0.0.1, and beyond 2 checks in flight per client (the default) a check would be a temperror at once,
not a check. The pregreet pause of clients outside mynetworks is paid once, in the warm-up.

    trust.py [--runs 3] [--msgs 1000] [--cases 20x4k1] [--breakdown] [--arc-key rsa|ed25519]

CPU: each mxd in a cgroup of its own (cpuacct.py), read before each run and after its queue is empty.
Results: RESULTS/trust.json and a table; ratio = on / off msgs/s (goal >= 0.85).
"""
import argparse
import base64
import os
import shutil
import subprocess
import sys

import benchlib as b
import cpuacct
from throughput import one_run, parse_case, settle

sys.path.insert(0, os.path.join(b.REPO, "tests", "lib"))


def make_key(path, kind):
    algo = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"] if kind == "rsa" else ["-algorithm", "ED25519"]
    subprocess.run(["openssl", "genpkey"] + algo + ["-out", path], check=True, capture_output=True)
    os.chmod(path, 0o600)
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    if kind == "ed25519":
        der = der[-32:]
    return base64.b64encode(der).decode("ascii")


def txt(text, chunk=200):
    return " ".join('"%s"' % text[i:i + chunk] for i in range(0, len(text), chunk))


def signed_message(key_pem, size):
    """A DKIM-signed message of about size octets (CRLF), as smtp-source -F wants it (LF line ends)."""
    import dkim
    head = ("From: Alice <%s>\r\nTo: <info@example.com>\r\nSubject: trust cost\r\n"
            "Date: Sun, 06 Dec 2026 12:00:00 +0000\r\nMessage-ID: <trust@sender.test>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" % b.SENDER)
    line = "x" * 76 + "\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    msg = (head + body).encode()
    sig = dkim.sign(msg, b"s1", b"sender.test", key_pem, canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return (sig + msg).replace(b"\r\n", b"\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--msgs", type=int, default=1000)
    ap.add_argument("--cases", default="20x4k1")
    ap.add_argument("--breakdown", action="store_true")
    ap.add_argument("--arc-key", choices=("rsa", "ed25519"), default="rsa")
    args = ap.parse_args()
    import dnsserver  # tests/lib; needs dnslib (python3-dnslib)
    cases = [parse_case(c) for c in args.cases.split(",")]

    tmp = os.path.join(b.WORK, "trust")
    shutil.rmtree(tmp, ignore_errors=True)
    keys = os.path.join(tmp, "dkim")
    os.makedirs(os.path.join(keys, "fwd.bench"))
    arc_pub = make_key(os.path.join(keys, "fwd.bench", "mxd.pem"), args.arc_key)
    sender_key = os.path.join(tmp, "sender.pem")
    sender_pub = make_key(sender_key, "rsa")
    with open(sender_key, "rb") as f:
        sender_pem = f.read()
    zones = ("$ORIGIN sender.test\n@ TXT \"v=spf1 ip4:127.0.0.1 -all\"\n"
             "_dmarc TXT \"v=DMARC1; p=reject\"\n"
             "s1._domainkey TXT %s\n"
             "$ORIGIN fwd.bench\nmxd._domainkey TXT %s\n"
             "$ORIGIN client.bench\n@ A 127.0.0.1\n"
             "$ORIGIN 0.0.127.in-addr.arpa\n1 PTR client.bench.\n"
             % (txt("v=DKIM1; k=rsa; p=" + sender_pub), txt("v=DKIM1; k=%s; p=%s" % (args.arc_key, arc_pub))))
    dns = dnsserver.start(zones, port=0)

    common = {"resolver": "127.0.0.1:%d" % dns.port, "dkim_key_directory": keys}
    # all load comes from 127.0.0.1: the per-client cap on SPF checks in flight (2 by default, beyond it a
    # check is a temperror at once) would skip most checks of 20 or 100 concurrent sessions
    outside = dict(common, mynetworks="127.0.0.2/32", spf_client_check_limit="10000", spf_check_limit="10000")
    setups = [("off", dict(common, spf_policy="off", dmarc_policy="off"))]
    if args.breakdown:
        setups += [("gate", dict(outside, spf_policy="off", dmarc_policy="off")),
                   ("spf", dict(outside, spf_policy="tag", dmarc_policy="off")),
                   ("dkim", dict(outside, spf_policy="tag", dmarc_policy="tag"))]
    setups += [("on", dict(outside, spf_policy="tag", dmarc_policy="tag", arc_signing_domain="fwd.bench"))]

    acct = cpuacct.Accounting(["mxd-" + n for n, _ in setups] + ["harness"])
    hx = acct.preexec("harness")
    acct.track_children("harness")
    mtas, sinks = [], []
    results = {"msgs": args.msgs, "runs": args.runs, "arc_key": args.arc_key, "cpu_accounting": acct.describe(),
               "setups": [n for n, _ in setups], "cases": {}}
    b.log("trust: setups %s, ARC key %s; CPU accounting: %s" % (", ".join(results["setups"]), args.arc_key,
                                                                acct.describe()))
    try:
        for name, settings in setups:
            sink = b.Sink(preexec=hx)
            acct.track("harness", sink.proc.pid)
            sinks.append(sink)
            mxd = b.Mxd(name="trust-" + name, relay_port=sink.port, settings=settings)
            mxd.add_forwarding()
            mtas.append((name, mxd, sink))
            mxd.start(greet_timeout=10, preexec=acct.preexec("mxd-" + name))  # pregreet pause outside mynetworks
            acct.track("mxd-" + name, mxd.pid)
        files = {}
        for case in cases:
            path = os.path.join(tmp, "msg-%d.eml" % case["size"])
            with open(path, "wb") as f:
                f.write(signed_message(sender_pem, case["size"]))
            files[case["size"]] = path
        for name, mxd, sink in mtas:  # warm-up: the pregreet pass, the DNS cache, page cache, statements
            one_run(mxd.port, sink, parse_case("20x4k1"), 200, preexec=hx, message_file=files[cases[0]["size"]])
            settle(mxd)
        results["checks_seen"] = check_log(mtas)
        for case in cases:
            r = {name: [] for name, _, _ in mtas}
            cpu = {name: [] for name, _, _ in mtas}
            for i in range(args.runs):
                for name, mxd, sink in mtas:
                    s0 = acct.snapshot()
                    rate, _ = one_run(mxd.port, sink, case, args.msgs, preexec=hx, message_file=files[case["size"]])
                    settle(mxd)
                    d = acct.delta(s0, acct.snapshot())
                    per = d["mxd-" + name]["usage_ms"] / args.msgs if rate else None
                    r[name].append(rate)
                    cpu[name].append(per)
                    b.log("  %s run %d %-5s %s msgs/s, mxd CPU %s ms/msg" % (
                        case["name"], i + 1, name, "%.0f" % rate if rate else "FAIL", "%.3f" % per if per else "-"))
            c = {"msgs_per_s": {n: b.summarize(v) for n, v in r.items()},
                 "cpu_ms_per_msg": {n: b.summarize(v) for n, v in cpu.items()}}
            off = c["msgs_per_s"]["off"]["median"]
            c["ratio"] = {n: (round(c["msgs_per_s"][n]["median"] / off, 3)
                              if off and c["msgs_per_s"][n]["median"] else None) for n in r}
            results["cases"][case["name"]] = c
            b.save("trust", results)
    finally:
        for _, mxd, _ in mtas:
            mxd.cleanup()
        for sink in sinks:
            sink.stop()
        dns.stop()
        acct.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(results)


def check_log(mtas):
    """What each mxd's log says it checked in the warm-up: counts of spf=, dkim=, dmarc=, arc= verdicts
    found in its mail.log lines, and whether it seals with ARC (proof that "on" did the work; "off" should
    have none)."""
    import re
    seen = {}
    for name, mxd, _ in mtas:
        counts = {}
        try:
            with open(mxd.log, errors="replace") as f:
                for line in f:
                    for m in re.finditer(r"\b(spf|dkim|dmarc|arc)=(\w+)", line, re.I):
                        k = "%s=%s" % (m.group(1).lower(), m.group(2).lower())
                        counts[k] = counts.get(k, 0) + 1
                    if "ARC sealing as d=" in line:
                        counts["ARC sealing on"] = 1
                    elif "ARC sealing off" in line:
                        counts["ARC sealing off"] = 1
                    elif "ARC seal not added" in line:
                        counts["ARC seal not added"] = counts.get("ARC seal not added", 0) + 1
        except OSError:
            pass
        seen[name] = counts
    return seen


def print_table(results):
    print("\ntrust cost (ARC key %s): msgs/s and mxd CPU ms/msg, median of %d runs of %d messages; ratio to off"
          % (results["arc_key"], results["runs"], results["msgs"]))
    for cname, c in results["cases"].items():
        for n in results["setups"]:
            m = c["msgs_per_s"][n]["median"]
            cp = c["cpu_ms_per_msg"][n]["median"]
            print("%-8s %-5s %8s msgs/s  %8s ms/msg  ratio %s" % (cname, n, "%.0f" % m if m else "-",
                                                                  "%.3f" % cp if cp else "-",
                                                                  c["ratio"][n] if c["ratio"][n] else "-"))
    for n, counts in results.get("checks_seen", {}).items():
        print("log of %-5s %s" % (n, ", ".join("%s %d" % kv for kv in sorted(counts.items())) or "(no verdicts)"))


if __name__ == "__main__":
    main()
