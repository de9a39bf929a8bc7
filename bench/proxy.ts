/**
 * Proxy overhead bench: latency added by `faasmeter proxy` over calling the function directly,
 * and by nginx as a plain reverse proxy for comparison, under an open-loop load at fixed request
 * rates, with each proxy's CPU per 1,000 requests.
 *
 *   npx node bench/proxy.ts [--rates 1000,5000] [--seconds 10] [--warmup 3]
 *
 * The function (test/helpers/sample-function.ts), the proxy (the real CLI, delivering to the
 * local Kafka under a throwaway topic prefix, spooling to disk if Kafka is down) and nginx each
 * run in their own processes, so /proc/<pid>/stat charges each proxy's CPU to it alone. nginx
 * (Debian's, installed if missing) runs from a generated config in a temp dir: one worker, so
 * its CPU compares with the proxy's single Node thread; keep-alive to the function, access log
 * off. The load generator is this process: it sends each request at its scheduled time whatever
 * earlier ones are doing (open loop), and latency is measured from that scheduled time, so a
 * stall shows up in the percentiles instead of silently lowering the rate (no coordinated
 * omission). Direct, faasmeter and nginx phases alternate at each rate, after a warm-up of all.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { DEFAULT_KAFKA_BROKERS } from '../common/config.ts';
import { createLogger } from '../common/log.ts';
import { freePort } from '../common/net.ts';
import { createKafka } from '../kafka/client.ts';
import { defaultTopics, ensureTopics } from '../kafka/topics.ts';
import { cpuMs, metricSum, statFields } from './proc.ts';
import { recordResults } from './results.ts';

const root = join(import.meta.dirname, '..');
const IDLE_SAMPLE_MS = 3_000;
const NGINX = '/usr/sbin/nginx';

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

function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (statFields(name)[1] === String(parent)) pids.push(Number(name));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return pids;
}

/** nginx's CPU is its master's plus its worker's: the worker does the proxying. */
function treeCpuMs(pid: number): number {
  return [pid, ...childPids(pid)].reduce((sum, p) => sum + cpuMs(p), 0);
}

/**
 * Debian's nginx, installed as the local stack installs its tools (root with apt, else a message
 * saying what to install). The package is `nginx`: since bookworm it holds the binary, and
 * nginx-light is only `nginx` plus the echo module.
 */
function ensureNginx(): string {
  if (!existsSync(NGINX)) {
    const installed = spawnSync('bash', ['-c', 'source deploy/local-stack/lib.sh && need_cmd nginx nginx'], { cwd: root, stdio: 'inherit' });
    if (installed.status !== 0 || !existsSync(NGINX)) throw new Error(`the nginx comparison needs ${NGINX}: apt-get install nginx`);
  }
  const version = spawnSync(NGINX, ['-v'], { encoding: 'utf8' });
  return `${version.stderr}${version.stdout}`.trim().replace(/^nginx version: /, '');
}

interface Nginx {
  child: ChildProcess;
  port: number;
  dir: string;
}

/**
 * nginx in the foreground from a config in its own temp dir (pid, logs, temp files all inside),
 * as the current user. Keep-alive limits are raised so that neither side of nginx reconnects
 * during a phase, as neither side of the faasmeter proxy does; the upstream's idle timeout stays
 * under Node's 5 s server keep-alive so nginx never reuses a connection the function is closing.
 */
async function startNginx(upstreamPort: number): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'faasmeter-bench-nginx-'));
  const port = await freePort();
  const conf = `daemon off;
${process.getuid?.() === 0 ? `user ${userInfo().username};\n` : ''}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream fn {
    server 127.0.0.1:${upstreamPort};
    keepalive 512;
    keepalive_requests 1000000;
    keepalive_timeout 4s;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://fn;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const child = spawn(NGINX, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const nginx = { child, port, dir };
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`nginx exited with ${code}: ${readFileSync(join(dir, 'error.log'), 'utf8').slice(-2_000)}`))),
  );
  exited.catch(() => {});
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const status = await Promise.race([exited, fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => 0)]);
      if (status === 200) break;
      if (Date.now() > deadline) throw new Error(`nginx on port ${port} did not answer 200 within 10 s`);
      await sleep(50);
    }
  } catch (error) {
    child.removeAllListeners('exit');
    await stopNginx(nginx);
    throw error;
  }
  child.removeAllListeners('exit');
  return nginx;
}

async function stopNginx(nginx: Nginx): Promise<void> {
  if (nginx.child.exitCode === null && nginx.child.signalCode === null) {
    const exited = new Promise((resolve) => nginx.child.once('exit', resolve));
    nginx.child.kill('SIGTERM');
    await exited;
  }
  await rm(nginx.dir, { recursive: true, force: true });
}

interface RuntimeSample {
  delayP99Ms: number;
  delayMaxMs: number;
  utilization: number;
  gcCount: number;
  gcSeconds: number;
}

/**
 * The proxy's own event-loop health, from its /metrics. The runtime instrumentation resets the
 * delay histogram and the utilisation baseline at each scrape, so a scrape just before a phase
 * and one just after it describe that phase alone: whether the proxy's thread itself stalled.
 */
async function runtimeSample(opsPort: number): Promise<RuntimeSample> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  return {
    delayP99Ms: metricSum(text, 'nodejs_eventloop_delay_p99') * 1000,
    delayMaxMs: metricSum(text, 'nodejs_eventloop_delay_max') * 1000,
    utilization: metricSum(text, 'nodejs_eventloop_utilization'),
    gcCount: metricSum(text, 'v8js_gc_duration_count'),
    gcSeconds: metricSum(text, 'v8js_gc_duration_sum'),
  };
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
const loadLabel = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function main(): Promise<void> {
  const nginxVersion = ensureNginx();
  const brokers = process.env.FAASMETER_KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS;
  const prefix = `bench-proxy-${randomBytes(3).toString('hex')}.`;
  let kafkaNote = `Kafka ${brokers}, topic prefix ${prefix}`;
  const kafka = createKafka({ brokers: brokers.split(','), clientId: 'faasmeter-bench', connectionTimeoutMs: 1_000 }, createLogger('bench', 'silent'));
  const topics = defaultTopics(3, prefix);
  let topicsCreated = false;
  try {
    await ensureTopics(kafka, topics);
    topicsCreated = true;
  } catch (error) {
    kafkaNote = `Kafka unreachable (${(error as Error).message}): the proxy spools events to disk`;
  }
  const spoolDir = await mkdtemp(join(tmpdir(), 'faasmeter-bench-spool-'));

  const fn = await startChild(['test/helpers/sample-function.ts'], { PORT: '0', SAMPLE_RESPONSE_BYTES: '64' }, (line) =>
    line.startsWith('{"listening"') ? String((JSON.parse(line) as { listening: number }).listening) : undefined,
  );
  const fnPort = Number(fn.value);
  const opsPort = await freePort();
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
      FAASMETER_OPS_PORT: String(opsPort),
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
  let nginx: Nginx | undefined;

  const agent = new Agent({ keepAlive: true, maxSockets: 512, scheduling: 'lifo' });
  const rows: string[] = [];
  const details: string[] = [];
  try {
    nginx = await startNginx(fnPort);
    const nginxPid = nginx.child.pid!;
    const loadAtStart = loadLabel();
    console.log(`faasmeter proxy bench: ${kafkaNote}; ${seconds} s per phase, ${warmup} s warm-up, node ${process.version}`);
    console.log(`${nginxVersion}: 1 worker process (its CPU compares with the proxy's one Node thread), keep-alive upstream, access log off`);
    console.log(`${cpus().length} CPUs; load average at start ${loadAtStart} (the figures mean little on a busy machine)`);
    for (const rate of rates) {
      await load(fnPort, rate, warmup, agent);
      await load(proxyPort, rate, warmup, agent);
      await load(nginx.port, rate, warmup, agent);
      await sleep(500);
      const direct = await load(fnPort, rate, seconds, agent);
      // The proxy's CPU while idle (timers: metrics, delivery, runtime sampling) is measured
      // first, so the per-request figure can be shown above it.
      const idleStart = cpuMs(proxyPid);
      const idleFrom = performance.now();
      await sleep(IDLE_SAMPLE_MS);
      const idleMsPerS = ((cpuMs(proxyPid) - idleStart) / (performance.now() - idleFrom)) * 1000;
      const runtimeBefore = await runtimeSample(opsPort);
      const cpuBefore = cpuMs(proxyPid);
      const from = performance.now();
      const proxied = await load(proxyPort, rate, seconds, agent);
      const cpuUsed = cpuMs(proxyPid) - cpuBefore;
      const runtime = await runtimeSample(opsPort);
      const gcCount = runtime.gcCount - runtimeBefore.gcCount;
      const gcMs = (runtime.gcSeconds - runtimeBefore.gcSeconds) * 1000;
      const loopLine = `proxy event loop: delay p99 ${runtime.delayP99Ms.toFixed(1)} ms, max ${runtime.delayMaxMs.toFixed(1)} ms (both include the 10 ms sampling interval), busy ${(runtime.utilization * 100).toFixed(0)} %; GC ${gcCount} pauses, ${gcMs.toFixed(0)} ms`;
      const cpuPer1k = (cpuUsed / proxied.sent) * 1000;
      const marginalPer1k = ((cpuUsed - (idleMsPerS * (performance.now() - from)) / 1000) / proxied.sent) * 1000;
      const nginxCpuBefore = treeCpuMs(nginxPid);
      const viaNginx = await load(nginx.port, rate, seconds, agent);
      const nginxPer1k = ((treeCpuMs(nginxPid) - nginxCpuBefore) / viaNginx.sent) * 1000;
      const d = summary(direct);
      const p = summary(proxied);
      const n = summary(viaNginx);
      const achieved = `achieved req/s direct ${direct.achievedRate}, faasmeter ${proxied.achievedRate}, nginx ${viaNginx.achievedRate}; errors ${direct.errors}/${proxied.errors}/${viaNginx.errors}`;
      console.log(`\n${rate} req/s (${achieved})`);
      console.log(`  direct     p50 ${fmt(d.p50)}  p90 ${fmt(d.p90)}  p99 ${fmt(d.p99)}  p99.9 ${fmt(d.p999)}`);
      console.log(`  faasmeter  p50 ${fmt(p.p50)}  p90 ${fmt(p.p90)}  p99 ${fmt(p.p99)}  p99.9 ${fmt(p.p999)}`);
      console.log(`  nginx      p50 ${fmt(n.p50)}  p90 ${fmt(n.p90)}  p99 ${fmt(n.p99)}  p99.9 ${fmt(n.p999)}`);
      console.log(`  added      faasmeter p50 ${fmt(p.p50 - d.p50)}  p99 ${fmt(p.p99 - d.p99)};  nginx p50 ${fmt(n.p50 - d.p50)}  p99 ${fmt(n.p99 - d.p99)}`);
      console.log(
        `  CPU per 1,000 requests: faasmeter ${cpuPer1k.toFixed(1)} ms (${marginalPer1k.toFixed(1)} ms above its idle ${idleMsPerS.toFixed(1)} ms/s; RSS ${rssMb(proxyPid)} MB), nginx ${nginxPer1k.toFixed(1)} ms`,
      );
      console.log(`  ${loopLine}`);
      rows.push(
        `| ${rate} | ${fmt(d.p50)} | ${fmt(d.p99)} | ${fmt(p.p50 - d.p50)} | ${fmt(p.p99 - d.p99)} | ${cpuPer1k.toFixed(1)} ms (${marginalPer1k.toFixed(1)} ms) | ${fmt(n.p50 - d.p50)} | ${fmt(n.p99 - d.p99)} | ${nginxPer1k.toFixed(1)} ms |`,
      );
      details.push(`- ${rate} req/s: ${achieved}; faasmeter proxy idle ${idleMsPerS.toFixed(1)} ms CPU/s, RSS ${rssMb(proxyPid)} MB; ${loopLine}.`);
    }
    const loadAtEnd = loadLabel();
    const table = [
      '| rate (req/s) | direct p50 | direct p99 | faasmeter added p50 | faasmeter added p99 | faasmeter CPU / 1k req (above idle) | nginx added p50 | nginx added p99 | nginx CPU / 1k req |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
    ].join('\n');
    console.log(`\nload average at end ${loadAtEnd}`);
    console.log(`\n${table}`);
    recordResults({
      title: 'Proxy overhead: faasmeter proxy and nginx versus calling the function directly',
      body: `${table}

Open-loop load, ${seconds} s per phase after ${warmup} s of warm-up, phases in the order direct, faasmeter, nginx at each rate; latency is from each request's scheduled send time to the end of its response. "Added" is the proxied percentile minus the direct one. CPU is utime + stime from /proc/<pid>/stat (10 ms ticks) over the phase: the \`faasmeter proxy\` process (delivering to ${kafkaNote}); "above idle" subtracts its CPU while idle. ${nginxVersion} (Debian) is a plain reverse proxy with **1 worker process** (so its CPU compares with the proxy's one Node thread), keep-alive upstream, access log off; its CPU is master + worker.

${details.join('\n')}

Load average at start ${loadAtStart}, at end ${loadAtEnd} (${cpus().length} CPUs): the figures mean little on a busy machine.`,
    });
  } finally {
    agent.destroy();
    if (nginx) await stopNginx(nginx);
    proxy.child.removeAllListeners('exit');
    fn.child.removeAllListeners('exit');
    const exited = new Promise((resolve) => proxy.child.once('exit', resolve));
    proxy.child.kill('SIGTERM');
    await exited;
    fn.child.kill('SIGTERM');
    await rm(spoolDir, { recursive: true, force: true });
    if (topicsCreated) {
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.deleteTopics({ topics: topics.map((t) => t.topic) });
      } catch (error) {
        console.warn(`could not delete topics ${prefix}*: ${(error as Error).message}`);
      } finally {
        await admin.disconnect();
      }
    }
  }
}

await main();
