import type { Kafka } from 'kafkajs';
import { KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { breaksProducerSession, createRecordProducer } from '../../kafka/producer.ts';

/** A stand-in for kafkajs: each producer() call is a new session whose sends follow `script`. */
function fakeKafka(script: (session: number, send: number) => Error | undefined) {
  const sessions: { connects: number; disconnects: number; sends: number }[] = [];
  const kafka = {
    producer() {
      const session = { connects: 0, disconnects: 0, sends: 0 };
      const index = sessions.push(session) - 1;
      return {
        connect: () => Promise.resolve(void (session.connects += 1)),
        disconnect: () => Promise.resolve(void (session.disconnects += 1)),
        sendBatch: () => {
          const error = script(index, session.sends++);
          return error ? Promise.reject(error) : Promise.resolve([]);
        },
      };
    },
  };
  return { kafka: kafka as unknown as Kafka, sessions };
}

const protocolError = (type: string) => new KafkaJSProtocolError(Object.assign(new Error(`broker says ${type}`), { type, code: 0, retriable: false }));
const record = { topic: 't', key: 'k', value: 'v' };

describe('record producer sessions', () => {
  it('starts a new producer session after an out-of-order sequence, so later sends are accepted again', async () => {
    const { kafka, sessions } = fakeKafka((session, send) =>
      session === 0 && send >= 1 ? new KafkaJSNumberOfRetriesExceeded(protocolError('OUT_OF_ORDER_SEQUENCE_NUMBER'), { retryCount: 3, retryTime: 100 }) : undefined,
    );
    const producer = createRecordProducer(kafka);
    await producer.connect();
    await producer.send([record]);
    await expect(producer.send([record])).rejects.toThrow('OUT_OF_ORDER_SEQUENCE_NUMBER');
    await producer.send([record]);
    await producer.send([record]);
    expect(sessions).toEqual([
      { connects: 1, disconnects: 1, sends: 2 },
      { connects: 1, disconnects: 0, sends: 2 },
    ]);
  });

  it('keeps the session through errors that do not break it', async () => {
    const { kafka, sessions } = fakeKafka((_session, send) => (send === 0 ? protocolError('REQUEST_TIMED_OUT') : undefined));
    const producer = createRecordProducer(kafka);
    await producer.connect();
    await expect(producer.send([record])).rejects.toThrow();
    await producer.send([record]);
    expect(sessions).toHaveLength(1);
  });

  it('recognises the session-breaking answers however deeply kafkajs wrapped them', () => {
    for (const type of ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH']) {
      expect(breaksProducerSession(new KafkaJSNumberOfRetriesExceeded(protocolError(type), { retryCount: 1, retryTime: 1 }))).toBe(true);
    }
    expect(breaksProducerSession(protocolError('NOT_LEADER_FOR_PARTITION'))).toBe(false);
    expect(breaksProducerSession(new Error('ECONNREFUSED'))).toBe(false);
  });
});
