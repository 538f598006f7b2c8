#!/bin/sh
# mxd against Postfix on this machine: builds mxd in release mode into a build dir of its own, installs
# Debian's Postfix (its own instance on other loopback ports, durable defaults kept), runs the
# benchmarks and prints a summary table. Not part of CI: it prints figures, it asserts nothing.
#
#   sh tests/bench/run.sh                         # everything (about 10 minutes on 2 cores, 13 with RUNS=5)
#   sh tests/bench/run.sh throughput latency      # some pieces: throughput latency memory datamem trust tables drain gate arc milter
#
# Environment: RUNS (3), MSGS (2000), CASES (throughput cases, see throughput.py), DRAIN_MSGS (10000),
# DATAMEM_SESSIONS (1000), DATAMEM_SIZE (10M; datamem.py), DATAMEM_CAP (2048 MiB: a run whose mxd passes it
# stops there), TRUST_CASES (20x4k1), TRUST_ARGS (--breakdown; e.g. "--arc-key ed25519"),
# ALIASES (1000000), MXD_BENCH_BUILD (build-bench), MXD_BENCH_WORK (/tmp/mxd-bench),
# MXD_BENCH_REF (build this git ref, e.g. HEAD, from a "git archive" snapshot instead of the work tree),
# BENCH_NICE (e.g. -10: run everything, both MTAs alike, at that niceness on a shared machine),
# MXD_BENCH_BASELINE (milter: the build dir of an mxd from before the milters, for the "no milter" cost).
# Run as root (Postfix, smtp-sink -u nobody, drop_caches); everything stays on 127.0.0.1.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export MXD_BENCH_BUILD="${MXD_BENCH_BUILD:-$repo/build-bench}"
export MXD_BENCH_WORK="${MXD_BENCH_WORK:-/tmp/mxd-bench}"
export MXD_BENCH_RESULTS="${MXD_BENCH_RESULTS:-$MXD_BENCH_WORK/results}"
RUNS="${RUNS:-3}"
MSGS="${MSGS:-2000}"
DRAIN_MSGS="${DRAIN_MSGS:-10000}"
ALIASES="${ALIASES:-1000000}"
py=/usr/bin/python3

pieces="$*"
[ -n "$pieces" ] || pieces="throughput latency memory datamem trust tables drain arc"

if [ "$(id -u)" != 0 ]; then
	echo "run.sh: run as root (Postfix instance, smtp-sink -u nobody)" >&2
	exit 1
fi

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# 1. packages: Postfix (smtp-source, smtp-sink) and what the build needs
need=""
[ -x /usr/sbin/smtp-source ] || need="$need postfix"
/usr/bin/python3 -c 'import dkim' 2>/dev/null || need="$need python3-dkim"      # trust.py: signed messages
/usr/bin/python3 -c 'import dnslib' 2>/dev/null || need="$need python3-dnslib"  # trust.py: tests/lib/dnsserver.py
command -v sqlite3 >/dev/null || need="$need sqlite3"
command -v cmake >/dev/null || need="$need cmake"
if [ -n "$need" ]; then
	log "installing:$need"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
sh "$repo/deploy/install-deps.sh" >/dev/null 2>&1 || true
# Debian's own Postfix instance is not used; stop it if the package started it.
postfix status >/dev/null 2>&1 && postfix stop >/dev/null 2>&1 || true

# 2. mxd in release mode (no sanitizers, no tests), and the C helpers
src="$repo"
if [ -n "${MXD_BENCH_REF:-}" ]; then
	src="$MXD_BENCH_WORK/src"
	rm -rf "$src" && mkdir -p "$src"
	git -C "$repo" archive "$MXD_BENCH_REF" | tar -x -C "$src"
fi
desc=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
[ -n "${MXD_BENCH_REF:-}" ] && desc=$(git -C "$repo" rev-parse --short "$MXD_BENCH_REF")
log "building mxd $desc (Release) in $MXD_BENCH_BUILD"
# -DMXD_WERROR=OFF: -O3 reports maybe-uninitialized warnings that the Debug/ASan builds do not
cmake -S "$src" -B "$MXD_BENCH_BUILD" -DCMAKE_BUILD_TYPE=Release -DMXD_TESTS=OFF -DMXD_WERROR=OFF >/dev/null
cmake --build "$MXD_BENCH_BUILD" -j "$(nproc)" >/dev/null
mkdir -p "$MXD_BENCH_WORK/bin" "$MXD_BENCH_RESULTS"
cc -O2 -Wall -Wextra -pthread -o "$MXD_BENCH_WORK/bin/acceptlat" "$here/acceptlat.c"
cc -O2 -Wall -Wextra -D_GNU_SOURCE -I "$src" -I "$MXD_BENCH_BUILD/include/mxd_rewrite" -I "$MXD_BENCH_BUILD/include/mxdb" -I "$MXD_BENCH_BUILD/include/mxd_common" -o "$MXD_BENCH_WORK/bin/lookup" "$here/lookup.c" \
	"$MXD_BENCH_BUILD/lib/libmxd_rewrite.a" "$MXD_BENCH_BUILD/lib/libmxdb.a" "$MXD_BENCH_BUILD/lib/libmxd_common.a" -lsqlite3 -lsodium -levent -lpthread
cc -O2 -Wall -Wextra -I "$src" -o "$MXD_BENCH_WORK/bin/arcseal" "$here/arcseal.c" "$MXD_BENCH_BUILD/lib/libmxd_auth.a" \
	"$MXD_BENCH_BUILD/lib/libmxd_dns.a" "$MXD_BENCH_BUILD/lib/libmxd_common.a" -lssl -lcrypto -levent -lunbound -lpthread

# 3. 10,000 connections need descriptors on both sides: raise the limits as far as allowed
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open files: soft $(ulimit -Sn), hard $(ulimit -Hn)"

start=$(date +%s)
cd "$here"
run() { if [ -n "${BENCH_NICE:-}" ]; then nice -n "$BENCH_NICE" "$@"; else "$@"; fi; }
$py -c 'import benchlib, os, sys; benchlib.save("meta", {"mxd": sys.argv[1], "postfix": sys.argv[2],
    "nproc": os.cpu_count(), "nice": sys.argv[3], "loadavg_before": os.getloadavg()})' \
	"$desc" "$(postconf -h mail_version 2>/dev/null)" "${BENCH_NICE:-0}"
for p in $pieces; do
	log "== $p (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	case $p in
	throughput) run $py throughput.py --runs "$RUNS" --msgs "$MSGS" ${CASES:+--cases "$CASES"} ;;
	latency) run $py latency.py --runs "$RUNS" --msgs "$MSGS" ;;
	memory) run $py memory.py ;;
	datamem) run $py datamem.py --sessions "${DATAMEM_SESSIONS:-1000}" --size "${DATAMEM_SIZE:-10M}" --rss-cap "${DATAMEM_CAP:-2048}" ;;
	trust) run $py trust.py --runs "$RUNS" --msgs "$MSGS" --cases "${TRUST_CASES:-20x4k1}" ${TRUST_ARGS---breakdown} ;;
	tables) run $py tables.py --aliases "$ALIASES" ;;
	drain) run $py drain.py --msgs "$DRAIN_MSGS" ;;
	gate) run $py gate.py --runs "$RUNS" ;;
	arc) run "$MXD_BENCH_WORK/bin/arcseal" 2 | $py -c 'import benchlib, json, sys; benchlib.save("arc", json.load(sys.stdin))' ;;
	milter) run $py milter.py --runs "$RUNS" ${MXD_BENCH_BASELINE:+--baseline-build "$MXD_BENCH_BASELINE"} ;;
	*) echo "run.sh: unknown piece '$p'" >&2; exit 2 ;;
	esac
done
log "done in $(( $(date +%s) - start ))s"
$py summary.py
