# shellcheck shell=bash
# Shared by scripts/run and scripts/test: install what is missing, build, start and stop the servers.
# Everything started here is recorded and stopped by td_stop_all (installed as an EXIT trap by td_trap).

TD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TD_BUILD=${TD_BUILD:-$TD_ROOT/build}
TD_BUILD_FUZZ=${TD_BUILD_FUZZ:-$TD_ROOT/build-fuzz}
TD_PIDS=()

td_log() { printf '\033[1m[taxdesk]\033[0m %s\n' "$*" >&2; }
td_die() { printf '[taxdesk] error: %s\n' "$*" >&2; exit 1; }

td_sudo() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# Debian packages the build, the engine and the tests need.
TD_PACKAGES=(build-essential cmake ninja-build pkg-config ccache git curl ca-certificates procps
  librdkafka-dev libhiredis-dev libpoco-dev prometheus-cpp-dev libboost-dev libgtest-dev libgmock-dev
  libqrencode-dev libpq-dev redis-server kcat libbenchmark-dev libsimdjson-dev rapidjson-dev)

# td_install_packages [extra packages...]: apt-get installs whatever is missing (nothing when all are there).
td_install_packages() {
  local wanted=("${TD_PACKAGES[@]}" "$@") missing=() p
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  td_log "installing Debian packages: ${missing[*]}"
  td_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  td_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# td_build [targets...] (cmake options in TD_CMAKE_ARGS): configure once, then build the targets (default: all).
td_build() {
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  if [[ ! -f $TD_BUILD/build.ninja ]]; then
    cmake -S "$TD_ROOT" -B "$TD_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${TD_CMAKE_ARGS:-} >/dev/null
  elif [[ -n ${TD_CMAKE_ARGS:-} ]]; then
    cmake "$TD_BUILD" ${TD_CMAKE_ARGS} >/dev/null
  fi
  td_log "building ${*:-everything} ($jobs jobs)"
  ninja -C "$TD_BUILD" -j "$jobs" "$@"
}

# td_build_fuzz: configures (with clang) and builds the fuzzers of tests/fuzz in $TD_BUILD_FUZZ, each registered with
# ctest (label fuzz) to run for TAXDESK_TEST_FUZZ_SECONDS (default 20) seconds.
td_build_fuzz() {
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  cmake -S "$TD_ROOT/tests/fuzz" -B "$TD_BUILD_FUZZ" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
    -DTAXDESK_FUZZ_SECONDS="${TAXDESK_TEST_FUZZ_SECONDS:-20}" >/dev/null
  td_log "building the fuzzers ($jobs jobs)"
  ninja -C "$TD_BUILD_FUZZ" -j "$jobs"
}

# td_free_port: a TCP port on 127.0.0.1 that nothing listens on.
td_free_port() {
  local port
  for _ in $(seq 50); do
    # Below the kernel's ephemeral range (32768-60999 by default), which outgoing connections take from at any
    # moment: a port found free there may be some client's local port by the time the server binds it.
    port=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
  done
  return 1
}

# td_spawn <log file> <command...>: starts a process in the background, recorded for td_stop_all.
td_spawn() {
  local log=$1
  shift
  mkdir -p "$(dirname "$log")"
  "$@" >>"$log" 2>&1 &
  TD_PIDS+=($!)
}

# td_wait_for <seconds> <what> <command...>: retries the command until it succeeds.
td_wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { td_log "timed out waiting for $what"; return 1; }
    sleep 0.2
  done
}

# td_start_redis <port> <dir>: a private redis-server (no persistence) on 127.0.0.1:<port>.
td_start_redis() {
  local port=$1 dir=$2
  mkdir -p "$dir"
  td_spawn "$dir/redis.log" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir"
  td_wait_for 20 "redis-server on port $port" redis-cli -p "$port" ping || td_die "redis-server did not start (see $dir/redis.log)"
}

# td_start_broker <var dir> [--set …]: `taxdesk broker`, waiting for its bootstrap file; sets TD_BOOTSTRAP.
# Not to be called in $(…): the process must be recorded in this shell's TD_PIDS to be stopped.
td_start_broker() {
  local var=$1
  shift
  rm -f "$var/kafka-bootstrap"
  td_spawn "$var/log/broker.log" "$TD_BUILD/taxdesk" broker --set "app.var_dir=$var" "$@"
  td_wait_for 30 "the embedded broker" test -s "$var/kafka-bootstrap" || td_die "the broker did not start (see $var/log/broker.log)"
  TD_BOOTSTRAP=$(cat "$var/kafka-bootstrap")
}

# td_broker_port: broker.port as the taxdesk binary sees it (TAXDESK_BROKER_PORT, a config file, else the embedded
# default 0: any free port).
td_broker_port() {
  "$TD_BUILD/taxdesk" config 2>/dev/null | awk '$1 == "broker.port" { print $3; exit }'
}

# td_stop_all: stops what td_spawn started, newest first (the engine before the broker and Redis it uses): SIGTERM,
# up to 10 s to finish, then SIGKILL.
td_stop_all() {
  local i pid
  for ((i = ${#TD_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${TD_PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  TD_PIDS=()
}

td_trap() {
  trap 'td_stop_all' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
