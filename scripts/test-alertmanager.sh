#!/usr/bin/env bash
# A real Prometheus Alertmanager for end-to-end tests.
#
#   scripts/test-alertmanager.sh ensure    install Alertmanager and amtool if missing (Debian/apt, root)
#
# Only installs: test/support/alertmanager.ts writes the configuration and runs the binary itself.
# On success the last line of stdout is the path of the Alertmanager binary; everything else goes
# to stderr. Debian names the server binary /usr/bin/prometheus-alertmanager (upstream:
# `alertmanager`); both names are accepted, the Debian one first.
#
# Environment:
#   ALERTMANAGER_BIN   use this Alertmanager binary instead of searching for one (amtool is then
#                      looked for next to it and on PATH, but is not required)
#
# `apt-get update` runs only when apt does not know the package yet, or when an install from the
# existing package lists fails (stale lists); it runs at most once.
set -euo pipefail

readonly PACKAGE=prometheus-alertmanager

log() { printf 'test-alertmanager: %s\n' "$*" >&2; }
die() {
  printf 'test-alertmanager: ERROR: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: scripts/test-alertmanager.sh ensure
EOF
  exit 2
}

is_root() { [[ "$(id -u)" == 0 ]]; }

# Prints the path of the Alertmanager server binary: $ALERTMANAGER_BIN, else the Debian name,
# else the upstream name on PATH.
find_alertmanager() {
  if [[ -n "${ALERTMANAGER_BIN:-}" ]]; then
    [[ -x "$ALERTMANAGER_BIN" ]] || return 1
    printf '%s\n' "$ALERTMANAGER_BIN"
    return 0
  fi
  local candidate
  for candidate in /usr/bin/prometheus-alertmanager "$(command -v prometheus-alertmanager 2>/dev/null || true)" "$(command -v alertmanager 2>/dev/null || true)"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

have_amtool() {
  if [[ -n "${ALERTMANAGER_BIN:-}" ]]; then
    return 0 # not required with an explicit binary
  fi
  command -v amtool >/dev/null 2>&1
}

installed() {
  find_alertmanager >/dev/null && have_amtool
}

report() {
  local bin
  bin="$(find_alertmanager)"
  log "using $("$bin" --version 2>&1 | head -n 1) ($bin)"
  printf '%s\n' "$bin"
}

# True when apt's package lists know $PACKAGE (so that an install can work without `update`).
apt_knows_package() {
  local candidate
  candidate="$(apt-cache policy "$PACKAGE" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | head -n 1)"
  [[ -n "$candidate" && "$candidate" != "(none)" ]]
}

cmd_ensure() {
  if [[ -n "${ALERTMANAGER_BIN:-}" ]] && ! find_alertmanager >/dev/null; then
    die "ALERTMANAGER_BIN=$ALERTMANAGER_BIN is not an executable file"
  fi
  if installed; then
    report
    return 0
  fi

  if ! command -v apt-get >/dev/null 2>&1; then
    die "Alertmanager (prometheus-alertmanager/alertmanager and amtool) not found and apt-get is not available: install Alertmanager 0.25+ or set ALERTMANAGER_BIN"
  fi
  local -a sudo=()
  if ! is_root; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      die "Alertmanager not found, and installing it needs root: run 'apt-get install $PACKAGE' as root, or set ALERTMANAGER_BIN"
    fi
  fi

  # Serialise concurrent installers (two test files or runs starting at once); apt's own lock
  # would otherwise make the second one fail.
  local lockfile="${TMPDIR:-/tmp}/firebreak-test-alertmanager-ensure.lock"
  if command -v flock >/dev/null 2>&1; then
    exec 9>>"$lockfile" || die "cannot open lock file $lockfile"
    flock -w 900 9 || die "timed out waiting for another 'test-alertmanager.sh ensure' (lock $lockfile)"
    if installed; then
      log "installed by a concurrent run"
      report
      return 0
    fi
  fi

  log "Alertmanager not found: installing the '$PACKAGE' package with apt-get"
  local started=$SECONDS
  local aptlog
  aptlog="$(mktemp "${TMPDIR:-/tmp}/test-alertmanager-apt.XXXXXX")"
  # policy-rc.d and the missing systemd normally keep the package's service from starting; it
  # would listen on :9093/:9094, which the tests never use (they pick free ports), so it is
  # harmless if it does start.
  local -a apt_env=(env DEBIAN_FRONTEND=noninteractive)
  local -a apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
  local updated=0

  apt_update() {
    if ! "${sudo[@]}" "${apt_env[@]}" apt-get -q "${apt_opts[@]}" update >"$aptlog" 2>&1; then
      tail -n 30 "$aptlog" >&2 || true
      rm -f "$aptlog"
      die "'apt-get update' failed (output above); cannot install $PACKAGE"
    fi
    updated=1
  }
  apt_install() {
    "${sudo[@]}" "${apt_env[@]}" apt-get -q "${apt_opts[@]}" install -y --no-install-recommends "$PACKAGE" >"$aptlog" 2>&1
  }

  if ! apt_knows_package; then
    apt_update
  fi
  if ! apt_install; then
    if ((updated)); then
      tail -n 40 "$aptlog" >&2 || true
      rm -f "$aptlog"
      die "'apt-get install $PACKAGE' failed (output above)"
    fi
    log "install from the existing package lists failed (stale lists?): running 'apt-get update' and retrying"
    apt_update
    if ! apt_install; then
      tail -n 40 "$aptlog" >&2 || true
      rm -f "$aptlog"
      die "'apt-get install $PACKAGE' failed (output above)"
    fi
  fi
  rm -f "$aptlog"
  if ! find_alertmanager >/dev/null; then
    die "'apt-get install $PACKAGE' succeeded but neither /usr/bin/prometheus-alertmanager nor alertmanager was found"
  fi
  have_amtool || log "warning: amtool was not installed with $PACKAGE"
  log "installed $PACKAGE in $((SECONDS - started)) s$( ((updated)) && printf ' (including apt-get update)')"
  report
}

main() {
  [[ $# -ge 1 ]] || usage
  local cmd="$1"
  shift
  case "$cmd" in
  ensure)
    [[ $# -eq 0 ]] || usage
    cmd_ensure
    ;;
  -h | --help | help) usage ;;
  *)
    printf 'test-alertmanager: unknown command: %s\n' "$cmd" >&2
    usage
    ;;
  esac
}

main "$@"
