#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests, run from Debian's server binaries
# with its own data dir, port and socket dir (never the system cluster).
#
# Usage: bash deploy/postgres.sh {start|stop|status|reset|url}
#   start   init (first time) + start + ensure role/db; no-op if running
#   stop    fast shutdown; no-op if not running
#   status  exit 0 if running, 3 if not
#   reset   stop and delete the whole cluster (data, socket dir, log)
#   url     print the SQLAlchemy URL only, e.g.
#           export DISTILLGUARD_DATABASE_URL=$(bash deploy/postgres.sh url)
#
# Env: DISTILLGUARD_RUN_DIR (/tmp/distillguard), PG_PORT (55432),
#      PG_USER / PG_PASSWORD / PG_DB (distillguard).
set -euo pipefail

RUN_DIR="${DISTILLGUARD_RUN_DIR:-/tmp/distillguard}"
PG_ROOT="$RUN_DIR/postgres"
PGDATA="$PG_ROOT/data"
SOCK_DIR="$PG_ROOT/run"
LOG_FILE="$PG_ROOT/postgres.log"
PG_PORT="${PG_PORT:-55432}"
PG_USER="${PG_USER:-distillguard}"
PG_PASSWORD="${PG_PASSWORD:-distillguard}"
PG_DB="${PG_DB:-distillguard}"
PG_HOST=127.0.0.1
SUPERUSER=postgres # bootstrap superuser name (initdb -U)

say() { echo "postgres: $*"; }
note() { echo "postgres: $*" >&2; } # progress, keeps stdout to the result line
die() { echo "postgres: error: $*" >&2; exit 1; }

# Percent-encode a URL component (user/password may contain @ : / etc.).
urlencode() {
  local LC_ALL=C s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [a-zA-Z0-9._~-]) out+="$c" ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

db_url() {
  echo "postgresql+psycopg2://$(urlencode "$PG_USER"):$(urlencode "$PG_PASSWORD")@$PG_HOST:$PG_PORT/$(urlencode "$PG_DB")"
}

# initdb/pg_ctl refuse to run as root: as root, drop to the postgres OS user.
# cd / first so a cwd like /root (unreadable for postgres) does not matter.
if [[ $EUID -eq 0 ]]; then
  as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
  as_pg() { "$@"; }
fi

# Install Debian's server package only if no server binaries exist at all.
ensure_server() {
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
  [[ $EUID -eq 0 ]] || die "PostgreSQL server not installed and not root (apt-get install postgresql)"
  note "installing Debian postgresql package"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql)
  "${apt[@]}" || { apt-get update && "${apt[@]}"; }
}

# Pick the bin dir: the version the data dir was created with, else the newest.
pick_bindir() {
  local ver=""
  [[ -f "$PGDATA/PG_VERSION" ]] && ver=$(<"$PGDATA/PG_VERSION")
  if [[ -n "$ver" ]]; then
    [[ -x "/usr/lib/postgresql/$ver/bin/pg_ctl" ]] \
      || die "data dir is PostgreSQL $ver but /usr/lib/postgresql/$ver is missing (run: reset)"
  else
    ver=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null \
      | awk -F/ '{print $5}' | sort -V | tail -n1)
    [[ -n "$ver" ]] || die "no PostgreSQL server under /usr/lib/postgresql"
  fi
  BIN="/usr/lib/postgresql/$ver/bin"
}

is_running() {
  [[ -f "$PGDATA/PG_VERSION" ]] && as_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

# Port actually in use by the running server (4th line of postmaster.pid).
running_port() { sed -n 4p "$PGDATA/postmaster.pid" 2>/dev/null || true; }

init_cluster() {
  (umask 022 && mkdir -p "$PG_ROOT") # parents must stay traversable
  if [[ $EUID -eq 0 ]]; then chown postgres: "$PG_ROOT"; fi
  as_pg test -w "$PG_ROOT" \
    || die "$PG_ROOT not writable/traversable by $(id -un postgres 2>/dev/null || echo postgres); check parent dir permissions"
  as_pg mkdir -p -m 700 "$SOCK_DIR"
  if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
    note "initdb $PGDATA ($BIN)"
    # Local socket: trust (setup as superuser). TCP: password (scram), so the
    # URL's credentials are really checked.
    as_pg "$BIN/initdb" -D "$PGDATA" -U "$SUPERUSER" -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$PG_ROOT/initdb.log" 2>&1 \
      || { cat "$PG_ROOT/initdb.log" >&2; die "initdb failed"; }
    echo "include_if_exists = 'distillguard.conf'" | as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
  fi
  # Rewritten on every start so PG_PORT / run dir changes take effect.
  as_pg tee "$PGDATA/distillguard.conf" >/dev/null <<EOF
# Managed by deploy/postgres.sh -- throwaway test cluster, NOT crash safe.
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = '$SOCK_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

# Idempotently create/refresh the app role and database.
ensure_role_db() {
  as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PG_PORT" -U "$SUPERUSER" -d postgres \
    -v user="$PG_USER" -v pw="$PG_PASSWORD" -v db="$PG_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
-- CREATEDB: tests make a database each; CREATEROLE: the migration adds the billing role.
ALTER ROLE :"user" WITH LOGIN CREATEDB CREATEROLE PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
}

cmd_start() {
  ensure_server
  pick_bindir
  if is_running; then
    local port; port=$(running_port)
    say "already running on $PG_HOST:${port:-?} (data $PGDATA)"
    [[ "$port" == "$PG_PORT" ]] || say "warning: running port ${port:-?} != PG_PORT $PG_PORT (stop and start again)"
    return 0
  fi
  init_cluster
  note "starting (log $LOG_FILE)"
  as_pg "$BIN/pg_ctl" -D "$PGDATA" -l "$LOG_FILE" -w -t 30 start >/dev/null \
    || { tail -n 20 "$LOG_FILE" >&2 || true; die "pg_ctl start failed (port $PG_PORT in use?)"; }
  local i
  for ((i = 0; i < 30; i++)); do
    "$BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 1 && break
    sleep 1
  done
  "$BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 1 || die "not ready after 30s, see $LOG_FILE"
  ensure_role_db
  say "listening on $PG_HOST:$PG_PORT url=$(db_url)"
}

cmd_stop() {
  pick_bindir_quiet || { say "no cluster at $PGDATA, nothing to stop"; return 0; }
  if is_running; then
    # fast = abort sessions, clean shutdown; immediate only as a fallback.
    if as_pg "$BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null; then
      say "stopped (data $PGDATA)"
    else
      as_pg "$BIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 10 stop >/dev/null
      say "stopped with -m immediate (fast timed out; data $PGDATA)"
    fi
  else
    say "not running, nothing to stop"
  fi
}

cmd_status() {
  pick_bindir_quiet || { say "no cluster at $PGDATA"; return 3; }
  if is_running; then
    say "running on $PG_HOST:$(running_port) pid $(head -n1 "$PGDATA/postmaster.pid") url=$(db_url)"
  else
    say "stopped (data $PGDATA)"
    return 3
  fi
}

cmd_reset() {
  cmd_stop
  if [[ -d "$PG_ROOT" ]]; then
    rm -rf -- "$PG_ROOT"
    say "deleted $PG_ROOT"
  fi
}

# For stop/status: no data dir (or no server) means there is nothing to do.
pick_bindir_quiet() {
  [[ -f "$PGDATA/PG_VERSION" ]] && compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null && pick_bindir
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  url) db_url ;;
  *) echo "usage: $0 {start|stop|status|reset|url}" >&2; exit 2 ;;
esac
