#!/usr/bin/env bash
# Start (or reuse) the throwaway PostgreSQL and Redis that the test suite and the
# benchmarks run against, all state under var/ in the checkout.
#
#   scripts/services.sh [start]   start what is not running, print `export ...` lines
#   scripts/services.sh stop      stop both
#   scripts/services.sh status    say what answers
#
# Progress goes to stderr; stdout carries only the export lines, so a Makefile can
# `eval "$(scripts/services.sh)"`. An export line is printed only for a service that
# answered, so a failure of one leaves the other usable.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VAR="${VIGIL_VAR_DIR:-$ROOT/var}"
PG_DIR="$VAR/pg"
PG_DATA="$PG_DIR/data"
PG_PORT="${VIGIL_PG_PORT:-54329}"
PG_DB="vigil_test"
REDIS_DIR="$VAR/redis"
REDIS_PORT="${VIGIL_REDIS_PORT:-63799}"
REDIS_PIDFILE="$VAR/redis.pid"

PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/$PG_DB"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

log() { echo "services: $*" >&2; }

pg_bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [[ -x "$d/initdb" ]]; then
            echo "$d"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

APT_UPDATED=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not available; install $* by hand"
        return 1
    fi
    if [[ $(id -u) -ne 0 ]]; then
        log "not root; install $* by hand (apt-get install $*)"
        return 1
    fi
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    # The packages' own service units must not grab the default ports or start
    # clusters we do not use: policy-rc.d 101 tells invoke-rc.d not to start them.
    local policy=/usr/sbin/policy-rc.d created=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        created=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 || {
        [[ $created -eq 1 ]] && rm -f "$policy"
        return 1
    }
    [[ $created -eq 1 ]] && rm -f "$policy"
    return 0
}

ensure_packages() {
    local missing=()
    pg_bindir >/dev/null || missing+=(postgresql)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    if [[ ${#missing[@]} -gt 0 ]]; then
        apt_install "${missing[@]}" || log "could not install ${missing[*]}"
    fi
}

# initdb and postgres refuse to run as root, so as root they run as `postgres`.
as_pg_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        if ! id postgres >/dev/null 2>&1; then
            useradd --system --home-dir "$PG_DIR" --shell /bin/bash postgres
        fi
        # from / so a checkout the user cannot enter does not matter
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

pg_ready() {
    local bindir
    bindir="$(pg_bindir)" || return 1
    "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres -U postgres
}

start_pg() {
    local bindir
    if ! bindir="$(pg_bindir)"; then
        log "PostgreSQL binaries not found"
        return 1
    fi
    if ! pg_ready; then
        mkdir -p "$PG_DIR"
        if [[ $(id -u) -eq 0 ]]; then
            as_pg_owner true # creates the user when the package did not
            # A checkout under a private folder (mode 700) cannot be entered by `postgres`:
            # keep the cluster under /tmp then, one per checkout.
            if ! runuser -u postgres -- test -x "$PG_DIR"; then
                PG_DIR="/tmp/vigil-pg-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)"
                PG_DATA="$PG_DIR/data"
                mkdir -p "$PG_DIR"
                log "checkout not reachable by postgres; cluster in $PG_DIR"
            fi
            chown postgres "$PG_DIR"
        fi
        if [[ ! -s "$PG_DATA/PG_VERSION" ]]; then
            log "initdb $PG_DATA"
            as_pg_owner "$bindir/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >&2 ||
                as_pg_owner "$bindir/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C >&2
        fi
        # A postmaster.pid left by a killed server would block the start.
        if [[ -f "$PG_DATA/postmaster.pid" ]] && ! as_pg_owner "$bindir/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
            rm -f "$PG_DATA/postmaster.pid"
        fi
        log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        # No unix socket: the default socket folder may not exist or be writable here.
        as_pg_owner "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -w -t 60 start \
            -o "-h 127.0.0.1 -p $PG_PORT -k '' -c max_connections=200 -c shared_buffers=256MB" >&2
    fi
    local i
    for i in $(seq 1 60); do
        pg_ready && break
        sleep 0.5
    done
    if ! pg_ready; then
        log "PostgreSQL did not answer; see $PG_DIR/server.log"
        return 1
    fi
    if ! "$bindir/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
        "$bindir/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc "CREATE DATABASE $PG_DB" >&2
    fi
    log "PostgreSQL ready: $PG_URL"
    echo "export VIGIL_TEST_DATABASE_URL='$PG_URL'"
}

redis_ping() {
    if command -v redis-cli >/dev/null 2>&1; then
        [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]
    else
        # bash's /dev/tcp keeps redis-cli optional
        exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" 2>/dev/null || return 1
        printf 'PING\r\n' >&3
        local reply
        read -r -t 2 reply <&3 || true
        exec 3>&-
        [[ "$reply" == +PONG* ]]
    fi
}

start_redis() {
    if ! redis_ping; then
        if ! command -v redis-server >/dev/null 2>&1; then
            log "redis-server not found"
            return 1
        fi
        mkdir -p "$REDIS_DIR"
        log "starting Redis on 127.0.0.1:$REDIS_PORT"
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
            --pidfile "$REDIS_PIDFILE" --dir "$REDIS_DIR" --logfile "$VAR/redis.log" \
            --save '' --appendonly no >&2
    fi
    local i
    for i in $(seq 1 50); do
        redis_ping && break
        sleep 0.2
    done
    if ! redis_ping; then
        log "Redis did not answer; see $VAR/redis.log"
        return 1
    fi
    log "Redis ready: $REDIS_URL"
    echo "export VIGIL_TEST_REDIS_URL='$REDIS_URL'"
}

stop_all() {
    local bindir fallback
    fallback="/tmp/vigil-pg-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)"
    if [[ ! -f "$PG_DATA/postmaster.pid" && -f "$fallback/data/postmaster.pid" ]]; then
        PG_DIR="$fallback"
        PG_DATA="$fallback/data"
    fi
    if bindir="$(pg_bindir)" && [[ -f "$PG_DATA/postmaster.pid" ]]; then
        log "stopping PostgreSQL"
        as_pg_owner "$bindir/pg_ctl" -D "$PG_DATA" -m fast -w stop >&2 || true
    fi
    if [[ -f "$REDIS_PIDFILE" ]]; then
        local pid
        pid="$(cat "$REDIS_PIDFILE")"
        if kill -0 "$pid" 2>/dev/null; then
            log "stopping Redis (pid $pid)"
            kill "$pid"
            for _ in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
        fi
        rm -f "$REDIS_PIDFILE"
    fi
}

case "${1:-start}" in
start)
    mkdir -p "$VAR"
    ensure_packages
    status=0
    start_pg || status=1
    start_redis || status=1
    exit $status
    ;;
stop)
    stop_all
    ;;
status)
    pg_ready && log "PostgreSQL answers on $PG_PORT" || log "PostgreSQL down"
    redis_ping && log "Redis answers on $REDIS_PORT" || log "Redis down"
    ;;
*)
    echo "usage: $0 [start|stop|status]" >&2
    exit 2
    ;;
esac
