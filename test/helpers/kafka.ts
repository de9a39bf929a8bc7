import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { DEFAULT_KAFKA_BROKERS } from '../../common/config.ts';
import { createLogger } from '../../common/log.ts';
import { createKafka } from '../../kafka/client.ts';
import { defaultTopics, ensureTopics } from '../../kafka/topics.ts';

export const KAFKA_BROKERS = (process.env.FAASMETER_KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS).split(',');

/** Unique per test so suites sharing one broker never read each other's events. */
export function uniquePrefix(name: string): string {
  return `t-${name}-${randomBytes(4).toString('hex')}.`;
}

export function testKafka(clientId = 'faasmeter-test'): Kafka {
  return createKafka({ brokers: KAFKA_BROKERS, clientId }, createLogger('test-kafka', 'error'));
}

/** Creates the four contract topics under `prefix`. */
export async function createTestTopics(prefix: string, partitions = 3): Promise<void> {
  await ensureTopics(testKafka(), defaultTopics(partitions, prefix));
}

export interface ReadMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

/**
 * Reads a topic from the beginning with a throwaway group until `expected` messages arrived and
 * no more came for `settleMs` (so a test also sees duplicates beyond the expected count).
 */
export async function readTopic(
  topic: string,
  { expected, timeoutMs = 60_000, settleMs = 1_000 }: { expected: number; timeoutMs?: number; settleMs?: number },
): Promise<ReadMessage[]> {
  const kafka = testKafka('faasmeter-test-reader');
  const consumer = kafka.consumer({ groupId: `reader-${randomBytes(6).toString('hex')}` });
  const messages: ReadMessage[] = [];
  let lastAt = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ topic: t, partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = String(v);
        messages.push({
          topic: t,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? '',
          headers,
        });
        lastAt = Date.now();
        return Promise.resolve();
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (messages.length >= expected && Date.now() - lastAt >= settleMs) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return messages;
  } finally {
    await consumer.disconnect();
  }
}
