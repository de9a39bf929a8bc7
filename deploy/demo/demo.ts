/**
 * `npm run demo`: the local stack, the meter and billing API, and sample functions behind real
 * faasmeter proxies, driven through scale-to-zero waves so cold starts really happen; then a
 * summary read back from the billing API. Ctrl-C stops everything it started.
 *
 * FAASMETER_DEMO_WAVES (default 4) and FAASMETER_DEMO_WAVE_MS (default 25000) size the run;
 * `--exit` (or a non-interactive stdin) ends it after the summary instead of keeping the API up.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { createClickHouse } from '../../clickhouse/client.ts';
import { migrate } from '../../clickhouse/migrate.ts';
import { sql, v } from '../../clickhouse/sql.ts';
import { createLogger } from '../../common/log.ts';
import { createKafka } from '../../kafka/client.ts';
import { defaultTopics, ensureTopics } from '../../kafka/topics.ts';
import { freePort } from '../../common/net.ts';

const root = join(import.meta.dirname, '..', '..');
const stackDir = process.env.FAASMETER_STACK_DIR ?? join(root, '.stack');
const runDir = join(stackDir, 'demo');
const DATABASE = 'faasmeter_demo';
const PREFIX = 'demo.';
const BROKERS = process.env.FAASMETER_KAFKA_BROKERS ?? '127.0.0.1:19092';
const CLICKHOUSE = process.env.FAASMETER_CLICKHOUSE_URL ?? 'http://127.0.0.1:18123';
const WAVES = Number(process.env.FAASMETER_DEMO_WAVES ?? 4);
const WAVE_MS = Number(process.env.FAASMETER_DEMO_WAVE_MS ?? 25_000);
const keepRunning = !process.argv.includes('--exit') && process.stdin.isTTY === true;

interface FunctionSpec {
  tenant: string;
  name: string;
  memoryMb: number;
  arch: 'x86_64' | 'arm64';
  initMs: number;
  workMs: number;
  errorRate: number;
  /** Requests per second per instance while the function is scaled up. */
  rate: number;
  instances: number;
}

const FUNCTIONS: FunctionSpec[] = [
  { tenant: 'acme', name: 'thumbnailer', memoryMb: 1024, arch: 'x86_64', initMs: 900, workMs: 60, errorRate: 0.02, rate: 20, instances: 2 },
  { tenant: 'acme', name: 'checkout-api', memoryMb: 256, arch: 'arm64', initMs: 250, workMs: 15, errorRate: 0.01, rate: 40, instances: 1 },
  { tenant: 'globex', name: 'nightly-report', memoryMb: 2048, arch: 'x86_64', initMs: 1_600, workMs: 250, errorRate: 0.05, rate: 4, instances: 1 },
];

const children = new Set<ChildProcess>();
// kafkajs 2.2.4 on Node 24 sets negative timeouts internally; Node warns, nothing misbehaves.
const KNOWN_NOISE = /TimeoutNegativeWarning|Timeout duration was set to 1|node --trace-warnings/;
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const started = Date.now();
const say = (text: string) => process.stdout.write(`[demo ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${text}\n`);


function run(name: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, FAASMETER_LOG_LEVEL: process.env.FAASMETER_LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const prefix = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim() || line.startsWith('{"listening"') || KNOWN_NOISE.test(line)) continue;
      process.stderr.write(`  ${name}: ${line}\n`);
    }
  };
  child.stdout?.on('data', prefix);
  child.stderr?.on('data', prefix);
  child.once('exit', () => children.delete(child));
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function waitHttp(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
}

/** One call through a proxy; resolves whatever the function answered. */
function call(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

interface Instance {
  fn: FunctionSpec;
  proxyPort: number;
  opsPort: number;
  processes: ChildProcess[];
}

let instanceSeq = 0;
async function startInstance(fn: FunctionSpec): Promise<Instance> {
  instanceSeq += 1;
  const instance = `${fn.name}-${instanceSeq.toString(36)}-${Date.now().toString(36).slice(-4)}`;
  const [fnPort, proxyPort, opsPort] = [await freePort(), await freePort(), await freePort()];
  // The sidecar is up before the function's runtime, as in a pod, so it times the whole start.
  const proxy = run(`${instance}/proxy`, ['cli/faasmeter.ts', 'proxy'], {
    FAASMETER_TENANT: fn.tenant,
    FAASMETER_FUNCTION: fn.name,
    FAASMETER_REVISION: `${fn.name}-00001`,
    FAASMETER_INSTANCE: instance,
    FAASMETER_MEMORY_MB: String(fn.memoryMb),
    FAASMETER_ARCH: fn.arch,
    FAASMETER_PROXY_PORT: String(proxyPort),
    FAASMETER_TARGET: `http://127.0.0.1:${fnPort}`,
    FAASMETER_OPS_PORT: String(opsPort),
    FAASMETER_KAFKA_BROKERS: BROKERS,
    FAASMETER_TOPIC_PREFIX: PREFIX,
    FAASMETER_SPOOL_DIR: join(runDir, 'spool', instance),
  });
  await waitHttp(`http://127.0.0.1:${opsPort}/healthz`);
  const function_ = run(`${instance}/fn`, ['test/helpers/sample-function.ts'], {
    PORT: String(fnPort),
    SAMPLE_INIT_MS: String(fn.initMs),
    SAMPLE_WORK_MS: String(fn.workMs),
    SAMPLE_ERROR_RATE: String(fn.errorRate),
    SAMPLE_SEED: String(instanceSeq),
  });
  return { fn, proxyPort, opsPort, processes: [proxy, function_] };
}

/** Drives each instance at its rate for `ms`; returns calls sent and answered with 2xx. */
async function drive(instances: Instance[], ms: number): Promise<{ sent: number; ok: number }> {
  let sent = 0;
  let ok = 0;
  const until = Date.now() + ms;
  await Promise.all(
    instances.map(async (inst) => {
      const gap = 1000 / inst.fn.rate;
      const inFlight: Promise<void>[] = [];
      for (let next = Date.now(); next < until; next += gap) {
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
        sent += 1;
        inFlight.push(call(inst.proxyPort).then((status) => void (status >= 200 && status < 300 ? (ok += 1) : undefined)));
      }
      await Promise.all(inFlight);
    }),
  );
  return { sent, ok };
}

function writeScrapeTargets(targets: Array<{ job: string; port: number }>): void {
  const dir = join(stackDir, 'prometheus', 'targets');
  mkdirSync(dir, { recursive: true });
  const groups = targets.map((t) => ({ targets: [`127.0.0.1:${t.port}`], labels: { job: t.job, demo: 'true' } }));
  writeFileSync(join(dir, 'demo.json'), JSON.stringify(groups, null, 2));
}

async function api<T>(port: number, key: string, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${key}` } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function main(): Promise<void> {
  stackWasUp = spawnSync('bash', [join(root, 'deploy/local-stack/status.sh')], { stdio: 'ignore' }).status === 0;
  say('starting the local stack (first run installs Kafka, ClickHouse, Prometheus and Alertmanager)');
  const up = spawnSync('bash', [join(root, 'deploy/local-stack/up.sh')], { stdio: 'inherit' });
  if (up.status !== 0) throw new Error('the local stack did not start; see the messages above');
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });

  const log = createLogger('demo', 'warn');
  // Every run starts clean, so its summary counts only its own calls.
  await createClickHouse({ url: CLICKHOUSE }).command(sql`DROP DATABASE IF EXISTS ${v.ident(DATABASE)}`);
  const kafka = createKafka({ brokers: BROKERS.split(','), clientId: 'faasmeter-demo' }, log);
  const admin = kafka.admin();
  await admin.connect();
  const stale = (await admin.listTopics()).filter((t) => t.startsWith(PREFIX));
  if (stale.length > 0) await admin.deleteTopics({ topics: stale });
  await admin.disconnect();
  const ch = createClickHouse({ url: CLICKHOUSE, database: DATABASE });
  const applied = await migrate(ch, { database: DATABASE });
  say(`ClickHouse database ${DATABASE}: ${applied.applied.length} migrations applied`);
  await ensureTopics(kafka, defaultTopics(3, PREFIX));
  say(`Kafka topics ${PREFIX}faasmeter.*.v1 ready`);

  const common = {
    FAASMETER_KAFKA_BROKERS: BROKERS,
    FAASMETER_TOPIC_PREFIX: PREFIX,
    FAASMETER_CLICKHOUSE_URL: CLICKHOUSE,
    FAASMETER_CLICKHOUSE_DATABASE: DATABASE,
    FAASMETER_PRICING_FILE: join(root, 'deploy/demo/plans.json'),
  };
  const [meterOps, apiPort] = [await freePort(), await freePort()];
  run('meter', ['cli/faasmeter.ts', 'meter'], { ...common, FAASMETER_OPS_PORT: String(meterOps), FAASMETER_METER_GROUP: 'faasmeter-demo-meter' });
  run('api', ['cli/faasmeter.ts', 'api'], { ...common, FAASMETER_API_PORT: String(apiPort), FAASMETER_API_RATE_PER_SECOND: '200' });
  await waitHttp(`http://127.0.0.1:${meterOps}/healthz`);
  await waitHttp(`http://127.0.0.1:${apiPort}/healthz`);
  say(`meter (ops :${meterOps}) and billing API (:${apiPort}) running`);

  const keys: Record<string, string> = {};
  for (const tenant of ['acme', 'globex']) {
    const created = spawnSync(process.execPath, ['cli/faasmeter.ts', 'keys', 'create', '--tenant', tenant, '--name', 'demo', '--json'], {
      cwd: root,
      env: { ...process.env, ...common },
      encoding: 'utf8',
    });
    if (created.status !== 0) throw new Error(`could not create a demo key: ${created.stderr}`);
    keys[tenant] = (JSON.parse(created.stdout) as { key: string }).key;
  }

  const targets = [
    { job: 'faasmeter-meter', port: meterOps },
    { job: 'faasmeter-api', port: apiPort },
  ];
  let sent = 0;
  let ok = 0;
  const from = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  for (let wave = 1; wave <= WAVES; wave += 1) {
    say(`wave ${wave}/${WAVES}: scaling ${FUNCTIONS.length} functions from 0 to ${FUNCTIONS.reduce((n, f) => n + f.instances, 0)} instances (cold starts)`);
    const instances: Instance[] = [];
    for (const fn of FUNCTIONS) for (let i = 0; i < fn.instances; i += 1) instances.push(await startInstance(fn));
    writeScrapeTargets([...targets, ...instances.map((i) => ({ job: 'faasmeter-proxy', port: i.opsPort }))]);
    const result = await drive(instances, WAVE_MS);
    sent += result.sent;
    ok += result.ok;
    say(`wave ${wave}: ${result.sent} calls, ${result.ok} answered 2xx; scaling to zero`);
    await Promise.all(instances.flatMap((i) => i.processes.map((p) => stop(p))));
  }
  writeScrapeTargets(targets);

  say('waiting for the meter to bill every call');
  const to = (Math.floor(Date.now() / 3_600_000) + 1) * 3_600_000;
  const usageOf = async () => {
    let calls = 0;
    for (const tenant of Object.keys(keys)) {
      const usage = await api<{ rows: Array<{ calls: number | string }> }>(
        apiPort,
        keys[tenant]!,
        `/v1/usage?from=${isoSeconds(from)}&to=${isoSeconds(to)}&window=hour&groupBy=function`,
      );
      calls += usage.rows.reduce((n, r) => n + Number(r.calls), 0);
    }
    return calls;
  };
  const deadline = Date.now() + 120_000;
  let billed = 0;
  while (Date.now() < deadline && (billed = await usageOf()) < sent) await new Promise((resolve) => setTimeout(resolve, 1_000));

  await printSummary(apiPort, keys, from, to, { sent, ok, billed });
  if (keepRunning) {
    say('the meter and API keep running; press Ctrl-C to stop everything the demo started');
    await new Promise(() => {});
  }
}

const show = (value: unknown, fallback = '-'): string =>
  typeof value === 'string' || typeof value === 'number' ? String(value) : fallback;

async function printSummary(
  apiPort: number,
  keys: Record<string, string>,
  from: number,
  to: number,
  totals: { sent: number; ok: number; billed: number },
): Promise<void> {
  const day = 86_400_000;
  const range = `from=${isoSeconds(Math.floor(from / day) * day)}&to=${isoSeconds((Math.floor(to / day) + 1) * day)}`;
  const period = new Date().toISOString().slice(0, 7);
  const out: string[] = ['', '=== faasmeter demo summary', `calls sent ${totals.sent} (2xx ${totals.ok}); billed ${totals.billed}`, ''];
  for (const [tenant, key] of Object.entries(keys)) {
    const usage = await api<{ rows: Array<Record<string, unknown>> }>(apiPort, key, `/v1/usage?${range}&window=day&groupBy=function`);
    const cold = await api<{ rows: Array<Record<string, unknown>> }>(apiPort, key, `/v1/cold-starts?${range}&groupBy=function`);
    const statement = await api<{ status: string; total: string; currency: string }>(
      apiPort,
      key,
      `/v1/statements/${period}`,
    );
    out.push(`tenant ${tenant}: statement ${period} (${statement.status}) total ${statement.currency} ${statement.total}`);
    for (const row of usage.rows) {
      const coldRow = (cold.rows.find((c) => c.function === row.function) ?? {}) as { coldStarts?: string; initDurationMs?: { p95?: number } | null };
      out.push(
        `  ${show(row.function).padEnd(16)} calls ${show(row.calls).padStart(6)}  errors ${show(row.errors).padStart(4)}  ` +
          `cold starts ${show(coldRow.coldStarts ?? row.coldStarts, '0').padStart(3)}  init p95 ${show(coldRow.initDurationMs?.p95).padStart(7)} ms  ` +
          `GB-s ${show(row.gbSeconds)}  est. cost ${show(row.cost)}`,
      );
    }
  }
  out.push(
    '',
    `billing API   http://127.0.0.1:${apiPort}  (OpenAPI at /openapi.json)`,
    `  curl -H "Authorization: Bearer ${keys.acme}" "http://127.0.0.1:${apiPort}/v1/statements/${period}"`,
    'Prometheus    http://127.0.0.1:19090  (alert rules from alerts/rules, scraping the demo processes)',
    'Alertmanager  http://127.0.0.1:19094',
    'dashboards    dashboards/generated/*.json (Grafana), previews: npx node dashboards/render.ts',
    '',
  );
  process.stdout.write(`${out.join('\n')}\n`);
}

let stackWasUp = true;
let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('stopping the demo processes');
  await Promise.all([...children].map((c) => stop(c)));
  if (stackWasUp) {
    say('done; the local stack was already running and keeps running (npm run stack:down stops it)');
  } else {
    spawnSync('bash', [join(root, 'deploy/local-stack/down.sh')], { stdio: 'inherit' });
    say('done; stopped the local stack the demo started');
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(130));
process.on('SIGTERM', () => void shutdown(143));

main().then(
  () => shutdown(0),
  (error: unknown) => {
    process.stderr.write(`[demo] failed: ${error instanceof Error ? error.message : String(error)}\n`);
    void shutdown(1);
  },
);
