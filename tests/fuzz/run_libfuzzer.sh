#!/bin/sh
# run_libfuzzer.sh BINARY SECONDS MAX_LEN WORK_DIR SEED_DIR REPLAY_BINARY
# One bounded, coverage-guided libFuzzer run for CTest (tests/CMakeLists.txt): new inputs go to
# WORK_DIR/corpus (kept between runs, never the source tree), the seeds are read only, and a crash, leak,
# timeout or abort() leaves its input in WORK_DIR/crashes/ and fails the test (libFuzzer exits non-zero).
set -u
bin=$1 secs=$2 maxlen=$3 work=$4 seeds=$5 replay=$6
mkdir -p "$work/corpus" "$work/crashes"
"$bin" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
	-artifact_prefix="$work/crashes/" "$work/corpus" "$seeds"
rc=$?
if [ "$rc" -ne 0 ]; then
	echo "run_libfuzzer: $(basename "$bin") failed (exit $rc); the input that did it is in $work/crashes/:"
	ls -l "$work/crashes"
	echo "run_libfuzzer: replay it with: $replay $work/crashes/<file>"
	echo "run_libfuzzer: then fix, and add it (renamed for what it shows) to $seeds"
fi
exit "$rc"
