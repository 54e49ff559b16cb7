#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests.
#
#   scripts/test-postgres.sh ensure              install the server binaries if missing (Debian/apt, root)
#   scripts/test-postgres.sh start DIR PORT      initdb + start a server in DIR on 127.0.0.1:PORT;
#                                                prints the connection URL as the last line of stdout
#   scripts/test-postgres.sh stop DIR            stop the server started in DIR (idempotent)
#
# Layout of DIR: DIR/pgdata (cluster), DIR/socket (unix socket), DIR/postgres.log (server log),
# DIR/initdb.log and DIR/pg_ctl.log. The caller owns DIR and removes it after `stop`.
#
# Environment:
#   PG_BINDIR   use the server binaries in this directory instead of searching for them
#   PG_DATABASE name of the database `start` creates (default firebreak_test)
#
# Everything except the URL goes to stderr. Any failure exits non-zero with a message that says
# what went wrong and, for server start failures, the tail of the server log.
set -euo pipefail

readonly PREFERRED_MAJOR=15
readonly DB_NAME="${PG_DATABASE:-firebreak_test}"
readonly PG_USER=postgres

log() { printf 'test-postgres: %s\n' "$*" >&2; }
die() {
  printf 'test-postgres: ERROR: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: scripts/test-postgres.sh ensure
       scripts/test-postgres.sh start <datadir> <port>
       scripts/test-postgres.sh stop <datadir>
EOF
  exit 2
}

is_root() { [[ "$(id -u)" == 0 ]]; }

# Prints the directory holding initdb and pg_ctl: $PG_BINDIR, else PostgreSQL 15 under
# /usr/lib/postgresql (Debian layout), else the newest other version there, else the
# directory of an initdb found on PATH (non-Debian machines).
find_bindir() {
  if [[ -n "${PG_BINDIR:-}" ]]; then
    printf '%s\n' "$PG_BINDIR" # validated in main
    return 0
  fi
  local dir
  if [[ -x "/usr/lib/postgresql/$PREFERRED_MAJOR/bin/initdb" && -x "/usr/lib/postgresql/$PREFERRED_MAJOR/bin/pg_ctl" ]]; then
    printf '%s\n' "/usr/lib/postgresql/$PREFERRED_MAJOR/bin"
    return 0
  fi
  # Newest other major version (sort -V on the path).
  while IFS= read -r dir; do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
      printf '%s\n' "$dir"
      return 0
    fi
  done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV || true)
  local initdb
  if initdb="$(command -v initdb 2>/dev/null)"; then
    initdb="$(readlink -f "$initdb")"
    dir="$(dirname "$initdb")"
    if [[ -x "$dir/pg_ctl" ]]; then
      printf '%s\n' "$dir"
      return 0
    fi
  fi
  return 1
}

cmd_ensure() {
  local bindir
  if bindir="$(find_bindir)"; then
    log "using PostgreSQL binaries in $bindir"
    return 0
  fi

  if ! command -v apt-get >/dev/null 2>&1; then
    die "PostgreSQL server binaries (initdb, pg_ctl) not found and apt-get is not available: install PostgreSQL $PREFERRED_MAJOR, set PG_BINDIR, or set TEST_DATABASE_URL to an existing server"
  fi
  local -a sudo=()
  if ! is_root; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      die "PostgreSQL server binaries (initdb, pg_ctl) not found, and installing them needs root: run 'apt-get install postgresql' as root, set PG_BINDIR, or set TEST_DATABASE_URL to an existing server"
    fi
  fi

  # Serialise concurrent installers (two test runs starting at once); apt's own lock would
  # otherwise make the second one fail.
  local lockfile="${TMPDIR:-/tmp}/firebreak-test-postgres-ensure.lock"
  if command -v flock >/dev/null 2>&1; then
    exec 9>>"$lockfile" || die "cannot open lock file $lockfile"
    flock -w 900 9 || die "timed out waiting for another 'test-postgres.sh ensure' (lock $lockfile)"
    if bindir="$(find_bindir)"; then
      log "using PostgreSQL binaries in $bindir (installed by a concurrent run)"
      return 0
    fi
  fi

  log "PostgreSQL server binaries not found: installing the 'postgresql' package with apt-get"
  local started=$SECONDS
  local aptlog
  aptlog="$(mktemp "${TMPDIR:-/tmp}/test-postgres-apt.XXXXXX")"
  local -a apt_env=(env DEBIAN_FRONTEND=noninteractive)
  local -a apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
  if ! "${sudo[@]}" "${apt_env[@]}" apt-get -q "${apt_opts[@]}" update >"$aptlog" 2>&1; then
    tail -n 30 "$aptlog" >&2 || true
    rm -f "$aptlog"
    die "'apt-get update' failed (output above); cannot install PostgreSQL"
  fi
  if ! "${sudo[@]}" "${apt_env[@]}" apt-get -q "${apt_opts[@]}" install -y --no-install-recommends postgresql >"$aptlog" 2>&1; then
    tail -n 40 "$aptlog" >&2 || true
    rm -f "$aptlog"
    die "'apt-get install postgresql' failed (output above)"
  fi
  rm -f "$aptlog"
  if ! bindir="$(find_bindir)"; then
    die "'apt-get install postgresql' succeeded but no initdb/pg_ctl was found under /usr/lib/postgresql/*/bin"
  fi
  log "installed PostgreSQL ($bindir) in $((SECONDS - started)) s"
}

# Runs a command as the server's OS user: the 'postgres' user when we are root (initdb and
# pg_ctl refuse to run as root), ourselves otherwise.
as_server_user() {
  if is_root; then
    runuser -u "$SERVER_OS_USER" -- "$@"
  else
    "$@"
  fi
}

check_port() {
  local port="$1"
  if [[ ! "$port" =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
    die "invalid port '$port' (expected 1-65535)"
  fi
}

# Chooses the unix socket directory: DIR/socket unless the socket path would exceed the
# ~107-byte limit of sun_path, then a short directory under /tmp (recorded in DIR/socket-dir
# so that `stop` removes it).
choose_socket_dir() {
  local datadir="$1" port="$2"
  local sock="$datadir/socket"
  if ((${#sock} + ${#port} + 12 > 100)); then
    sock="$(mktemp -d /tmp/fbpg-sock.XXXXXX)" || die "cannot create a socket directory under /tmp"
    printf '%s\n' "$sock" >"$datadir/socket-dir"
  else
    mkdir -p "$sock"
  fi
  printf '%s\n' "$sock"
}

print_log_tail() {
  local file="$1" what="$2"
  if [[ -s "$file" ]]; then
    printf 'test-postgres: last lines of %s (%s):\n' "$what" "$file" >&2
    tail -n 25 "$file" | sed 's/^/  | /' >&2 || true
  fi
}

cmd_start() {
  [[ $# -eq 2 ]] || usage
  local datadir="$1" port="$2"
  check_port "$port"
  port=$((10#$port))
  local bindir
  bindir="$(find_bindir)" || die "PostgreSQL server binaries (initdb, pg_ctl) not found; run 'scripts/test-postgres.sh ensure' first (as root), or set PG_BINDIR"

  mkdir -p "$datadir" || die "cannot create data directory $datadir"
  datadir="$(cd "$datadir" && pwd -P)"
  local pgdata="$datadir/pgdata"
  local logfile="$datadir/postgres.log"
  local initlog="$datadir/initdb.log"
  [[ ! -e "$pgdata" ]] || die "$pgdata already exists: pass a fresh directory to 'start'"

  SERVER_OS_USER="$(id -un)"
  if is_root; then
    SERVER_OS_USER="$PG_USER"
    id -u "$SERVER_OS_USER" >/dev/null 2>&1 ||
      die "running as root, but there is no '$SERVER_OS_USER' OS user to run the server as (initdb refuses root); install the postgresql package or run as a non-root user"
    command -v runuser >/dev/null 2>&1 || die "running as root, but 'runuser' (util-linux) is not available"
  fi

  local sockdir
  sockdir="$(choose_socket_dir "$datadir" "$port")"
  chmod 700 "$sockdir"
  if is_root; then
    chown "$SERVER_OS_USER:" "$datadir" "$sockdir"
    chmod 700 "$datadir"
    as_server_user test -w "$datadir" ||
      die "the '$SERVER_OS_USER' user cannot write to $datadir (a parent directory is not searchable by it?); use a directory under /tmp"
  fi
  # Log files written by the server user.
  : >"$logfile"
  : >"$initlog"
  if is_root; then chown "$SERVER_OS_USER:" "$logfile" "$initlog"; fi

  cd "$datadir" # the server user may not be able to read the caller's working directory

  # Trust authentication: the server listens on 127.0.0.1 only, and the socket directory is
  # private to the server user. --no-sync: this cluster is thrown away after the tests.
  if ! as_server_user "$bindir/initdb" -D "$pgdata" -U "$PG_USER" -E UTF8 --locale=C \
    --auth-local=trust --auth-host=trust --no-sync --no-instructions >"$initlog" 2>&1; then
    print_log_tail "$initlog" "initdb output"
    die "initdb failed for $pgdata"
  fi

  # Only loopback IPv4 connections (no ::1 or other hosts), trust.
  as_server_user tee "$pgdata/pg_hba.conf" >/dev/null <<'EOF'
# Written by scripts/test-postgres.sh: throwaway test server.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF
  as_server_user tee -a "$pgdata/postgresql.conf" >/dev/null <<EOF

# --- scripts/test-postgres.sh: settings for a throwaway test server ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
EOF

  local ctllog="$datadir/pg_ctl.log"
  if ! as_server_user "$bindir/pg_ctl" -D "$pgdata" -l "$logfile" -w -t 60 -s start >"$ctllog" 2>&1; then
    print_log_tail "$ctllog" "pg_ctl output"
    print_log_tail "$logfile" "server log"
    # A server that started but did not answer in time is still running: stop it.
    as_server_user "$bindir/pg_ctl" -D "$pgdata" -m immediate -s stop >/dev/null 2>&1 || true
    die "PostgreSQL did not start on 127.0.0.1:$port (port already in use? see the server log above)"
  fi

  local psql="$bindir/psql"
  [[ -x "$psql" ]] || psql="$(command -v psql 2>/dev/null || true)"
  if [[ -z "$psql" ]]; then
    as_server_user "$bindir/pg_ctl" -D "$pgdata" -m fast -s stop >/dev/null 2>&1 || true
    die "psql not found (expected next to initdb in $bindir, or on PATH)"
  fi
  local out
  if ! out="$("$psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres \
    -c "CREATE DATABASE \"$DB_NAME\"" 2>&1)"; then
    printf '%s\n' "$out" >&2
    print_log_tail "$logfile" "server log"
    as_server_user "$bindir/pg_ctl" -D "$pgdata" -m fast -s stop >/dev/null 2>&1 || true
    die "could not create database $DB_NAME on 127.0.0.1:$port"
  fi

  log "PostgreSQL ($("$bindir/pg_ctl" --version | sed -E "s/^pg_ctl \(PostgreSQL\) //")) running on 127.0.0.1:$port, data in $pgdata"
  printf 'postgresql://%s@127.0.0.1:%s/%s\n' "$PG_USER" "$port" "$DB_NAME"
}

cmd_stop() {
  [[ $# -eq 1 ]] || usage
  local datadir="$1"
  if [[ ! -d "$datadir" ]]; then
    log "nothing to stop: $datadir does not exist"
    return 0
  fi
  local pgdata="$datadir/pgdata"
  local status=0
  if [[ ! -f "$pgdata/postmaster.pid" ]]; then
    log "no server running in $pgdata"
  else
    local bindir
    bindir="$(find_bindir)" || die "PostgreSQL binaries not found; cannot stop the server in $pgdata"
    SERVER_OS_USER="$(id -un)"
    if is_root; then
      SERVER_OS_USER="$(stat -c %U "$pgdata")"
      [[ "$SERVER_OS_USER" != root ]] || SERVER_OS_USER="$PG_USER"
    fi
    if ! as_server_user "$bindir/pg_ctl" -D "$pgdata" -m fast -w -t 30 -s stop >&2; then
      log "fast shutdown failed; trying immediate shutdown"
      if ! as_server_user "$bindir/pg_ctl" -D "$pgdata" -m immediate -w -t 30 -s stop >&2; then
        if [[ -f "$pgdata/postmaster.pid" ]]; then
          printf 'test-postgres: ERROR: could not stop the server in %s\n' "$pgdata" >&2
          status=1
        fi
      fi
    fi
  fi
  if [[ -f "$datadir/socket-dir" ]]; then
    local sockdir
    sockdir="$(<"$datadir/socket-dir")"
    [[ "$sockdir" == /tmp/fbpg-sock.* ]] && rm -rf -- "$sockdir"
    rm -f -- "$datadir/socket-dir"
  fi
  return "$status"
}

main() {
  [[ $# -ge 1 ]] || usage
  if [[ -n "${PG_BINDIR:-}" && ! (-x "$PG_BINDIR/initdb" && -x "$PG_BINDIR/pg_ctl") ]]; then
    die "PG_BINDIR=$PG_BINDIR does not contain executable initdb and pg_ctl"
  fi
  [[ "$DB_NAME" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] || die "invalid PG_DATABASE '$DB_NAME' (letters, digits, _)"
  local cmd="$1"
  shift
  case "$cmd" in
  ensure)
    [[ $# -eq 0 ]] || usage
    cmd_ensure
    ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  -h | --help | help) usage ;;
  *)
    printf 'test-postgres: unknown command: %s\n' "$cmd" >&2
    usage
    ;;
  esac
}

main "$@"
