import type { Kafka } from 'kafkajs';
import { TOPICS } from '../contract/topics.ts';

export interface TopicSpec {
  topic: string;
  partitions: number;
  retentionMs: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Our topics, created by our own tooling with explicit partitions and retention rather than
 * broker defaults. Retention outlives the longest meter outage we plan to recover from.
 */
export function defaultTopics(partitions = 6, prefix = ''): TopicSpec[] {
  return [
    { topic: prefix + TOPICS.invocations, partitions, retentionMs: 7 * DAY_MS },
    { topic: prefix + TOPICS.lifecycle, partitions, retentionMs: 7 * DAY_MS },
    { topic: prefix + TOPICS.resources, partitions, retentionMs: 3 * DAY_MS },
    { topic: prefix + TOPICS.deadletter, partitions: 1, retentionMs: 30 * DAY_MS },
  ];
}

/** Creates missing topics and waits for their leaders; existing topics are left as they are. */
export async function ensureTopics(kafka: Kafka, specs: readonly TopicSpec[], replicationFactor = 1): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.topic,
          numPartitions: s.partitions,
          replicationFactor,
          configEntries: [
            { name: 'retention.ms', value: String(s.retentionMs) },
            { name: 'min.insync.replicas', value: '1' },
          ],
        })),
      });
    }
    return missing.map((s) => s.topic);
  } finally {
    await admin.disconnect();
  }
}
