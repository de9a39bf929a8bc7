import type { Kafka, Producer } from 'kafkajs';
import { CompressionTypes, Partitioners } from 'kafkajs';

export interface OutgoingRecord {
  topic: string;
  key: string;
  value: string | Buffer;
  headers?: Record<string, string>;
}

/** Our producer interface: kafkajs stays an implementation detail behind it. */
export interface RecordProducer {
  connect(): Promise<void>;
  /** Resolves once every record is acknowledged by all in-sync replicas; rejects otherwise. */
  send(records: readonly OutgoingRecord[]): Promise<void>;
  disconnect(): Promise<void>;
}

export interface ProducerOptions {
  /** Per-send timeout; a slow broker counts as unreachable so callers can spool instead of wait. */
  timeoutMs?: number;
  compression?: 'gzip' | 'none';
}

/**
 * Broker answers after which an idempotent producer's session is useless: kafkajs rolls a
 * partition's sequence number back when a request fails on the client side, even if the broker
 * had appended that batch (a broker shutting down, say), and from then on every send is refused
 * as out of order, for good. The cure is a new producer id, whose sequences start at zero.
 */
const SESSION_ERRORS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH']);

export function breaksProducerSession(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = error as { type?: unknown; cause?: unknown } | undefined; e && typeof e === 'object' && !seen.has(e); e = e.cause as typeof e) {
    seen.add(e);
    if (typeof e.type === 'string' && SESSION_ERRORS.has(e.type)) return true;
  }
  return false;
}

export function createRecordProducer(kafka: Kafka, options: ProducerOptions = {}): RecordProducer {
  // The default partitioner is murmur2, as in the Java client: producers in other languages
  // put a re-sent event on the same partition as ours did.
  // Idempotent with one request in flight: right after a broker restart kafkajs retries whole
  // produce requests, which wrote a replayed spool up to 1.75 times without this.
  const create = (): Producer =>
    kafka.producer({
      allowAutoTopicCreation: false,
      retry: { retries: 3 },
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      maxInFlightRequests: 1,
    });
  let producer = create();
  /** Set when the session was replaced: the fresh producer connects on the next send. */
  let reconnect = false;
  const compression = options.compression === 'none' ? CompressionTypes.None : CompressionTypes.GZIP;
  return {
    connect: () => producer.connect(),
    disconnect: () => producer.disconnect(),
    async send(records) {
      if (records.length === 0) return;
      const byTopic = new Map<string, { key: string; value: string | Buffer; headers?: Record<string, string> }[]>();
      for (const r of records) {
        let list = byTopic.get(r.topic);
        if (!list) byTopic.set(r.topic, (list = []));
        list.push(r.headers ? { key: r.key, value: r.value, headers: r.headers } : { key: r.key, value: r.value });
      }
      if (reconnect) {
        await producer.connect();
        reconnect = false;
      }
      const current = producer;
      try {
        await current.sendBatch({
          acks: -1,
          timeout: options.timeoutMs ?? 10_000,
          compression,
          topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        });
      } catch (error) {
        // This send still fails (the caller retries or spools it); the next one gets a new
        // session. A batch whose fate was unknown may so land twice: ids make that harmless.
        if (breaksProducerSession(error) && current === producer) {
          producer = create();
          reconnect = true;
          current.disconnect().catch(() => undefined);
        }
        throw error;
      }
    },
  };
}
