/**
 * `npm test`: every suite in the order that fails fastest. Lint and type-check, then unit
 * tests, then the real local stack for the integration suite (which records every SQL
 * statement it sends), then the compatibility suite that replays those statements and every
 * migration on current ClickHouse through chdb. Extra suites (promtool, compose, helm) run after.
 * The stack is stopped at the end only if this run started it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const stackDir = process.env.FAASMETER_STACK_DIR ?? join(root, '.stack');
const reportsDir = join(stackDir, 'test-reports');
const only = process.argv.slice(2);

interface Step {
  name: string;
  run: () => number;
  counts?: () => { passed: number; failed: number; skipped: number } | undefined;
  failures?: () => string[];
}

function sh(command: string, args: string[], env: NodeJS.ProcessEnv = {}): number {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.error) {
    process.stderr.write(`${command}: ${result.error.message}\n`);
    return 1;
  }
  return result.status ?? 1;
}

interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: Array<{
    name: string;
    status: string;
    message: string;
    assertionResults: Array<{ fullName: string; status: string; duration?: number | null; failureMessages: string[] }>;
  }>;
}

function vitestReport(project: string): VitestReport | undefined {
  const file = join(reportsDir, `${project}.json`);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as VitestReport;
}

function vitestCounts(project: string) {
  const report = vitestReport(project);
  if (!report) return undefined;
  return { passed: report.numPassedTests, failed: report.numFailedTests, skipped: report.numPendingTests + report.numTodoTests };
}

/**
 * CI keeps only the tail of a run's output, so the summary names every failed test (and a
 * file that failed outside any test) with the first line of its error and how long it ran.
 */
function vitestFailures(project: string): string[] {
  const report = vitestReport(project);
  if (!report) return [];
  const firstLine = (text: string | undefined) => (text ?? '').split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 300) ?? '';
  const lines: string[] = [];
  for (const file of report.testResults) {
    const path = relative(root, file.name);
    const failedTests = file.assertionResults.filter((a) => a.status === 'failed');
    for (const a of failedTests) {
      const seconds = a.duration == null ? '' : ` after ${(a.duration / 1000).toFixed(1)} s`;
      lines.push(`  ${path} > ${a.fullName}${seconds}\n      ${firstLine(a.failureMessages[0])}`);
    }
    if (failedTests.length === 0 && file.status === 'failed') lines.push(`  ${path}\n      ${firstLine(file.message)}`);
  }
  return lines;
}

function vitest(project: string, env: NodeJS.ProcessEnv = {}): Step {
  return {
    name: project,
    run: () =>
      sh(
        'npx',
        ['vitest', 'run', '--project', project, '--reporter=default', '--reporter=json', `--outputFile.json=${join(reportsDir, `${project}.json`)}`],
        env,
      ),
    counts: () => vitestCounts(project),
    failures: () => vitestFailures(project),
  };
}

const sqlRecord = join(stackDir, 'sql-record.jsonl');
const stackWasUp = sh('bash', ['deploy/local-stack/status.sh']) === 0;
mkdirSync(reportsDir, { recursive: true });
process.env.FAASMETER_LOG_LEVEL ??= 'silent';

const steps: Step[] = [
  { name: 'lint', run: () => sh('npx', ['eslint', '.']) },
  { name: 'typecheck', run: () => sh('npx', ['tsc', '--noEmit', '-p', 'tsconfig.json']) },
  vitest('unit'),
  { name: 'stack', run: () => sh('bash', ['deploy/local-stack/up.sh']) },
  {
    ...vitest('integration', { FAASMETER_SQL_RECORD: sqlRecord }),
    run: () => {
      rmSync(sqlRecord, { force: true });
      return vitest('integration', { FAASMETER_SQL_RECORD: sqlRecord }).run();
    },
  },
  vitest('compat'),
];
for (const extra of ['test/alerts/run.sh', 'deploy/validate.sh']) {
  if (existsSync(join(root, extra))) steps.push({ name: extra, run: () => sh('bash', [extra]) });
}

const selected = only.length > 0 ? steps.filter((s) => only.includes(s.name)) : steps;
const results: Array<{ name: string; code: number; seconds: number }> = [];
let failed = false;
for (const step of selected) {
  process.stdout.write(`\n=== ${step.name}\n`);
  const started = Date.now();
  const code = step.run();
  results.push({ name: step.name, code, seconds: (Date.now() - started) / 1000 });
  if (code !== 0) {
    failed = true;
    // Later suites depend on earlier ones (compat replays what integration recorded).
    break;
  }
}

if (!stackWasUp && selected.some((s) => s.name === 'stack')) sh('bash', ['deploy/local-stack/down.sh']);

let passed = 0;
let failedTests = 0;
let skipped = 0;
process.stdout.write('\n=== summary\n');
for (const r of results) {
  const counts = steps.find((s) => s.name === r.name)?.counts?.();
  if (counts) {
    passed += counts.passed;
    failedTests += counts.failed;
    skipped += counts.skipped;
  }
  const detail = counts ? ` (${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped)` : '';
  process.stdout.write(`${r.code === 0 ? 'ok  ' : 'FAIL'} ${r.name.padEnd(20)} ${r.seconds.toFixed(1).padStart(7)} s${detail}\n`);
}
for (const r of results) {
  if (r.code === 0) continue;
  const failures = steps.find((s) => s.name === r.name)?.failures?.() ?? [];
  if (failures.length > 0) process.stdout.write(`\nfailed in ${r.name}:\n${failures.join('\n')}\n`);
}
if (failed && failedTests === 0) failedTests = 1;
process.stdout.write(`${passed} passed, ${failedTests} failed, ${skipped} skipped\n`);
process.exitCode = failed ? 1 : 0;
