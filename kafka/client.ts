import { Kafka, logLevel } from 'kafkajs';
import type { LogEntry } from 'kafkajs';
import type { Logger } from '../common/log.ts';
import { patchRequestQueue } from './request-queue-patch.ts';

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  /** How long a request may hang before kafkajs retries it. */
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
}

const levels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

patchRequestQueue();

/**
 * kafkajs is in maintenance mode upstream, so it stays behind this factory and our own
 * producer/consumer interfaces; its logs flow into our structured logger.
 */
export function createKafka(config: KafkaConfig, log: Logger): Kafka {
  return new Kafka({
    clientId: config.clientId,
    brokers: config.brokers,
    connectionTimeout: config.connectionTimeoutMs ?? 3000,
    requestTimeout: config.requestTimeoutMs ?? 30_000,
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        log[levels[level] ?? 'info']({ kafka: rest }, message);
      },
  });
}
