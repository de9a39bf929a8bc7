import { z } from 'zod';
import { brokersList, DEFAULT_CLICKHOUSE_URL, DEFAULT_KAFKA_BROKERS, parseConfig } from '../common/config.ts';

export const MeterConfigSchema = z.object({
  FAASMETER_KAFKA_BROKERS: brokersList.default([DEFAULT_KAFKA_BROKERS]),
  FAASMETER_TOPIC_PREFIX: z.string().default(''),
  FAASMETER_METER_GROUP: z.string().min(1).default('faasmeter-meter'),
  FAASMETER_METER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(3),
  FAASMETER_KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6_000).max(300_000).default(30_000),
  FAASMETER_CLICKHOUSE_URL: z.url().default(DEFAULT_CLICKHOUSE_URL),
  FAASMETER_CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier')
    .default('faasmeter'),
  FAASMETER_CLICKHOUSE_USER: z.string().default('default'),
  FAASMETER_CLICKHOUSE_PASSWORD: z.string().default(''),
  FAASMETER_PRICING_FILE: z.string().optional(),
  FAASMETER_UNKNOWN_TENANTS: z.enum(['deadletter', 'default-plan']).default('deadletter'),
  FAASMETER_SEAL_INTERVAL_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(15_000),
  FAASMETER_OPS_HOST: z.string().default('127.0.0.1'),
  FAASMETER_OPS_PORT: z.coerce.number().int().min(0).max(65535).default(9093),
});

export type MeterConfig = z.infer<typeof MeterConfigSchema>;

export function meterConfigFromEnv(env: NodeJS.ProcessEnv): Readonly<MeterConfig> {
  return parseConfig(MeterConfigSchema, env, 'meter configuration');
}
