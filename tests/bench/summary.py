"""Print the summary table of the last run (RESULTS/*.json) with pass/fail against the targets."""
import benchlib as b


def med(s):
    return None if s is None else s.get("median")


def verdict(ok):
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def throughput_goal(r):
    """Issue #18: 4 KB with one recipient >= 10x Postfix, 100 KB >= 5x; other cases the first target, 2x."""
    if r.get("rcpts") == 1 and r.get("size") == 4 * 1024:
        return 10
    if r.get("rcpts") == 1 and r.get("size") == 100 * 1024:
        return 5
    return 2


def cpu_goal(r):
    """Issue #18: mxd CPU per message <= 0.3 ms at 4 KB, 0.8 ms at 100 KB (one recipient)."""
    if r.get("rcpts") != 1:
        return None
    return {4 * 1024: 0.3, 100 * 1024: 0.8}.get(r.get("size"))


def ms(v):
    return "-" if v is None else "%.3f" % v


def num(v):
    return "-" if v is None else "%.0f" % v


def mib(kib):
    return "-" if kib is None else "%.1f" % (kib / 1024.0)


def main():
    rows = []
    tp = b.load("throughput")
    if tp:
        for name, r in tp["cases"].items():
            m, p, c = med(r["mxd"]), med(r["postfix"]), med(r["ceiling"])
            ratio = m / p if m and p else None
            goal = throughput_goal(r)
            rows.append(("throughput %s (sessions x KB x rcpts)" % name,
                         "mxd %s, postfix %s msgs/s (%s); harness ceiling %s" % (
                             "%.0f" % m if m else "-", "%.0f" % p if p else "-",
                             "%.2fx" % ratio if ratio else "-", "%.0f" % c if c else "-"),
                         ">= %dx postfix" % goal, verdict(None if ratio is None else ratio >= goal)))
        for name, r in tp["cases"].items():
            cpu = r.get("cpu_ms_per_msg")
            if not cpu:
                continue
            cm, cp, ch = med(cpu.get("mxd")), med(cpu.get("postfix")), med(cpu.get("harness"))
            goal = cpu_goal(r)
            rows.append(("CPU per message %s (accept, fsync, forward)" % name,
                         "mxd %s ms, postfix %s ms (all its processes); harness %s ms (ceiling runs)%s" % (
                             ms(cm), ms(cp), ms(ch), "" if tp.get("cpu_accounting", "").startswith("cgroup2")
                             else " [/proc fallback]"),
                         "mxd <= %.1f ms" % goal if goal else "(reference)",
                         verdict(None if goal is None or cm is None else cm <= goal)))
    dm = b.load("datamem")
    if dm:
        n, size = dm["sessions"], dm["size"]
        what = "%s sessions x %s octets in DATA at once" % (format(n, ","), format(size, ","))
        stopped = " STOPPED at the %d MiB cap (%s)" % (dm["rss_cap_kib"] // 1024, dm["aborted"]) if dm.get("aborted") else ""
        rows.append(("memory of a session in DATA (%s)" % what,
                     "%.1f KiB per session%s (RSS before %s, peak in DATA %s, peak %s %s, after %s MiB)" % (
                         dm["kib_per_session_data"], " (extrapolated)" if dm.get("kib_per_session_data_extrapolated") else "",
                         mib(dm["rss_before_kib"]), mib(dm["peak_data_kib"]),
                         "after the stop" if dm.get("aborted") else "in commit", mib(dm["peak_commit_kib"]),
                         mib(dm["rss_after_kib"])),
                     "<= 256 KiB per session", verdict(not dm.get("aborted") and dm["kib_per_session_data"] <= 256)))
        full = n >= 1000 and size >= 10 * 1000 * 1000
        rows.append(("mxd RSS peak, %s" % what,
                     "%s MiB, %d of %d got 250%s" % (mib(dm["peak_kib"]), dm["accepted"], n, stopped),
                     "< 512 MiB, all 250" + ("" if full else " (#18: 1,000 x 10 MB)"),
                     verdict(not dm.get("aborted") and dm["peak_kib"] < 512 * 1024 and dm["accepted"] == n)))
    tr = b.load("trust")
    if tr:
        for cname, c in tr["cases"].items():
            rate, cpu, ratio = c["msgs_per_s"], c["cpu_ms_per_msg"], c["ratio"]
            steps = [n for n in tr["setups"] if n not in ("off", "on")]
            rows.append(("trust on vs off, %s (SPF, DKIM+DMARC, ARC seal %s; no milter)" % (cname, tr["arc_key"]),
                         "on %s / off %s msgs/s (%s); mxd CPU on %s / off %s ms/msg%s" % (
                             num(med(rate["on"])), num(med(rate["off"])),
                             "%.2f" % ratio["on"] if ratio["on"] else "-", ms(med(cpu["on"])), ms(med(cpu["off"])),
                             "; steps: " + ", ".join("%s %s (%s ms)" % (n, "%.2f" % ratio[n] if ratio[n] else "-",
                                                                        ms(med(cpu[n]))) for n in steps)
                             if steps else ""),
                         ">= 0.85 of off", verdict(None if not ratio["on"] else ratio["on"] >= 0.85)))
    lat = b.load("latency")
    if lat:
        for k, case in lat["cases"].items():
            m, p = med(case["mxd"]["p99_ms"]), med(case["postfix"]["p99_ms"])
            m50, p50 = med(case["mxd"]["p50_ms"]), med(case["postfix"]["p50_ms"])
            rows.append(("accept latency, %s connections" % k,
                         "p50 mxd %.1f / postfix %.1f ms; p99 mxd %.1f / postfix %.1f ms" % (m50, p50, m, p)
                         if None not in (m, p, m50, p50) else "-",
                         "p99 <= postfix", verdict(None if None in (m, p) else m <= p)))
    mem = b.load("memory")
    if mem:
        for n, r in mem["mxd"].items():
            rows.append(("memory, %s idle connections (mxd)" % n, "%.1f KiB per connection (RSS %d -> %d KiB)"
                         % (r["kib_per_conn"], r["rss_before_kib"], r["rss_after_kib"]),
                         "<= 64 KiB" + (", all held" if n == "10000" else ""), verdict(r["kib_per_conn"] <= 64)))
        for n, r in mem["postfix"].items():
            rows.append(("memory, %s idle connections (postfix)" % n,
                         "%.0f KiB RSS per smtpd (%.0f KiB PSS), %d smtpd" % (
                             r["kib_per_smtpd_rss"], r["kib_per_smtpd_pss"], r["smtpd_processes"]), "(reference)", "-"))
        for chk in mem.get("mxd_nofile", []):
            rows.append(("RLIMIT_NOFILE raised by mxd (smtpd_connection_limit %s)"
                         % chk["settings"]["smtpd_connection_limit"],
                         "soft %d -> %d (hard %d)" % (chk["started_with"][0], chk["soft_after_start"],
                                                      chk["hard_after_start"]),
                         "raises itself", verdict(chk["raises_itself"])))
    tb = b.load("tables")
    if tb:
        lk = tb["lookup"]
        rows.append(("alias lookups/s, %d aliases, uncached (db_resolve, hits)" % tb["aliases"],
                     "%.0f/s (unknown user %.0f, unknown domain %.0f; resolve+expand per RCPT %.0f)" % (
                         lk["hit_per_s"], lk["unknown_user_per_s"], lk["unknown_domain_per_s"], lk["rcpt_per_s"]),
                     ">= 100,000/s", verdict(lk["hit_per_s"] >= 100000)))
        if "cached_repeat_per_s" in lk:
            rows.append(("alias lookups/s, %d aliases, as mxd runs (cache on)" % tb["aliases"],
                         "%.0f/s for 10,000 recipients seen again; per RCPT of random addresses %.0f" % (
                             lk["cached_repeat_per_s"], lk["cached_rcpt_per_s"]),
                         ">= 100,000/s", verdict(lk["cached_repeat_per_s"] >= 100000)))
        rows.append(("mxd start with %d aliases, warm cache" % tb["aliases"], "%.3f s" % med(tb["start_s"]),
                     "< 1 s", verdict(med(tb["start_s"]) < 1)))
        cold = tb.get("start_cold_s")
        rows.append(("mxd start with %d aliases, cold cache" % tb["aliases"],
                     "%.3f s" % cold if cold is not None else "n/a (drop_caches not allowed)",
                     "< 1 s", verdict(None if cold is None else cold < 1)))
    dr = b.load("drain")
    if dr:
        f, a = dr.get("first_delivery_s"), dr.get("all_delivered_s")
        rows.append(("drain of %d held messages" % dr["msgs"],
                     "first delivery after %s s, all after %s s (%s msgs/s)" % (f, a, dr.get("drain_msgs_per_s")),
                     "first < 10 s", verdict(None if f is None else f < 10)))
    arc = b.load("arc")
    if arc:
        for c in arc["cases"]:
            rows.append(("ARC at the end of DATA, %s key, %d KB message" % (c["key"], c["size"] // 1024),
                         "seal %.0f us (%.0f msgs/s a core), validate an i=1 chain %.0f us; DKIM-signed DSN "
                         "%.0f us" % (c["seal_us"], c["seal_per_s"], c["validate_us"], c["dkim_sign_us"]),
                         "(reference: off the loop)", "-"))
    if not rows:
        print("summary: no results in %s" % b.RESULTS)
        return
    rows = [("figure", "measured (medians)", "target", "result")] + rows
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    line = "+" + "+".join("-" * (x + 2) for x in w) + "+"
    meta = b.load("meta")
    if meta:
        print("\nmxd %s, Postfix %s, %s cores, niceness %s, load average before %s" % (
            meta["mxd"], meta["postfix"], meta["nproc"], meta["nice"],
            " ".join("%.1f" % x for x in meta["loadavg_before"])))
    print(line)
    for i, r in enumerate(rows):
        print("| " + " | ".join(r[j].ljust(w[j]) for j in range(4)) + " |")
        if i == 0:
            print(line)
    print(line)


if __name__ == "__main__":
    main()
