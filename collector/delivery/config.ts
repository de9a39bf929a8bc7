import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseConfig } from '../../common/config.ts';
import { kafkaEnvShape } from '../../kafka/config.ts';

const MiB = 1024 * 1024;

/**
 * Delivery settings as code passes them to `createDelivery`. Field comments say what each bounds;
 * collector/delivery/README.md explains the trade-offs (crash window, fsync, overflow).
 */
export const DeliveryConfigSchema = z
  .object({
    brokers: z.array(z.string().min(1)).min(1, 'must name at least one broker'),
    clientId: z.string().min(1),
    topicPrefix: z.string().default(''),
    spoolDir: z.string().min(1),
    /** Bound on the spool's files; past it the overflow policy decides what is dropped (and counts it). */
    spoolMaxBytes: z.number().int().min(64 * 1024, 'must be at least 65536').default(512 * MiB),
    /** Segment size; drop-oldest frees space a segment at a time. Default: spoolMaxBytes/16 within 64 KiB..16 MiB. */
    spoolSegmentBytes: z.number().int().min(4096).optional(),
    /** `batch`: fdatasync each batch written to the spool (survives power loss); `none`: page cache (survives a process crash only). */
    spoolFsync: z.enum(['batch', 'none']).default('batch'),
    /** When memory or spool is full: refuse the newest events, or discard the oldest. Always counted in dropped_total. */
    overflow: z.enum(['drop-newest', 'drop-oldest']).default('drop-newest'),
    /** Events held in memory (not yet acknowledged by Kafka nor spooled); must cover rate × sendTimeoutMs. */
    bufferMaxEvents: z.number().int().min(1).default(20_000),
    batchMaxEvents: z.number().int().min(1).max(100_000).default(500),
    /** How long an event may wait in memory for its batch to fill; the crash window in steady state. */
    lingerMs: z.number().int().min(0).max(60_000).default(50),
    /**
     * A send not acknowledged within this counts as failed: it and everything after it go to the
     * spool (its own outcome is still awaited, see unsettledMaxWaitMs). Bounds the crash window
     * at the onset of an outage; too low and latency spikes cause needless spooling.
     */
    sendTimeoutMs: z.number().int().min(100).max(300_000).default(2_000),
    /** Replay/probe back-off while Kafka is away: doubles from initial to max. */
    retryInitialMs: z.number().int().min(10).default(250),
    retryMaxMs: z.number().int().min(10).default(5_000),
    /**
     * A timed-out send keeps retrying inside kafkajs (measured: ~37 s after the broker vanished)
     * and may still land; replay waits this long for its outcome so it need not send it twice.
     */
    unsettledMaxWaitMs: z.number().int().min(0).default(60_000),
    /** stop() waits this long for memory to reach Kafka or the spool; what is left is counted as dropped. */
    stopTimeoutMs: z.number().int().min(0).default(15_000),
  })
  .refine((c) => c.batchMaxEvents <= c.bufferMaxEvents, {
    message: 'must not exceed bufferMaxEvents (FAASMETER_DELIVERY_BUFFER_MAX_EVENTS)',
    path: ['batchMaxEvents'],
  })
  .refine((c) => c.retryInitialMs <= c.retryMaxMs, { message: 'must not exceed retryMaxMs', path: ['retryInitialMs'] });

export type DeliveryConfigInput = z.input<typeof DeliveryConfigSchema>;
export type DeliveryConfig = z.output<typeof DeliveryConfigSchema>;

export function parseDeliveryConfig(input: DeliveryConfigInput): Readonly<DeliveryConfig> {
  return parseConfig(DeliveryConfigSchema, input, 'delivery configuration');
}

/**
 * The environment variables every collector command shares. Spread it into a command's own
 * schema (`z.object({ ...deliveryEnvShape, ...mine })`) and map with `deliveryConfigFromParsedEnv`.
 */
export const deliveryEnvShape = {
  ...kafkaEnvShape,
  FAASMETER_SPOOL_DIR: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Where events wait while Kafka is unreachable; must be persistent and private to one process. Unset: `$TMPDIR/faasmeter-spool/<client id>`, for development only',
    ),
  FAASMETER_SPOOL_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .default(512 * MiB)
    .describe("Bound on the spool's files; past it FAASMETER_SPOOL_OVERFLOW decides what is dropped (and counts it)"),
  FAASMETER_SPOOL_SEGMENT_BYTES: z.coerce
    .number()
    .int()
    .min(4096)
    .optional()
    .describe('Spool segment size; drop-oldest frees space a segment at a time. Unset: FAASMETER_SPOOL_MAX_BYTES / 16, within 64 KiB–16 MiB'),
  FAASMETER_SPOOL_FSYNC: z
    .enum(['batch', 'none'])
    .default('batch')
    .describe('`batch`: fdatasync each batch written to the spool (survives power loss); `none`: page cache only (survives a process crash)'),
  FAASMETER_SPOOL_OVERFLOW: z
    .enum(['drop-newest', 'drop-oldest'])
    .default('drop-newest')
    .describe('When memory or the spool is full: refuse the newest events, or discard the oldest; either is counted in `faasmeter_collector_dropped_total`'),
  FAASMETER_DELIVERY_BUFFER_MAX_EVENTS: z.coerce
    .number()
    .int()
    .min(1)
    .default(20_000)
    .describe('Events held in memory, not yet acknowledged by Kafka nor spooled; must cover event rate × send timeout'),
  FAASMETER_DELIVERY_BATCH_MAX_EVENTS: z.coerce
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(500)
    .describe('Most events per Kafka send; at most FAASMETER_DELIVERY_BUFFER_MAX_EVENTS'),
  FAASMETER_DELIVERY_LINGER_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(60_000)
    .default(50)
    .describe('How long an event may wait in memory for its batch to fill: the crash window in steady state'),
  FAASMETER_DELIVERY_SEND_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(300_000)
    .default(2_000)
    .describe('A send not acknowledged within this counts as failed and it and what follows go to the spool; too low and latency spikes spool needlessly'),
  FAASMETER_DELIVERY_RETRY_MAX_MS: z.coerce
    .number()
    .int()
    .min(10)
    .default(5_000)
    .describe('Longest back-off between attempts to reach Kafka again while it is away (doubling from 250 ms)'),
};

export const DeliveryEnvSchema = z.object(deliveryEnvShape);
export type DeliveryEnv = z.output<typeof DeliveryEnvSchema>;

export function defaultSpoolDir(clientId: string): string {
  return join(tmpdir(), 'faasmeter-spool', clientId.replace(/[^A-Za-z0-9._-]/g, '_'));
}

export function deliveryConfigFromParsedEnv(env: DeliveryEnv, clientId: string): Readonly<DeliveryConfig> {
  return parseDeliveryConfig({
    brokers: env.FAASMETER_KAFKA_BROKERS,
    clientId,
    topicPrefix: env.FAASMETER_TOPIC_PREFIX,
    spoolDir: env.FAASMETER_SPOOL_DIR ?? defaultSpoolDir(clientId),
    spoolMaxBytes: env.FAASMETER_SPOOL_MAX_BYTES,
    spoolSegmentBytes: env.FAASMETER_SPOOL_SEGMENT_BYTES,
    spoolFsync: env.FAASMETER_SPOOL_FSYNC,
    overflow: env.FAASMETER_SPOOL_OVERFLOW,
    bufferMaxEvents: env.FAASMETER_DELIVERY_BUFFER_MAX_EVENTS,
    batchMaxEvents: env.FAASMETER_DELIVERY_BATCH_MAX_EVENTS,
    lingerMs: env.FAASMETER_DELIVERY_LINGER_MS,
    sendTimeoutMs: env.FAASMETER_DELIVERY_SEND_TIMEOUT_MS,
    retryInitialMs: Math.min(250, env.FAASMETER_DELIVERY_RETRY_MAX_MS),
    retryMaxMs: env.FAASMETER_DELIVERY_RETRY_MAX_MS,
  });
}

/** `clientId` names the collector process to Kafka (e.g. `faasmeter-proxy`); it also keys the default spool dir. */
export function deliveryConfigFromEnv(env: NodeJS.ProcessEnv, clientId: string): Readonly<DeliveryConfig> {
  return deliveryConfigFromParsedEnv(parseConfig(DeliveryEnvSchema, env, 'delivery configuration'), clientId);
}
