/**
 * Pipeline bench: sustained calls/s from producer to billed rows in ClickHouse, per stage, beside
 * the limits measured in the same run (not a test: prints and records figures).
 *
 *   npx node bench/pipeline.ts [--calls 200000] [--partitions 6] [--concurrency N] [--meters 1]
 *
 * --concurrency defaults to the meter's own default (FAASMETER_METER_CONCURRENCY), so the bench
 * measures the meter as it ships.
 *
 * 1. produce: N generated calls (3 tenants, 20 functions, both architectures, cold starts,
 *    errors) sent with our producer (idempotent, acks=all, gzip), and the same messages sent by
 *    Kafka's own Java producer (ProducerPerformance, same acks and compression) to a twin topic.
 * 2. meter: `faasmeter meter` starts on the full topic in its own process under --cpu-prof and
 *    bills everything: consume + decode + validate + dedup look-up + price + insert. The rate is
 *    taken from the first billed batch to the last (the meter's own written_ms), so the group
 *    join is not charged to throughput; CPU time comes from /proc, the split from /metrics and
 *    the CPU profile.
 * 3. ClickHouse limit: the rows the meter wrote (raw + billed, read back) inserted again into a
 *    fresh migrated database by plain HTTP inserts, in the meter's mean batch size and with its
 *    concurrency, so materialized views do the same work.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createClickHouse } from '../clickhouse/client.ts';
import { migrate } from '../clickhouse/migrate.ts';
import { sql, v } from '../clickhouse/sql.ts';
import { DEFAULT_CLICKHOUSE_URL, DEFAULT_KAFKA_BROKERS } from '../common/config.ts';
import { createLogger } from '../common/log.ts';
import { freePort } from '../common/net.ts';
import { partitionKey, TOPICS } from '../contract/index.ts';
import { createKafka } from '../kafka/client.ts';
import { createRecordProducer } from '../kafka/producer.ts';
import { defaultTopics, ensureTopics } from '../kafka/topics.ts';
import { MeterConfigSchema } from '../meter/config.ts';
import { TEST_PRICING, TEST_TENANTS } from '../test/helpers/meter-fixtures.ts';
import { generateWorkload } from '../test/helpers/workload.ts';
import type { CpuProfile } from './profile.ts';
import { summariseProfile } from './profile.ts';
import { cpuMs, metricSum } from './proc.ts';
import { recordResults } from './results.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '200000' },
    partitions: { type: 'string', default: '6' },
    concurrency: { type: 'string' },
    meters: { type: 'string', default: '1' },
  },
});
const CALLS = Number(values.calls);
const PARTITIONS = Number(values.partitions);
const CONCURRENCY = values.concurrency === undefined ? MeterConfigSchema.shape.FAASMETER_METER_CONCURRENCY.parse(undefined) : Number(values.concurrency);
const METERS = Number(values.meters);
const SEND_CHUNK = 5_000;

const root = join(import.meta.dirname, '..');
const brokers = process.env.FAASMETER_KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS;
const url = process.env.FAASMETER_CLICKHOUSE_URL ?? DEFAULT_CLICKHOUSE_URL;
const stackDir = process.env.FAASMETER_STACK_DIR ?? join(root, '.stack');
const run = randomBytes(3).toString('hex');
const prefix = `bench-pipeline-${run}.`;
const database = `bench_pipeline_${run}`;
const rawDatabase = `bench_pipeline_raw_${run}`;

const log = (message: string) => process.stdout.write(`${message}\n`);
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
const fmt = (n: number) => n.toLocaleString('en');

/** Kafka's own producer on the same messages: the broker-side limit for this machine. */
function javaProducer(topic: string, payloadFile: string): { perSecond: number; line: string } {
  const result = spawnSync(
    'java',
    [
      '-Xmx512m',
      `-Dlog4j.configuration=file:${join(stackDir, 'kafka', 'tools-log4j.properties')}`,
      '-cp',
      `${join(stackDir, 'kafka', 'libs')}/*`,
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      topic,
      '--num-records',
      String(CALLS),
      '--payload-file',
      payloadFile,
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${brokers}`,
      'acks=all',
      'compression.type=gzip',
      'enable.idempotence=true',
      // Batches as large as the ones our producer sends, so the comparison is of clients, not batch sizes.
      'batch.size=1048576',
      'linger.ms=5',
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const line = result.stdout.trim().split('\n').findLast((l) => l.includes('records/sec')) ?? '';
  const match = /([\d.]+) records\/sec/.exec(line);
  if (result.status !== 0 || !match) throw new Error(`ProducerPerformance failed (${result.status}): ${result.stderr.slice(-2000)}`);
  return { perSecond: Math.round(Number(match[1])), line };
}

async function main(): Promise<void> {
  const admin = createClickHouse({ url, database: 'default', requestTimeoutMs: 600_000 });
  const ch = admin.withDatabase(database);
  const raw = admin.withDatabase(rawDatabase);
  const work = await mkdtemp(join(tmpdir(), 'faasmeter-bench-pipeline-'));
  const kafka = createKafka({ brokers: brokers.split(','), clientId: 'faasmeter-bench-pipeline' }, createLogger('bench', 'silent'));
  const meters: { child: ChildProcess; opsPort: number; exited: Promise<unknown> }[] = [];
  try {
    log(`bench/pipeline: ${fmt(CALLS)} calls, ${PARTITIONS} partitions, meter concurrency ${CONCURRENCY}, topic prefix ${prefix}`);
    const startMs = Date.now() - 2 * 3_600_000;
    const events = generateWorkload({ calls: CALLS, tenants: TEST_TENANTS, functions: 20, startMs, spanMs: 3_600_000, seed: 7, idPrefix: `p${run}` });
    const records = events.map((e) => ({ topic: prefix + TOPICS.invocations, key: partitionKey(e), value: JSON.stringify(e) }));
    const meanBytes = Math.round(records.reduce((n, r) => n + r.value.length, 0) / records.length);
    const payloadFile = join(work, 'payloads.txt');
    writeFileSync(payloadFile, records.map((r) => r.value).join('\n'));
    await ensureTopics(kafka, [
      ...defaultTopics(PARTITIONS, prefix),
      { topic: `${prefix}java-producer`, partitions: PARTITIONS, retentionMs: 3_600_000 },
    ]);
    await migrate(ch, { database });
    await migrate(raw, { database: rawDatabase });

    log('produce: Kafka ProducerPerformance (Java) …');
    const java = javaProducer(`${prefix}java-producer`, payloadFile);
    log(`  ${java.line}`);

    log('produce: faasmeter producer (kafkajs) …');
    const producer = createRecordProducer(kafka);
    await producer.connect();
    const produceStarted = performance.now();
    for (let i = 0; i < records.length; i += SEND_CHUNK) await producer.send(records.slice(i, i + SEND_CHUNK));
    const produceMs = performance.now() - produceStarted;
    await producer.disconnect();
    log(`  ${fmt(rate(CALLS, produceMs))} calls/s (${(produceMs / 1000).toFixed(1)} s)`);

    const pricingFile = join(work, 'plans.json');
    writeFileSync(pricingFile, JSON.stringify(TEST_PRICING));
    const profileDir = join(work, 'profile');
    log(`meter: ${METERS} process(es) in one group consuming the full topic, the first under --cpu-prof …`);
    const meterStarted = performance.now();
    for (let i = 0; i < METERS; i += 1) {
      const opsPort = await freePort();
      const profiling = i === 0 ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
      const child = spawn(process.execPath, [...profiling, join(root, 'cli', 'faasmeter.ts'), 'meter'], {
        cwd: root,
        stdio: ['ignore', 'ignore', 'inherit'],
        env: {
          ...process.env,
          FAASMETER_KAFKA_BROKERS: brokers,
          FAASMETER_TOPIC_PREFIX: prefix,
          FAASMETER_METER_GROUP: `${prefix}meter`,
          FAASMETER_METER_CONCURRENCY: String(CONCURRENCY),
          FAASMETER_CLICKHOUSE_URL: url,
          FAASMETER_CLICKHOUSE_DATABASE: database,
          FAASMETER_PRICING_FILE: pricingFile,
          FAASMETER_OPS_PORT: String(opsPort),
          FAASMETER_LOG_LEVEL: 'warn',
        },
      });
      meters.push({ child, opsPort, exited: new Promise((resolve) => child.once('exit', resolve)) });
    }
    let billed = 0;
    let lastReport = performance.now();
    while (billed < CALLS) {
      await sleep(250);
      const [row] = await ch.query<{ n: string }>(sql`SELECT count() AS n FROM billed_calls`);
      billed = Number(row?.n ?? 0);
      if (performance.now() - lastReport > 10_000) {
        log(`  ${fmt(billed)} billed after ${((performance.now() - meterStarted) / 1000).toFixed(0)} s`);
        lastReport = performance.now();
      }
      if (performance.now() - meterStarted > 900_000) throw new Error(`meter billed only ${billed} of ${CALLS} in 15 minutes`);
    }
    const meterWallMs = performance.now() - meterStarted;
    const meterCpuMs = meters.reduce((sum, m) => sum + cpuMs(m.child.pid!), 0);
    const metrics = (await Promise.all(meters.map(async (m) => (await fetch(`http://127.0.0.1:${m.opsPort}/metrics`)).text()))).join('\n');
    for (const m of meters.splice(0)) {
      m.child.kill('SIGTERM');
      await m.exited;
    }

    const [span] = await ch.query<{ first: string; last: string; rows: string; batches: string; firstBatch: string }>(
      sql`SELECT min(written_ms) AS first, max(written_ms) AS last, count() AS rows, uniqExact(written_ms) AS batches,
                 countIf(written_ms = (SELECT min(written_ms) FROM billed_calls)) AS firstBatch
          FROM billed_calls`,
    );
    const steadyMs = Number(span!.last) - Number(span!.first);
    const steadyRate = rate(CALLS - Number(span!.firstBatch), steadyMs);
    const insertS = metricSum(metrics, 'faasmeter_meter_insert_seconds_sum');
    const writes = metricSum(metrics, 'faasmeter_meter_insert_seconds_count');
    const batchRecords = metricSum(metrics, 'faasmeter_meter_batch_records_sum');
    const batches = metricSum(metrics, 'faasmeter_meter_batch_records_count');
    const meanBatch = Math.max(1, Math.round(batchRecords / Math.max(1, batches)));
    log(`  ${fmt(CALLS)} billed in ${(meterWallMs / 1000).toFixed(1)} s from process start; steady ${fmt(steadyRate)} calls/s`);

    const profileFile = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    const profile = profileFile ? summariseProfile(JSON.parse(readFileSync(join(profileDir, profileFile), 'utf8')) as CpuProfile) : undefined;
    const keptProfile = join(tmpdir(), `faasmeter-meter-${run}.cpuprofile`);
    if (profileFile) {
      copyFileSync(join(profileDir, profileFile), keptProfile);
      log(`  meter CPU profile: ${keptProfile} (open in Chrome DevTools or speedscope)`);
    }

    log('ClickHouse limit: the same rows inserted over HTTP …');
    const dump = async (table: string) => {
      const response = await fetch(
        `${url}/?database=${database}&output_format_json_quote_64bit_integers=0&query=${encodeURIComponent(`SELECT * FROM ${table} FORMAT JSONEachRow`)}`,
      );
      if (!response.ok) throw new Error(`dump ${table}: ${await response.text()}`);
      return (await response.text()).trimEnd().split('\n');
    };
    const rawRows = await dump('invocations_raw');
    const billedRows = await dump('billed_calls');
    const insertText = async (table: string, lines: string[]) => {
      const response = await fetch(`${url}/?database=${rawDatabase}&query=${encodeURIComponent(`INSERT INTO ${table} FORMAT JSONEachRow`)}`, {
        method: 'POST',
        body: `${lines.join('\n')}\n`,
      });
      if (!response.ok) throw new Error(`insert ${table}: ${await response.text()}`);
    };
    const chunks: number[] = [];
    for (let i = 0; i < billedRows.length; i += meanBatch) chunks.push(i);
    const limitStarted = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < chunks.length) {
          const from = chunks[next++]!;
          await insertText('invocations_raw', rawRows.slice(from, from + meanBatch));
          await insertText('billed_calls', billedRows.slice(from, from + meanBatch));
        }
      }),
    );
    const limitMs = performance.now() - limitStarted;
    const limitRate = rate(billedRows.length, limitMs);
    log(`  ${fmt(limitRate)} calls/s (${chunks.length} × 2 inserts of ${meanBatch} rows, ${CONCURRENCY} at once)`);
    const [check] = await raw.query<{ n: string }>(sql`SELECT count() AS n FROM billed_calls`);
    if (Number(check?.n) !== billedRows.length) throw new Error(`raw insert wrote ${check?.n} of ${billedRows.length} rows`);

    const meterCpuPct = (meterCpuMs / meterWallMs) * 100;
    const body = `${fmt(CALLS)} calls of ${meanBytes} B mean JSON, ${PARTITIONS} partitions, ${METERS} meter process(es) with concurrency ${CONCURRENCY}. Goal: 50,000 calls/s end to end.

| stage | calls/s | limit in the same run | ratio |
| --- | --- | --- | --- |
| produce (faasmeter producer, kafkajs, acks=all, gzip) | ${fmt(rate(CALLS, produceMs))} | ${fmt(java.perSecond)} (Kafka ProducerPerformance, same messages, acks=all, gzip) | ${(rate(CALLS, produceMs) / java.perSecond).toFixed(2)} |
| meter: consume + decode + dedup + price + insert (steady) | ${fmt(steadyRate)} | ${fmt(limitRate)} (ClickHouse HTTP insert of the same raw + billed rows, ${meanBatch}-row batches, ${CONCURRENCY} at once) | ${(steadyRate / limitRate).toFixed(2)} |
| meter from process start to last row billed | ${fmt(rate(CALLS, meterWallMs))} | | |

Meter (${METERS} process${METERS > 1 ? 'es' : ''}): ${(meterWallMs / 1000).toFixed(1)} s wall from start, ${(meterCpuMs / 1000).toFixed(1)} s CPU (${meterCpuPct.toFixed(0)} % of one core); ${fmt(batches)} batches of ${fmt(meanBatch)} records mean; ${fmt(writes)} writes (dedup look-up + closed periods + 3 inserts) took ${insertS.toFixed(1)} s summed over ${CONCURRENCY} concurrent partitions (${((insertS / Math.max(1, writes)) * 1000).toFixed(0)} ms each).

${profile ? `Where the meter's CPU goes (self time by stage, from its CPU profile):\n\n${profile}` : 'No CPU profile was written.'}`;
    log(`\n${body}`);
    recordResults({ title: 'Pipeline: producer → meter → billed rows', body });
  } finally {
    for (const m of meters) m.child.kill('SIGKILL');
    await admin.command(sql`DROP DATABASE IF EXISTS ${v.ident(database)}`).catch(() => {});
    await admin.command(sql`DROP DATABASE IF EXISTS ${v.ident(rawDatabase)}`).catch(() => {});
    await admin.close();
    const kafkaAdmin = kafka.admin();
    await kafkaAdmin.connect();
    const topics = (await kafkaAdmin.listTopics()).filter((t) => t.startsWith(prefix));
    await kafkaAdmin.deleteTopics({ topics }).catch(() => {});
    await kafkaAdmin.disconnect();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
