#!/usr/bin/env bash
# One line per service: running (pid, endpoint) or stopped. Exit 0 if all listed services are
# running, 3 otherwise.
#   status.sh [kafka] [clickhouse] [prometheus] [alertmanager]   (default: all)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

init_stack_dir
resolve_services "$@"

rc=0
for svc in "${SERVICES[@]}"; do
  if pid="$(service_pid "$svc")"; then
    if port_open "$(service_port "$svc")"; then
      printf '%-12s running  pid %-7s %s\n' "$svc" "$pid" "$(service_endpoint "$svc")"
      continue
    fi
    printf '%-12s starting pid %-7s %s (not answering yet)\n' "$svc" "$pid" "$(service_endpoint "$svc")"
  else
    printf '%-12s stopped\n' "$svc"
  fi
  rc=3
done
exit "$rc"
