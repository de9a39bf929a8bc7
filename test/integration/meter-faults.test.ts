import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouse } from '../../clickhouse/client.ts';
import { createClickHouse } from '../../clickhouse/client.ts';
import { migrate } from '../../clickhouse/migrate.ts';
import { sql } from '../../clickhouse/sql.ts';
import type { InvocationEvent } from '../../contract/index.ts';
import { partitionKey, TOPICS } from '../../contract/index.ts';
import type { RecordProducer } from '../../kafka/producer.ts';
import { createRecordProducer } from '../../kafka/producer.ts';
import { parsePricingConfig } from '../../meter/pricing/index.ts';
import { closePeriod, computeStatement, readStatement } from '../../meter/statements.ts';
import { CLICKHOUSE_URL, migratedDatabase, uniqueDatabase } from '../helpers/clickhouse.ts';
import { createTestTopics, KAFKA_BROKERS, testKafka, uniquePrefix } from '../helpers/kafka.ts';
import { REFERENCE_PLANS, TEST_PRICING, TEST_TENANTS } from '../helpers/meter-fixtures.ts';
import { startMeterProcess, writeJson } from '../helpers/meter-process.ts';
import type { PrivateClickHouse } from '../helpers/private-stack.ts';
import { privateClickHouse } from '../helpers/private-stack.ts';
import { referenceTotal, referenceUsage } from '../helpers/reference-billing.ts';
import { waitFor } from '../helpers/wait.ts';
import { generateWorkload } from '../helpers/workload.ts';

const pricing = parsePricingConfig(TEST_PRICING);
const pricingFile = writeJson(mkdtempSync(join(tmpdir(), 'faasmeter-faults-')), 'plans.json', TEST_PRICING);

async function produce(producer: RecordProducer, prefix: string, events: readonly InvocationEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 5_000) {
    await producer.send(
      events.slice(i, i + 5_000).map((e) => ({ topic: prefix + TOPICS.invocations, key: partitionKey(e), value: JSON.stringify(e) })),
    );
  }
}

async function billed(ch: ClickHouse): Promise<number> {
  const [row] = await ch.query<{ n: string }>(sql`SELECT uniqExact(event_id) AS n FROM billed_calls`);
  return Number(row?.n ?? 0);
}

function meterEnv(prefix: string, database: string, url: string): Record<string, string> {
  return {
    FAASMETER_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
    FAASMETER_TOPIC_PREFIX: prefix,
    FAASMETER_METER_GROUP: `${prefix}meter`,
    FAASMETER_CLICKHOUSE_URL: url,
    FAASMETER_CLICKHOUSE_DATABASE: database,
    FAASMETER_PRICING_FILE: pricingFile,
    FAASMETER_KAFKA_SESSION_TIMEOUT_MS: '10000',
  };
}

let producer: RecordProducer;
beforeAll(async () => {
  producer = createRecordProducer(testKafka('meter-faults-producer'));
  await producer.connect();
});
afterAll(async () => {
  await producer.disconnect();
});

describe('ClickHouse outage', () => {
  let server: PrivateClickHouse | undefined;
  afterAll(() => server?.destroy());

  it('with ClickHouse stopped for 60 s mid-run the meter stops consuming, reports not ready, resumes by itself, and totals are identical', async () => {
    server = await privateClickHouse();
    server.start();
    const database = uniqueDatabase('meter_outage');
    const ch = createClickHouse({ url: server.url, database });
    await migrate(ch, { database });
    const prefix = uniquePrefix('meter-outage');
    await createTestTopics(prefix);
    const workload = generateWorkload({
      calls: 30_000,
      tenants: TEST_TENANTS,
      functions: 20,
      startMs: Date.UTC(2026, 9, 1),
      spanMs: 10 * 24 * 3_600_000,
      seed: 99,
    });
    const meter = await startMeterProcess(meterEnv(prefix, database, server.url));
    const admin = testKafka('meter-outage-admin').admin();
    await admin.connect();
    const committed = async () => {
      const offsets = await admin.fetchOffsets({ groupId: `${prefix}meter`, topics: [prefix + TOPICS.invocations] });
      return offsets.flatMap((t) => t.partitions).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    };
    try {
      await produce(producer, prefix, workload.slice(0, 10_000));
      await waitFor(async () => (await billed(ch)) >= 10_000, { timeoutMs: 120_000, what: 'the first 10,000 calls billed' });

      server.stop();
      const stoppedAt = Date.now();
      await produce(producer, prefix, workload.slice(10_000));
      const notReady = await waitFor(
        async () => {
          const res = await fetch(`${meter.opsUrl}/readyz`);
          return res.status === 503 ? ((await res.json()) as { components: Record<string, { detail?: string }> }) : false;
        },
        { timeoutMs: 30_000, what: 'the meter to report not ready' },
      );
      expect(JSON.stringify(notReady.components)).toMatch(/ClickHouse unavailable/);
      // Nothing is committed while nothing can be written.
      const offsetsDuringOutage = await committed();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 60_000 - (Date.now() - stoppedAt) - 5_000)));
      expect(await committed()).toBe(offsetsDuringOutage);
      expect(meter.child.exitCode).toBeNull();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 60_000 - (Date.now() - stoppedAt))));

      server.start();
      await waitFor(async () => (await billed(ch)) >= workload.length, { timeoutMs: 180_000, what: 'every call billed after the outage' });
      await waitFor(async () => (await fetch(`${meter.opsUrl}/readyz`)).status === 200, { timeoutMs: 30_000, what: 'ready again' });
      for (const tenant of TEST_TENANTS) {
        const plan = REFERENCE_PLANS[tenant]!;
        const expected = referenceTotal(referenceUsage(workload.filter((e) => e.data.tenant === tenant), plan), plan);
        expect((await computeStatement(ch, pricing, tenant, '2026-10', Date.UTC(2026, 10, 1))).statement.total).toBe(expected);
      }
    } finally {
      await admin.disconnect();
      await meter.kill('SIGTERM');
    }
  });
});

describe('late events', () => {
  it('a call for an already closed period is billed on the next statement as an adjustment, and the closed statement never changes', async () => {
    const prefix = uniquePrefix('meter-late');
    await createTestTopics(prefix);
    const { database, ch } = await migratedDatabase('meter_late');
    const september = generateWorkload({
      calls: 3_000,
      tenants: ['acme'],
      functions: 4,
      startMs: Date.UTC(2026, 8, 1),
      spanMs: 20 * 24 * 3_600_000,
      seed: 5,
      idPrefix: 'sep',
    });
    const onTime = september.slice(0, 2_000);
    const late = september.slice(2_000);
    const october = generateWorkload({
      calls: 1_000,
      tenants: ['acme'],
      functions: 4,
      startMs: Date.UTC(2026, 9, 1),
      spanMs: 5 * 24 * 3_600_000,
      seed: 6,
      idPrefix: 'oct',
    });
    const meter = await startMeterProcess(meterEnv(prefix, database, CLICKHOUSE_URL));
    try {
      await produce(producer, prefix, onTime);
      await waitFor(async () => (await billed(ch)) >= onTime.length, { timeoutMs: 120_000, what: 'September billed' });
      const closed = await closePeriod(ch, pricing, 'acme', '2026-09', { nowMs: Date.UTC(2026, 9, 2) });
      expect(closed.status).toBe('final');

      await produce(producer, prefix, [...late, ...october]);
      await waitFor(async () => (await billed(ch)) >= onTime.length + late.length + october.length, {
        timeoutMs: 120_000,
        what: 'late and October calls billed',
      });

      const september2 = await readStatement(ch, pricing, 'acme', '2026-09');
      expect(september2.status).toBe('final');
      expect(september2.statement).toEqual(closed.statement);

      const next = await readStatement(ch, pricing, 'acme', '2026-10', Date.UTC(2026, 10, 1));
      expect(next.status).toBe('draft');
      const adjustment = next.statement.lines.find((l) => l.kind === 'adjustment');
      expect(adjustment).toMatchObject({ period: '2026-09', quantity: String(late.length) });

      // Closed statement plus adjustment equal, to the cent, one on-time statement for September.
      const plan = REFERENCE_PLANS.acme!;
      const allSeptember = referenceTotal(referenceUsage(september, plan), plan);
      const cents = (amount: string) => Math.round(Number(amount) * 100);
      expect(cents(closed.statement.total) + cents(adjustment!.amount)).toBe(cents(allSeptember));
      const octoberOnly = next.statement.lines.filter((l) => l.kind !== 'adjustment').reduce((s, l) => s + cents(l.amount), 0);
      expect(octoberOnly).toBe(cents(referenceTotal(referenceUsage(october, plan), plan)));
    } finally {
      await meter.kill('SIGTERM');
    }
  });
});
