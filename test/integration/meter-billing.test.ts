import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouse } from '../../clickhouse/client.ts';
import { sql } from '../../clickhouse/sql.ts';
import { createLogger } from '../../common/log.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import type { InvocationEvent } from '../../contract/index.ts';
import { partitionKey, TOPICS } from '../../contract/index.ts';
import type { RecordProducer } from '../../kafka/producer.ts';
import { createRecordProducer } from '../../kafka/producer.ts';
import { MeterConfigSchema } from '../../meter/config.ts';
import { parsePricingConfig } from '../../meter/pricing/index.ts';
import { createMeterService } from '../../meter/service.ts';
import { SEAL_MARGIN_MS, sealHours } from '../../meter/sealer.ts';
import { computeStatement } from '../../meter/statements.ts';
import { CLICKHOUSE_URL, migratedDatabase } from '../helpers/clickhouse.ts';
import { createTestTopics, KAFKA_BROKERS, readTopic, testKafka, uniquePrefix } from '../helpers/kafka.ts';
import { REFERENCE_PLANS, TEST_PRICING, TEST_TENANTS } from '../helpers/meter-fixtures.ts';
import type { MeterProcess } from '../helpers/meter-process.ts';
import { startMeterProcess, writeJson } from '../helpers/meter-process.ts';
import { referenceTotal, referenceUsage } from '../helpers/reference-billing.ts';
import { waitFor } from '../helpers/wait.ts';
import { seededRandom } from '../../common/random.ts';
import { generateWorkload } from '../helpers/workload.ts';

const PERIOD = '2026-10';
const PERIOD_START = Date.UTC(2026, 9, 1);
const pricing = parsePricingConfig(TEST_PRICING);
const configDir = mkdtempSync(join(tmpdir(), 'faasmeter-meter-'));
const pricingFile = writeJson(configDir, 'plans.json', TEST_PRICING);

async function produce(producer: RecordProducer, prefix: string, events: readonly InvocationEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 5_000) {
    await producer.send(
      events.slice(i, i + 5_000).map((e) => ({ topic: prefix + TOPICS.invocations, key: partitionKey(e), value: JSON.stringify(e) })),
    );
  }
}

async function billedCount(ch: ClickHouse): Promise<{ rows: number; unique: number }> {
  const [row] = await ch.query<{ rows: string; unique: string }>(sql`SELECT count() AS rows, uniqExact(event_id) AS unique FROM billed_calls`);
  return { rows: Number(row?.rows ?? 0), unique: Number(row?.unique ?? 0) };
}

/**
 * ClickHouse commits an insert's own part before its materialized views' parts, so a reader
 * can briefly see a billed call whose rollup row is not there yet: wait for both.
 */
/**
 * Seals every hour with a stamp past the margin, as a seal taken minutes from now would be:
 * all writes have finished, so readers then take the sealed hours instead of the raw calls.
 */
async function sealAsIfLater(ch: ClickHouse): Promise<void> {
  await sealHours(ch, { settleMs: 0, nowMs: Date.now() + SEAL_MARGIN_MS + 60_000 });
}

async function sealedCalls(ch: ClickHouse): Promise<number> {
  await sealAsIfLater(ch);
  const [row] = await ch.query<{ n: string }>(
    sql`SELECT sum(c) AS n FROM (
          SELECT tenant, hour, billing_period, usage_period, arch, argMax(calls, sealed_ms) AS c
          FROM billing_hours GROUP BY tenant, hour, billing_period, usage_period, arch)`,
  );
  return Number(row?.n ?? 0);
}

/** No call missing (every id billed) and none billed twice (sealed hours count each id once). */
async function expectEveryCallBilledOnce(ch: ClickHouse, calls: number): Promise<void> {
  const counts = await billedCount(ch);
  expect(counts.unique).toBe(calls);
  expect(await sealedCalls(ch)).toBe(calls);
  if (counts.rows > counts.unique) console.log(`${counts.rows - counts.unique} calls were written twice and billed once`);
}

async function waitUntilBilled(ch: ClickHouse, calls: number, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      const [row] = await ch.query<{ n: string }>(sql`SELECT sum(calls) AS n FROM usage_day`);
      return (await billedCount(ch)).unique >= calls && Number(row?.n ?? 0) >= calls;
    },
    { timeoutMs, what: `${calls} billed calls and their rollups` },
  );
}

/**
 * Every tenant's statement for the period, as the meter prices it from ClickHouse: read once
 * from unsealed hours (deduplicated on the fly) and once after sealing; both must agree.
 */
async function statementTotals(ch: ClickHouse): Promise<Record<string, string>> {
  const read = async () => {
    const out: Record<string, string> = {};
    for (const tenant of TEST_TENANTS) out[tenant] = (await computeStatement(ch, pricing, tenant, PERIOD, Date.UTC(2026, 10, 1))).statement.total;
    return out;
  };
  const beforeSealing = await read();
  await sealAsIfLater(ch);
  expect(await read()).toEqual(beforeSealing);
  return beforeSealing;
}

function expectedTotals(events: readonly InvocationEvent[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tenant of TEST_TENANTS) {
    const plan = REFERENCE_PLANS[tenant]!;
    out[tenant] = referenceTotal(referenceUsage(events.filter((e) => e.data.tenant === tenant), plan), plan);
  }
  return out;
}

function meterEnv(prefix: string, database: string, group: string, url = CLICKHOUSE_URL): Record<string, string> {
  return {
    FAASMETER_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
    FAASMETER_TOPIC_PREFIX: prefix,
    FAASMETER_METER_GROUP: group,
    FAASMETER_CLICKHOUSE_URL: url,
    FAASMETER_CLICKHOUSE_DATABASE: database,
    FAASMETER_PRICING_FILE: pricingFile,
    FAASMETER_KAFKA_SESSION_TIMEOUT_MS: '10000',
  };
}

const workload = generateWorkload({
  calls: 100_000,
  tenants: TEST_TENANTS,
  functions: 20,
  startMs: PERIOD_START,
  spanMs: 20 * 24 * 3_600_000,
  seed: 42,
});
const expected = expectedTotals(workload);

let producer: RecordProducer;
beforeAll(async () => {
  producer = createRecordProducer(testKafka('meter-test-producer'));
  await producer.connect();
});
afterAll(async () => {
  await producer.disconnect();
});

describe('the meter bills every call exactly once', () => {
  it('a workload of 100,000 calls across 3 tenants, 20 functions and both architectures is billed to the cent of an independent computation', async () => {
    expect(new Set(workload.map((e) => e.data.arch)).size).toBe(2);
    expect(workload.filter((e) => e.data.cold).length).toBeGreaterThan(300);
    expect(workload.filter((e) => e.data.status !== 'success').length).toBeGreaterThan(1_000);
    expect(Object.values(expected).filter((total) => total !== '0.00').length).toBeGreaterThanOrEqual(2);
    console.log('expected statement totals', expected);

    const prefix = uniquePrefix('meter-exact');
    await createTestTopics(prefix);
    const { database, ch } = await migratedDatabase('meter_exact');
    const config = MeterConfigSchema.parse({ ...meterEnv(prefix, database, `${prefix}meter`) });
    const service = createMeterService(config, {
      ch,
      pricing,
      log: createLogger('meter-test', 'warn'),
      telemetry: createTelemetry('meter-test'),
    });
    for (const c of service.components) await c.start();
    try {
      const started = Date.now();
      await produce(producer, prefix, workload);
      await waitUntilBilled(ch, workload.length, 180_000);
      console.log(`meter billed 100,000 calls in ${((Date.now() - started) / 1000).toFixed(1)} s (produce included)`);
      expect(await statementTotals(ch)).toEqual(expected);
      await expectEveryCallBilledOnce(ch, 100_000);
    } finally {
      for (const c of [...service.components].reverse()) await c.stop();
    }
  });

  it('with 5% of calls re-sent and the meter SIGKILLed at random moments 10 times, totals are identical and no call is missing or billed twice', async () => {
    const prefix = uniquePrefix('meter-kill');
    await createTestTopics(prefix);
    const { database, ch } = await migratedDatabase('meter_kill');
    const rand = seededRandom(7);
    const resent = workload.filter(() => rand() < 0.05);
    const env = meterEnv(prefix, database, `${prefix}meter`);

    // Re-sends arrive late and out of order, as a collector replaying its spool would send
    // them. The feed is paced (5 s a chunk, and at most two chunks per kill) so every kill lands
    // mid-stream: on a slow machine restarts take longer, and a feed that ran ahead would leave
    // nothing to bill before the last kills.
    let fed = 0;
    let kills = 0;
    let feeding = true;
    const feed = (async () => {
      for (let i = 0; i < workload.length; i += 5_000) {
        const k = i / 5_000;
        while (feeding && kills < Math.floor(k / 2)) await new Promise((resolve) => setTimeout(resolve, 50));
        if (!feeding) return;
        await produce(producer, prefix, workload.slice(i, i + 5_000));
        await produce(producer, prefix, resent.slice((k * resent.length) / 20, ((k + 1) * resent.length) / 20));
        fed = i + 5_000;
        await new Promise((resolve) => setTimeout(resolve, 5_000));
      }
    })();

    let meter: MeterProcess = await startMeterProcess(env);
    try {
      const killedAt: number[] = [];
      while (kills < 10) {
        // Kill only once this meter has billed something, at a random moment after that, so each
        // kill can land between a ClickHouse write and its offset commit.
        const before = (await billedCount(ch)).unique;
        await waitFor(async () => (await billedCount(ch)).unique > before, {
          timeoutMs: 120_000,
          intervalMs: 50,
          what: `the restarted meter to bill something before kill ${kills + 1} (${fed} of ${workload.length} calls fed)`,
        });
        await new Promise((resolve) => setTimeout(resolve, Math.floor(rand() * 1_500)));
        killedAt.push((await billedCount(ch)).unique);
        await meter.kill('SIGKILL');
        kills += 1;
        meter = await startMeterProcess(env);
      }
      console.log(`SIGKILLed the meter 10 times, with ${killedAt.join(', ')} calls billed (of ${fed} fed so far) at the kills`);
      await feed;
      await waitUntilBilled(ch, workload.length, 240_000);
      expect(await statementTotals(ch)).toEqual(expected);
      await expectEveryCallBilledOnce(ch, workload.length);
    } finally {
      // On a failure too: the feed must not go on producing after the test.
      feeding = false;
      await feed;
      await meter.kill('SIGTERM');
    }
  }, 480_000);

  it('two meters in one consumer group share the partitions and bill the same totals', async () => {
    const prefix = uniquePrefix('meter-two');
    await createTestTopics(prefix, 6);
    const { database, ch } = await migratedDatabase('meter_two');
    const env = meterEnv(prefix, database, `${prefix}meter`);
    const meters = [await startMeterProcess(env), await startMeterProcess(env)];
    try {
      await produce(producer, prefix, workload);
      await waitUntilBilled(ch, workload.length, 180_000);
      expect(await statementTotals(ch)).toEqual(expected);
      await expectEveryCallBilledOnce(ch, workload.length);
      // Both members did work: each consumed records (their metrics say so).
      for (const m of meters) {
        const metrics = await (await fetch(`${m.opsUrl}/metrics`)).text();
        expect(metrics).toMatch(/faasmeter_meter_records_total\{[^}]*\} [1-9]/);
      }
    } finally {
      await Promise.all(meters.map((m) => m.kill('SIGTERM')));
    }
  });
});

describe('hostile and malformed records', () => {
  it('each lands in the dead-letter topic with its reason, and the good calls around them are billed', async () => {
    const prefix = uniquePrefix('meter-dlq');
    await createTestTopics(prefix);
    const { database, ch } = await migratedDatabase('meter_dlq');
    const good = workload.slice(0, 50);
    const base = good[0]!;
    const hostile: Array<{ value: string; reason: string }> = [
      { value: '{"not json', reason: 'invalid_json' },
      { value: JSON.stringify({ ...base, id: 'h1', data: { ...base.data, durationMs: -5 } }), reason: 'invalid_event' },
      { value: JSON.stringify({ ...base, id: 'h2', data: { ...base.data, durationMs: '12' } }), reason: 'invalid_event' },
      { value: JSON.stringify({ ...base, id: 'h3', data: { ...base.data, function: 'x'.repeat(100_000) } }), reason: 'invalid_event' },
      { value: JSON.stringify({ ...base, id: 'h4', data: { ...base.data, tenant: 'nobody' } }), reason: 'unknown_tenant' },
      { value: JSON.stringify({ ...base, id: 'h5', type: 'dev.faasmeter.lifecycle.v1' }), reason: 'invalid_event' },
      { value: 'x'.repeat(300_000), reason: 'too_large' },
      { value: '', reason: 'empty_value' },
      { value: 'null', reason: 'invalid_event' },
    ];
    const records = [
      ...good.slice(0, 25).map((e) => ({ topic: prefix + TOPICS.invocations, key: partitionKey(e), value: JSON.stringify(e) })),
      ...hostile.map((h, i) => ({ topic: prefix + TOPICS.invocations, key: `hostile-${i}`, value: h.value })),
      ...good.slice(25).map((e) => ({ topic: prefix + TOPICS.invocations, key: partitionKey(e), value: JSON.stringify(e) })),
    ];
    await producer.send(records);
    const meter = await startMeterProcess({ ...meterEnv(prefix, database, `${prefix}meter`) });
    try {
      await waitFor(async () => (await billedCount(ch)).rows >= good.length, { timeoutMs: 60_000, what: 'the good calls billed' });
      const dead = await readTopic(prefix + TOPICS.deadletter, { expected: hostile.length });
      expect(dead).toHaveLength(hostile.length);
      expect(dead.map((d) => d.headers['faasmeter-dlq-reason']).sort()).toEqual(hostile.map((h) => h.reason).sort());
      for (const d of dead) {
        expect(d.headers['faasmeter-dlq-source-topic']).toBe(prefix + TOPICS.invocations);
        expect(d.headers['faasmeter-dlq-source-offset']).toMatch(/^\d+$/);
        expect(d.key).toMatch(/^hostile-\d$/);
      }
      expect(dead.find((d) => d.headers['faasmeter-dlq-reason'] === 'invalid_event' && d.value.includes('"h1"'))?.headers['faasmeter-dlq-detail']).toContain(
        'data.durationMs',
      );
      expect(await billedCount(ch)).toEqual({ rows: good.length, unique: good.length });
      expect(meter.child.exitCode).toBeNull();
      const ready = await fetch(`${meter.opsUrl}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await meter.kill('SIGTERM');
    }
  });
});
