#!/usr/bin/env bash
# Browser tests of the pages (SPEC 5: `GET /` creditor portal, `GET /dashboard` operations dashboard), run by ctest
# as browser.pages: `bash tests/browser/run.sh path/to/taxdesk`.
# Starts `taxdesk serve` (its own var dir, topic prefix, group id and Redis key prefix) against the redis-server and
# broker that scripts/test started, makes a creditor token and a 300-row batch file with 15 bad rows, installs axe-core
# (npm ci, when tests/browser/node_modules is missing or stale), then runs tests/browser/*.test.mjs with node's test
# runner; they drive Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) headless over its DevTools pipe (chromium.mjs). Screenshots go to <directory of taxdesk>/browser-shots/. A missing
# browser is a failure, not a skip. Exits non-zero when a test fails.
set -euo pipefail
taxdesk=${1:?usage: run.sh path/to/taxdesk}
taxdesk=$(cd "$(dirname "$taxdesk")" && pwd)/$(basename "$taxdesk")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${TAXDESK_TEST_REDIS_PORT:?not set: run through scripts/test}"
: "${TAXDESK_TEST_KAFKA_BOOTSTRAP:?not set: run through scripts/test}"
bootstrap=$TAXDESK_TEST_KAFKA_BOOTSTRAP
chromium=${CHROMIUM:-/usr/bin/chromium}
rows=300
bad_fraction=0.05
bad_rows=15 # floor(300 × 0.05): taxdesk gen writes exactly that many rows with a mistake

fail() { echo "FAIL: $*" >&2; exit 1; }

# What the tests need on the machine, each missing one a failure with the way to get it.
[[ -x $taxdesk ]] || fail "$taxdesk is not an executable: build it first (ninja -C build taxdesk)"
[[ -x $chromium ]] || fail "no browser at $chromium: the browser tests need Debian's Chromium (apt-get install chromium; scripts/test installs it)"
# Node.js drives Chromium over its DevTools pipe (tests/browser/chromium.mjs, no npm package for that), so Debian 12's
# own nodejs 18 and chromium do it; npm installs only axe-core (below).
command -v node >/dev/null || fail "node is not installed: the browser tests need Node.js 18 or newer (apt-get install nodejs)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 18)) || fail "node $(node --version) is too old: the browser tests need Node.js 18 or newer"
# The accessibility checks inject axe-core (Debian has no package of it): the one npm package, its exact version pinned
# in package.json and package-lock.json (with the tarball's sha512, which npm ci checks), installed with `npm ci` into
# tests/browser/node_modules (git ignores it) when that is missing or was installed from another package-lock.json (a
# stamp of the lock's sha256 says which). The file the pages get is checked once more against its own sha256 below.
axe_version=4.10.3
axe_sha256=880970c081707360e64f34cea25ff91892f5bc95675b0776925b9709dd8a68bb
command -v npm >/dev/null || fail "npm is not installed: the browser tests install axe-core with it (apt-get install npm)"
lock_sum=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
stamp=$here/node_modules/.taxdesk-lock.sha256
if [[ ! -f $here/node_modules/axe-core/axe.min.js || ! -f $stamp || $(cat "$stamp") != "$lock_sum" ]]; then
  echo "[browser] npm ci in $here (axe-core $axe_version, as pinned in package-lock.json)" >&2
  npm_log=$(mktemp /tmp/taxdesk-npm.XXXXXX)
  trap 'rm -f "$npm_log"' EXIT  # replaced by cleanup's trap below, which runs after the install
  if ! (cd "$here" && npm ci --no-audit --no-fund) >"$npm_log" 2>&1; then
    cat "$npm_log" >&2
    # Behind a TLS-intercepting proxy whose certificate authority this machine does not trust (a sandbox's egress
    # proxy, a company's), the registry's certificate cannot be verified. The bytes are still verified: npm ci
    # refuses a tarball whose sha512 differs from package-lock.json's (EINTEGRITY), and axe.min.js is checked below.
    if grep -qE 'SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_UNTRUSTED|self[- ]signed certificate' "$npm_log"; then
      echo "[browser] WARNING: the npm registry's TLS certificate is not trusted on this machine (see above); installing" \
        "axe-core again without verifying it, relying on the sha512 in package-lock.json and the sha256 of axe.min.js" >&2
      (cd "$here" && npm ci --no-audit --no-fund --strict-ssl=false) >&2 ||
        fail "npm ci failed in $here even without TLS verification: see npm's message above"
    else
      fail "npm ci failed in $here: the browser tests need axe-core from the npm registry ($(npm config get registry 2>/dev/null || echo '?')); is it reachable from this machine (a proxy: npm config set proxy …)? See npm's message above"
    fi
  fi
  rm -f "$npm_log"
  [[ -f $here/node_modules/axe-core/axe.min.js ]] || fail "npm ci installed no node_modules/axe-core/axe.min.js in $here"
  echo "$lock_sum" >"$stamp"
fi
axe_sum=$(sha256sum "$here/node_modules/axe-core/axe.min.js" | cut -d' ' -f1)
[[ $axe_sum == "$axe_sha256" ]] ||
  fail "node_modules/axe-core/axe.min.js has sha256 $axe_sum, not axe-core $axe_version's $axe_sha256: delete $here/node_modules and run again"
command -v kcat >/dev/null || fail "kcat is not installed (apt-get install kcat)"
# Without a CJK font the pages' Chinese renders as boxes in the screenshots.
[[ -n $(fc-list :lang=zh-tw family 2>/dev/null) ]] ||
  fail "no font for Traditional Chinese: the screenshots would show boxes (apt-get install fonts-noto-cjk)"

work=$(mktemp -d /tmp/taxdesk-browser.XXXXXX)
prefix="br$$-$RANDOM."
engine=
cleanup() {
  local rc=$?
  if [[ -n $engine ]]; then kill -KILL "$engine" 2>/dev/null || true; fi
  if ((rc)) && [[ -f $work/engine.log ]]; then
    echo "---- last lines of the engine's log ($work/engine.log) ----" >&2
    tail -40 "$work/engine.log" >&2
    echo "[browser] logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 12000))  # below the ephemeral range (32768-), which outgoing connections take from
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
  return 1
}

# The engine, on a free port, with names of its own so that other tests sharing the broker and Redis do not see it.
port=$(free_port) || fail "no free TCP port"
var=$work/var
"$taxdesk" serve --set "app.var_dir=$var" --set "http.port=$port" --set "kafka.bootstrap=$bootstrap" \
  --set "kafka.topic_prefix=$prefix" --set "kafka.group_id=${prefix}engine" \
  --set "redis.port=$TAXDESK_TEST_REDIS_PORT" --set "redis.key_prefix=${prefix}" \
  --set payment.stub_balance=100000000 >"$work/engine.log" 2>&1 &
engine=$!
ready=
for _ in $(seq 300); do
  if curl -sf "http://127.0.0.1:$port/readyz" 2>/dev/null | grep -q '"status":"ready"'; then ready=1; break; fi
  kill -0 "$engine" 2>/dev/null || fail "the engine exited before it was ready"
  sleep 0.2
done
[[ -n $ready ]] || fail "/readyz never said ready within 60 s: $(curl -s "http://127.0.0.1:$port/readyz")"

token=$("$taxdesk" token create --role creditor --creditor C1 --set "app.var_dir=$var" 2>"$work/token.err") ||
  fail "token create: $(cat "$work/token.err")"
[[ -n $token ]] || fail "token create printed nothing"
"$taxdesk" gen --rows "$rows" --bad-fraction "$bad_fraction" --out "$work/batch.csv" 2>"$work/gen.err" ||
  fail "gen: $(cat "$work/gen.err")"

shots=$(dirname "$taxdesk")/browser-shots
mkdir -p "$shots"

# Exported only now: taxdesk (serve, token, gen) refuses unknown TAXDESK_* variables.
export TAXDESK_BROWSER_URL="http://127.0.0.1:$port"
export TAXDESK_BROWSER_TOKEN=$token
export TAXDESK_BROWSER_BATCH=$work/batch.csv
export TAXDESK_BROWSER_ROWS=$rows
export TAXDESK_BROWSER_BAD_ROWS=$bad_rows
export TAXDESK_BROWSER_SHOTS=$shots
export CHROMIUM=$chromium
# taxdesk refuses TAXDESK_* variables that are not configuration keys (TAXDESK_TEST_* aside): the command drops these.
printf -v TAXDESK_BROWSER_LOAD_CMD \
  'unset "${!TAXDESK_BROWSER_@}"; set -o pipefail; %q gen --rows 20000 --format requests --batch DASH | kcat -b %q -P -t %q -k DASH' \
  "$taxdesk" "$bootstrap" "${prefix}inquiry.requests"
export TAXDESK_BROWSER_LOAD_CMD

echo "[browser] engine at $TAXDESK_BROWSER_URL (topic prefix $prefix); screenshots in $shots" >&2
# One file at a time, in order (node 18's runner has no --test-concurrency): both tests share the one engine.
status=0
for file in "$here"/*.test.mjs; do
  (cd "$here" && node --test --test-reporter=spec "./$(basename "$file")") || status=1
done

# SIGTERM: the engine stops by itself within 10 s.
kill -TERM "$engine" 2>/dev/null || true
for _ in $(seq 100); do kill -0 "$engine" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$engine" 2>/dev/null; then
  echo "[browser] warning: the engine did not stop within 10 s of SIGTERM; killed" >&2
else
  wait "$engine" 2>/dev/null || echo "[browser] warning: the engine exited non-zero after SIGTERM" >&2
  engine=
fi
exit $status
