#!/usr/bin/env bash
# tests/fuzz/run.sh <fuzzer binary> <seed corpus dir> <seconds> [libFuzzer options…]
# Runs one fuzzer for a bounded time on a scratch copy of its seed corpus (the repository's seeds are never written
# to), then prints one line of figures: executions, coverage (edges), features, corpus size. Exits non-zero on a
# crash, a leak, a UBSan report or a timeout; the input that did it is kept in the scratch directory, whose path is
# printed.
set -euo pipefail
binary=$(realpath "$1") seeds=$(realpath "$2") seconds=$3
shift 3
name=$(basename "$binary")
work=$(mktemp -d "/tmp/taxdesk-fuzz-$name.XXXXXX")
mkdir -p "$work/corpus"
cp -r "$seeds/." "$work/corpus/" 2>/dev/null || true
rc=0
# -timeout: a single input taking 10 s is a hang; -rss_limit_mb: one input must not take 2 GB.
(cd "$work" && "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 "$@" corpus >"$work/log" 2>&1) || rc=$?
done=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -1 || true)
execs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$work/log" | tail -1)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done")
corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$done")
if ((rc == 0)); then
  printf 'fuzz %-16s %10s executions in %ss, coverage %s edges, %s features, corpus %s inputs\n' \
    "$name" "${execs:-?}" "$seconds" "${cov:-?}" "${ft:-?}" "${corp:-?}"
  # What a target says about itself at exit, e.g. route_fuzz's count of 500s.
  grep "^$name: " "$work/log" || true
  rm -rf "$work"
  exit 0
fi
tail -60 "$work/log"
printf 'fuzz %-16s FAILED (exit %d) after %s executions; input and log kept in %s\n' "$name" "$rc" "${execs:-?}" "$work"
ls "$work" | grep -E '^(crash|leak|timeout|oom)-' | sed "s|^|  $work/|" || true
exit "$rc"
