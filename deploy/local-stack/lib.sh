# shellcheck shell=bash
# Shared by up.sh, down.sh and status.sh. Sourced, never run.
#
# Everything the stack writes (downloaded jars, data, logs, pidfiles, generated configs) lives
# under one directory, STACK_DIR, so "reset" is removing it. Every process we start has a
# config path under STACK_DIR on its command line; that is how we recognise our own processes
# (and never touch anybody else's, even when a pid gets reused).

LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_DIR="$(cd "$LIB_DIR/../.." && pwd -P)"

# Read by the scripts that source this file.
# shellcheck disable=SC2034
{
KAFKA_VERSION=3.9.1 # keep in step with kafka/pom.xml
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

KAFKA_PORT="${FAASMETER_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${FAASMETER_KAFKA_CONTROLLER_PORT:-19093}"
CLICKHOUSE_HTTP_PORT="${FAASMETER_CLICKHOUSE_HTTP_PORT:-18123}"
CLICKHOUSE_TCP_PORT="${FAASMETER_CLICKHOUSE_TCP_PORT:-19000}"
PROMETHEUS_PORT="${FAASMETER_PROMETHEUS_PORT:-19090}"
ALERTMANAGER_PORT="${FAASMETER_ALERTMANAGER_PORT:-19094}"
ALERT_WEBHOOK="${FAASMETER_ALERT_WEBHOOK:-http://127.0.0.1:19095/alerts}"
HOST=127.0.0.1
}

ALL_SERVICES=(kafka clickhouse prometheus alertmanager)

# Scripts that source this for its helpers (test/vm/prepare.sh) set their own tag first.
LOG_TAG="${LOG_TAG:-stack}"
log() { printf '[%s] %s\n' "$LOG_TAG" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$LOG_TAG" "$*" >&2; }
die() {
  printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2
  exit 1
}

# Resolved to an absolute, symlink-free path: it is matched against /proc/<pid>/cmdline.
init_stack_dir() {
  local dir="${FAASMETER_STACK_DIR:-$REPO_DIR/.stack}"
  mkdir -p "$dir" || die "cannot create stack dir $dir"
  STACK_DIR="$(cd "$dir" && pwd -P)"
  RUN_DIR="$STACK_DIR/run"
  mkdir -p "$RUN_DIR"
}

# Serialises up/down/status-changing runs on one stack dir (tests may call them concurrently).
take_lock() {
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$RUN_DIR/.lock"
  flock -w 300 9 || die "another up.sh/down.sh holds $RUN_DIR/.lock for more than 300 s"
}

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# Services from positional args, else FAASMETER_STACK_SERVICES, else all; validated, in the
# canonical order (kafka first), duplicates dropped.
SERVICES=()
resolve_services() {
  local wanted=("$@") s known ok
  if ((${#wanted[@]} == 0)) && [[ -n "${FAASMETER_STACK_SERVICES:-}" ]]; then
    read -r -a wanted <<<"$FAASMETER_STACK_SERVICES"
  fi
  if ((${#wanted[@]} == 0)); then
    SERVICES=("${ALL_SERVICES[@]}")
    return
  fi
  for s in "${wanted[@]}"; do
    ok=0
    for known in "${ALL_SERVICES[@]}"; do [[ "$s" == "$known" ]] && ok=1; done
    ((ok)) || die "unknown service '$s' (known: ${ALL_SERVICES[*]})"
  done
  SERVICES=()
  for known in "${ALL_SERVICES[@]}"; do
    for s in "${wanted[@]}"; do
      if [[ "$s" == "$known" ]]; then
        SERVICES+=("$known")
        break
      fi
    done
  done
}

service_port() {
  case "$1" in
    kafka) echo "$KAFKA_PORT" ;;
    clickhouse) echo "$CLICKHOUSE_HTTP_PORT" ;;
    prometheus) echo "$PROMETHEUS_PORT" ;;
    alertmanager) echo "$ALERTMANAGER_PORT" ;;
  esac
}

service_endpoint() {
  case "$1" in
    kafka) echo "$HOST:$KAFKA_PORT" ;;
    *) echo "http://$HOST:$(service_port "$1")" ;;
  esac
}

# A string that only the command line of our own process for this service contains.
service_marker() {
  case "$1" in
    kafka) echo "$STACK_DIR/kafka/server.properties" ;;
    clickhouse) echo "--config-file=$STACK_DIR/clickhouse/config.xml" ;;
    prometheus) echo "--config.file=$STACK_DIR/prometheus/prometheus.yml" ;;
    alertmanager) echo "--config.file=$STACK_DIR/alertmanager/alertmanager.yml" ;;
  esac
}

pidfile() { echo "$RUN_DIR/$1.pid"; }

# Sets CMDLINE to a pid's command line joined with spaces, read without forking (so no helper
# process of ours ever carries a marker in its own argv). Fails if the process is gone or is a
# zombie (empty cmdline).
CMDLINE=
read_cmdline() {
  local -a parts=()
  CMDLINE=
  [[ -r "/proc/$1/cmdline" ]] || return 1
  mapfile -d '' parts <"/proc/$1/cmdline" 2>/dev/null || return 1
  ((${#parts[@]})) || return 1
  CMDLINE="${parts[*]}"
}

pid_is_ours() { # service pid
  read_cmdline "$2" || return 1
  [[ "$CMDLINE" == *"$(service_marker "$1")"* ]]
}

# Pid from the pidfile if that process is alive and is ours; fails otherwise.
service_pid() {
  local f pid
  f="$(pidfile "$1")"
  [[ -s "$f" ]] || return 1
  pid="$(<"$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  pid_is_ours "$1" "$pid" || return 1
  echo "$pid"
}

# Our processes for this service other than `known` (pidfile lost, stale or overwritten).
orphan_pids() { # service [known-pid]
  local marker known="${2:-}" p
  marker="$(service_marker "$1")"
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    [[ "$p" == "$known" || "$p" == "$$" || "$p" == "${BASHPID:-}" ]] && continue
    read_cmdline "$p" || continue
    [[ "$CMDLINE" == *"$marker"* ]] && echo "$p"
  done
  return 0
}

port_open() { # port
  # shellcheck disable=SC2016 # $0/$1 expand in the inner shell
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

service_running() { # service -> prints pid
  local pid
  pid="$(service_pid "$1")" || return 1
  port_open "$(service_port "$1")" || return 1
  echo "$pid"
}

service_log() {
  case "$1" in
    kafka) echo "$STACK_DIR/kafka/logs/server.log" ;;
    clickhouse) echo "$STACK_DIR/clickhouse/logs/clickhouse-server.log" ;;
    *) echo "$STACK_DIR/$1/$1.log" ;;
  esac
}

# Stdout/stderr of the process itself (JVM errors, Go panics, ClickHouse startup failures).
service_out() { echo "$STACK_DIR/$1/$1.out"; }

# Sends TERM, waits up to FAASMETER_STOP_TIMEOUT (20 s), then KILL. Only ever called with pids
# that pid_is_ours accepted.
stop_pid() { # service pid
  local svc="$1" pid="$2" waited=0 limit=$((${FAASMETER_STOP_TIMEOUT:-20} * 10))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && pid_is_ours "$svc" "$pid"; do
    if ((waited >= limit)); then
      warn "$svc (pid $pid) ignored SIGTERM for $((limit / 10)) s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# --- tools -----------------------------------------------------------------------------------

APT_UPDATED=0
apt_install() {
  local out
  log "installing Debian packages: $*"
  if out="$(DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" 2>&1)"; then
    return 0
  fi
  # Stale or missing package lists: refresh them once and retry.
  if ((APT_UPDATED == 0)) && grep -qiE 'unable to locate package|has no installation candidate|404|failed to fetch' <<<"$out"; then
    APT_UPDATED=1
    log "apt-get could not find/fetch the packages; running apt-get update and retrying"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
    if out="$(DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" 2>&1)"; then
      return 0
    fi
  fi
  printf '%s\n' "$out" | tail -n 20 >&2
  return 1
}

# need_cmd command debian-package: installs it when we are root with apt, else explains.
need_cmd() {
  local cmd="$1" pkg="$2"
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt_install "$pkg" || die "$cmd not found and 'apt-get install $pkg' failed"
    command -v "$cmd" >/dev/null 2>&1 && return 0
  fi
  die "$cmd not found: apt-get install $pkg"
}
