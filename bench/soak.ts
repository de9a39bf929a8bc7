/**
 * `npm run soak`: a long mixed workload under repeated faults, then an exact audit.
 *
 * Own Kafka node and ClickHouse server (so restarting them disturbs nobody), a fresh migrated
 * database and uniquely prefixed topics. Collector processes (bench/soak-collector.ts: the real
 * delivery with its disk spool) emit a seeded workload live: 3 tenants, 20 functions, both
 * architectures, cold starts, errors, and about 5% of calls sent twice. This process injects
 * hostile records straight into the invocations topic. Meanwhile, on a schedule that scales with
 * --minutes: the meter (the real CLI, as a child) is SIGKILLed again and again, a second meter
 * shares the group for a while, the broker is restarted, ClickHouse is stopped for up to 60 s,
 * and collector 0 is cut off from Kafka (through a relay in this process) for a fifth of the run
 * while everyone else keeps their connection.
 *
 * Then it waits until the meter has consumed everything and checks: every generated call billed
 * exactly once (no id missing, none extra, one row each), every hostile record dead-lettered and
 * no valid one, and each tenant's statement equal, to the cent, to an independent computation
 * from the regenerated calls (test/helpers/reference-billing.ts). Exit code 1 on any mismatch.
 *
 * Run: npm run soak -- [--minutes 15] [--rate 100] [--collectors 3] [--seed 1]
 *   (--rate is calls/s per collector). Needs the Kafka jars and ClickHouse of `npm run stack:up`;
 *   the shared stack itself is not touched. Records its report with bench/results.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { Kafka } from 'kafkajs';
import type { ClickHouse } from '../clickhouse/client.ts';
import { createClickHouse } from '../clickhouse/client.ts';
import { migrate } from '../clickhouse/migrate.ts';
import { sql, v } from '../clickhouse/sql.ts';
import { createLogger } from '../common/log.ts';
import { freePort } from '../common/net.ts';
import { seededRandom } from '../common/random.ts';
import type { Architecture, InvocationEvent } from '../contract/index.ts';
import { TOPICS } from '../contract/index.ts';
import { createKafka } from '../kafka/client.ts';
import type { OutgoingRecord, RecordProducer } from '../kafka/producer.ts';
import { createRecordProducer } from '../kafka/producer.ts';
import { defaultTopics, ensureTopics } from '../kafka/topics.ts';
import { periodOf } from '../meter/periods.ts';
import { parsePricingConfig } from '../meter/pricing/index.ts';
import { computeStatement } from '../meter/statements.ts';
import { REFERENCE_PLANS, TEST_PRICING } from '../test/helpers/meter-fixtures.ts';
import type { MeterProcess } from '../test/helpers/meter-process.ts';
import { startMeterProcess, writeJson } from '../test/helpers/meter-process.ts';
import type { PrivateKafka } from '../test/helpers/private-kafka.ts';
import { createPrivateKafka } from '../test/helpers/private-kafka.ts';
import type { PrivateClickHouse } from '../test/helpers/private-stack.ts';
import { privateClickHouse } from '../test/helpers/private-stack.ts';
import type { RefTotals } from '../test/helpers/reference-billing.ts';
import { referenceTotal, referenceUsage } from '../test/helpers/reference-billing.ts';
import { workloadEvents } from '../test/helpers/workload.ts';
import { recordResults } from './results.ts';
import type { CollectorProgress } from './soak-collector.ts';
import type { CollectorPlan } from './soak-workload.ts';
import { collectorWorkload, hostileRecords, idPrefix } from './soak-workload.ts';

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '15' },
    rate: { type: 'string', default: '100' },
    collectors: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
  },
});
function positive(name: string, text: string, integer: boolean): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${text}"`);
  return n;
}
const MINUTES = positive('minutes', flags.minutes, false);
const RATE = positive('rate', flags.rate, false);
const COLLECTORS = positive('collectors', flags.collectors, true);
const SEED = positive('seed', flags.seed, true);
if (COLLECTORS < 2) throw new Error('--collectors must be at least 2: collector 0 is cut off while the others keep delivering');

const RUN_MS = Math.round(MINUTES * 60_000);
const CALLS_PER_COLLECTOR = Math.round((RATE * RUN_MS) / 1000);
/** A killed meter comes back after this, as a supervisor would restart it. */
const RESTART_DELAY_MS = 3_000;
const METER_KILLS = Math.max(5, Math.round(MINUTES * 0.8));
const CUT_MS = Math.round(RUN_MS * 0.2);
const CLICKHOUSE_OUTAGE_MS = Math.min(60_000, Math.round(RUN_MS * 0.25));
const HOSTILE_EVERY_MS = 10_000;
/** After the last call is emitted: how long the meter may take to bill the rest. */
const DRAIN_TIMEOUT_MS = 15 * 60_000;
const PARTITIONS = 6;

const run = `soak${randomBytes(3).toString('hex')}`;
const prefix = `${run}.`;
const quiet = createLogger('soak', 'silent');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const MiB = 1024 * 1024;
const startedAt = Date.now();
let t0 = 0;
const clock = () => (t0 === 0 ? `setup ${((Date.now() - startedAt) / 1000).toFixed(0)}s` : `t=${((Date.now() - t0) / 1000).toFixed(0)}s`);
const say = (message: string) => console.log(`[soak ${clock()}] ${message}`);

const faults: { atS: number; what: string }[] = [];
function fault(what: string): void {
  faults.push({ atS: (Date.now() - t0) / 1000, what });
  say(`FAULT ${what}`);
}
const counts = { kills: 0, exits: 0 };
/** Problems of the harness or the system under test; any of them fails the run. */
const failures: string[] = [];

// --- cleanup ------------------------------------------------------------------------------------

const cleanups: (() => Promise<void> | void)[] = [];
let cleaning: Promise<void> | undefined;
let shuttingDown = false;
function cleanup(): Promise<void> {
  // From here on a child that exits was stopped by us, not by a fault.
  shuttingDown = true;
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch (error) {
        console.error(`[soak] cleanup step failed: ${(error as Error).message}`);
      }
    }
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping every child and private server`);
    void cleanup().then(() => process.exit(130));
  });
}

// --- the relay that stands between collector 0 and Kafka ------------------------------------------

interface Relay {
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/** Forwards loopback TCP to `target`; `cut` drops every connection and refuses new ones until `restore`. */
async function startRelay(port: number, target: string): Promise<Relay> {
  const [host, targetPort] = target.split(':') as [string, string];
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(targetPort), host);
    const drop = () => {
      for (const s of [client, upstream]) {
        s.destroy();
        sockets.delete(s);
      }
    };
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', drop).on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      open = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        open = false;
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// --- collectors -----------------------------------------------------------------------------------

interface Collector {
  index: number;
  child: ChildProcess;
  last: CollectorProgress | undefined;
  peakSpoolRecords: number;
  done: Promise<CollectorProgress>;
  go(startMs: number): void;
}

async function spawnCollector(index: number, plan: Omit<CollectorPlan, 'startMs'>, brokers: string[], spoolDir: string): Promise<Collector> {
  const config = { plan, delivery: { brokers, clientId: `soak-collector-${index}`, topicPrefix: prefix, spoolDir } };
  const child = spawn(process.execPath, [join(import.meta.dirname, 'soak-collector.ts'), JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let ready: () => void = () => {};
  const started = new Promise<void>((resolve) => (ready = resolve));
  let finish: (p: CollectorProgress) => void = () => {};
  const collector: Collector = {
    index,
    child,
    last: undefined,
    peakSpoolRecords: 0,
    done: new Promise<CollectorProgress>((resolve, reject) => {
      finish = resolve;
      child.once('exit', (code, signal) => reject(new Error(`collector ${index} exited (${code ?? signal}) before it was done`)));
    }),
    go: (startMs) => child.stdin?.write(`go ${startMs}\n`),
  };
  // Rejections are read when the run awaits `done`; until then an early exit must not crash us.
  collector.done.catch(() => undefined);
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'ready') ready();
    else if (line.startsWith('p ') || line.startsWith('done ')) {
      const progress = JSON.parse(line.slice(line.indexOf(' ') + 1)) as CollectorProgress;
      collector.last = progress;
      collector.peakSpoolRecords = Math.max(collector.peakSpoolRecords, progress.spoolRecords);
      if (line.startsWith('done ')) finish(progress);
    } else process.stderr.write(`[collector ${index}] ${line}\n`);
  });
  await Promise.race([started, collector.done]);
  return collector;
}

// --- meters ---------------------------------------------------------------------------------------

interface MeterSlot {
  name: string;
  proc: MeterProcess | undefined;
  /** The soak wants it running (restarts it after a kill or an exit of its own). */
  wanted: boolean;
  starts: number;
}

const meterPeakRss = { bytes: 0 };
let meterEnv: Record<string, string> = {};

async function launchMeter(slot: MeterSlot): Promise<void> {
  if (shuttingDown || !slot.wanted || slot.proc) return;
  const proc = await startMeterProcess(meterEnv);
  if (shuttingDown || !slot.wanted || slot.proc) {
    await proc.kill('SIGKILL');
    return;
  }
  slot.proc = proc;
  slot.starts += 1;
  void proc.exited.then((code) => {
    // A kill by the soak clears `proc` first; anything else is the meter leaving by itself.
    if (slot.proc !== proc) return;
    slot.proc = undefined;
    if (shuttingDown || !slot.wanted) return;
    counts.exits += 1;
    const lines = proc.output().trim().split('\n');
    const reason = lines.findLast((l) => l.startsWith('faasmeter: ')) ?? lines.at(-1) ?? '';
    fault(`meter ${slot.name} exited by itself (code ${code}: ${reason.slice(0, 160)}); restarting in ${RESTART_DELAY_MS / 1000} s`);
    void sleep(RESTART_DELAY_MS).then(() => launchMeter(slot));
  });
}

async function killMeter(slot: MeterSlot): Promise<void> {
  const proc = slot.proc;
  if (!proc) return;
  slot.proc = undefined;
  await proc.kill('SIGKILL');
  counts.kills += 1;
  fault(`meter ${slot.name} SIGKILLed (pid ${proc.child.pid}); restart in ${RESTART_DELAY_MS / 1000} s`);
  await sleep(RESTART_DELAY_MS);
  await launchMeter(slot);
}

async function retireMeter(slot: MeterSlot): Promise<void> {
  slot.wanted = false;
  const proc = slot.proc;
  slot.proc = undefined;
  if (!proc) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 30_000);
  await proc.exited;
  clearTimeout(timer);
}

// --- measuring ------------------------------------------------------------------------------------

/** Peak resident set so far (VmHWM) of a live process, in bytes. */
async function peakRss(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface TopicOffsets {
  partition: number;
  low: number;
  high: number;
}

async function topicOffsets(kafka: Kafka, topic: string): Promise<TopicOffsets[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, low: Number(p.low), high: Number(p.high) }));
  } finally {
    await admin.disconnect();
  }
}

/** Records of `topic` the meter's group has not committed yet. */
async function groupLag(kafka: Kafka, topic: string, groupId: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [high, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
    const done = new Map(committed.flatMap((t) => t.partitions).map((p) => [p.partition, Math.max(0, Number(p.offset))]));
    return high.reduce((sum, p) => sum + Math.max(0, Number(p.high) - (done.get(p.partition) ?? 0)), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Reads every record of `topic` up to its current end, keeping only what `each` takes from it. */
async function scanTopic(kafka: Kafka, topic: string, each: (key: string, headers: Record<string, string>) => void): Promise<number> {
  const remaining = new Map((await topicOffsets(kafka, topic)).filter((p) => p.high > p.low).map((p) => [p.partition, p.high]));
  let count = 0;
  if (remaining.size === 0) return 0;
  const consumer = kafka.consumer({ groupId: `${prefix}scan-${randomBytes(4).toString('hex')}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: ({ batch }) => {
        for (const m of batch.messages) {
          const headers: Record<string, string> = {};
          for (const [k, value] of Object.entries(m.headers ?? {})) if (value !== undefined) headers[k] = String(value);
          each(m.key?.toString() ?? '', headers);
          count += 1;
        }
        const end = remaining.get(batch.partition);
        if (end !== undefined && Number(batch.lastOffset()) + 1 >= end) remaining.delete(batch.partition);
        return Promise.resolve();
      },
    });
    const deadline = Date.now() + 5 * 60_000;
    while (remaining.size > 0) {
      if (Date.now() > deadline) throw new Error(`reading ${topic} to its end took over 5 minutes`);
      await sleep(100);
    }
    return count;
  } finally {
    await consumer.disconnect();
  }
}

async function billedIds(ch: ClickHouse): Promise<{ rows: number; ids: number }> {
  const [row] = await ch.query<{ rows: string; ids: string }>(sql`SELECT count() AS rows, uniqExact(event_id) AS ids FROM billed_calls`);
  return { rows: Number(row?.rows ?? 0), ids: Number(row?.ids ?? 0) };
}

async function retrying<T>(action: () => Promise<T>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}: ${(error as Error).message}`, { cause: error });
      await sleep(500);
    }
  }
}

// --- the reference --------------------------------------------------------------------------------

const ARCHS: readonly Architecture[] = ['x86_64', 'arm64'];

function addTotals(into: RefTotals, more: RefTotals): void {
  into.requests += more.requests;
  for (const arch of ARCHS) {
    into.execMbMs[arch] += more.execMbMs[arch];
    into.initMbMs[arch] += more.initMbMs[arch];
  }
}

/** Reference usage per tenant and period, summed in chunks so the calls never sit in memory at once. */
function referenceByTenantPeriod(plans: CollectorPlan[]): Map<string, RefTotals> {
  const totals = new Map<string, RefTotals>();
  const pending = new Map<string, InvocationEvent[]>();
  const settle = (bucket: string) => {
    const calls = pending.get(bucket) ?? [];
    const tenant = bucket.split('|')[0]!;
    const usage = referenceUsage(calls, REFERENCE_PLANS[tenant]!);
    const sum = totals.get(bucket);
    if (sum) addTotals(sum, usage);
    else totals.set(bucket, usage);
    pending.set(bucket, []);
  };
  for (const plan of plans) {
    for (const event of workloadEvents(collectorWorkload(plan))) {
      const bucket = `${event.data.tenant}|${periodOf(event.data.startMs)}`;
      let calls = pending.get(bucket);
      if (!calls) pending.set(bucket, (calls = []));
      calls.push(event);
      if (calls.length >= 10_000) settle(bucket);
    }
  }
  for (const bucket of pending.keys()) settle(bucket);
  return totals;
}

// --- the run --------------------------------------------------------------------------------------

async function main(): Promise<number> {
  say(`run ${run}: ${MINUTES} min, ${COLLECTORS} collectors × ${RATE} calls/s, seed ${SEED}`);
  const dir = await mkdtemp(join(tmpdir(), 'faasmeter-soak-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));

  const clickhouse: PrivateClickHouse = await privateClickHouse();
  cleanups.push(() => clickhouse.destroy());
  await clickhouse.startAsync();
  const relayPort = await freePort();
  const kafkaNode: PrivateKafka = await createPrivateKafka({ relayedListener: { advertisedPort: relayPort } });
  cleanups.push(async () => {
    // Its data is thrown away: no need for a controlled shutdown, which can take half a minute.
    await kafkaNode.kill();
    await kafkaNode.destroy();
  });
  await kafkaNode.start();
  const relay = await startRelay(relayPort, kafkaNode.relayedListener!);
  cleanups.push(() => relay.close());
  const kafka = createKafka({ brokers: kafkaNode.brokers, clientId: 'soak' }, quiet);

  const database = `soak_${run}`;
  const ch = createClickHouse({ url: clickhouse.url, database });
  cleanups.push(() => ch.close());
  await migrate(ch, { database });
  await ensureTopics(kafka, defaultTopics(PARTITIONS, prefix));
  const invocations = prefix + TOPICS.invocations;
  const deadletter = prefix + TOPICS.deadletter;
  // Leaders are elected, but may refuse ListOffsets for a moment after the topic is created.
  const startOffsets = await retrying(() => topicOffsets(kafka, invocations), 'the new topics to answer');
  const groupId = `${prefix}meter`;
  meterEnv = {
    FAASMETER_KAFKA_BROKERS: kafkaNode.brokers.join(','),
    FAASMETER_TOPIC_PREFIX: prefix,
    FAASMETER_METER_GROUP: groupId,
    FAASMETER_CLICKHOUSE_URL: clickhouse.url,
    FAASMETER_CLICKHOUSE_DATABASE: database,
    FAASMETER_PRICING_FILE: writeJson(dir, 'plans.json', TEST_PRICING),
    FAASMETER_KAFKA_SESSION_TIMEOUT_MS: '10000',
  };

  const plans: Omit<CollectorPlan, 'startMs'>[] = Array.from({ length: COLLECTORS }, (_, index) => ({
    run,
    seed: SEED,
    index,
    calls: CALLS_PER_COLLECTOR,
    spanMs: RUN_MS,
  }));
  const collectors = await Promise.all(
    plans.map((plan, index) =>
      spawnCollector(index, plan, index === 0 ? [`127.0.0.1:${relayPort}`] : kafkaNode.brokers, join(dir, `spool-${index}`)),
    ),
  );
  const collectorPeakRss = collectors.map(() => 0);

  const meters: MeterSlot[] = [
    { name: 'A', proc: undefined, wanted: true, starts: 0 },
    { name: 'B', proc: undefined, wanted: false, starts: 0 },
  ];
  cleanups.push(async () => {
    for (const m of meters) await m.proc?.kill('SIGKILL');
  });
  await launchMeter(meters[0]!);
  const readyDeadline = Date.now() + 90_000;
  for (;;) {
    const url = meters[0]!.proc?.opsUrl;
    const ok = url !== undefined && (await fetch(`${url}/readyz`).then((r) => r.ok, () => false));
    if (ok) break;
    if (Date.now() > readyDeadline) throw new Error(`meter A not ready in 90 s:\n${meters[0]!.proc?.output() ?? ''}`);
    await sleep(250);
  }

  // --- go ---
  const startMs = Date.now() + 1_000;
  for (const c of collectors) c.go(startMs);
  t0 = startMs;
  const fullPlans: CollectorPlan[] = plans.map((p) => ({ ...p, startMs }));
  const setupS = (startMs - startedAt) / 1000;
  say(`setup took ${setupS.toFixed(0)} s; emitting ${CALLS_PER_COLLECTOR * COLLECTORS} calls over ${MINUTES} min`);

  const samplers: NodeJS.Timeout[] = [];
  cleanups.push(() => samplers.forEach((s) => clearInterval(s)));
  samplers.push(
    setInterval(() => {
      void (async () => {
        for (const m of meters) meterPeakRss.bytes = Math.max(meterPeakRss.bytes, await peakRss(m.proc?.child.pid));
        for (const c of collectors) collectorPeakRss[c.index] = Math.max(collectorPeakRss[c.index]!, await peakRss(c.child.pid));
      })();
    }, 1_000),
  );

  // Hostile records, produced straight to the invocations topic; retried until Kafka takes them.
  const hostileKinds = new Map<string, number>();
  const hostileKeys = new Set<string>();
  let hostilePending: OutgoingRecord[] = [];
  let hostileProducer: RecordProducer | undefined;
  let hostileSending = false;
  let round = 0;
  const sendHostile = async () => {
    if (hostileSending || hostilePending.length === 0) return;
    hostileSending = true;
    // A copy: rounds added while this send is in flight wait for the next one.
    const batch = [...hostilePending];
    try {
      if (!hostileProducer) {
        hostileProducer = createRecordProducer(createKafka({ brokers: kafkaNode.brokers, clientId: 'soak-hostile' }, quiet));
        await hostileProducer.connect();
      }
      await hostileProducer.send(batch);
      hostilePending = hostilePending.slice(batch.length);
    } catch {
      // Kafka is being restarted: a fresh producer next round; a copy that landed anyway is
      // dead-lettered twice under the same key, which the audit counts once.
      await hostileProducer?.disconnect().catch(() => undefined);
      hostileProducer = undefined;
    } finally {
      hostileSending = false;
    }
  };
  cleanups.push(() => hostileProducer?.disconnect().catch(() => undefined));
  samplers.push(
    setInterval(() => {
      if (Date.now() - t0 < RUN_MS) {
        for (const r of hostileRecords(run, round, Date.now())) {
          hostileKeys.add(r.key);
          hostileKinds.set(r.kind, (hostileKinds.get(r.kind) ?? 0) + 1);
          hostilePending.push({ topic: invocations, key: r.key, value: r.value });
        }
        round += 1;
      }
      void sendHostile();
    }, HOSTILE_EVERY_MS),
  );

  samplers.push(
    setInterval(() => {
      void (async () => {
        const billed = await billedIds(ch).then((b) => String(b.ids), () => 'n/a (ClickHouse away)');
        const cs = collectors.map(
          (c) =>
            `c${c.index} ${c.last?.emitted ?? 0} ${c.last?.state ?? '?'}` +
            (c.last?.state === 'spooling' ? ` (spool ${c.last.spoolRecords}; ${c.last.lastError ?? ''})` : ''),
        );
        const ms = meters.map((m) => `${m.name}:${m.proc ? 'up' : m.wanted ? 'restarting' : 'off'}`);
        say(`emitted ${cs.join(', ')} | billed ${billed} | meters ${ms.join(' ')}`);
      })();
    }, 30_000),
  );

  // --- the fault schedule (times in ms after t0) ---
  const jitter = seededRandom(SEED + 1);
  const at = (offsetMs: number, action: () => Promise<void> | void): Promise<void> =>
    (async () => {
      await sleep(t0 + offsetMs - Date.now());
      if (!shuttingDown) await action();
    })().catch((error: unknown) => {
      failures.push(`fault step at t=${(offsetMs / 1000).toFixed(0)}s failed: ${(error as Error).message}`);
    });
  const share = (fraction: number) => Math.round(fraction * RUN_MS);
  const cutAt = share(0.1);
  const clickhouseAt = share(0.55);
  const schedule: Promise<void>[] = [
    at(cutAt, () => {
      relay.cut();
      fault(`collector 0 cut off from Kafka for ${(CUT_MS / 1000).toFixed(0)} s (the broker stays up for everyone else)`);
    }),
    at(cutAt + CUT_MS, () => {
      relay.restore();
      fault('collector 0 reconnected');
    }),
    at(share(0.15), async () => {
      meters[1]!.wanted = true;
      await launchMeter(meters[1]!);
      fault('meter B started in the same group (two meters)');
    }),
    at(share(0.65), async () => {
      await retireMeter(meters[1]!);
      fault('meter B stopped (SIGTERM); one meter again');
    }),
    at(share(0.4), async () => {
      fault('Kafka broker stopping (SIGTERM, controlled shutdown)');
      await kafkaNode.stop();
      const stopped = Date.now();
      fault('Kafka broker stopped; starting it again');
      await kafkaNode.start();
      fault(`Kafka broker back (${((Date.now() - stopped) / 1000).toFixed(0)} s down)`);
    }),
    at(clickhouseAt, async () => {
      fault('ClickHouse stopping');
      const stopping = Date.now();
      await clickhouse.stopAsync();
      const stopped = Date.now();
      fault(`ClickHouse stopped; starting it again in ${(CLICKHOUSE_OUTAGE_MS / 1000).toFixed(0)} s`);
      await sleep(stopped + CLICKHOUSE_OUTAGE_MS - Date.now());
      await clickhouse.startAsync();
      const since = (ms: number) => ((Date.now() - ms) / 1000).toFixed(0);
      fault(`ClickHouse back (${since(stopped)} s after its process was gone, ${since(stopping)} s after stopping began)`);
    }),
  ];
  // Kills spread evenly over the run, but none around the ClickHouse outage: that outage is
  // meant to hit a running meter, which must ride it out (a meter restarted meanwhile only
  // exits again until ClickHouse is back). Stopping ClickHouse takes down.sh up to 20 s
  // (measured 18–23 s here), starting it a few more.
  const killsFrom = share(0.05);
  const killsTo = share(0.9);
  const quietFrom = Math.min(killsTo, clickhouseAt - 5_000);
  const quietTo = Math.min(killsTo, clickhouseAt + 30_000 + CLICKHOUSE_OUTAGE_MS + 15_000);
  const killSpan = killsTo - killsFrom - (quietTo - quietFrom);
  for (let i = 0; i < METER_KILLS; i += 1) {
    let offset = killsFrom + (killSpan * i) / (METER_KILLS - 1) + (jitter() - 0.5) * 4_000;
    if (offset >= quietFrom) offset += quietTo - quietFrom;
    schedule.push(
      at(offset, async () => {
        // Alternate between the two meters while both run.
        const preferred = i % 2 === 1 && meters[1]!.proc ? meters[1]! : meters[0]!;
        const target = preferred.proc ? preferred : meters.find((m) => m.proc);
        if (target) await killMeter(target);
        else fault('meter kill skipped: no meter running at that moment (both restarting)');
      }),
    );
  }

  // --- wait for the collectors, then for the meter ---
  // A collector that cannot deliver everything fails the run, but the audit still runs and is
  // recorded, so the report shows what was lost where.
  const collectorDeadline = t0 + RUN_MS + 5 * 60_000;
  const outcomes = await Promise.all(
    collectors.map((c) =>
      Promise.race([
        c.done.then(
          (progress) => ({ progress }),
          (error: unknown) => ({ problem: (error as Error).message }),
        ),
        sleep(collectorDeadline - Date.now()).then(() => ({ problem: `collector ${c.index} had not delivered everything 5 min after the run` })),
      ]),
    ),
  );
  const collectorTotals: CollectorProgress[] = outcomes.map((o, k) => {
    const c = collectors[k]!;
    if ('progress' in o) return o.progress;
    const last = c.last;
    failures.push(`${o.problem}: ${last ? `${last.state}, ${last.spoolRecords} events still spooled, last error: ${last.lastError ?? 'none'}` : 'no progress reported'}`);
    c.child.kill('SIGKILL');
    return last ?? { emitted: 0, resent: 0, state: 'unknown', spooled: 0, spoolRecords: 0, sent: 0, dropped: 0 };
  });
  const collectorsFailed = outcomes.some((o) => !('progress' in o));
  const emittedAt = Date.now();
  say(
    collectorsFailed
      ? `a collector did not finish delivering (${failures.at(-1) ?? ''}); auditing what arrived`
      : `every collector emitted and delivered everything (${((emittedAt - t0) / 1000).toFixed(0)} s after the start)`,
  );
  await Promise.all(schedule);
  while (hostilePending.length > 0) {
    if (Date.now() - emittedAt > 5 * 60_000) {
      failures.push(`${hostilePending.length} hostile records still not accepted by Kafka 5 min after the run`);
      break;
    }
    await sendHostile();
    await sleep(1_000);
  }
  await hostileProducer?.disconnect().catch(() => undefined);
  hostileProducer = undefined;

  const expected = CALLS_PER_COLLECTOR * COLLECTORS;
  let lastReport = 0;
  let billedNow = { rows: 0, ids: 0 };
  for (;;) {
    billedNow = await billedIds(ch).catch(() => billedNow);
    const lag = await groupLag(kafka, invocations, groupId).catch(() => Number.NaN);
    // Without every collector's calls in Kafka, "all billed" can never come: the meter is done
    // when it has committed everything there is.
    if (lag === 0 && (billedNow.ids >= expected || collectorsFailed)) break;
    if (Date.now() - emittedAt > DRAIN_TIMEOUT_MS) {
      failures.push(`meter did not finish within ${DRAIN_TIMEOUT_MS / 60_000} min of the last call: lag ${lag}, billed ${billedNow.ids} of ${expected}`);
      break;
    }
    if (Date.now() - lastReport > 15_000) {
      lastReport = Date.now();
      say(`draining: billed ${billedNow.ids} of ${expected} unique calls, ${lag} records not yet committed`);
    }
    await sleep(2_000);
  }
  const drainedAt = Date.now();
  say(`meter caught up ${((drainedAt - emittedAt) / 1000).toFixed(0)} s after the last call; auditing`);
  for (const m of meters) meterPeakRss.bytes = Math.max(meterPeakRss.bytes, await peakRss(m.proc?.child.pid));

  // --- audit ---
  // Kafka: what reached the invocations topic, by key (a call's key is its id).
  const endOffsets = await topicOffsets(kafka, invocations);
  const delivered = endOffsets.reduce((s, p) => s + p.high, 0) - startOffsets.reduce((s, p) => s + p.high, 0);
  const callPrefixes = fullPlans.map((p) => `${idPrefix(run, p.index)}-${collectorWorkload(p).seed}-`);
  const copies = fullPlans.map((p) => new Uint8Array(p.calls));
  const hostilePrefix = `${run}-bad-`;
  let deliveredValid = 0;
  let deliveredHostile = 0;
  let deliveredOther = 0;
  await scanTopic(kafka, invocations, (key) => {
    const k = callPrefixes.findIndex((p) => key.startsWith(p));
    const i = k >= 0 ? Number(key.slice(callPrefixes[k]!.length)) : -1;
    if (k >= 0 && Number.isInteger(i) && i >= 0 && i < copies[k]!.length) {
      deliveredValid += 1;
      copies[k]![i] = Math.min(255, copies[k]![i]! + 1);
    } else if (key.startsWith(hostilePrefix)) deliveredHostile += 1;
    else deliveredOther += 1;
  });
  const deliveredUnique = copies.reduce((s, c) => s + c.reduce((n, x) => n + (x > 0 ? 1 : 0), 0), 0);

  const dlqReasons = new Map<string, number>();
  const dlqHostile = new Set<string>();
  let dlqValid = 0;
  let dlqOther = 0;
  const deadLettered = await scanTopic(kafka, deadletter, (key, headers) => {
    const reason = headers['faasmeter-dlq-reason'] ?? '(none)';
    dlqReasons.set(reason, (dlqReasons.get(reason) ?? 0) + 1);
    if (hostileKeys.has(key)) dlqHostile.add(key);
    else if (callPrefixes.some((p) => key.startsWith(p))) dlqValid += 1;
    else dlqOther += 1;
  });

  // ClickHouse: exactly the generated ids, each once.
  const billed = await billedIds(ch);
  const perCollector = await Promise.all(
    fullPlans.map(async (p, k) => {
      const pre = callPrefixes[k]!;
      const [row] = await ch.query<{ ids: string }>(
        sql`SELECT uniqExact(event_id) AS ids FROM billed_calls
            WHERE substring(event_id, 1, ${v.uint64(pre.length)}) = ${v.string(pre)}
              AND toString(toUInt64OrZero(substring(event_id, ${v.uint64(pre.length + 1)}))) = substring(event_id, ${v.uint64(pre.length + 1)})
              AND toUInt64OrZero(substring(event_id, ${v.uint64(pre.length + 1)})) < ${v.uint64(p.calls)}`,
      );
      return Number(row?.ids ?? 0);
    }),
  );

  // Statements: the meter's, from ClickHouse, against the reference from regenerated calls.
  const pricing = parsePricingConfig(TEST_PRICING);
  const reference = referenceByTenantPeriod(fullPlans);
  const statements: { tenant: string; period: string; meter: string; reference: string; usageMatches: boolean }[] = [];
  for (const [bucket, usage] of [...reference].sort(([a], [b]) => a.localeCompare(b))) {
    const [tenant, period] = bucket.split('|') as [string, string];
    const plan = REFERENCE_PLANS[tenant]!;
    const { statement, usage: metered } = await computeStatement(ch, pricing, tenant, period, Date.now());
    const usageMatches =
      metered.requests === usage.requests &&
      ARCHS.every((a) => metered.arch[a].execMbMs === usage.execMbMs[a] && (!plan.billInit || metered.arch[a].initMbMs === usage.initMbMs[a]));
    statements.push({ tenant, period, meter: statement.total, reference: referenceTotal(usage, plan), usageMatches });
  }

  // --- verdict ---
  const resent = collectorTotals.reduce((s, d) => s + d.resent, 0);
  const emitted = collectorTotals.reduce((s, d) => s + d.emitted, 0);
  const droppedByCollectors = collectorTotals.reduce((s, d) => s + d.dropped, 0);
  const check = (ok: boolean, failure: string) => {
    if (!ok) failures.push(failure);
  };
  check(emitted === expected, `collectors emitted ${emitted} calls, planned ${expected}`);
  check(droppedByCollectors === 0, `collectors dropped ${droppedByCollectors} events`);
  check(deliveredUnique === expected, `${expected - deliveredUnique} generated calls never reached Kafka`);
  check(deliveredOther === 0, `${deliveredOther} records in the invocations topic are neither generated calls nor hostile records`);
  check(billed.ids === expected, `billed ${billed.ids} unique ids, generated ${expected}`);
  fullPlans.forEach((p, k) => check(perCollector[k] === p.calls, `collector ${k}: ${perCollector[k]} of its ${p.calls} ids billed`));
  check(billed.rows === billed.ids, `billed_calls holds ${billed.rows} rows for ${billed.ids} ids: ${billed.rows - billed.ids} calls written twice`);
  check(dlqHostile.size === hostileKeys.size, `${hostileKeys.size - dlqHostile.size} of ${hostileKeys.size} hostile records never reached the dead-letter topic`);
  check(dlqValid === 0, `${dlqValid} valid calls were dead-lettered`);
  check(dlqOther === 0, `${dlqOther} dead letters match no record the soak produced`);
  for (const s of statements) {
    check(s.meter === s.reference, `${s.tenant} ${s.period}: statement total ${s.meter}, reference ${s.reference}`);
    check(s.usageMatches, `${s.tenant} ${s.period}: metered usage differs from the reference`);
  }
  const pass = failures.length === 0;

  // --- report ---
  const finishedAt = Date.now();
  const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
  const kinds = [...hostileKinds].map(([k, n]) => `${k} ${n}`).join(', ');
  const reasons = [...dlqReasons].sort(([a], [b]) => a.localeCompare(b)).map(([r, n]) => `${r} ${n}`).join(', ');
  // A meter restarted while ClickHouse or Kafka is away exits again every few seconds: one row.
  const timeline: { atS: number; untilS?: number; what: string; times: number }[] = [];
  for (const f of faults) {
    const last = timeline.at(-1);
    if (last?.what === f.what) {
      last.untilS = f.atS;
      last.times += 1;
    } else timeline.push({ atS: f.atS, what: f.what, times: 1 });
  }
  const body = [
    `**${pass ? 'PASS' : 'FAIL'}** — ${MINUTES} min, ${COLLECTORS} collectors × ${RATE} calls/s, seed ${SEED}, ${PARTITIONS} partitions; private Kafka 3.9.1 and ClickHouse 18.16.`,
    '',
    `Faults: ${counts.kills} meter SIGKILLs (each restarted after ${RESTART_DELAY_MS / 1000} s), a second meter in the group from ${(0.15 * MINUTES).toFixed(1)} to ${(0.65 * MINUTES).toFixed(1)} min, ` +
      `one broker restart, ClickHouse stopped for ${(CLICKHOUSE_OUTAGE_MS / 1000).toFixed(0)} s (plus the time its stop and start take), ` +
      `collector 0 cut off from Kafka for ${(CUT_MS / 1000).toFixed(0)} s. Meters also exited by themselves ${counts.exits} time${counts.exits === 1 ? '' : 's'} (restarted the same way).`,
    '',
    `Wall time ${((finishedAt - startedAt) / 60_000).toFixed(1)} min: setup ${setupS.toFixed(0)} s, emitting ${((emittedAt - t0) / 1000).toFixed(0)} s ` +
      `(until every collector had delivered), meter catch-up ${((drainedAt - emittedAt) / 1000).toFixed(0)} s, audit ${((finishedAt - drainedAt) / 1000).toFixed(0)} s.`,
    '',
    '| calls | count |',
    '| --- | --- |',
    `| generated: valid, unique ids | ${expected} |`,
    `| generated: re-sent by collectors (same id) | ${resent} |`,
    `| generated: hostile, produced straight to the topic | ${hostileKeys.size} (${kinds}) |`,
    `| delivered: records in the invocations topic | ${delivered} (valid ${deliveredValid}, of which distinct ids ${deliveredUnique}; hostile ${deliveredHostile}) |`,
    `| billed: unique ids / rows in billed_calls | ${billed.ids} / ${billed.rows} |`,
    `| deduplicated: valid records delivered − billed | ${deliveredValid - billed.ids} |`,
    `| dead-lettered: records / distinct hostile keys | ${deadLettered} / ${dlqHostile.size} (${reasons}) |`,
    `| collectors: dropped; peak spool of collector 0 while cut off | ${droppedByCollectors}; ${collectors[0]!.peakSpoolRecords} events |`,
    '',
    '| tenant | period | statement total | reference | usage |',
    '| --- | --- | --- | --- | --- |',
    ...statements.map((s) => `| ${s.tenant} | ${s.period} | ${s.meter} | ${s.reference} | ${s.usageMatches ? 'equal' : 'DIFFERS'} |`),
    '',
    '| process | peak RSS |',
    '| --- | --- |',
    `| meter (highest of ${meters.reduce((s, m) => s + m.starts, 0)} processes) | ${mib(meterPeakRss.bytes)} |`,
    ...collectors.map((c) => `| collector ${c.index}${c.index === 0 ? ' (cut off)' : ''} | ${mib(collectorPeakRss[c.index]!)} |`),
    '',
    '| t (s) | fault or recovery |',
    '| --- | --- |',
    ...timeline.map((f) => `| ${f.atS.toFixed(0)}${f.untilS === undefined ? '' : `–${f.untilS.toFixed(0)}`} | ${f.what}${f.times > 1 ? ` (×${f.times})` : ''} |`),
    ...(pass ? [] : ['', '**Failures**', '', ...failures.map((f) => `- ${f}`)]),
  ].join('\n');
  console.log(`\n${body}\n`);
  recordResults({ title: `Soak: ${MINUTES} min under faults — ${pass ? 'PASS' : 'FAIL'}`, body });
  return pass ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(`[soak] FAIL: ${(error as Error).stack ?? String(error)}`);
  for (const f of failures) console.error(`[soak] also: ${f}`);
} finally {
  const cleaningFrom = Date.now();
  await cleanup();
  // Deleting ClickHouse's many small part files takes minutes on a busy disk.
  say(`stopped every child and private server, removed their files (${((Date.now() - cleaningFrom) / 1000).toFixed(0)} s)`);
}
process.exit(code);
