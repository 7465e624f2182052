# shellcheck shell=bash
# A private PostgreSQL cluster for tests and local runs, never the system service.
#
#   source scripts/lib/postgres.sh
#   TAXDESK_TEST_POSTGRESQL=$(pg_start /tmp/taxdesk-pg 5433)   # prints the libpq connection string
#   ...
#   pg_stop /tmp/taxdesk-pg
#
# Works as root (the cluster then belongs to the postgres user, as initdb refuses to run as root) and as an ordinary
# user (the cluster belongs to that user; its superuser role is still called postgres). Only stdout carries the
# connection string; progress and errors go to stderr, so `$(pg_start …)` is safe. The functions return non-zero on
# failure and never exit the calling shell.

# The newest installed server's bin folder (Debian keeps them under /usr/lib/postgresql/<major>/bin).
pg_bin_dir() {
    local dir
    dir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    if [ -z "$dir" ] || [ ! -x "$dir/pg_ctl" ]; then
        echo "postgres.sh: no PostgreSQL server found under /usr/lib/postgresql (apt-get install postgresql)" >&2
        return 1
    fi
    printf '%s\n' "$dir"
}

# Runs a command as the cluster's owner: postgres when we are root, ourselves otherwise.
_pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_start <dir> <port>: initdb <dir>/data if needed, start the server on 127.0.0.1:<port> (log in <dir>/log), wait
# until it accepts connections, create the database taxdesk if missing, and print the connection string.
pg_start() {
    if [ $# -ne 2 ]; then
        echo "usage: pg_start <dir> <port>" >&2
        return 2
    fi
    local dir=$1 port=$2 bin
    bin=$(pg_bin_dir) || return 1
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd) || return 1
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir" || return 1
    fi

    if [ ! -f "$dir/data/PG_VERSION" ]; then
        # --no-sync and the fsync settings below trade crash safety of the OS for speed: this is a test cluster.
        if ! _pg_as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync \
            >"$dir/initdb.log" 2>&1 </dev/null; then
            echo "postgres.sh: initdb failed, see $dir/initdb.log:" >&2
            tail -n 20 "$dir/initdb.log" >&2
            return 1
        fi
    fi

    if _pg_as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 </dev/null; then
        echo "postgres.sh: the cluster in $dir/data is already running" >&2
    else
        # The socket goes to /tmp (short path, writable by postgres); TCP listens on loopback only.
        if ! _pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
            -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null 2>&1 </dev/null; then
            echo "postgres.sh: the server in $dir/data did not start, see $dir/log:" >&2
            tail -n 20 "$dir/log" >&2
            return 1
        fi
    fi

    local tries=0
    until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; do
        tries=$((tries + 1))
        if [ "$tries" -ge 120 ]; then
            echo "postgres.sh: the server on port $port is not ready after 60 s, see $dir/log" >&2
            return 1
        fi
        sleep 0.5
    done

    local exists
    exists=$("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'taxdesk'" </dev/null) || return 1
    if [ "$exists" != "1" ]; then
        "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres taxdesk </dev/null || return 1
    fi

    printf 'host=127.0.0.1 port=%s dbname=taxdesk user=postgres\n' "$port"
}

# pg_stop <dir>: stop the cluster in <dir>/data (fast shutdown) if it is running; the files stay for the next start.
pg_stop() {
    if [ $# -ne 1 ]; then
        echo "usage: pg_stop <dir>" >&2
        return 2
    fi
    local dir=$1 bin
    bin=$(pg_bin_dir) || return 1
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        return 0
    fi
    if _pg_as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 </dev/null; then
        _pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null </dev/null || return 1
    fi
}
