#!/usr/bin/env bash
# Copies what the Helm chart ships from elsewhere in the repository into its files/ directory
# (a chart cannot read outside its own directory):
#   alerts/rules/*.yml, alerts/thresholds.json → deploy/helm/faasmeter/files/alerts/
#   dashboards/generated/*.json        → deploy/helm/faasmeter/files/dashboards/
#   deploy/config/plans.example.json   → deploy/helm/faasmeter/files/plans.example.json
# and generates deploy/helm/faasmeter/templates/_alert-rules.tpl from alerts/rules.ts
# (deploy/tools/chart-alert-rules.ts: every threshold becomes a chart value).
#
#   bash deploy/tools/sync-chart-files.sh           copy (and delete copies whose source is gone)
#   bash deploy/tools/sync-chart-files.sh --check   exit 1 and name every stale copy; change nothing
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

CHART_FILES=deploy/helm/faasmeter/files
check=false
[[ "${1:-}" == --check ]] && check=true

stale=0
# sync SOURCE_DIR GLOB DEST_DIR
sync_dir() {
  local src_dir="$1" glob="$2" dest_dir="$3" src dest name
  mkdir -p "$dest_dir"
  shopt -s nullglob
  for src in "$src_dir"/$glob; do
    name="$(basename "$src")"
    dest="$dest_dir/$name"
    if ! cmp -s "$src" "$dest"; then
      stale=$((stale + 1))
      if $check; then echo "stale: $dest (differs from $src)"; else cp "$src" "$dest" && echo "copied $src → $dest"; fi
    fi
  done
  for dest in "$dest_dir"/$glob; do
    name="$(basename "$dest")"
    if [[ ! -e "$src_dir/$name" ]]; then
      stale=$((stale + 1))
      if $check; then echo "stale: $dest (no $src_dir/$name)"; else rm "$dest" && echo "removed $dest"; fi
    fi
  done
  shopt -u nullglob
}

sync_dir alerts/rules '*.yml' "$CHART_FILES/alerts"
sync_dir alerts 'thresholds.json' "$CHART_FILES/alerts"
sync_dir dashboards/generated '*.json' "$CHART_FILES/dashboards"
sync_dir deploy/config 'plans.example.json' "$CHART_FILES"

# Node 24 (type stripping): the npm-installed one when the machine's is older.
NODE=node
[[ -x node_modules/.bin/node ]] && NODE=node_modules/.bin/node
if $check; then
  "$NODE" deploy/tools/chart-alert-rules.ts --check || stale=$((stale + 1))
else
  "$NODE" deploy/tools/chart-alert-rules.ts
fi

if $check && ((stale > 0)); then
  echo "$stale chart file(s) out of date: run bash deploy/tools/sync-chart-files.sh" >&2
  exit 1
fi
$check || echo "chart files in sync ($stale updated)"
