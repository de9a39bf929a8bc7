import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Meter } from '@opentelemetry/api';
import type { Component, Health } from '../common/component.ts';
import type { Logger } from '../common/log.ts';

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestampMs: number;
}

export interface BatchContext {
  /** Keeps group membership alive; throws when the group is rebalancing, aborting the batch. */
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping or the batch went stale (partition revoked). */
  active(): boolean;
}

/**
 * Handles one partition's batch. Resolving means every record is durably handled (written or
 * dead-lettered); only then is the offset resolved and committed. Throwing leaves the offset
 * where it was, so the batch is consumed again.
 */
export type BatchHandler = (records: ConsumedRecord[], context: BatchContext) => Promise<void>;

export interface BatchConsumerOptions {
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  /** Partitions handled at once: bounds in-flight batches (and memory) per process. */
  concurrency?: number;
  sessionTimeoutMs?: number;
  maxBytesPerPartition?: number;
}

export interface BatchConsumer extends Component {
  /** Messages behind the high watermark, per topic/partition, as of each partition's last batch. */
  lag(): Map<string, number>;
}

/**
 * The at-least-once consumer: offsets are resolved and committed only after the handler's write
 * succeeded (never in a finally), heartbeats come from the processing loop, and a partition
 * revoked mid-batch stops the batch before it commits anything.
 */
export function createBatchConsumer(
  kafka: Kafka,
  options: BatchConsumerOptions,
  handler: BatchHandler,
  deps: { log: Logger; meter: Meter },
): BatchConsumer {
  const { log, meter } = deps;
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    rebalanceTimeout: 60_000,
    heartbeatInterval: 3_000,
    // Compressed bytes: gzip'd events inflate ~10x and their decoded rows more, so 1 MiB per
    // partition is ~20k calls a batch. With one slot per partition this keeps the bytes in flight
    // where 3 slots of 2 MiB had them; the memory bench saw 1 GiB catching up with 2 MiB slots.
    maxBytesPerPartition: options.maxBytesPerPartition ?? 1024 * 1024,
    maxWaitTimeInMs: 250,
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
  });
  const lag = new Map<string, number>();
  let status: Health = { status: 'error', detail: 'not started' };
  let stopped = false;

  const records = meter.createCounter('faasmeter_meter_records_total', { description: 'Records consumed and handled' });
  const batchSize = meter.createHistogram('faasmeter_meter_batch_records', {
    description: 'Records per handled batch',
    advice: { explicitBucketBoundaries: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000] },
  });
  const lagGauge = meter.createObservableGauge('faasmeter_meter_consumer_lag', {
    description: 'Messages behind the high watermark per partition',
  });
  lagGauge.addCallback((result) => {
    for (const [key, value] of lag) {
      const [topic, partition] = key.split('|');
      result.observe(value, { topic, partition });
    }
  });

  consumer.on(consumer.events.CRASH, (event) => {
    status = { status: 'error', detail: `consumer crashed: ${String(event.payload.error)}` };
    log.error({ err: event.payload.error, restart: event.payload.restart }, 'kafka consumer crashed');
  });
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    status = { status: 'ok' };
    log.info({ memberId: event.payload.memberId, assignment: event.payload.memberAssignment }, 'joined consumer group');
  });

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0) return;
    const context: BatchContext = {
      heartbeat: () => payload.heartbeat(),
      active: () => payload.isRunning() && !payload.isStale(),
    };
    const consumed: ConsumedRecord[] = batch.messages.map((m) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[k] = String(v);
      return {
        topic: batch.topic,
        partition: batch.partition,
        offset: m.offset,
        key: m.key,
        value: m.value,
        headers,
        timestampMs: Number(m.timestamp),
      };
    });
    await handler(consumed, context);
    if (!context.active()) return;
    const last = batch.lastOffset();
    payload.resolveOffset(last);
    await payload.commitOffsetsIfNecessary();
    records.add(consumed.length, { topic: batch.topic });
    batchSize.record(consumed.length, { topic: batch.topic });
    lag.set(`${batch.topic}|${batch.partition}`, Math.max(0, Number(batch.highWatermark) - Number(last) - 1));
  }

  return {
    name: 'kafka-consumer',
    lag: () => new Map(lag),
    health: () => status,
    async start() {
      await consumer.connect();
      await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? true });
      await consumer.run({
        autoCommit: true,
        autoCommitInterval: 1_000,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.concurrency ?? 3,
        eachBatch,
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // disconnect waits for running batches to finish, then commits what they resolved.
      await consumer.disconnect();
      status = { status: 'degraded', detail: 'stopped' };
    },
  };
}
