#!/usr/bin/env bash
# The alert rules suite (npm test runs it after the vitest suites):
#   1. alerts/rules/*.yml is what alerts/generate.ts makes of alerts/thresholds.json;
#   2. promtool check rules accepts every rule file;
#   3. every alert has a unit test file test/alerts/<Alert>.test.yml with a firing case
#      (exp_labels) and a not-firing case (exp_alerts: []), and a runbook docs/runbooks/<Alert>.md;
#   4. promtool test rules passes for each test file.
# Ends with "N passed, N failed" and exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2

passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$1"; [[ -n "${2:-}" ]] && printf '%s\n' "$2" | sed 's/^/     /'; }

if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found: apt-get install prometheus (or npm run stack:up, which installs it)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

if out="$(npx --no-install node alerts/generate.ts --check 2>&1)"; then
  ok "alerts/rules/faasmeter.yml matches alerts/generate.ts and alerts/thresholds.json"
else
  fail "alerts/rules/faasmeter.yml is stale" "$out"
fi

shopt -s nullglob
rule_files=(alerts/rules/*.yml)
if ((${#rule_files[@]} == 0)); then
  fail "no rule files in alerts/rules/"
elif out="$(promtool check rules "${rule_files[@]}" 2>&1)"; then
  ok "promtool check rules ${rule_files[*]}"
else
  fail "promtool check rules" "$out"
fi

mapfile -t alerts < <(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "${rule_files[@]}" | sort -u)
for alert in "${alerts[@]}"; do
  test_file="test/alerts/$alert.test.yml"
  if [[ ! -f "$test_file" ]]; then
    fail "$alert has a unit test ($test_file missing)"
  elif ! grep -q "alertname: $alert\$" "$test_file" || ! grep -q 'exp_labels:' "$test_file" || ! grep -q 'exp_alerts: \[\]' "$test_file"; then
    fail "$alert: $test_file needs a firing case (exp_labels) and a not-firing case (exp_alerts: []) for alertname $alert"
  else
    ok "$alert has firing and not-firing unit tests"
  fi
  if [[ -f "docs/runbooks/$alert.md" ]]; then
    ok "$alert has a runbook"
  else
    fail "$alert has a runbook (docs/runbooks/$alert.md missing)"
  fi
done

for test_file in test/alerts/*.test.yml; do
  if out="$(promtool test rules "$test_file" 2>&1)"; then
    ok "promtool test rules $test_file"
  else
    fail "promtool test rules $test_file" "$out"
  fi
done

echo "$passed passed, $failed failed"
((failed == 0))
