#!/usr/bin/env bash
# A real Prometheus Alertmanager (and a real Prometheus) for end-to-end tests.
#
#   scripts/test-alertmanager.sh ensure              install Alertmanager and amtool if missing (Debian/apt, root)
#   scripts/test-alertmanager.sh ensure-prometheus   install the Prometheus server if missing (Debian/apt, root)
#
# Only installs: test/support/alertmanager.ts and test/support/prometheus.ts write the
# configuration and run the binaries themselves. On success the last line of stdout is the path
# of the binary; everything else goes to stderr.
#
# Alertmanager: Debian names the server binary /usr/bin/prometheus-alertmanager (upstream:
# `alertmanager`); both names are accepted, the Debian one first. Package prometheus-alertmanager.
# Prometheus: /usr/bin/prometheus, then `prometheus` on PATH. Package prometheus (2.42 on Debian
# 12), installed with --no-install-recommends (no node exporter).
#
# Environment:
#   ALERTMANAGER_BIN   use this Alertmanager binary instead of searching for one (amtool is then
#                      looked for next to it and on PATH, but is not required)
#   PROMETHEUS_BIN     use this Prometheus binary instead of searching for one
#
# `apt-get update` runs only when apt does not know the package yet, or when an install from the
# existing package lists fails (stale lists); it runs at most once per call. Concurrent calls
# (either command) are serialised by one lock file. Packages' services are not started where
# policy-rc.d forbids it (containers); if they do start, they listen on their default ports,
# which the tests never use.
set -euo pipefail

# Set by select_target: the target of this call (alertmanager or prometheus), the package to
# install, the name used in messages, the variable that overrides the binary.
TARGET=
PACKAGE=
NAME=
BIN_VAR=

log() { printf 'test-alertmanager: %s\n' "$*" >&2; }
die() {
  printf 'test-alertmanager: ERROR: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: scripts/test-alertmanager.sh ensure | ensure-prometheus
EOF
  exit 2
}

is_root() { [[ "$(id -u)" == 0 ]]; }

# Prints the path of a binary: the one named by the variable $1 if that is set (and nothing when
# it is not executable), else the first executable of the other arguments (empty ones skipped).
find_binary() {
  local var="$1"
  shift
  if [[ -n "${!var:-}" ]]; then
    [[ -x "${!var}" ]] || return 1
    printf '%s\n' "${!var}"
    return 0
  fi
  local candidate
  for candidate in "$@"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

# The Alertmanager server binary: $ALERTMANAGER_BIN, else the Debian name, else the upstream name on PATH.
find_alertmanager() {
  find_binary ALERTMANAGER_BIN /usr/bin/prometheus-alertmanager "$(command -v prometheus-alertmanager 2>/dev/null || true)" "$(command -v alertmanager 2>/dev/null || true)"
}

# The Prometheus server binary: $PROMETHEUS_BIN, else /usr/bin/prometheus, else `prometheus` on PATH.
find_prometheus() {
  find_binary PROMETHEUS_BIN /usr/bin/prometheus "$(command -v prometheus 2>/dev/null || true)"
}

have_amtool() {
  if [[ -n "${ALERTMANAGER_BIN:-}" ]]; then
    return 0 # not required with an explicit binary
  fi
  command -v amtool >/dev/null 2>&1
}

select_target() {
  TARGET="$1"
  case "$TARGET" in
  alertmanager) PACKAGE=prometheus-alertmanager NAME=Alertmanager BIN_VAR=ALERTMANAGER_BIN ;;
  prometheus) PACKAGE=prometheus NAME=Prometheus BIN_VAR=PROMETHEUS_BIN ;;
  *) die "unknown target $TARGET" ;;
  esac
}

find_bin() {
  case "$TARGET" in
  alertmanager) find_alertmanager ;;
  prometheus) find_prometheus ;;
  esac
}

installed() {
  case "$TARGET" in
  alertmanager) find_alertmanager >/dev/null && have_amtool ;;
  prometheus) find_prometheus >/dev/null ;;
  esac
}

report() {
  local bin
  bin="$(find_bin)"
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
  select_target "$1"
  if [[ -n "${!BIN_VAR:-}" ]] && ! find_bin >/dev/null; then
    die "$BIN_VAR=${!BIN_VAR} is not an executable file"
  fi
  if installed; then
    report
    return 0
  fi

  if ! command -v apt-get >/dev/null 2>&1; then
    case "$TARGET" in
    alertmanager) die "Alertmanager (prometheus-alertmanager/alertmanager and amtool) not found and apt-get is not available: install Alertmanager 0.25+ or set ALERTMANAGER_BIN" ;;
    prometheus) die "Prometheus not found and apt-get is not available: install Prometheus 2.x or set PROMETHEUS_BIN" ;;
    esac
  fi
  local -a sudo=()
  if ! is_root; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      die "$NAME not found, and installing it needs root: run 'apt-get install $PACKAGE' as root, or set $BIN_VAR"
    fi
  fi

  # Serialise concurrent installers (two test files or runs starting at once, for either
  # package); apt's own lock would otherwise make the second one fail.
  local lockfile="${TMPDIR:-/tmp}/firebreak-test-alertmanager-ensure.lock"
  if command -v flock >/dev/null 2>&1; then
    exec 9>>"$lockfile" || die "cannot open lock file $lockfile"
    flock -w 900 9 || die "timed out waiting for another 'test-alertmanager.sh ensure*' (lock $lockfile)"
    if installed; then
      log "installed by a concurrent run"
      report
      return 0
    fi
  fi

  log "$NAME not found: installing the '$PACKAGE' package with apt-get"
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
  if ! find_bin >/dev/null; then
    case "$TARGET" in
    alertmanager) die "'apt-get install $PACKAGE' succeeded but neither /usr/bin/prometheus-alertmanager nor alertmanager was found" ;;
    prometheus) die "'apt-get install $PACKAGE' succeeded but neither /usr/bin/prometheus nor prometheus on PATH was found" ;;
    esac
  fi
  if [[ "$TARGET" == alertmanager ]]; then
    have_amtool || log "warning: amtool was not installed with $PACKAGE"
  fi
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
    cmd_ensure alertmanager
    ;;
  ensure-prometheus)
    [[ $# -eq 0 ]] || usage
    cmd_ensure prometheus
    ;;
  -h | --help | help) usage ;;
  *)
    printf 'test-alertmanager: unknown command: %s\n' "$cmd" >&2
    usage
    ;;
  esac
}

main "$@"
