#!/usr/bin/env bash
# The schemathesis fuzz run of the billing API on its own (needs the local stack: npm run stack:up).
# It is test/integration/api-schemathesis.test.ts, which also runs with the integration suite;
# this wrapper exits non-zero on failure and closes with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
npx vitest run --project integration test/integration/api-schemathesis.test.ts \
  --reporter=default --reporter=json --outputFile.json="$report"
code=$?
npx node -e '
  const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`);
' "$report" || echo "0 passed, 1 failed"
exit "$code"
