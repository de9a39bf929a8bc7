import { describe, expect, it } from 'vitest';
import { sql } from '../../clickhouse/sql.ts';
import { createLogger } from '../../common/log.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import type { FaasEvent } from '../../contract/index.ts';
import { parseEvent, partitionKey, topicFor } from '../../contract/index.ts';
import { validFixtures } from '../../contract/fixtures/fixtures.ts';
import { createRecordProducer } from '../../kafka/producer.ts';
import { MeterConfigSchema } from '../../meter/config.ts';
import { DEFAULT_PRICING_CONFIG } from '../../meter/pricing/index.ts';
import { createMeterService } from '../../meter/service.ts';
import { migratedDatabase } from '../helpers/clickhouse.ts';
import { createTestTopics, KAFKA_BROKERS, testKafka, uniquePrefix } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/wait.ts';

const micros = (ms: number | undefined) => (ms === undefined ? 0 : Math.round(ms * 1000));

describe('smoke: contract events through real Kafka into ClickHouse', () => {
  it('every contract fixture produced with kafkajs is consumed, stored in the migrated tables and reads back equal', async () => {
    const events = validFixtures().map((f) => {
      const parsed = parseEvent(f.event);
      if (!parsed.ok) throw new Error(`fixture ${f.name} does not parse`);
      return parsed.value;
    });
    const prefix = uniquePrefix('smoke');
    await createTestTopics(prefix);
    const { database, ch } = await migratedDatabase('smoke');
    const producer = createRecordProducer(testKafka('smoke-producer'));
    await producer.connect();
    await producer.send(events.map((e) => ({ topic: prefix + topicFor(e.type), key: partitionKey(e), value: JSON.stringify(e) })));
    await producer.disconnect();

    const config = MeterConfigSchema.parse({
      FAASMETER_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
      FAASMETER_TOPIC_PREFIX: prefix,
      FAASMETER_METER_GROUP: `${prefix}meter`,
      FAASMETER_CLICKHOUSE_DATABASE: database,
      FAASMETER_UNKNOWN_TENANTS: 'default-plan',
    });
    const service = createMeterService(config, {
      ch,
      pricing: DEFAULT_PRICING_CONFIG,
      log: createLogger('smoke', 'warn'),
      telemetry: createTelemetry('smoke'),
    });
    for (const c of service.components) await c.start();
    try {
      const byType = (type: FaasEvent['type']) => events.filter((e) => e.type === type);
      const invocations = byType('dev.faasmeter.invocation.v1');
      const lifecycles = byType('dev.faasmeter.lifecycle.v1');
      const resources = byType('dev.faasmeter.resource.v1');
      const count = async (table: 'invocations_raw' | 'lifecycle_events' | 'resource_samples') => {
        const query = {
          invocations_raw: sql`SELECT count() AS n FROM invocations_raw`,
          lifecycle_events: sql`SELECT count() AS n FROM lifecycle_events`,
          resource_samples: sql`SELECT count() AS n FROM resource_samples`,
        }[table];
        return Number((await ch.query<{ n: string }>(query))[0]?.n ?? 0);
      };
      await waitFor(
        async () =>
          (await count('invocations_raw')) === invocations.length &&
          (await count('lifecycle_events')) === lifecycles.length &&
          (await count('resource_samples')) === resources.length,
        { timeoutMs: 60_000, what: 'every fixture stored' },
      );

      const raw = await ch.query<Record<string, string | number | null>>(
        sql`SELECT event_id, tenant, function, revision, instance, trigger, start_ms, duration_us, status, http_status, cold,
                   init_duration_us, memory_mb, max_memory_used_mb, arch, request_bytes, response_bytes
            FROM invocations_raw ORDER BY event_id`,
      );
      const expected = invocations
        .map((e) => {
          if (e.type !== 'dev.faasmeter.invocation.v1') throw new Error('unreachable');
          const d = e.data;
          return {
            event_id: e.id,
            tenant: d.tenant,
            function: d.function,
            revision: d.revision,
            instance: d.instance,
            trigger: d.trigger,
            start_ms: String(d.startMs),
            duration_us: String(micros(d.durationMs)),
            status: d.status,
            http_status: d.httpStatus ?? null,
            cold: d.cold ? 1 : 0,
            init_duration_us: String(micros(d.initDurationMs)),
            memory_mb: d.memoryMb,
            max_memory_used_mb: d.maxMemoryUsedMb ?? null,
            arch: d.arch,
            request_bytes: String(d.requestBytes),
            response_bytes: String(d.responseBytes),
          };
        })
        .sort((a, b) => (a.event_id < b.event_id ? -1 : 1));
      expect(raw).toEqual(expected);

      const phases = await ch.query<{ event_id: string; phase: string; stop_reason: string; time_ms: string }>(
        sql`SELECT event_id, phase, stop_reason, time_ms FROM lifecycle_events ORDER BY event_id`,
      );
      expect(phases).toEqual(
        lifecycles
          .map((e) => {
            if (e.type !== 'dev.faasmeter.lifecycle.v1') throw new Error('unreachable');
            return { event_id: e.id, phase: e.data.phase, stop_reason: e.data.stopReason ?? '', time_ms: String(e.data.timeMs) };
          })
          .sort((a, b) => (a.event_id < b.event_id ? -1 : 1)),
      );

      const samples = await ch.query<{ event_id: string; cpu_usage_us: string; memory_peak_bytes: string; oom_kills: string }>(
        sql`SELECT event_id, cpu_usage_us, memory_peak_bytes, oom_kills FROM resource_samples ORDER BY event_id`,
      );
      expect(samples).toEqual(
        resources
          .map((e) => {
            if (e.type !== 'dev.faasmeter.resource.v1') throw new Error('unreachable');
            const d = e.data;
            return { event_id: e.id, cpu_usage_us: String(d.cpuUsageUs), memory_peak_bytes: String(d.memoryPeakBytes), oom_kills: String(d.oomKills) };
          })
          .sort((a, b) => (a.event_id < b.event_id ? -1 : 1)),
      );
    } finally {
      for (const c of [...service.components].reverse()) await c.stop();
    }
  });
});
