#!/usr/bin/env bash
# ctest bench_smoke (label integration, run by scripts/test): the throughput bench with a tiny count against the test
# broker and redis-server. Checks that every figure's line is there and that every row came out; no speed threshold.
#   bench/smoke.sh <taxdesk_bench_throughput>
set -euo pipefail
bench=$1
: "${TAXDESK_TEST_REDIS_PORT:?not set: run through scripts/test}"
: "${TAXDESK_TEST_KAFKA_BOOTSTRAP:?not set: run through scripts/test}"
rows=2000
# Fresh topics and groups on the shared broker (auto-created with 4 partitions: ample for 2,000 rows).
out=$("$bench" --bootstrap "$TAXDESK_TEST_KAFKA_BOOTSTRAP" --redis-port "$TAXDESK_TEST_REDIS_PORT" --rows "$rows" \
  --suffix ".smoke-$$-$RANDOM")
echo "$out"
status=0
for figure in ceiling passthrough engine; do
  line=$(grep "^$figure value=" <<<"$out") || { echo "bench_smoke: no '$figure' line" >&2; status=1; continue; }
  for field in value ceiling ratio cpu_us_per_row peak_rss_mib; do
    grep -q " $field=[0-9.]* " <<<"$line " || { echo "bench_smoke: '$figure' has no $field" >&2; status=1; }
  done
  came=$(sed -n 's/.* out=\([0-9]*\).*/\1/p' <<<"$line")
  ((${came:-0} >= rows)) || { echo "bench_smoke: $figure: ${came:-0} of $rows rows came out" >&2; status=1; }
done
grep -qE '^engine [0-9]+ rows/s, ceiling [0-9]+ rows/s, ratio [0-9.]+$' <<<"$out" ||
  { echo "bench_smoke: no final 'engine N rows/s, ceiling M rows/s, ratio R' line" >&2; status=1; }
# The measurements of what bounds the engine (issue 11): the block-store prototype without the cache, then no store.
for variant in "--store block --cache off" "--store none"; do
  # shellcheck disable=SC2086 # the variant is two options
  out=$("$bench" --bootstrap "$TAXDESK_TEST_KAFKA_BOOTSTRAP" --redis-port "$TAXDESK_TEST_REDIS_PORT" --rows "$rows" \
    --mode engine $variant --thread-cpu --suffix ".smoke-$$-$RANDOM" 2>&1) ||
    { echo "$out"; echo "bench_smoke: engine $variant failed" >&2; status=1; continue; }
  echo "$out"
  came=$(sed -n 's/^engine value=.* out=\([0-9]*\).*/\1/p' <<<"$out")
  ((${came:-0} >= rows)) || { echo "bench_smoke: engine $variant: ${came:-0} of $rows rows came out" >&2; status=1; }
  grep -qE '^thread .* cpu_s=[0-9.]+ runnable_waiting_s=[0-9.]+ window_s=[0-9.]+$' <<<"$out" ||
    { echo "bench_smoke: engine $variant: no 'thread … cpu_s=… runnable_waiting_s=… window_s=…' line" >&2; status=1; }
done
exit $status
