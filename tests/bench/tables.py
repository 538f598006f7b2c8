"""Tables: 1,000,000 aliases in 10,000 domains, made by one SQL script through the sqlite3 CLI into the
database that "mxctl init" created (columns and CHECKs of db/db_schema.c: lower-case keys, the alias's
domain is the address's domain, created/modified times). Then:

* lookups/s through db_resolve() and expand_recipient() (lookup.c, linked against the build's
  libmxdb.a/libmxd_rewrite.a), plus a rough Python sqlite3 loop of the same primary-key probe;
* mxd's start time with that database: from exec until the SMTP port answers (median of --starts).

    tables.py [--aliases 1000000] [--domains 10000] [--seconds 3] [--starts 3]

RESULTS/tables.json.
"""
import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import time

import benchlib as b

LOOKUP = os.environ.get("MXD_BENCH_LOOKUP", os.path.join(b.WORK, "bin", "lookup"))

SQL = """\
PRAGMA foreign_keys = ON;
BEGIN;
WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < {nd} - 1)
INSERT INTO domains(name, description, active, alias_limit, created, modified)
  SELECT 'd' || i || '.bench', '', 1, 0, {now}, {now} FROM d;
WITH RECURSIVE a(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM a WHERE i < {na} - 1)
INSERT INTO aliases(address, domain, destinations, active, created, modified)
  SELECT 'user' || i || '@d' || (i % {nd}) || '.bench', 'd' || (i % {nd}) || '.bench',
         'fwd' || i || '@gmail.test', 1, {now}, {now} FROM a;
COMMIT;
"""


def python_probe(db, naliases, ndomains, seconds):
    """A rough check without mxd's code: the alias primary-key probe from Python's sqlite3."""
    c = sqlite3.connect(db)
    keys = []
    for _ in range(20000):
        k = random.randrange(naliases)
        keys.append("user%d@d%d.bench" % (k, k % ndomains))
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        for a in keys[:1000]:
            c.execute("SELECT destinations FROM aliases WHERE address = ? AND active = 1", (a,)).fetchone()
        keys = keys[1000:] + keys[:1000]
        n += 1000
    c.close()
    return n / (time.monotonic() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--aliases", type=int, default=1000000)
    ap.add_argument("--domains", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=2)
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the lookup program (medians)")
    args = ap.parse_args()
    res = {"aliases": args.aliases, "domains": args.domains}

    m = b.Mxd(name="mxd-tables")
    m.add_forwarding()
    t0 = time.monotonic()
    r = subprocess.run(["sqlite3", m.db], input=SQL.format(na=args.aliases, nd=args.domains, now=int(time.time())),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("sqlite3: %s" % r.stderr)
    res["load_s"] = round(time.monotonic() - t0, 2)
    c = sqlite3.connect(m.db)
    count = c.execute("SELECT count(*) FROM aliases").fetchone()[0]
    c.close()
    res["db_mib"] = round(os.path.getsize(m.db) / 1048576, 1)
    b.log("tables: %d aliases loaded in %.1fs, database %.0f MiB" % (count, res["load_s"], res["db_mib"]))
    # the resolver agrees with what was loaded
    out = m.mxctl("resolve", "user4242@d4242.bench")
    if "fwd4242@gmail.test" not in out:
        raise SystemExit("mxctl resolve did not find the alias: %s" % out)

    os.sync()  # the load's write-back must not run under the measurement
    time.sleep(2)
    runs = []
    for _ in range(args.repeat):
        r = subprocess.run([LOOKUP, m.db, str(args.aliases), str(args.domains), str(args.seconds)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise SystemExit("lookup: %s" % r.stderr)
        runs.append(json.loads(r.stdout))
    # each figure: the median of the repeats (runs keeps them all)
    res["lookup"] = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
    res["lookup_runs"] = runs
    # what-if: SQLite's own page cache at 256 MiB (db_open leaves it at the default and maps the file)
    runs = []
    for _ in range(args.repeat):
        r = subprocess.run([LOOKUP, m.db, str(args.aliases), str(args.domains), str(args.seconds),
                            "PRAGMA cache_size = -262144"], capture_output=True, text=True, timeout=600)
        if r.returncode == 0:
            runs.append(json.loads(r.stdout))
    if runs:
        res["lookup_mmap"] = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
    res["python_probe_per_s"] = round(python_probe(m.db, args.aliases, args.domains, args.seconds))
    b.log("lookups/s (median of %d), cache off: db_resolve hit %%(hit_per_s).0f, +tag %%(tagged_hit_per_s).0f, "
          "unknown user %%(unknown_user_per_s).0f, unknown domain %%(unknown_domain_per_s).0f, "
          "expand_recipient %%(expand_per_s).0f, resolve+expand (RCPT) %%(rcpt_per_s).0f, the same in one "
          "transaction %%(rcpt_one_txn_per_s).0f; cache on: 10,000 recipients seen again "
          "%%(cached_repeat_per_s).0f, RCPT %%(cached_rcpt_per_s).0f" % args.repeat % res["lookup"])
    if "lookup_mmap" in res:
        b.log("what-if PRAGMA cache_size = 256 MiB: db_resolve hit %(hit_per_s).0f/s, RCPT %(rcpt_per_s).0f/s"
              % res["lookup_mmap"])
    b.log("python sqlite3 primary-key probe: %d/s" % res["python_probe_per_s"])

    # start time: cold (page cache dropped, where allowed) and warm
    starts = []
    for i in range(args.starts):
        took = m.start()
        starts.append(round(took, 3))
        m.stop()
    res["start_s"] = b.summarize(starts)
    cold = None
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            os.sync()
            f.write("3\n")
        cold = round(m.start(), 3)
        m.stop()
    except OSError:
        pass
    res["start_cold_s"] = cold
    b.log("mxd start with %d aliases: median %.3fs (%s), cold cache %s" % (
        args.aliases, res["start_s"]["median"], starts, "%.3fs" % cold if cold is not None else "n/a"))
    m.cleanup()
    b.save("tables", res)


if __name__ == "__main__":
    main()
