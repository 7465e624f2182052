#!/usr/bin/env bash
# End to end, as an operator would check it (issue 2): `taxdesk serve` comes up against the broker and
# redis-server that scripts/test started, /readyz is 200, requests produced with kcat yield results on
# inquiry.results with the statuses the stub population implies, a bad message goes to the dead-letter topic,
# SIGTERM stops the engine and leaves no process behind, and a bad configuration value is one clear line.
set -euo pipefail
taxdesk=${1:?usage: serve_kcat.sh path/to/taxdesk}
: "${TAXDESK_TEST_REDIS_PORT:?not set: run through scripts/test}"
: "${TAXDESK_TEST_KAFKA_BOOTSTRAP:?not set: run through scripts/test}"
bootstrap=$TAXDESK_TEST_KAFKA_BOOTSTRAP
work=$(mktemp -d /tmp/taxdesk-e2e.XXXXXX)
prefix="e2e$$-$RANDOM."
engine=
stubs=
# The engine's log is kept where scripts/test scans every engine log for unmasked IDs.
log_dir=${TAXDESK_TEST_RUN_DIR:-$work}/engine-logs
mkdir -p "$log_dir"
engine_log=$log_dir/serve_kcat-$$.log
fail() { echo "FAIL: $*" >&2; [[ -f $engine_log ]] && tail -30 "$engine_log" >&2; exit 1; }
cleanup() {
  [[ -n $engine ]] && kill -KILL "$engine" 2>/dev/null
  [[ -n $stubs ]] && kill -KILL "$stubs" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 12000))  # below the ephemeral range (32768-), which outgoing connections take from
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# 1. A bad configuration value: one line naming the key, non-zero exit, nothing started.
set +e
"$taxdesk" serve --set http.port=seventy >"$work/out" 2>"$work/err"
rc=$?
set -e
[[ $rc -ne 0 ]] || fail "a bad http.port was accepted"
[[ $(wc -l <"$work/err") -eq 1 ]] || fail "expected one line of error, got: $(cat "$work/err")"
grep -q "http.port" "$work/err" || fail "the error does not name the key: $(cat "$work/err")"
TAXDESK_REDIS_PORTT=1 "$taxdesk" config >/dev/null 2>"$work/err" && fail "an unknown TAXDESK_ variable was accepted"
grep -q "TAXDESK_REDIS_PORTT" "$work/err" || fail "the error does not name the variable"

# 2. The tools: gen writes the rows it is asked for; token create prints a token once and checks its role.
[[ $("$taxdesk" gen --rows 10 --bad-fraction 0.5 2>/dev/null | wc -l) -eq 11 ]] || fail "gen --rows 10: not 11 lines"
token=$("$taxdesk" token create --role creditor --creditor C1 --set "app.var_dir=$work/var" 2>/dev/null)
[[ $token =~ ^tdk_[0-9a-f]{48}$ ]] || fail "token create printed '$token'"
"$taxdesk" token create --role creditor --set "app.var_dir=$work/var" 2>/dev/null && fail "a creditor token without --creditor"
[[ -s $work/var/taxdesk.db ]] || fail "token create did not write the store"
# token list|revoke: a token is named by its id (the first 12 hex digits of its SHA-256), never shown again.
id=$(printf '%s' "$token" | sha256sum | cut -c1-12)
"$taxdesk" token create --role ops --expires-in 0 --set "app.var_dir=$work/var" 2>/dev/null && fail "--expires-in 0"
"$taxdesk" token list --set "app.var_dir=$work/var" >"$work/tokens" 2>/dev/null || fail "token list failed"
grep -q "^$id	creditor	C1	.*	-	-\$" "$work/tokens" || fail "token list: no line for $id: $(cat "$work/tokens")"
grep -q "${token#tdk_}" "$work/tokens" && fail "token list shows the token"
"$taxdesk" token revoke "$id" --set "app.var_dir=$work/var" 2>/dev/null || fail "token revoke $id failed"
"$taxdesk" token revoke "$id" --set "app.var_dir=$work/var" 2>/dev/null || fail "token revoke twice failed"
"$taxdesk" token revoke nosuchid --set "app.var_dir=$work/var" 2>"$work/err" && fail "token revoke of an unknown id"
grep -q "nosuchid" "$work/err" || fail "token revoke does not name the unknown id: $(cat "$work/err")"
"$taxdesk" token list --set "app.var_dir=$work/var" >"$work/tokens" 2>/dev/null || fail "token list failed"
grep -q "^$id	creditor	C1	.*	-	20[0-9-]*T" "$work/tokens" || fail "token list: $id not revoked: $(cat "$work/tokens")"

# 3. The engine comes up and is ready, with its connectors over HTTP to `taxdesk stubs` (the network path).
stubs_port=$(free_port)
"$taxdesk" stubs --set "stubs.port=$stubs_port" >"$work/stubs.log" 2>&1 &
stubs=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$stubs_port/healthz" >/dev/null && break; sleep 0.1; done
port=$(free_port)
"$taxdesk" serve --set "app.var_dir=$work/var" --set "http.port=$port" --set "kafka.bootstrap=$bootstrap" \
  --set "kafka.topic_prefix=$prefix" --set "kafka.group_id=${prefix}engine" \
  --set "redis.port=$TAXDESK_TEST_REDIS_PORT" --set "redis.key_prefix=${prefix}" \
  --set connectors.mode=http --set "connectors.base_url=http://127.0.0.1:$stubs_port" >"$engine_log" 2>&1 &
engine=$!
for _ in $(seq 150); do
  curl -sf "http://127.0.0.1:$port/readyz" >"$work/ready" 2>/dev/null && break
  kill -0 "$engine" 2>/dev/null || fail "the engine exited"
  sleep 0.2
done
grep -q '"status":"ready"' "$work/ready" || fail "/readyz never said ready: $(curl -s "http://127.0.0.1:$port/readyz")"
curl -sf "http://127.0.0.1:$port/healthz" | grep -q ok || fail "/healthz"

# 4. Requests through kcat; the expected statuses come from the stub population (gen's row plan: row 7 is unknown to
#    the registry, 13 carries a wrong name, 57 is deceased; row 1 is a living person).
"$taxdesk" gen --rows 60 --format requests --batch E2E >"$work/requests"
sed -n '1p;7p;13p;57p' "$work/requests" | kcat -b "$bootstrap" -P -t "${prefix}inquiry.requests" -k E2E
echo 'this is not JSON' | kcat -b "$bootstrap" -P -t "${prefix}inquiry.requests" -k E2E
# No -e: that stops at the topic's end as it is now, before a busy engine has produced; timeout bounds the wait.
timeout 60 kcat -b "$bootstrap" -C -t "${prefix}inquiry.results" -o beginning -c 4 -q >"$work/results" ||
  fail "no results on ${prefix}inquiry.results"
[[ $(wc -l <"$work/results") -eq 4 ]] || fail "expected 4 results, got: $(cat "$work/results")"
status_of() { grep "\"row\":$1," "$work/results" | grep -o '"status":"[a-z_]*"' | cut -d'"' -f4; }
[[ $(status_of 7) == not_registered ]] || fail "row 7: $(status_of 7)"
[[ $(status_of 13) == name_mismatch ]] || fail "row 13: $(status_of 13)"
[[ $(status_of 57) == deceased ]] || fail "row 57: $(status_of 57)"
[[ $(status_of 1) == found || $(status_of 1) == no_records ]] || fail "row 1: $(status_of 1)"
timeout 60 kcat -b "$bootstrap" -C -t "${prefix}inquiry.requests.dlq" -o beginning -c 1 -q >"$work/dlq" ||
  fail "nothing on the dead-letter topic"
grep -q '"original":"this is not JSON"' "$work/dlq" || fail "dead letter: $(cat "$work/dlq")"
grep -q '"error":' "$work/dlq" && grep -q '"failed_at":' "$work/dlq" || fail "dead letter lacks error/failed_at"
# The counter moves after the effects are visible on the topics: wait for it (at most 15 s), as a person would.
counted=
for _ in $(seq 75); do
  if curl -sf "http://127.0.0.1:$port/metrics" |
    grep -q 'taxdesk_pipeline_messages_total{direction="in",pipeline="inquiry"} 5$'; then
    counted=1
    break
  fi
  sleep 0.2
done
[[ -n $counted ]] || fail "metrics do not count 5 messages in within 15 s: $(curl -s "http://127.0.0.1:$port/metrics" |
  grep 'taxdesk_pipeline_messages_total{direction="in",pipeline="inquiry"}')"

# 5. SIGTERM: the engine and the stubs stop by itself, and nothing is left.
kill -TERM "$engine"
for _ in $(seq 100); do kill -0 "$engine" 2>/dev/null || break; sleep 0.1; done
kill -0 "$engine" 2>/dev/null && fail "the engine did not stop within 10 s of SIGTERM"
wait "$engine" || fail "the engine exited non-zero after SIGTERM"
engine=
kill -TERM "$stubs"
wait "$stubs" || fail "the stubs exited non-zero after SIGTERM"
stubs=
pgrep -f "kafka.topic_prefix=$prefix" >/dev/null && fail "a process is left behind"
echo "serve_kcat: 1 passed, 0 failed"
