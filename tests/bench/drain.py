"""Drain: a secondary MX (role = secondary, primary_hosts = [127.0.0.1]:PORT, primary_probe_interval = 10s)
accepts N messages while nothing listens on the primary's port, so it holds them all (deferred). Then the
primary comes back (an smtp-sink on that port) and we time, from that moment, the first delivery and
the last one. The primary returns at an arbitrary point of the probe cycle, so the time to the first
delivery is up to one probe interval plus the flush.

    drain.py [--msgs 10000] [--size 4096] [--probe 10s]

RESULTS/drain.json.
"""
import argparse
import os
import sqlite3
import time

import benchlib as b


def deferred_count(queue_db):
    c = sqlite3.connect(queue_db, timeout=30)
    try:
        return c.execute("SELECT count(*) FROM recipients WHERE state = 1").fetchone()[0]
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--msgs", type=int, default=10000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--probe", default="10s")
    ap.add_argument("--hold-timeout", type=float, default=180, help="seconds to wait for all to be deferred")
    ap.add_argument("--drain-timeout", type=float, default=240, help="seconds to wait for all to arrive")
    args = ap.parse_args()
    res = {"msgs": args.msgs, "size": args.size, "primary_probe_interval": args.probe}

    primary_port = b.free_port()
    m = b.Mxd(name="mxd-secondary", settings={
        "role": "secondary",
        "myhostname": "mx2.example.com",
        "primary_hosts": "[127.0.0.1]:%d" % primary_port,
        "primary_probe_interval": args.probe,
    })
    m.add_forwarding()
    # what the replication client records after each pull: a fresh replica
    c = sqlite3.connect(m.db)
    c.execute("CREATE TABLE IF NOT EXISTS sync_state(key TEXT PRIMARY KEY, value TEXT)")
    c.execute("INSERT OR REPLACE INTO sync_state(key, value) VALUES ('last_sync', ?)", (str(int(time.time())),))
    c.commit()
    c.close()
    m.start()
    sink = None
    try:
        t0 = time.monotonic()
        rc, err = b.source(m.port, args.msgs, 20, args.size, 1)
        res["accept_s"] = round(time.monotonic() - t0, 2)
        if rc != 0:
            raise SystemExit("smtp-source: %s" % err)
        queue_db = os.path.join(m.queue, "queue.db")
        # the first delivery attempt of each message fails (connection refused) and defers it
        deadline = time.monotonic() + args.hold_timeout
        while time.monotonic() < deadline:
            res["deferred"] = deferred_count(queue_db)
            if res["deferred"] >= args.msgs:
                break
            time.sleep(0.5)
        res["all_deferred_s"] = round(time.monotonic() - t0, 2) if res["deferred"] >= args.msgs else None
        b.log("secondary holds %d messages (accepted in %.1fs); %d deferred after %.1fs"
              % (m.queue_count(), res["accept_s"], res["deferred"], time.monotonic() - t0))
        time.sleep(2)

        sink = b.Sink(port=primary_port)  # the primary is back
        t_back = time.monotonic()
        t_first = sink.wait(1, 120, step=0.005)
        t_all = sink.wait(args.msgs, args.drain_timeout, step=0.05)
        res["first_delivery_s"] = round(t_first - t_back, 2) if t_first else None
        res["all_delivered_s"] = round(t_all - t_back, 2) if t_all else None
        if t_first:
            got = sink.count()
            res["drain_msgs_per_s"] = round(got / ((t_all or time.monotonic()) - t_first))
        res["delivered"] = sink.count()
        res["delivered_s"] = round(time.monotonic() - t_back, 2)
        b.log("primary back: first delivery after %ss; %d of %d delivered after %ss, all: %s (%s msgs/s once started)"
              % (res["first_delivery_s"], res["delivered"], args.msgs, res["delivered_s"],
                 "%ss" % res["all_delivered_s"] if t_all else "no", res.get("drain_msgs_per_s")))
    finally:
        m.stop()
        if sink is not None:
            sink.stop()
    m.cleanup()
    b.save("drain", res)


if __name__ == "__main__":
    main()
