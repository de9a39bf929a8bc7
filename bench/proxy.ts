/**
 * Proxy overhead bench: latency added by `faasmeter proxy` over calling the function directly,
 * under an open-loop load at fixed request rates, and the proxy's CPU per 1,000 requests.
 *
 *   npx node bench/proxy.ts [--rates 1000,5000] [--seconds 10] [--warmup 3]
 *
 * The function (test/helpers/sample-function.ts) and the proxy (the real CLI, delivering to the
 * local Kafka under a throwaway topic prefix, spooling to disk if Kafka is down) each run in a
 * child process, so /proc/<pid>/stat charges the proxy's CPU to it alone. The load generator is
 * this process: it sends each request at its scheduled time whatever earlier ones are doing
 * (open loop), and latency is measured from that scheduled time, so a stall shows up in the
 * percentiles instead of silently lowering the rate (no coordinated omission).
 * Direct and proxied phases alternate at each rate, after a warm-up of both.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { DEFAULT_KAFKA_BROKERS } from '../common/config.ts';
import { createLogger } from '../common/log.ts';
import { createKafka } from '../kafka/client.ts';
import { defaultTopics, ensureTopics } from '../kafka/topics.ts';

const root = join(import.meta.dirname, '..');
const CLOCK_TICKS_PER_S = 100;
const IDLE_SAMPLE_MS = 3_000;

const { values } = parseArgs({
  options: {
    'proxy-node-args': { type: 'string', default: '' },
    rates: { type: 'string', default: '1000,5000' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
  },
});
const rates = values.rates.split(',').map(Number);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);

/** Starts a child and resolves with the first stdout line `match` accepts. */
function startChild(args: string[], env: NodeJS.ProcessEnv, match: (line: string) => string | undefined): Promise<{ child: ChildProcess; value: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const value = match(line);
      if (value !== undefined) resolve({ child, value });
    });
  });
}

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after "pid (comm) ".
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Math.round(Number(line.split(/\s+/)[1]) / 1024);
}

interface PhaseResult {
  sent: number;
  errors: number;
  /** Latencies in ms from each request's scheduled time to the end of its response. */
  latencies: Float64Array;
  achievedRate: number;
}

/** Open-loop load: request i is due at start + i / rate, sent when due, timed from when due. */
async function load(port: number, rate: number, durationS: number, agent: Agent): Promise<PhaseResult> {
  const total = Math.round(rate * durationS);
  const latencies = new Float64Array(total);
  let done = 0;
  let errors = 0;
  let sent = 0;
  const start = performance.now();
  const interval = 1000 / rate;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const complete = (i: number, ok: boolean) => {
    latencies[i] = performance.now() - (start + i * interval);
    if (!ok) errors += 1;
    done += 1;
    if (done === total) finish();
  };
  const send = (i: number) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.once('end', () => complete(i, res.statusCode === 200));
    });
    req.once('error', () => complete(i, false));
    req.end();
  };
  // Each tick sends every request that has come due. A 1 ms timer, not a spin: the generator
  // must not take a core from the processes it measures (the latency clock starts when due anyway).
  while (sent < total) {
    const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
    while (sent < due) send(sent++);
    await sleep(1);
  }
  await finished;
  const elapsed = (performance.now() - start) / 1000;
  return { sent: total, errors, latencies, achievedRate: Math.round(total / elapsed) };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function summary(result: PhaseResult): { p50: number; p90: number; p99: number; p999: number } {
  const sorted = Float64Array.from(result.latencies).sort();
  return { p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999) };
}

const fmt = (ms: number) => `${ms.toFixed(3)} ms`;

async function main(): Promise<void> {
  const brokers = process.env.FAASMETER_KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS;
  const prefix = `bench-proxy-${randomBytes(3).toString('hex')}.`;
  let kafkaNote = `Kafka ${brokers}, topic prefix ${prefix}`;
  try {
    const kafka = createKafka({ brokers: brokers.split(','), clientId: 'faasmeter-bench', connectionTimeoutMs: 1_000 }, createLogger('bench', 'silent'));
    await ensureTopics(kafka, defaultTopics(3, prefix));
  } catch (error) {
    kafkaNote = `Kafka unreachable (${(error as Error).message}): the proxy spools events to disk`;
  }
  const spoolDir = await mkdtemp(join(tmpdir(), 'faasmeter-bench-spool-'));

  const fn = await startChild(['test/helpers/sample-function.ts'], { PORT: '0', SAMPLE_RESPONSE_BYTES: '64' }, (line) =>
    line.startsWith('{"listening"') ? String((JSON.parse(line) as { listening: number }).listening) : undefined,
  );
  const fnPort = Number(fn.value);
  const proxy = await startChild(
    [...values['proxy-node-args'].split(' ').filter(Boolean), 'cli/faasmeter.ts', 'proxy'],
    {
      FAASMETER_TENANT: 'bench',
      FAASMETER_FUNCTION: 'bench-fn',
      FAASMETER_REVISION: 'bench-fn-00001',
      FAASMETER_INSTANCE: 'bench-fn-00001-0',
      FAASMETER_MEMORY_MB: '128',
      FAASMETER_TARGET: `http://127.0.0.1:${fnPort}`,
      FAASMETER_PROXY_HOST: '127.0.0.1',
      FAASMETER_PROXY_PORT: '0',
      FAASMETER_OPS_HOST: '127.0.0.1',
      FAASMETER_OPS_PORT: '0',
      FAASMETER_KAFKA_BROKERS: brokers,
      FAASMETER_TOPIC_PREFIX: prefix,
      FAASMETER_SPOOL_DIR: spoolDir,
      FAASMETER_LOG_LEVEL: 'info',
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
    },
    (line) => {
      if (!line.includes('"proxy running"')) return undefined;
      return String((JSON.parse(line) as { listen: string }).listen.split(':').pop());
    },
  );
  const proxyPort = Number(proxy.value);
  const proxyPid = proxy.child.pid!;

  const agent = new Agent({ keepAlive: true, maxSockets: 512, scheduling: 'lifo' });
  const rows: string[] = [];
  try {
    console.log(`faasmeter proxy bench: ${kafkaNote}; ${seconds} s per phase, ${warmup} s warm-up, node ${process.version}`);
    console.log(`${cpus().length} CPUs; load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')} (the figures mean little on a busy machine)`);
    for (const rate of rates) {
      await load(fnPort, rate, warmup, agent);
      await load(proxyPort, rate, warmup, agent);
      await sleep(500);
      const direct = await load(fnPort, rate, seconds, agent);
      // The proxy's CPU while idle (kafkajs keeps a 1 ms timer loop per broker connection,
      // tulios/kafkajs#1704) is measured first, so the per-request figure can be shown above it.
      const idleStart = cpuMs(proxyPid);
      const idleFrom = performance.now();
      await sleep(IDLE_SAMPLE_MS);
      const idleMsPerS = ((cpuMs(proxyPid) - idleStart) / (performance.now() - idleFrom)) * 1000;
      const cpuBefore = cpuMs(proxyPid);
      const from = performance.now();
      const proxied = await load(proxyPort, rate, seconds, agent);
      const cpuUsed = cpuMs(proxyPid) - cpuBefore;
      const cpuPer1k = (cpuUsed / proxied.sent) * 1000;
      const marginalPer1k = ((cpuUsed - (idleMsPerS * (performance.now() - from)) / 1000) / proxied.sent) * 1000;
      const d = summary(direct);
      const p = summary(proxied);
      console.log(
        `\n${rate} req/s (achieved direct ${direct.achievedRate}, proxied ${proxied.achievedRate}; errors ${direct.errors}/${proxied.errors})`,
      );
      console.log(`  direct   p50 ${fmt(d.p50)}  p90 ${fmt(d.p90)}  p99 ${fmt(d.p99)}  p99.9 ${fmt(d.p999)}`);
      console.log(`  proxied  p50 ${fmt(p.p50)}  p90 ${fmt(p.p90)}  p99 ${fmt(p.p99)}  p99.9 ${fmt(p.p999)}`);
      console.log(`  added    p50 ${fmt(p.p50 - d.p50)}  p99 ${fmt(p.p99 - d.p99)}`);
      console.log(
        `  proxy CPU ${cpuPer1k.toFixed(1)} ms per 1,000 requests, ${marginalPer1k.toFixed(1)} ms above its idle ${idleMsPerS.toFixed(1)} ms/s; RSS ${rssMb(proxyPid)} MB`,
      );
      rows.push(`| ${rate} | ${fmt(p.p50 - d.p50)} | ${fmt(p.p99 - d.p99)} | ${cpuPer1k.toFixed(1)} ms | ${marginalPer1k.toFixed(1)} ms |`);
    }
    console.log(`\nload average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`\n| rate (req/s) | added p50 | added p99 | proxy CPU / 1k req | above idle |\n| --- | --- | --- | --- | --- |\n${rows.join('\n')}`);
  } finally {
    agent.destroy();
    proxy.child.removeAllListeners('exit');
    fn.child.removeAllListeners('exit');
    const exited = new Promise((resolve) => proxy.child.once('exit', resolve));
    proxy.child.kill('SIGTERM');
    await exited;
    fn.child.kill('SIGTERM');
    await rm(spoolDir, { recursive: true, force: true });
  }
}

await main();
