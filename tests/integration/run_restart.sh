#!/usr/bin/env bash
# scripts/run refuses a port in use, and supervises the engine (issue 9 finding 15): SIGKILL the engine it started and
# it is started again and ready, while Redis and the broker go on; SIGTERM to scripts/run then stops everything it
# started. Runs scripts/run --no-demo as a user does (executed: its own shebang), with its own var folder (TD_VAR) and
# port, against the build under test (TD_BUILD).
set -euo pipefail
taxdesk=${1:?usage: run_restart.sh path/to/taxdesk}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d /tmp/taxdesk-run.XXXXXX)
runner=
fail() {
  echo "FAIL: $*" >&2
  [[ -f $work/run.log ]] && tail -20 "$work/run.log" >&2
  exit 1
}
cleanup() {
  if [[ -n $runner ]]; then kill -TERM "$runner" 2>/dev/null || true; wait "$runner" 2>/dev/null || true; fi
  pkill -KILL -f "app.var_dir=$work/var" 2>/dev/null || true
  pkill -KILL -f "http.port=$port " 2>/dev/null || true
  rm -rf "$work"
}
port=
trap cleanup EXIT
for _ in $(seq 50); do
  port=$((20000 + RANDOM % 12000))  # below the ephemeral range (32768-), which outgoing connections take from
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
# The engine's log lives under TD_VAR, where scripts/test's log scan does not look: copy it there at the end.
log_dir=${TAXDESK_TEST_RUN_DIR:-$work}/engine-logs
mkdir -p "$log_dir"

TD_VAR=$work/var TD_BUILD=$(dirname "$taxdesk") setsid "$root/scripts/run" --no-demo --port "$port" >"$work/run.log" 2>&1 &
runner=$!
engine_pid() { pgrep -f "taxdesk serve --set http.port=$port " | head -1; }
ready() { curl -sf "http://127.0.0.1:$port/readyz" | grep -q '"status":"ready"'; }
wait_for() { # <seconds> <what> <command...>
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || fail "$what within the time allowed"
    kill -0 "$runner" 2>/dev/null || fail "scripts/run exited while waiting: $what"
    sleep 0.2
  done
}
wait_for 120 "the engine was not ready" ready
wait_for 30 "scripts/run did not say it is running" grep -q "Ctrl-C stops everything" "$work/run.log"
# A second scripts/run on the same port stops at once, saying why (the engine never shares its port).
if TD_VAR=$work/var2 TD_BUILD=$(dirname "$taxdesk") timeout 60 "$root/scripts/run" --no-demo --port "$port" \
  >"$work/second.log" 2>&1; then
  fail "a second scripts/run on port $port did not stop"
fi
grep -q "port $port is taken" "$work/second.log" || fail "a second scripts/run did not say the port is taken: $(cat "$work/second.log")"
ready || fail "the first engine stopped being ready when a second scripts/run was tried"
first=$(engine_pid)
[[ -n $first ]] || fail "no engine process found for port $port"

kill -KILL "$first"
wait_for 30 "scripts/run did not say it restarts the engine" grep -q "restarting it in 1s" "$work/run.log"
wait_for 90 "the restarted engine was not ready" ready
second=$(engine_pid)
[[ -n $second && $second != "$first" ]] || fail "the engine was not started again (pid $first, now '$second')"
grep -q "the engine is ready again" "$work/run.log" || wait_for 10 "scripts/run did not say the engine is ready again" \
  grep -q "the engine is ready again" "$work/run.log"
redis-cli -p "$(grep -o 'redis-server on 127.0.0.1:[0-9]*' "$work/run.log" | head -1 | cut -d: -f2)" ping | grep -q PONG ||
  fail "Redis did not go on while the engine was restarted"

kill -TERM "$runner"
for _ in $(seq 150); do kill -0 "$runner" 2>/dev/null || break; sleep 0.2; done
kill -0 "$runner" 2>/dev/null && fail "scripts/run did not stop within 30 s of SIGTERM"
runner=
pgrep -f "http.port=$port " >/dev/null && fail "an engine was left behind"
pgrep -f "app.var_dir=$work/var" >/dev/null && fail "the broker was left behind"
cp "$work/var/log/engine.log" "$log_dir/run_restart-$$.log" 2>/dev/null || true
echo "run_restart: 1 passed, 0 failed (engine $first killed, $second took over)"
