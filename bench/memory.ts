/**
 * Memory bench (issue #8): RSS of the collector (`faasmeter proxy`) and of the meter
 * (`faasmeter meter`) under a steady load, through a Kafka outage, and while the spool drains.
 *
 *   npx node bench/memory.ts [--rate 1000] [--steady-s 60] [--outage-s 300] [--recovery-s 120] [--drain-timeout-s 600]
 *
 * The sample function, the proxy in front of it and the meter each run as their own process (the
 * real CLI), so /proc/<pid>/status charges each its own memory. Kafka is a private node
 * (test/helpers/private-kafka.ts) that this bench stops for the outage without disturbing the
 * shared stack; the meter bills into a fresh database on the shared ClickHouse, dropped at exit.
 * This process is the load: an open-loop stream of requests at --rate, on for the whole run.
 *
 * Phases: steady (Kafka up, --steady-s); outage (Kafka stopped, --outage-s); recovery (Kafka
 * started again, load still on, for at least --recovery-s and until the spool is drained and the
 * meter has billed every call answered before the restart, giving up after --drain-timeout-s);
 * final (load off, until every call answered is billed, again at most --drain-timeout-s; skipped
 * when the spool never drained). RSS is sampled every 5 s and at each phase's end, the spool's
 * bytes on disk every second. Exits 1 unless the spool drained and the calls billed
 * (uniqExact(event_id) in billed_calls) equal the calls answered 200.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { ClickHouse } from '../clickhouse/client.ts';
import { createClickHouse } from '../clickhouse/client.ts';
import { migrate } from '../clickhouse/migrate.ts';
import { sql, v } from '../clickhouse/sql.ts';
import { defaultTopics, ensureTopics } from '../kafka/topics.ts';
import { CLICKHOUSE_URL, uniqueDatabase } from '../test/helpers/clickhouse.ts';
import { TEST_PRICING } from '../test/helpers/meter-fixtures.ts';
import { startMeterProcess, writeJson } from '../test/helpers/meter-process.ts';
import { createPrivateKafka } from '../test/helpers/private-kafka.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { metricSum } from './proc.ts';
import { recordResults } from './results.ts';

const root = join(import.meta.dirname, '..');
const PREFIX = 'bench-memory.';
// A tenant with a plan in TEST_PRICING: an unknown tenant's calls would be dead-lettered, not billed.
const TENANT = 'acme';
const SAMPLE_MS = 5_000;
const PROGRESS_MS = 30_000;
const TICK_MS = 1_000;
const CHILD_STOP_MS = 30_000;
const MiB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    'steady-s': { type: 'string', default: '60' },
    'outage-s': { type: 'string', default: '300' },
    'recovery-s': { type: 'string', default: '120' },
    'drain-timeout-s': { type: 'string', default: '600' },
  },
});

function positive(name: keyof typeof values): number {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${values[name]}"`);
  return n;
}

const rate = positive('rate');
const steadyS = positive('steady-s');
const outageS = positive('outage-s');
const recoveryS = positive('recovery-s');
const drainTimeoutS = positive('drain-timeout-s');

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const count = (n: number) => n.toLocaleString('en-US');

// Cleanup steps in the order their resources were created; run in reverse, once, whatever ends the run.
const cleanups: Array<() => Promise<unknown>> = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.toReversed()) {
      try {
        await step();
      } catch (error) {
        console.error(`cleanup: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: stopping children, Kafka node and database`);
    void cleanup().then(() => process.exit(128 + constants.signals[signal]));
  });
}

/** A child ending on its own mid-run ends the run: its memory figures would be meaningless. */
let failure: Error | undefined;
const children: ChildProcess[] = [];
process.once('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function watch(name: string, child: ChildProcess, output: () => string): void {
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!cleaning) failure ??= new Error(`${name} exited (${code ?? signal}) during the run; its last output:\n${output().slice(-4_000)}`);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  if ((await Promise.race([exited, sleep(CHILD_STOP_MS, 'timeout')])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Starts `node <args>` and resolves with the first stdout line `match` accepts; keeps the output's tail. */
function startChild(
  name: string,
  args: string[],
  env: Record<string, string>,
  match: (line: string) => string | undefined,
): Promise<{ child: ChildProcess; value: string; output: () => string }> {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stderr.on('data', keep);
  watch(name, child, () => output);
  cleanups.push(() => stopChild(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 60 s:\n${output}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} while starting:\n${output}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      keep(Buffer.from(`${line}\n`));
      const value = match(line);
      if (value === undefined) return;
      clearTimeout(timer);
      resolve({ child, value, output: () => output });
    });
  });
}

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0) * 1024;
}

/** Bytes of the spool's files, and how many segments are left (none once everything reached Kafka). */
async function spoolOnDisk(dir: string): Promise<{ bytes: number; segments: number }> {
  let bytes = 0;
  let segments = 0;
  for (const name of await readdir(dir).catch(() => [])) {
    const size = await stat(join(dir, name)).then((s) => s.size, () => 0);
    bytes += size;
    if (name.endsWith('.spool')) segments += 1;
  }
  return { bytes, segments };
}

async function billed(ch: ClickHouse): Promise<number> {
  const [row] = await ch.query<{ n: string }>(sql`SELECT uniqExact(event_id) AS n FROM billed_calls`);
  return Number(row?.n ?? 0);
}

/**
 * Open-loop load: request i is sent at start + i / rate whatever earlier ones are doing, so a
 * stalled proxy meets the same arrivals as a healthy one.
 */
function startLoad(port: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 512, scheduling: 'lifo' });
  const counts = { sent: 0, ok: 0, otherStatus: 0, failed: 0 };
  /** Failed requests by error code, so a report says how they failed. */
  const failures = new Map<string, number>();
  const answered = () => counts.ok + counts.otherStatus + counts.failed;
  let running = true;
  const send = () => {
    counts.sent += 1;
    let settled = false;
    const settle = (outcome: 'ok' | 'otherStatus' | 'failed', error?: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      counts[outcome] += 1;
      if (outcome !== 'failed') return;
      const code = error?.code ?? 'response cut short';
      failures.set(code, (failures.get(code) ?? 0) + 1);
    };
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.on('error', (error) => settle('failed', error));
      res.once('close', () => settle(!res.complete ? 'failed' : res.statusCode === 200 ? 'ok' : 'otherStatus'));
      res.resume();
    });
    req.once('error', (error) => settle('failed', error));
    req.end();
  };
  const started = performance.now();
  const loop = (async () => {
    // A 1 ms timer, not a spin: the generator must not take a core from the processes it measures.
    while (running) {
      const due = Math.floor(((performance.now() - started) * rate) / 1000);
      while (counts.sent < due) send();
      await sleep(1);
    }
  })();
  let stopped: Promise<void> | undefined;
  return {
    counts,
    failures,
    answered,
    stop() {
      stopped ??= (async () => {
        running = false;
        await loop;
        await waitFor(() => answered() === counts.sent, { timeoutMs: 60_000, what: 'an answer to every request sent' }).finally(() => agent.destroy());
      })();
      return stopped;
    },
  };
}

type Phase = 'steady' | 'outage' | 'recovery' | 'final';
const PHASE_LABEL: Record<Phase, string> = {
  steady: 'steady, Kafka up',
  outage: 'outage, Kafka stopped',
  recovery: 'recovery, Kafka back, load on',
  final: 'final billing, load off',
};

interface Sample {
  proxyRss: number;
  meterRss: number;
}

interface PhaseResult {
  phase: Phase;
  ms: number;
  samples: Sample[];
  spoolPeak: number;
}

function minMedianMax(xs: number[]): string {
  if (xs.length === 0) return '—';
  const sorted = xs.toSorted((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `${(sorted[0]! / MiB).toFixed(0)} / ${(median / MiB).toFixed(0)} / ${(sorted.at(-1)! / MiB).toFixed(0)}`;
}

async function main(): Promise<number> {
  const benchStart = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'faasmeter-bench-memory-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const spoolDir = join(dir, 'spool');

  const kafka = await createPrivateKafka();
  cleanups.push(() => kafka.destroy());
  await kafka.start();
  await ensureTopics(kafka.client('bench-memory'), defaultTopics(3, PREFIX));

  const database = uniqueDatabase('bench_memory');
  const ch = createClickHouse({ url: CLICKHOUSE_URL, database });
  cleanups.push(async () => {
    await ch.close();
    // Dropping a database of a few hundred thousand rows on the busy shared server outlasted the
    // default 30 s request timeout (the drop finished on the server all the same).
    const admin = createClickHouse({ url: CLICKHOUSE_URL, requestTimeoutMs: 300_000 });
    try {
      await admin.command(sql`DROP DATABASE IF EXISTS ${v.ident(database)}`);
    } finally {
      await admin.close();
    }
  });
  await migrate(ch, { database });

  const fn = await startChild('sample function', ['test/helpers/sample-function.ts'], { PORT: '0', SAMPLE_RESPONSE_BYTES: '64' }, (line) =>
    line.startsWith('{"listening"') ? String((JSON.parse(line) as { listening: number }).listening) : undefined,
  );

  const meter = await startMeterProcess({
    FAASMETER_KAFKA_BROKERS: kafka.brokers.join(','),
    FAASMETER_TOPIC_PREFIX: PREFIX,
    FAASMETER_METER_GROUP: 'bench-memory-meter',
    FAASMETER_CLICKHOUSE_URL: CLICKHOUSE_URL,
    FAASMETER_CLICKHOUSE_DATABASE: database,
    FAASMETER_PRICING_FILE: writeJson(dir, 'plans.json', TEST_PRICING),
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
  });
  watch('faasmeter meter', meter.child, () => meter.output());
  cleanups.push(() => stopChild(meter.child));
  // Ready once the consumer has joined its group: /readyz reports every component ok.
  await waitFor(
    async () => {
      if (failure) return true;
      const res = await fetch(`${meter.opsUrl}/readyz`);
      return res.ok && ((await res.json()) as { status: string }).status === 'ok';
    },
    { timeoutMs: 90_000, intervalMs: 500, what: 'the meter to join its consumer group' },
  ).catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; meter output:\n${meter.output().slice(-4_000)}`);
  });
  if (failure) throw failure;

  const proxy = await startChild(
    'faasmeter proxy',
    ['cli/faasmeter.ts', 'proxy'],
    {
      FAASMETER_TENANT: TENANT,
      FAASMETER_FUNCTION: 'bench-memory-fn',
      FAASMETER_REVISION: 'bench-memory-fn-00001',
      FAASMETER_INSTANCE: 'bench-memory-fn-00001-0',
      FAASMETER_MEMORY_MB: '128',
      FAASMETER_TARGET: `http://127.0.0.1:${fn.value}`,
      FAASMETER_PROXY_HOST: '127.0.0.1',
      FAASMETER_PROXY_PORT: '0',
      FAASMETER_OPS_HOST: '127.0.0.1',
      FAASMETER_OPS_PORT: '0',
      FAASMETER_KAFKA_BROKERS: kafka.brokers.join(','),
      FAASMETER_TOPIC_PREFIX: PREFIX,
      FAASMETER_SPOOL_DIR: spoolDir,
      FAASMETER_LOG_LEVEL: 'info',
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
    },
    (line) => {
      if (!line.includes('"proxy running"')) return undefined;
      const { listen, ops } = JSON.parse(line) as { listen: string; ops: string };
      return JSON.stringify({ port: Number(listen.split(':').pop()), ops });
    },
  );
  const { port: proxyPort, ops: proxyOps } = JSON.parse(proxy.value) as { port: number; ops: string };
  const proxyPid = proxy.child.pid!;
  const meterPid = meter.child.pid!;

  console.log(
    `memory bench: ${rate} req/s; steady ${steadyS} s, outage ${outageS} s, recovery ≥ ${recoveryS} s; ` +
      `Kafka ${kafka.brokers[0]} (private), ClickHouse database ${database}; proxy pid ${proxyPid}, meter pid ${meterPid}`,
  );

  const loadFrom = Date.now();
  const load = startLoad(proxyPort);
  cleanups.push(() => load.stop());
  let lastProgress = { at: Date.now(), answered: 0 };
  let nextProgress = Date.now() + PROGRESS_MS;

  async function progress(phase: Phase, phaseMs: number, spoolBytes: number): Promise<void> {
    const now = Date.now();
    const answered = load.answered();
    const perS = ((answered - lastProgress.answered) * 1000) / (now - lastProgress.at);
    lastProgress = { at: now, answered };
    const billedNow = await billed(ch).catch(() => NaN);
    console.log(
      `[${String(Math.round((now - benchStart) / 1000)).padStart(4)} s] ${phase} ${Math.round(phaseMs / 1000)} s: answered ${count(answered)} ` +
        `(${perS.toFixed(0)}/s; not 200 ${load.counts.otherStatus}, failed ${load.counts.failed}); proxy RSS ${mib(rssBytes(proxyPid))}, ` +
        `meter RSS ${mib(rssBytes(meterPid))}; spool ${mib(spoolBytes)}; billed ${count(billedNow)}`,
    );
  }

  /** Ticks every second until `done` says so or `limitMs` passes; false if the limit was reached. */
  async function runPhase(phase: Phase, done: (phaseMs: number) => boolean | Promise<boolean>, limitMs: number, results: PhaseResult[]): Promise<boolean> {
    const started = Date.now();
    const result: PhaseResult = { phase, ms: 0, samples: [], spoolPeak: 0 };
    results.push(result);
    const sample = () => result.samples.push({ proxyRss: rssBytes(proxyPid), meterRss: rssBytes(meterPid) });
    let nextSample = started;
    let finished = false;
    for (;;) {
      if (failure) throw failure;
      const now = Date.now();
      const spool = await spoolOnDisk(spoolDir);
      result.spoolPeak = Math.max(result.spoolPeak, spool.bytes);
      if (now >= nextSample) {
        sample();
        nextSample += SAMPLE_MS;
      }
      if (now >= nextProgress) {
        await progress(phase, now - started, spool.bytes);
        nextProgress += PROGRESS_MS;
      }
      if (await done(now - started)) {
        finished = true;
        break;
      }
      if (now - started >= limitMs) break;
      await sleep(TICK_MS);
    }
    sample();
    result.ms = Date.now() - started;
    return finished;
  }

  const phases: PhaseResult[] = [];
  await runPhase('steady', (ms) => ms >= steadyS * 1000, Infinity, phases);

  const stopFrom = Date.now();
  await kafka.stop();
  const kafkaStopMs = Date.now() - stopFrom;
  console.log(`Kafka stopped (controlled shutdown took ${secs(kafkaStopMs)}); outage for ${outageS} s`);
  await runPhase('outage', (ms) => ms >= outageS * 1000, Infinity, phases);

  const okAtRestart = load.counts.ok;
  const restartFrom = Date.now();
  let readyAt: number | undefined;
  let drainedAt: number | undefined;
  let caughtUpAt: number | undefined;
  kafka.start().then(
    () => {
      readyAt = Date.now();
      console.log(`Kafka ready ${secs(readyAt - restartFrom)} after start; load stays on until the spool is drained and the outage's calls are billed`);
    },
    (error: unknown) => {
      failure ??= error instanceof Error ? error : new Error(String(error));
    },
  );
  const recovered = await runPhase(
    'recovery',
    async (ms) => {
      if (readyAt === undefined) return false;
      drainedAt ??= (await spoolOnDisk(spoolDir)).segments === 0 ? Date.now() : undefined;
      caughtUpAt ??= (await billed(ch)) >= okAtRestart ? Date.now() : undefined;
      return ms >= recoveryS * 1000 && drainedAt !== undefined && caughtUpAt !== undefined;
    },
    Math.max(recoveryS, drainTimeoutS) * 1000,
    phases,
  );

  const proxyMetrics = await (await fetch(`http://${proxyOps}/metrics`)).text();
  // Why a spool did not drain is in the delivery's health detail (its last Kafka error).
  const readyz = (await (await fetch(`http://${proxyOps}/readyz`)).json()) as { components: Record<string, { status: string; detail?: string }> };
  const deliveryHealth = readyz.components.delivery;
  const deliveryAfterRecovery = deliveryHealth ? `${deliveryHealth.status}${deliveryHealth.detail ? `: ${deliveryHealth.detail}` : ''}` : 'not reported';
  const loadMs = Date.now() - loadFrom;
  await load.stop();
  const { sent, ok, otherStatus, failed } = load.counts;
  let billedCalls = 0;
  const allBilled = await runPhase(
    'final',
    async () => {
      billedCalls = await billed(ch);
      return billedCalls >= ok;
    },
    // A spool that never drained leaves calls unbilled however long this waits.
    recovered ? drainTimeoutS * 1000 : 0,
    phases,
  );
  billedCalls = await billed(ch);
  const finalMs = phases.at(-1)!.ms;
  // Every call the function answered is billed, errors included (a 5xx is a call too): so the
  // billed count lies between the calls answered 200 and those answered at all.
  const equal = billedCalls >= ok && billedCalls <= ok + otherStatus;

  const peakSpool = Math.max(...phases.map((p) => p.spoolPeak));
  const spooled = metricSum(proxyMetrics, 'faasmeter_collector_events_spooled_total');
  const dropped = metricSum(proxyMetrics, 'faasmeter_collector_dropped_total');
  // Why calls the function did not answer failed (or were resent), from the proxy's own count.
  const upstreamFailures =
    proxyMetrics
      .split('\n')
      .filter((l) => l.startsWith('faasmeter_proxy_upstream_failures_total{'))
      .map((l) => l.slice('faasmeter_proxy_upstream_failures_total'.length).replace(/[{}"]/g, '').replace(' ', ': '))
      .join('; ') || 'none';
  const outage = phases.find((p) => p.phase === 'outage')!;
  const sinceReady = (at: number | undefined) => (at === undefined || readyAt === undefined ? 'not reached' : secs(Math.max(0, at - readyAt)));
  const rows = phases.map(
    (p) =>
      `| ${PHASE_LABEL[p.phase]} | ${secs(p.ms)} | ${p.samples.length} | ${minMedianMax(p.samples.map((s) => s.proxyRss))} | ` +
      `${minMedianMax(p.samples.map((s) => s.meterRss))} | ${mib(p.spoolPeak)} |`,
  );
  const body = [
    `Open-loop HTTP load of ${rate} req/s through \`faasmeter proxy\` (real CLI, spool on local disk) to the sample function; ` +
      '`faasmeter meter` (real CLI) bills into a fresh ClickHouse database; both use a private Kafka node, stopped for the outage. ' +
      `RSS is VmRSS from /proc/<pid>/status, sampled every ${SAMPLE_MS / 1000} s and at each phase's end; spool peak is the most bytes of the proxy's spool files seen, checked every second.`,
    '',
    '| phase | length | samples | proxy RSS min / median / max (MiB) | meter RSS min / median / max (MiB) | spool peak |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| requests sent / answered 200 / other status / failed | ${count(sent)} / ${count(ok)} / ${count(otherStatus)} / ${count(failed)} (${((sent * 1000) / loadMs).toFixed(0)} req/s achieved)${failed > 0 ? `; failed: ${[...load.failures].map(([code, n]) => `${code} ${n}`).join(', ')}` : ''} |`,
    `| proxy → function connection failures (faasmeter_proxy_upstream_failures_total) | ${upstreamFailures} |`,
    `| calls billed (uniqExact(event_id) in billed_calls) | ${count(billedCalls)} of ${count(ok)} answered 200 and ${count(otherStatus)} answered otherwise: ${equal ? 'every answered call billed once' : '**MISMATCH**'} |`,
    `| peak spool on disk | ${mib(peakSpool)} (${mib((outage.spoolPeak * 1000) / outage.ms)}/s of outage); events spooled ${count(spooled)}, dropped ${count(dropped)} |`,
    `| Kafka controlled shutdown / ready after restart | ${secs(kafkaStopMs)} / ${readyAt === undefined ? 'not ready' : secs(readyAt - restartFrom)} |`,
    `| spool drained (no segment left), after Kafka was ready | ${sinceReady(drainedAt)}${recovered ? '' : ` (recovery gave up after ${drainTimeoutS} s)`} |`,
    `| meter billed every call answered before the restart (${count(okAtRestart)}), after Kafka was ready | ${sinceReady(caughtUpAt)} |`,
    `| proxy delivery health at the end of recovery | ${deliveryAfterRecovery.replaceAll('|', '\\|')} |`,
    `| every call billed, after the load stopped | ${allBilled ? secs(finalMs) : `not within ${drainTimeoutS} s`} |`,
  ].join('\n');
  console.log(`\n${body}\n`);
  recordResults({ title: `Memory: proxy and meter RSS through a ${outageS} s Kafka outage at ${rate} req/s`, body });
  if (!equal || !recovered) {
    console.error(`proxy output, last lines:\n${proxy.output().slice(-6_000)}\nmeter output, last lines:\n${meter.output().slice(-6_000)}`);
    console.error(`FAILED: ${count(billedCalls)} calls billed, ${count(ok)} answered 200, ${count(otherStatus)} otherwise${recovered ? '' : '; recovery did not finish'}`);
    return 1;
  }
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  // After a signal, errors from children being stopped under the run are expected noise.
  if (!cleaning) console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
} finally {
  await cleanup();
}
process.exit(code);
