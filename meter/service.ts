import type { ClickHouse } from '../clickhouse/client.ts';
import type { Component, Health } from '../common/component.ts';
import type { Logger } from '../common/log.ts';
import type { Telemetry } from '../common/telemetry.ts';
import { TOPICS } from '../contract/index.ts';
import { createKafka } from '../kafka/client.ts';
import type { BatchConsumer } from '../kafka/consumer.ts';
import { createBatchConsumer } from '../kafka/consumer.ts';
import { createRecordProducer } from '../kafka/producer.ts';
import type { MeterConfig } from './config.ts';
import { sendDeadLetters } from './deadletter.ts';
import type { PricingConfig } from './pricing/index.ts';
import { createSealer } from './sealer.ts';
import { createBatchWriter } from './writer.ts';

export interface MeterService {
  components: Component[];
  consumer: BatchConsumer;
}

/**
 * Builds the meter: consumer → writer → ClickHouse, with dead letters to Kafka. Components are
 * ordered for start-up; shutdown runs them in reverse (consumer stops and commits first, then
 * the dead-letter producer, then the ClickHouse client).
 */
export function createMeterService(
  config: Readonly<MeterConfig>,
  deps: { ch: ClickHouse; pricing: PricingConfig; log: Logger; telemetry: Telemetry; onFatal?: (error: unknown) => void },
): MeterService {
  const { ch, log, telemetry } = deps;
  const kafka = createKafka({ brokers: config.FAASMETER_KAFKA_BROKERS, clientId: 'faasmeter-meter' }, log);
  const producer = createRecordProducer(kafka);
  const prefix = config.FAASMETER_TOPIC_PREFIX;
  const writer = createBatchWriter(
    { unknownTenants: config.FAASMETER_UNKNOWN_TENANTS },
    {
      ch,
      pricing: deps.pricing,
      log,
      meter: telemetry.meter,
      ...(deps.onFatal ? { onFatal: deps.onFatal } : {}),
      sendDeadLetters: (letters) => sendDeadLetters(producer, prefix + TOPICS.deadletter, letters),
    },
  );
  const consumer = createBatchConsumer(
    kafka,
    {
      groupId: config.FAASMETER_METER_GROUP,
      topics: [prefix + TOPICS.invocations, prefix + TOPICS.lifecycle, prefix + TOPICS.resources],
      concurrency: config.FAASMETER_METER_CONCURRENCY,
      sessionTimeoutMs: config.FAASMETER_KAFKA_SESSION_TIMEOUT_MS,
    },
    (records, context) => writer.handle(records, context),
    { log, meter: telemetry.meter },
  );

  // Until start-up checked ClickHouse the meter is not ready (readiness means it can bill).
  let clickhouseHealth: Health = { status: 'error', detail: 'not started' };
  const clickhouse: Component = {
    name: 'clickhouse',
    async start() {
      await ch.ping();
      clickhouseHealth = { status: 'ok' };
    },
    async stop() {
      await ch.close();
    },
    health: () => clickhouseHealth,
  };
  const deadLetters: Component = {
    name: 'deadletter-producer',
    start: () => producer.connect(),
    stop: () => producer.disconnect(),
    health: () => ({ status: 'ok' }),
  };
  const writing: Component = {
    name: 'writer',
    start: async () => {},
    stop: async () => {},
    health: () => writer.health(),
  };
  const sealer = createSealer(ch, log, config.FAASMETER_SEAL_INTERVAL_MS);
  return { components: [clickhouse, deadLetters, writing, sealer, consumer], consumer };
}
