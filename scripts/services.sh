# shellcheck shell=bash
# Starts the databases the test suite uses, on loopback only, in throw-away
# directories, and exports their URLs:
#   DATABASE_URL  PostgreSQL (Debian's postgresql package), default port 54329
#   MONGODB_URI   FerretDB v1 (MongoDB wire protocol, SQLite backend), default port 27018
# Also makes sure /usr/bin/chromium exists for the browser tests.
#
# Developers:   source scripts/services.sh      (stop with: grantkit_services_stop)
# CI:           sourced by .ci/run, which stops everything on exit.
#
# Overrides: GRANTKIT_PG_PORT, GRANTKIT_MONGO_PORT, GRANTKIT_SKIP_CHROMIUM=1;
# GRANTKIT_SERVICES_PREPARE=1 only installs (packages, FerretDB build), starts nothing.
# Runs as root (CI) or as a normal user who can already run initdb.
# Written to be sourced: it never calls `exit` and does not change shell options.

GRANTKIT_FERRETDB_VERSION=v1.24.2

_gk_log() { printf '[services] %s\n' "$*" >&2; }

_gk_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

_gk_free_port() {
  local p=$1 n=0
  while _gk_port_busy "$p"; do p=$((p + 1)); n=$((n + 1)); [ "$n" -lt 50 ] || return 1; done
  echo "$p"
}

_gk_wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do _gk_port_busy "$1" && return 0; sleep 0.1; done
  return 1
}

_gk_apt_updated=
_gk_apt_install() {
  if [ "$(id -u)" != 0 ]; then _gk_log "need root to apt-get install $*"; return 1; fi
  if [ -z "$_gk_apt_updated" ]; then
    _gk_log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    _gk_apt_updated=1
  fi
  _gk_log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null || return 1
}

_gk_pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

_gk_as_pg() { # run a command as the postgres OS user when we are root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

grantkit_start_postgres() {
  local bindir port
  bindir=$(_gk_pg_bindir) || { _gk_apt_install postgresql && bindir=$(_gk_pg_bindir); } || {
    _gk_log "PostgreSQL is not installed and could not be installed"; return 1; }
  port=$(_gk_free_port "${GRANTKIT_PG_PORT:-54329}") || { _gk_log "no free port for PostgreSQL"; return 1; }

  GRANTKIT_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/grantkit-pg.XXXXXX") || return 1
  [ "$(id -u)" = 0 ] && chown postgres: "$GRANTKIT_PG_DIR"
  chmod 700 "$GRANTKIT_PG_DIR"

  _gk_as_pg "$bindir/initdb" -D "$GRANTKIT_PG_DIR/data" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$GRANTKIT_PG_DIR/initdb.log" 2>&1 || {
    _gk_log "initdb failed:"; cat "$GRANTKIT_PG_DIR/initdb.log" >&2; return 1; }

  _gk_as_pg "$bindir/pg_ctl" -D "$GRANTKIT_PG_DIR/data" -l "$GRANTKIT_PG_DIR/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $GRANTKIT_PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { _gk_log "postgres failed to start:"; cat "$GRANTKIT_PG_DIR/postgres.log" >&2; return 1; }
  GRANTKIT_PG_BINDIR=$bindir

  local i
  for ((i = 0; i < 300; i++)); do
    "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
  done
  "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" || { _gk_log "pg_isready never answered"; return 1; }

  _gk_as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$GRANTKIT_PG_DIR" -p "$port" -U postgres -d postgres \
    -c "CREATE ROLE grantkit LOGIN PASSWORD 'grantkit'" \
    -c "CREATE DATABASE grantkit_test OWNER grantkit" >/dev/null || { _gk_log "could not create role/database"; return 1; }

  export DATABASE_URL="postgres://grantkit:grantkit@127.0.0.1:$port/grantkit_test"
  _gk_log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $GRANTKIT_PG_DIR)"
}

grantkit_stop_postgres() {
  if [ -n "${GRANTKIT_PG_DIR:-}" ] && [ -d "$GRANTKIT_PG_DIR/data" ]; then
    _gk_as_pg "${GRANTKIT_PG_BINDIR:-$(_gk_pg_bindir)}/pg_ctl" -D "$GRANTKIT_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$GRANTKIT_PG_DIR"
  fi
  GRANTKIT_PG_DIR=
}

# FerretDB built with a plain `go install ...@version` panics at start-up
# ("Invalid build/version/version.txt") because the module zip lacks the
# generated version.txt; so build it from the module source with that file
# written in, which is what `bin/task gen-version` would do.
_gk_build_ferretdb() {
  local out=$1 info dir src
  command -v go >/dev/null || { _gk_log "go is needed to build FerretDB"; return 1; }
  _gk_log "building FerretDB $GRANTKIT_FERRETDB_VERSION (about a minute)"
  info=$(go mod download -json "github.com/FerretDB/FerretDB@$GRANTKIT_FERRETDB_VERSION") || return 1
  dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -d "$dir" ] || { _gk_log "go mod download gave no source dir"; return 1; }
  src=$(mktemp -d "${TMPDIR:-/tmp}/grantkit-ferretdb-src.XXXXXX") || return 1
  cp -r "$dir"/. "$src"/ && chmod -R u+w "$src" &&
    echo "$GRANTKIT_FERRETDB_VERSION" >"$src/build/version/version.txt" &&
    mkdir -p "$(dirname "$out")" &&
    (cd "$src" && go build -buildvcs=false -trimpath -o "$out" ./cmd/ferretdb)
  local rc=$?
  rm -rf "$src"
  return $rc
}

grantkit_start_ferretdb() {
  local bin="${GOBIN:-$HOME/go/bin}/ferretdb" port
  if ! "$bin" --version 2>/dev/null | grep -q "version: $GRANTKIT_FERRETDB_VERSION"; then
    _gk_build_ferretdb "$bin" || { _gk_log "could not build FerretDB"; return 1; }
  fi
  port=$(_gk_free_port "${GRANTKIT_MONGO_PORT:-27018}") || { _gk_log "no free port for FerretDB"; return 1; }
  GRANTKIT_FERRETDB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/grantkit-ferretdb.XXXXXX") || return 1
  mkdir -p "$GRANTKIT_FERRETDB_DIR/data"
  "$bin" --handler=sqlite --sqlite-url="file:$GRANTKIT_FERRETDB_DIR/data/" \
    --listen-addr="127.0.0.1:$port" --debug-addr=- --state-dir="$GRANTKIT_FERRETDB_DIR" \
    --telemetry=disable --log-level=warn \
    </dev/null >"$GRANTKIT_FERRETDB_DIR/ferretdb.log" 2>&1 &
  GRANTKIT_FERRETDB_PID=$!
  disown "$GRANTKIT_FERRETDB_PID" 2>/dev/null || true
  if ! _gk_wait_port "$port" 30; then
    _gk_log "FerretDB did not listen on $port within 30 s:"; cat "$GRANTKIT_FERRETDB_DIR/ferretdb.log" >&2
    return 1
  fi
  export MONGODB_URI="mongodb://127.0.0.1:$port/grantkit_test"
  _gk_log "FerretDB $GRANTKIT_FERRETDB_VERSION (SQLite) on 127.0.0.1:$port (pid $GRANTKIT_FERRETDB_PID, log $GRANTKIT_FERRETDB_DIR/ferretdb.log)"
}

grantkit_stop_ferretdb() {
  if [ -n "${GRANTKIT_FERRETDB_PID:-}" ]; then
    kill "$GRANTKIT_FERRETDB_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$GRANTKIT_FERRETDB_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$GRANTKIT_FERRETDB_PID" 2>/dev/null || true
  fi
  [ -n "${GRANTKIT_FERRETDB_DIR:-}" ] && rm -rf "$GRANTKIT_FERRETDB_DIR"
  GRANTKIT_FERRETDB_PID= GRANTKIT_FERRETDB_DIR=
}

grantkit_ensure_chromium() {
  [ "${GRANTKIT_SKIP_CHROMIUM:-}" = 1 ] && return 0
  [ -x /usr/bin/chromium ] && return 0
  _gk_apt_install chromium || { _gk_log "could not install chromium"; return 1; }
}

grantkit_services_stop() {
  grantkit_stop_ferretdb
  grantkit_stop_postgres
}

grantkit_services_start() {
  grantkit_ensure_chromium && grantkit_start_postgres && grantkit_start_ferretdb
}

# Installs what the services need (Debian's chromium and postgresql, the
# FerretDB build) without starting anything: .ci/run runs it in the
# background while npm ci runs, and sources this script afterwards.
grantkit_services_prepare() {
  grantkit_ensure_chromium || return 1
  _gk_pg_bindir >/dev/null || _gk_apt_install postgresql || return 1
  local bin="${GOBIN:-$HOME/go/bin}/ferretdb"
  "$bin" --version 2>/dev/null | grep -q "version: $GRANTKIT_FERRETDB_VERSION" || _gk_build_ferretdb "$bin"
}

if [ "${GRANTKIT_SERVICES_PREPARE:-}" = 1 ]; then
  grantkit_services_prepare
elif grantkit_services_start; then
  trap grantkit_services_stop EXIT
else
  _gk_log "failed to start services"
  grantkit_services_stop
  false
fi
