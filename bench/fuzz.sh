#!/bin/sh
# Run one coverage-guided fuzz target (or all of them) with atheris under the project venv.
#
#   bench/fuzz.sh TARGET SECONDS     e.g. bench/fuzz.sh http1 60
#   bench/fuzz.sh all SECONDS        every target in fuzz/registry.py, SECONDS each
#   bench/fuzz.sh list               the target names
#
# Seeds are read from fuzz/corpus/TARGET (committed); inputs the fuzzer finds
# interesting go to fuzz/work/corpus/TARGET and crashing inputs to
# fuzz/work/crashes/TARGET/ (neither is committed). A crash input belongs in
# fuzz/corpus/TARGET once fixed, so the tests replay it from then on.
# Prints one line per target: executions, seconds and crashes found.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
FUZZ=$ROOT/fuzz
WORK=${FUZZ_WORK:-$FUZZ/work}

targets() {
    (cd "$FUZZ" && "$PY" -c 'from registry import TARGETS; print("\n".join(TARGETS))')
}

run_one() {
    target=$1
    seconds=$2
    script=$FUZZ/fuzz_$target.py
    if [ ! -f "$script" ]; then
        echo "unknown target: $target (bench/fuzz.sh list)" >&2
        return 2
    fi
    mkdir -p "$WORK/corpus/$target" "$WORK/crashes/$target" "$WORK/logs"
    log=$WORK/logs/$target.log
    (cd "$FUZZ" && LEAKTRACE_FUZZ=1 "$PY" "$script" \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$WORK/crashes/$target/" \
        "$WORK/corpus/$target" "$FUZZ/corpus/$target") >"$log" 2>&1
    status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    spent=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    crashes=$(find "$WORK/crashes/$target" -type f | wc -l)
    echo "$target execs=${execs:-?} execs_per_s=${spent:-?} exit=$status crash_files=$crashes log=$log"
    return $status
}

if [ $# -lt 1 ]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
case $1 in
list) targets ;;
all)
    worst=0
    for t in $(targets); do
        run_one "$t" "${2:-60}" || worst=1
    done
    exit $worst
    ;;
*) run_one "$1" "${2:-60}" ;;
esac
