import { z } from 'zod';
import { brokersList, DEFAULT_KAFKA_BROKERS } from '../common/config.ts';

/** The Kafka connection as every long-running command reads it; spread into a command's schema. */
export const kafkaEnvShape = {
  FAASMETER_KAFKA_BROKERS: brokersList.default([DEFAULT_KAFKA_BROKERS]).describe('Kafka bootstrap brokers, comma-separated host:port'),
  FAASMETER_TOPIC_PREFIX: z
    .string()
    .default('')
    .describe('Prepended to every topic name (e.g. `staging.`), so several installations can share one Kafka cluster'),
};
