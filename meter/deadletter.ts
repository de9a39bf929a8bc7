import type { RecordProducer } from '../kafka/producer.ts';
import type { DeadLetter } from './pipeline.ts';

/**
 * Poison records go to the dead-letter topic with their original key and value, plus headers
 * saying why, at which step, and where they came from, so they can be inspected and replayed.
 */
export function deadLetterRecords(topic: string, letters: readonly DeadLetter[]) {
  return letters.map((d) => ({
    topic,
    key: d.record.key?.toString('utf8') ?? '',
    value: d.record.value ?? Buffer.alloc(0),
    headers: {
      ...d.record.headers,
      'faasmeter-dlq-reason': d.reason,
      'faasmeter-dlq-step': d.step,
      'faasmeter-dlq-detail': d.detail,
      'faasmeter-dlq-source-topic': d.record.topic,
      'faasmeter-dlq-source-partition': String(d.record.partition),
      'faasmeter-dlq-source-offset': d.record.offset,
    },
  }));
}

export async function sendDeadLetters(producer: RecordProducer, topic: string, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length > 0) await producer.send(deadLetterRecords(topic, letters));
}
