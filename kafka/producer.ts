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

export function createRecordProducer(kafka: Kafka, options: ProducerOptions = {}): RecordProducer {
  // The default partitioner is murmur2, as in the Java client: producers in other languages
  // put a re-sent event on the same partition as ours did.
  // Idempotent with one request in flight: right after a broker restart kafkajs retries whole
  // produce requests, which wrote a replayed spool up to 1.75 times without this.
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: false,
    retry: { retries: 3 },
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
  });
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
      await producer.sendBatch({
        acks: -1,
        timeout: options.timeoutMs ?? 10_000,
        compression,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    },
  };
}
