/**
 * `npm run bench`: every benchmark, one after another, on the local stack (started if it is not
 * running), each in its own process so one's heap and sockets never colour the next. Each bench
 * appends its own section to bench/RESULTS.md; this adds a closing line naming the run.
 *
 *   npm run bench [-- --only pipeline,proxy]
 *
 * Not part of `npm test`: the figures need a quiet machine and the whole run takes ~20 minutes
 * (the memory bench alone holds Kafka down for 5 of them).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { recordResults } from './results.ts';

const BENCHES: { name: string; script: string; args?: string[]; what: string }[] = [
  { name: 'pipeline', script: 'bench/pipeline.ts', what: 'producer → meter → billed rows, beside Kafka and ClickHouse limits' },
  {
    name: 'pipeline-2-meters',
    script: 'bench/pipeline.ts',
    args: ['--meters', '2'],
    what: 'the same with two meters in one group: does a second process help on two cores?',
  },
  { name: 'proxy', script: 'bench/proxy.ts', what: 'proxy overhead versus direct and nginx at 1,000 and 5,000 req/s' },
  { name: 'freshness', script: 'bench/freshness.ts', what: "time from a call's end to the billing API" },
  { name: 'read-path', script: 'bench/api.ts', what: 'statement and usage over 10,000,000 stored calls' },
  { name: 'memory', script: 'bench/memory.ts', what: 'collector and meter RSS through a 5-minute Kafka outage' },
  { name: 'kafka-resume', script: 'bench/kafka-resume.ts', what: 'how long after a Kafka outage the meter bills again, by session timeout' },
];

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const only = values.only?.split(',');
const unknown = only?.filter((name) => !BENCHES.some((b) => b.name === name)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(`--only: unknown bench ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}\n`);
  process.exit(2);
}
const root = join(import.meta.dirname, '..');
const runId = `${new Date().toISOString().slice(0, 16)}Z-${randomBytes(2).toString('hex')}`;

const up = spawnSync('bash', [join(root, 'deploy/local-stack/up.sh')], { stdio: 'inherit' });
if (up.status !== 0) process.exit(up.status ?? 1);

const outcomes: string[] = [];
let failed = 0;
for (const bench of BENCHES.filter((b) => !only || only.includes(b.name))) {
  process.stdout.write(`\n=== ${bench.name}: ${bench.what} ===\n`);
  const started = performance.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [join(root, bench.script), ...(bench.args ?? [])], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, FAASMETER_BENCH_RUN: runId, KAFKAJS_NO_PARTITIONER_WARNING: '1' },
    });
    child.once('exit', (exitCode) => resolve(exitCode));
  });
  const minutes = ((performance.now() - started) / 60_000).toFixed(1);
  if (code !== 0) failed += 1;
  outcomes.push(`| ${bench.name} | ${code === 0 ? 'finished' : `FAILED (exit ${code})`} | ${minutes} min |`);
}

recordResults({
  title: `Run ${runId}: summary`,
  command: `npm run bench${only ? ` -- --only ${only.join(',')}` : ''}`,
  body: `| bench | outcome | time |\n| --- | --- | --- |\n${outcomes.join('\n')}`,
});
process.stdout.write(`\nbench run ${runId}: ${outcomes.length - failed} finished, ${failed} failed; figures in bench/RESULTS.md\n`);
process.exitCode = failed > 0 ? 1 : 0;
