import { z } from 'zod';
import { clickhouseEnvShape } from '../clickhouse/config.ts';
import { parseConfig } from '../common/config.ts';
import { kafkaEnvShape } from '../kafka/config.ts';
import { pricingEnvShape } from './pricing/plan.ts';

export const MeterConfigSchema = z.object({
  ...kafkaEnvShape,
  FAASMETER_METER_GROUP: z
    .string()
    .min(1)
    .default('faasmeter-meter')
    .describe('Kafka consumer group; every meter replica of one installation uses the same one'),
  FAASMETER_METER_CONCURRENCY: z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    // As many as `faasmeter topics` creates: kafkajs fetches again only after every partition
    // of the last fetch is written, so fewer slots make each fetch two rounds of writes.
    .default(6)
    .describe('Partitions each replica handles at once, bounding its batches in flight; keep it at least the partition count a replica owns, and raise it before adding replicas when ClickHouse insert latency is the limit'),
  FAASMETER_KAFKA_SESSION_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(6_000)
    .max(300_000)
    .default(30_000)
    .describe(
      'Kafka consumer session timeout: how long a silent replica keeps its partitions, and how long billing waits to resume after a Kafka outage of more than about a minute (docs/operations.md)',
    ),
  ...clickhouseEnvShape,
  ...pricingEnvShape,
  FAASMETER_UNKNOWN_TENANTS: z
    .enum(['deadletter', 'default-plan'])
    .default('deadletter')
    .describe('Calls of a tenant the pricing file assigns no plan: dead-letter them (reason `unknown_tenant`), or bill them on `defaultPlan`'),
  FAASMETER_SEAL_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(1_000)
    .max(3_600_000)
    .default(15_000)
    .describe('How often the sealer aggregates finished hours into `billing_hours`, which statements read'),
  FAASMETER_OPS_HOST: z.string().default('127.0.0.1').describe('Address of `/metrics`, `/healthz` and `/readyz`'),
  FAASMETER_OPS_PORT: z.coerce.number().int().min(0).max(65535).default(9093).describe('Port of `/metrics`, `/healthz` and `/readyz`; 0 picks a free one'),
});

export type MeterConfig = z.infer<typeof MeterConfigSchema>;

export function meterConfigFromEnv(env: NodeJS.ProcessEnv): Readonly<MeterConfig> {
  return parseConfig(MeterConfigSchema, env, 'meter configuration');
}
