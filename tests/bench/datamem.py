"""Memory of sessions in DATA: N sessions each send an M-octet message to mxd at once; mxd's RSS is sampled
(/proc/PID/status VmRSS and VmHWM, every --interval s, default 0.05) while they do.

Each client (asyncio, one socket per session, the message streamed from one fixed buffer of 76-octet
lines, so the sender holds no copy per session) connects, EHLO, MAIL, RCPT, DATA, sends the whole content
but the final ".\\r\\n" and waits at a barrier. Once every session is there (plus --settle s for mxd to read
what the socket buffers still hold), the peak "in DATA" is taken, then every session sends its dot at once
and waits for the reply ("commit": end of DATA, checks, the fsync, 250). VmHWM is reset (clear_refs 5)
at the start of each phase, so the peaks are the kernel's, not only what the sampler saw.

    datamem.py [--sessions 1000] [--size 10M] [--interval 0.05] [--rss-cap 2048]
    datamem.py --quick            # --sessions 100 --size 1M

Reports: RSS before, peak while all sessions are in DATA, peak during the commit, after (every reply in,
2 s later); KiB per session in DATA = (peak in DATA - before) / N; how many sessions got 250. mxd is in
mynetworks (no checks), relays to a port where nothing listens (the messages stay queued: no delivery
work meanwhile), message_size_limit above M. --rss-cap MiB (default 2048, four times the goal): if mxd's
RSS passes it the run stops there (the clients hang up) and the figures are those at the stop, marked
aborted (KiB per session then extrapolated: RSS growth per octet mxd had read, /proc/PID/io rchar), so that a build that holds every message in memory does not take a shared machine's memory
(1,000 x 10 MB is 10 GB). Results: RESULTS/datamem.json.
"""
import argparse
import asyncio
import os
import resource
import threading
import time

import benchlib as b

LINE = b"x" * 76 + b"\r\n"
CHUNK = LINE * 840  # 65,520 octets of whole lines


def parse_size(text):
    t = text.strip().lower()
    mult = 1
    for suffix, m in (("kib", 1024), ("mib", 1024 ** 2), ("k", 1000), ("m", 1000 ** 2), ("g", 1000 ** 3)):
        if t.endswith(suffix):
            t, mult = t[:-len(suffix)], m
            break
    return int(float(t) * mult)


def status(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def rchar(pid):
    """Octets mxd has read through read()/recv() so far (/proc/PID/io rchar): in DATA, mostly the content."""
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_hwm(pid):
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Sampler(threading.Thread):
    def __init__(self, pid, interval, cap_kib, on_cap):
        super().__init__(daemon=True)
        self.pid, self.interval, self.cap_kib, self.on_cap = pid, interval, cap_kib, on_cap
        self.phase = "idle"
        self.peak = {}
        self.samples = 0
        self.stop_flag = False
        self.last = 0

    def run(self):
        while not self.stop_flag:
            rss, _ = status(self.pid)
            self.last = rss
            self.samples += 1
            if rss > self.peak.get(self.phase, 0):
                self.peak[self.phase] = rss
            if self.cap_kib and rss > self.cap_kib:
                self.on_cap(rss)
            time.sleep(self.interval)


class Run:
    def __init__(self, port, n, size, settle):
        self.port, self.n, self.size, self.settle = port, n, size, settle
        self.ready = 0
        self.failed = 0
        self.stopped = 0
        self.sent = 0
        self.codes = {}
        self.aborted = False
        self.release = None
        self.all_ready = None

    async def reply(self, reader):
        lines = []
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("connection closed")
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), lines

    async def session(self, i, header):
        writer = None
        counted = False
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 16)
            await self.reply(reader)
            for cmd, want in ((b"EHLO client%d.bench\r\n" % i, 250), (b"MAIL FROM:<%s>\r\n" % b.SENDER.encode(), 250),
                              (b"RCPT TO:<info@example.com>\r\n", 250), (b"DATA\r\n", 354)):
                writer.write(cmd)
                code, lines = await self.reply(reader)
                if code != want:
                    raise ConnectionError("%s -> %s" % (cmd.strip().decode(), lines[-1].strip().decode()))
            writer.write(header)
            lines = max(1, (self.size - len(header)) // len(LINE))  # whole 78-octet lines
            per = len(CHUNK) // len(LINE)
            view = memoryview(CHUNK)
            while lines > 0 and not self.aborted:
                k = min(lines, per)
                writer.write(view[:k * len(LINE)])
                self.sent += k * len(LINE)
                lines -= k
                await writer.drain()
            if lines > 0:  # stopped at the cap before all the content was sent
                self.stopped += 1
            else:
                self.ready += 1
            counted = True
            if self.ready + self.failed + self.stopped >= self.n:
                self.all_ready.set()
            await self.release.wait()
            if self.aborted:
                return
            writer.write(b".\r\n")
            code, _ = await self.reply(reader)
            self.codes[code] = self.codes.get(code, 0) + 1
            writer.write(b"QUIT\r\n")
            await writer.drain()
        except (OSError, ConnectionError, asyncio.IncompleteReadError) as e:
            if not counted:
                self.failed += 1
                if self.ready + self.failed + self.stopped >= self.n:
                    self.all_ready.set()
            self.codes[str(e)[:60]] = self.codes.get(str(e)[:60], 0) + 1
        finally:
            if writer is not None:
                writer.close()


async def drive(run, sampler, pid, results):
    run.release = asyncio.Event()
    run.all_ready = asyncio.Event()
    header = ("From: <%s>\r\nTo: <info@example.com>\r\nSubject: datamem\r\nMessage-ID: <%%d@sender.test>\r\n\r\n"
              % b.SENDER).encode()
    loop = asyncio.get_running_loop()

    def abort(rss):
        if not run.aborted:
            run.aborted = True
            results["aborted"] = "mxd RSS %d KiB passed the cap in phase %s" % (rss, sampler.phase)
            loop.call_soon_threadsafe(run.all_ready.set)
            loop.call_soon_threadsafe(run.release.set)
    sampler.on_cap = abort
    reset_hwm(pid)
    read0 = rchar(pid)
    sampler.phase = "data"
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(run.session(i, header % i)) for i in range(run.n)]
    await run.all_ready.wait()
    results["all_in_data_s"] = round(time.monotonic() - t0, 2)
    if not run.aborted:
        await asyncio.sleep(run.settle)
    rss, hwm = status(pid)
    results["peak_data_kib"] = max(hwm, sampler.peak.get("data", 0), rss)
    results["rss_at_barrier_kib"] = rss
    results["sent_bytes_at_barrier"] = run.sent
    read1 = rchar(pid)
    results["mxd_read_bytes_at_barrier"] = read1 - read0 if None not in (read0, read1) else None
    reset_hwm(pid)
    sampler.phase = "commit"
    t1 = time.monotonic()
    run.release.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    results["commit_s"] = round(time.monotonic() - t1, 2)
    rss, hwm = status(pid)
    results["peak_commit_kib"] = max(hwm, sampler.peak.get("commit", 0), rss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--size", default="10M", help="message size: 10M = 10,000,000 octets (k, M, G; KiB, MiB)")
    ap.add_argument("--quick", action="store_true", help="--sessions 100 --size 1M")
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--rss-cap", type=int, default=2048, help="MiB; stop the run beyond (0: no cap)")
    ap.add_argument("--name", default="datamem")
    args = ap.parse_args()
    if args.quick:
        args.sessions, args.size = 100, "1M"
    size = parse_size(args.size)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.sessions + 200
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, soft), hard), hard))
        except (ValueError, OSError):
            pass
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < want:
        raise SystemExit("datamem: RLIMIT_NOFILE %d < %d: raise ulimit -n" % (
            resource.getrlimit(resource.RLIMIT_NOFILE)[0], want))
    mxd = b.Mxd(name="datamem", relay_port=b.free_port(), settings={
        "message_size_limit": str(size + size // 10 + 65536),
        "queue_run_delay": "1h", "minimal_backoff_time": "1h", "maximal_backoff_time": "2h"})
    mxd.add_forwarding()
    results = {"sessions": args.sessions, "size": size, "interval_s": args.interval,
               "rss_cap_kib": args.rss_cap * 1024}
    sampler = None
    try:
        mxd.start()
        time.sleep(1.0)
        pid = mxd.pid
        results["rss_before_kib"] = status(pid)[0]
        b.log("datamem: %d sessions x %d octets; mxd RSS before %d KiB" % (args.sessions, size,
                                                                           results["rss_before_kib"]))
        sampler = Sampler(pid, args.interval, args.rss_cap * 1024, lambda rss: None)
        run = Run(mxd.port, args.sessions, size, args.settle)
        sampler.start()
        asyncio.run(drive(run, sampler, pid, results))
        sampler.phase = "after"
        time.sleep(2.0)
        sampler.stop_flag = True
        sampler.join()
        results["rss_after_kib"] = status(pid)[0]
        results["samples"] = sampler.samples
        results["in_data"] = run.ready
        results["replies"] = {str(k): v for k, v in run.codes.items()}
        results["accepted"] = run.codes.get(250, 0)
        results["kib_per_session_data"] = round((results["peak_data_kib"] - results["rss_before_kib"])
                                                / args.sessions, 1)
        results["peak_after_kib"] = max(sampler.peak.get("after", 0), results["rss_after_kib"])
        results["peak_kib"] = max(results["peak_data_kib"], results["peak_commit_kib"], results["peak_after_kib"])
        results.setdefault("aborted", None)
        got = results["mxd_read_bytes_at_barrier"] or results["sent_bytes_at_barrier"]
        if results["aborted"] and got:
            # stopped part-way: what each session would hold in DATA at this rate of RSS per octet mxd read
            # (what the clients sent, less what the sockets' buffers still held: /proc/PID/io rchar)
            results["kib_per_session_data"] = round((results["peak_data_kib"] - results["rss_before_kib"])
                                                    * size / got, 1)
            results["kib_per_session_data_extrapolated"] = True
        try:
            results["queued"] = mxd.queue_count()
        except Exception:  # noqa: BLE001 - a figure, not a check
            results["queued"] = None
    finally:
        if sampler is not None:
            sampler.stop_flag = True
        mxd.cleanup()
    b.save(args.name, results)
    r = results
    print("datamem: %d sessions x %s octets%s" % (r["sessions"], format(r["size"], ","),
                                                  ("  ABORTED: " + r["aborted"]) if r["aborted"] else ""))
    print("  mxd RSS before %d KiB; peak in DATA %d KiB (%d in DATA after %.1f s, %.0f MB sent, %s MB read by mxd); peak %s "
          "%d KiB (%.1f s); after %d KiB" % (r["rss_before_kib"], r["peak_data_kib"], r["in_data"],
                                            r["all_in_data_s"], r["sent_bytes_at_barrier"] / 1e6,
                                            "%.0f" % (r["mxd_read_bytes_at_barrier"] / 1e6)
                                            if r["mxd_read_bytes_at_barrier"] is not None else "?",
                                            "after the stop" if r["aborted"] else "in commit",
                                            r["peak_commit_kib"], r["commit_s"], r["rss_after_kib"]))
    print("  %.1f KiB per session in DATA%s; %d of %d got 250 (replies %s)" % (
        r["kib_per_session_data"], " (extrapolated from the octets mxd read before the stop)"
        if r.get("kib_per_session_data_extrapolated") else "", r["accepted"], r["sessions"], r["replies"]))


if __name__ == "__main__":
    main()
