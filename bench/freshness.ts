/**
 * Freshness bench: time from a call's end to its appearance in the billing API, p50/p90/p99/max.
 *
 *   npx node bench/freshness.ts [--rate 30] [--seconds 60] [--poll-ms 50] [--partitions 6]
 *
 * The path runs as in production, each hop in its own process: the sample function (in this
 * process) behind `faasmeter proxy` → Kafka (a throwaway topic prefix) → `faasmeter meter` →
 * ClickHouse (a fresh migrated database) → `faasmeter api`. Calls go through the proxy at a
 * steady rate and this process stamps each call's end. Meanwhile it polls GET /v1/usage (hour
 * windows, with the tenant's key) every poll interval and notes when the call count first
 * reaches k: the freshness of the k-th call to end is that moment minus its end. Polling adds up
 * to one interval (and the request's own time): a call may become visible just after a poll.
 *
 * Each call carries its own x-request-id, which becomes its event id, so the hops can be told
 * apart: the Kafka record's timestamp (stamped when the proxy's producer builds the request,
 * after the delivery linger; read by a consumer in this process) and billed_calls.written_ms
 * (when the meter received the batch, before its look-ups and inserts).
 *
 * The children inherit this process's environment, so a setting's effect is measured by setting
 * it here, e.g. `FAASMETER_DELIVERY_LINGER_MS=5 npx node bench/freshness.ts`.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Consumer } from 'kafkajs';
import { KeyHasher, KeyStore } from '../api/keys.ts';
import { createClickHouse } from '../clickhouse/client.ts';
import { migrate } from '../clickhouse/migrate.ts';
import { sql, v } from '../clickhouse/sql.ts';
import { DEFAULT_CLICKHOUSE_URL, DEFAULT_KAFKA_BROKERS } from '../common/config.ts';
import { createLogger } from '../common/log.ts';
import { freePort } from '../common/net.ts';
import { deliveryConfigFromEnv } from '../collector/delivery/config.ts';
import { meterConfigFromEnv } from '../meter/config.ts';
import { TOPICS } from '../contract/topics.ts';
import { createKafka } from '../kafka/client.ts';
import { defaultTopics, ensureTopics } from '../kafka/topics.ts';
import type { MeterProcess } from '../test/helpers/meter-process.ts';
import { startMeterProcess } from '../test/helpers/meter-process.ts';
import { startSampleFunction } from '../test/helpers/sample-function.ts';
import { recordResults } from './results.ts';

const root = join(import.meta.dirname, '..');
const HOUR_MS = 3_600_000;
const WARMUP_CALLS = 10;
/** How long the pipeline may take to show the warm-up calls: the meter's first group join is most of it. */
const WARMUP_TIMEOUT_MS = 90_000;
/** After the last call ends, how long to wait for the API to count every call. */
const DRAIN_TIMEOUT_MS = 60_000;
const GOAL_P99_MS = 2_000;
const START_TIMEOUT_MS = 60_000;

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '30' },
    seconds: { type: 'string', default: '60' },
    'poll-ms': { type: 'string', default: '50' },
    // As many as `faasmeter topics` creates by default: the meter's batches per fetch follow it.
    partitions: { type: 'string', default: '6' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const pollMs = Number(values['poll-ms']);
const partitions = Number(values.partitions);

const brokers = process.env.FAASMETER_KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS;
const clickhouseUrl = process.env.FAASMETER_CLICKHOUSE_URL ?? DEFAULT_CLICKHOUSE_URL;
const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const prefix = `bench-fresh-${run}.`;
const database = `bench_fresh_${run}`;
const tenant = 'bench-fresh';
const topics = defaultTopics(partitions, prefix);
const silent = createLogger('bench', 'silent');

/** Wall-clock milliseconds with sub-millisecond resolution, comparable with other processes' Date.now(). */
const wallMs = () => performance.timeOrigin + performance.now();

const interrupted = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => interrupted.abort(new Error(`${signal} received`)));
const pause = (ms: number) => sleep(ms, undefined, { signal: interrupted.signal });

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

interface Spread {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function spread(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99), max: sorted.at(-1)! };
}

const ms = (x: number) => `${Math.round(x)} ms`;
const row = (label: string, s: Spread | undefined) =>
  s ? `| ${label} | ${ms(s.p50)} | ${ms(s.p90)} | ${ms(s.p99)} | ${ms(s.max)} |` : `| ${label} | – | – | – | – |`;
const isoSeconds = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');

interface Cli {
  child: ChildProcess;
  /** Resolves once a stdout line contains the ready text; rejects if the process exits or takes too long. */
  ready: Promise<void>;
}

/** Starts `faasmeter <command>`; the tail of its output goes into the error if it fails to start. */
function startCli(command: string, env: Record<string, string>, readyText: string): Cli {
  const child = spawn(process.execPath, ['cli/faasmeter.ts', command], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (line: string) => {
    tail = `${tail}${line}\n`.slice(-10_000);
  };
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`faasmeter ${command} was not ready within ${START_TIMEOUT_MS / 1000} s:\n${tail}`)), START_TIMEOUT_MS);
    createInterface({ input: child.stderr }).on('line', keep);
    createInterface({ input: child.stdout }).on('line', (line) => {
      keep(line);
      if (!line.includes(readyText)) return;
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`faasmeter ${command} exited with ${code}:\n${tail}`));
    });
  });
  ready.catch(() => {});
  return { child, ready };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

interface Call {
  id: string;
  endMs: number;
  status: number;
}

function call(port: number, id: string, agent: Agent): Promise<Call | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent, headers: { 'x-request-id': id } }, (res) => {
      res.resume();
      res.once('end', () => resolve({ id, endMs: wallMs(), status: res.statusCode ?? 0 }));
    });
    req.once('error', () => resolve(undefined));
    req.end();
  });
}

/** Polls the tenant's call count; `seenAt[k]` is when the count was first seen ≥ k (counted from the baseline). */
class Poller {
  readonly seenAt: number[] = [];
  readonly requestMs: number[] = [];
  count = 0;
  baseline = 0;
  #running = true;
  #done: Promise<void> | undefined;
  #error: Error | undefined;
  readonly #url: string;
  readonly #headers: Record<string, string>;

  constructor(url: string, key: string) {
    this.#url = url;
    this.#headers = { authorization: `Bearer ${key}` };
  }

  async #countNow(): Promise<number> {
    const from = performance.now();
    const res = await fetch(this.#url, { headers: this.#headers, signal: interrupted.signal });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`GET /v1/usage: HTTP ${res.status} ${body.slice(0, 500)}`);
    this.requestMs.push(performance.now() - from);
    return (JSON.parse(body) as { rows: { calls: string }[] }).rows.reduce((sum, r) => sum + Number(r.calls), 0);
  }

  /** Counts from now on are measured: the k-th is the k-th call above what is already counted. */
  async startMeasuring(): Promise<void> {
    this.baseline = await this.#countNow();
    this.count = this.baseline;
    this.requestMs.length = 0;
    // A failed poll ends the loop; the error surfaces in waitFor/stop rather than as an unhandled rejection.
    this.#done = this.#loop().catch((error: unknown) => {
      this.#error = error instanceof Error ? error : new Error(String(error));
      this.#running = false;
    });
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      const started = performance.now();
      const count = await this.#countNow();
      const at = wallMs();
      for (let k = this.count - this.baseline + 1; k <= count - this.baseline; k += 1) this.seenAt[k] = at;
      this.count = Math.max(this.count, count);
      await pause(Math.max(0, pollMs - (performance.now() - started)));
    }
  }

  async waitFor(total: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#running && this.count < total && Date.now() < deadline) await pause(pollMs);
    if (this.#error !== undefined) throw this.#error;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
    if (this.#error !== undefined) throw this.#error;
  }

  /** Before measuring: the same count, without recording when. */
  async waitUntilCounted(total: number, timeoutMs: number, alive: () => void): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.#countNow()) < total) {
      alive();
      if (Date.now() > deadline) throw new Error(`the API did not count ${total} warm-up calls within ${timeoutMs / 1000} s`);
      await pause(200);
    }
  }
}

/** Sum and count of a histogram or counter family in Prometheus text, over all its label sets. */
function promTotal(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)`).exec(line);
    if (match) total += Number(match[2]);
  }
  return total;
}

/** Kafka record timestamps of the invocation events, by event id, read by a consumer of our own group. */
async function watchRecords(into: Map<string, number>): Promise<Consumer> {
  const kafka = createKafka({ brokers: brokers.split(','), clientId: 'faasmeter-bench-freshness' }, silent);
  const consumer = kafka.consumer({ groupId: `${prefix}probe`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [prefix + TOPICS.invocations], fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      if (message.value !== null) into.set((JSON.parse(message.value.toString()) as { id: string }).id, Number(message.timestamp));
      return Promise.resolve();
    },
  });
  return consumer;
}

async function main(): Promise<void> {
  const admin = createClickHouse({ url: clickhouseUrl, database: 'default' });
  const ch = admin.withDatabase(database);
  const kafka = createKafka({ brokers: brokers.split(','), clientId: 'faasmeter-bench-freshness', connectionTimeoutMs: 3_000 }, silent);
  const spoolDir = await mkdtemp(join(tmpdir(), 'faasmeter-bench-fresh-spool-'));
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const children: ChildProcess[] = [];
  let meter: MeterProcess | undefined;
  let probe: Consumer | undefined;
  let topicsCreated = false;
  const fn = await startSampleFunction({ responseBytes: 64 });
  try {
    await fn.ready;
    await migrate(ch, { database });
    await ensureTopics(kafka, topics);
    topicsCreated = true;
    const { key } = await new KeyStore(ch, new KeyHasher(process.env.FAASMETER_API_KEY_PEPPER)).create({ tenant, name: 'freshness bench' });

    const kafkaTimestamps = new Map<string, number>();
    probe = await watchRecords(kafkaTimestamps);

    const meterEnv = {
      FAASMETER_KAFKA_BROKERS: brokers,
      FAASMETER_TOPIC_PREFIX: prefix,
      FAASMETER_METER_GROUP: `${prefix}meter`,
      FAASMETER_CLICKHOUSE_URL: clickhouseUrl,
      FAASMETER_CLICKHOUSE_DATABASE: database,
      // The built-in default plan for the bench tenant, as for any tenant the pricing file omits.
      FAASMETER_UNKNOWN_TENANTS: 'default-plan',
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
    };
    const meterConfig = meterConfigFromEnv({ ...process.env, ...meterEnv });
    meter = await startMeterProcess(meterEnv);
    const meterProcess = meter;
    const apiPort = await freePort();
    const api = startCli(
      'api',
      {
        FAASMETER_API_HOST: '127.0.0.1',
        FAASMETER_API_PORT: String(apiPort),
        FAASMETER_CLICKHOUSE_URL: clickhouseUrl,
        FAASMETER_CLICKHOUSE_DATABASE: database,
        // Polling every 50 ms is far above the per-key default rate.
        FAASMETER_API_RATE_PER_SECOND: '100000',
        FAASMETER_API_RATE_BURST: '100000',
        FAASMETER_LOG_LEVEL: 'info',
      },
      '"api listening"',
    );
    children.push(api.child);
    const proxyEnv = {
      FAASMETER_TENANT: tenant,
      FAASMETER_FUNCTION: 'fresh-fn',
      FAASMETER_REVISION: 'fresh-fn-00001',
      FAASMETER_INSTANCE: 'fresh-fn-00001-0',
      FAASMETER_MEMORY_MB: '128',
      FAASMETER_TARGET: fn.url,
      FAASMETER_PROXY_HOST: '127.0.0.1',
      FAASMETER_PROXY_PORT: String(await freePort()),
      FAASMETER_OPS_HOST: '127.0.0.1',
      FAASMETER_OPS_PORT: '0',
      FAASMETER_KAFKA_BROKERS: brokers,
      FAASMETER_TOPIC_PREFIX: prefix,
      FAASMETER_SPOOL_DIR: spoolDir,
      FAASMETER_LOG_LEVEL: 'info',
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
    };
    const delivery = deliveryConfigFromEnv({ ...process.env, ...proxyEnv }, 'faasmeter-proxy-bench');
    const proxy = startCli('proxy', proxyEnv, '"proxy running"');
    children.push(proxy.child);
    await Promise.all([api.ready, proxy.ready]);
    const proxyPort = Number(proxyEnv.FAASMETER_PROXY_PORT);

    const fromMs = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    const toMs = Math.floor((Date.now() + (seconds + WARMUP_TIMEOUT_MS / 1000 + 600) * 1000) / HOUR_MS) * HOUR_MS + HOUR_MS;
    const poller = new Poller(`http://127.0.0.1:${apiPort}/v1/usage?from=${isoSeconds(fromMs)}&to=${isoSeconds(toMs)}&window=hour`, key);

    const settings =
      `proxy delivery linger ${delivery.lingerMs} ms, batches up to ${delivery.batchMaxEvents} events (FAASMETER_DELIVERY_LINGER_MS, FAASMETER_DELIVERY_BATCH_MAX_EVENTS); ` +
      `${partitions} partitions a topic; the meter handles ${meterConfig.FAASMETER_METER_CONCURRENCY} partitions' batches at once (FAASMETER_METER_CONCURRENCY)`;
    const loadAtStart = loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
    console.log(`freshness bench: ${rate} calls/s for ${seconds} s, API polled every ${pollMs} ms; Kafka ${brokers} prefix ${prefix}, ClickHouse database ${database}`);
    console.log(`${settings}; ${cpus().length} CPUs, load average ${loadAtStart}`);

    // Warm-up: the meter joins its group and every connection is open before anything is timed.
    const warmupStarted = performance.now();
    for (let i = 0; i < WARMUP_CALLS; i += 1) await call(proxyPort, `${run}-warmup-${i}`, agent);
    const alive = () => {
      if (meterProcess.child.exitCode !== null) throw new Error(`faasmeter meter exited:\n${meterProcess.output()}`);
    };
    await poller.waitUntilCounted(WARMUP_CALLS, WARMUP_TIMEOUT_MS, alive);
    console.log(`warm-up: ${WARMUP_CALLS} calls counted by the API after ${((performance.now() - warmupStarted) / 1000).toFixed(1)} s`);

    await poller.startMeasuring();
    const total = Math.round(rate * seconds);
    const interval = 1000 / rate;
    const pending: Promise<Call | undefined>[] = [];
    const started = performance.now();
    // Open loop: call i starts at its scheduled time whatever earlier calls are doing.
    for (let i = 0; i < total; i += 1) {
      const wait = started + i * interval - performance.now();
      if (wait > 0) await pause(wait);
      pending.push(call(proxyPort, `${run}-${i}`, agent));
    }
    const calls = (await Promise.all(pending)).filter((c) => c !== undefined).sort((a, b) => a.endMs - b.endMs);
    await poller.waitFor(poller.baseline + calls.length, DRAIN_TIMEOUT_MS);
    await poller.stop();
    alive();
    const metrics = await (await fetch(`${meterProcess.opsUrl}/metrics`)).text();
    const batches = promTotal(metrics, 'faasmeter_meter_insert_seconds_count');
    const writeMs = batches > 0 ? (promTotal(metrics, 'faasmeter_meter_insert_seconds_sum') * 1000) / batches : 0;
    const perBatch = promTotal(metrics, 'faasmeter_meter_batch_records_sum') / Math.max(1, promTotal(metrics, 'faasmeter_meter_batch_records_count'));

    const freshness: number[] = [];
    const toKafka: number[] = [];
    const kafkaToMeter: number[] = [];
    const meterToSeen: number[] = [];
    const written = new Map(
      (await ch.query<{ event_id: string; written_ms: string }>(sql`SELECT event_id, written_ms FROM billed_calls WHERE tenant = ${v.string(tenant)}`)).map(
        (r) => [r.event_id, Number(r.written_ms)],
      ),
    );
    calls.forEach((c, index) => {
      const seen = poller.seenAt[index + 1];
      if (seen === undefined) return;
      freshness.push(seen - c.endMs);
      const kafkaMs = kafkaTimestamps.get(c.id);
      const writtenMs = written.get(c.id);
      if (kafkaMs !== undefined) toKafka.push(kafkaMs - c.endMs);
      if (kafkaMs !== undefined && writtenMs !== undefined) kafkaToMeter.push(writtenMs - kafkaMs);
      if (writtenMs !== undefined) meterToSeen.push(seen - writtenMs);
    });
    const missing = calls.length - freshness.length;
    const f = spread(freshness);
    const loadAtEnd = loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
    const failed = calls.filter((c) => c.status !== 200).length;
    const table = [
      '| from → to | p50 | p90 | p99 | max |',
      '| --- | --- | --- | --- | --- |',
      row('**call end → counted by GET /v1/usage (freshness)**', f),
      row('call end → Kafka record timestamp (proxy emit, delivery linger)', spread(toKafka)),
      row('Kafka record → meter received the batch (produce ack, wait for the previous write, fetch)', spread(kafkaToMeter)),
      row('meter received → counted by the poller (look-ups, inserts, rollup view, API query, poll wait)', spread(meterToSeen)),
      row('GET /v1/usage response time', spread(poller.requestMs)),
    ].join('\n');
    const verdict = f ? (f.p99 < GOAL_P99_MS ? `p99 ${ms(f.p99)}: under the ${GOAL_P99_MS / 1000} s goal` : `p99 ${ms(f.p99)}: **over** the ${GOAL_P99_MS / 1000} s goal`) : 'no call was counted';
    const notes = [
      `${calls.length} calls through \`faasmeter proxy\` at ${rate}/s for ${seconds} s (${failed} answered other than 200, ${total - calls.length} without an answer); ${missing} not counted by the API within ${DRAIN_TIMEOUT_MS / 1000} s of the last call's end. ${verdict}.`,
      `Freshness of the k-th call to end = when the poller first saw the tenant's count reach k − that call's end. The API is polled every ${pollMs} ms, which adds up to one interval plus the request's own time. The rows below it split each call's path by its event id; percentiles of the parts do not add up to the total's.`,
      `Meter (faasmeter_meter_insert_seconds, faasmeter_meter_batch_records, over the whole run): ${batches} batches of ${perBatch.toFixed(1)} records on average, ${Math.round(writeMs)} ms on average to write one (dedup look-ups and three inserts). kafkajs fetches again only once every batch of the last fetch is written, so a call that reaches Kafka during a write also waits for the rest of it.`,
      `Settings: ${settings}. A fetch returns as soon as a record is there (minBytes 1; kafka/consumer.ts maxWaitTimeInMs only bounds an empty one).`,
      `Load average at start ${loadAtStart}, at end ${loadAtEnd} (${cpus().length} CPUs).`,
    ];
    console.log(`\n${table}\n\n${notes.join('\n')}`);
    recordResults({ title: 'Freshness: call end to billing API', body: `${table}\n\n${notes.join('\n\n')}` });
  } finally {
    agent.destroy();
    const stops: Promise<unknown>[] = children.map(stopChild);
    if (meter) stops.push(meter.kill('SIGTERM'));
    if (probe) stops.push(probe.disconnect());
    stops.push(fn.close());
    await Promise.allSettled(stops);
    await cleanUp(`drop database ${database}`, () => admin.command(sql`DROP DATABASE IF EXISTS ${v.ident(database)}`));
    await cleanUp('close the ClickHouse client', () => admin.close());
    if (topicsCreated) {
      const topicAdmin = kafka.admin();
      await cleanUp(`delete topics ${prefix}*`, async () => {
        await topicAdmin.connect();
        try {
          await topicAdmin.deleteTopics({ topics: topics.map((t) => t.topic) });
        } finally {
          await topicAdmin.disconnect();
        }
      });
    }
    await rm(spoolDir, { recursive: true, force: true });
  }
}

/** One clean-up step: a failure is reported and the remaining steps still run. */
async function cleanUp(what: string, step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch (error) {
    console.warn(`could not ${what}: ${(error as Error).message}`);
  }
}

await main();
