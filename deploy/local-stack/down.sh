#!/usr/bin/env bash
# Stops the local stack (or the named services): only processes this stack started, found by
# pidfile (and, as a fallback, by our own config path on their command line). SIGTERM, up to
# FAASMETER_STOP_TIMEOUT (20) seconds, then SIGKILL. Data is kept; see README.md to reset it.
#   down.sh [kafka] [clickhouse] [prometheus] [alertmanager]   (default: all)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

init_stack_dir
take_lock
resolve_services "$@"

T0="$(now)"
stopped=()
# Reverse start order: alerting first, Kafka last.
for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
  svc="${SERVICES[i]}"
  t="$(now)"
  pids=()
  if pid="$(service_pid "$svc")"; then
    pids+=("$pid")
  elif [[ -e "$(pidfile "$svc")" ]]; then
    log "$svc: stale pidfile (process gone or not ours), removing it"
  fi
  read -r -a strays <<<"$(orphan_pids "$svc" "${pid:-}" | tr '\n' ' ')"
  pids+=("${strays[@]}")
  if ((${#pids[@]} == 0)); then
    rm -f "$(pidfile "$svc")"
    log "$svc: not running"
    continue
  fi
  for p in "${pids[@]}"; do stop_pid "$svc" "$p" & done
  wait
  left=()
  for p in "${pids[@]}"; do pid_is_ours "$svc" "$p" && left+=("$p"); done
  ((${#left[@]} == 0)) || die "$svc: still running after SIGKILL: ${left[*]}"
  rm -f "$(pidfile "$svc")"
  stopped+=("${pids[@]}")
  log "$svc: stopped (pid ${pids[*]}) in $(elapsed "$t")"
done
# Our services were re-parented to init when up.sh exited; init here reaps orphans only every
# second or two, so wait (briefly) until the exited processes are gone from the process table
# instead of leaving <defunct> entries behind for whoever checks right after us.
for ((n = 0; n < 40; n++)); do
  gone=1
  for p in "${stopped[@]}"; do [[ -e "/proc/$p" ]] && gone=0; done
  ((gone)) && break
  sleep 0.1
done
log "down in $(elapsed "$T0")"
