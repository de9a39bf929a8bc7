import { z } from 'zod';
import { envelopeShape } from './cloudevents.ts';

/**
 * Event contract v1: the one definition of what collectors send and the meter accepts.
 * Units are in the field names (Ms, Us, Mb, Bytes) so no reader has to guess.
 */

export const INVOCATION_TYPE = 'dev.faasmeter.invocation.v1';
export const LIFECYCLE_TYPE = 'dev.faasmeter.lifecycle.v1';
export const RESOURCE_TYPE = 'dev.faasmeter.resource.v1';

/** 2000-01-01T00:00:00Z: anything older is a unit mistake (seconds sent as ms), not a real call. */
export const EARLIEST_TIME_MS = 946_684_800_000;
/** Producers' clocks drift; more than this ahead of the receiver's clock is rejected. */
export const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000;
/** No platform runs one call, or one start-up, for longer than a day. */
export const MAX_DURATION_MS = 24 * 60 * 60 * 1000;
export const MAX_MEMORY_MB = 1024 * 1024;

const name = (max: number) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(/^[^\p{Cc}]+$/u, 'must not contain control characters')
    // A lone surrogate cannot be encoded as UTF-8, so it could not be stored or billed as sent.
    .refine((s) => s.isWellFormed(), 'must be well-formed Unicode');

export const tenantId = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'must be letters, digits, ".", "_", ":" or "-"');
export const functionName = name(256);
export const revisionName = name(128);
export const instanceId = name(256);

const epochMs = z
  .number()
  .int('must be an integer number of milliseconds')
  .min(EARLIEST_TIME_MS, 'must be epoch milliseconds after 2000-01-01');
const durationMs = z
  .number()
  .min(0, 'must not be negative')
  .max(MAX_DURATION_MS, `must be at most ${MAX_DURATION_MS} ms`);
const count = z.number().int('must be an integer').min(0, 'must not be negative').max(Number.MAX_SAFE_INTEGER);
const memoryMb = z.number().int('must be an integer').min(1, 'must be at least 1').max(MAX_MEMORY_MB);

export const Trigger = z.enum(['http', 'pubsub', 'timer', 'datasource', 'other']);
export const Status = z.enum(['success', 'error', 'timeout']);
export const Architecture = z.enum(['x86_64', 'arm64']);
export const Phase = z.enum(['created', 'ready', 'first_request', 'stopped']);
export const StopReason = z.enum(['scale_to_zero', 'oom', 'evicted', 'error', 'deploy']);

export const InvocationData = z
  .object({
    tenant: tenantId,
    function: functionName,
    revision: revisionName,
    instance: instanceId,
    trigger: Trigger,
    startMs: epochMs,
    durationMs,
    status: Status,
    httpStatus: z.number().int().min(100).max(599).optional(),
    cold: z.boolean(),
    /** Runtime plus app start-up of the instance this cold call ran on. */
    initDurationMs: durationMs.optional(),
    /** How long the call waited in front of the instance before it was served (cold: for readiness). */
    waitMs: durationMs.optional(),
    memoryMb,
    maxMemoryUsedMb: memoryMb.optional(),
    cpuMs: durationMs.optional(),
    arch: Architecture,
    requestBytes: count,
    responseBytes: count,
  })
  .refine((d) => d.cold || d.initDurationMs === undefined, {
    message: 'is only allowed on cold invocations',
    path: ['initDurationMs'],
  });

export const StartupTimings = z.object({
  runtimeInitMs: durationMs.optional(),
  appInitMs: durationMs.optional(),
  firstRequestWaitMs: durationMs.optional(),
});

export const LifecycleData = z
  .object({
    tenant: tenantId,
    function: functionName,
    revision: revisionName,
    instance: instanceId,
    phase: Phase,
    timeMs: epochMs,
    stopReason: StopReason.optional(),
    timings: StartupTimings.optional(),
    /** Kept warm by min-scale > 0: idle time between calls is billable. */
    provisioned: z.boolean().optional(),
    memoryMb: memoryMb.optional(),
    arch: Architecture.optional(),
  })
  .refine((d) => (d.phase === 'stopped') === (d.stopReason !== undefined), {
    message: 'is required when phase is "stopped" and only then',
    path: ['stopReason'],
  });

export const ResourceData = z.object({
  tenant: tenantId,
  function: functionName,
  revision: revisionName.optional(),
  instance: instanceId,
  timeMs: epochMs,
  cpuUsageUs: count,
  cpuThrottledUs: count,
  memoryCurrentBytes: count,
  memoryPeakBytes: count,
  oomKills: count,
});

export const InvocationEvent = z.object({
  ...envelopeShape,
  type: z.literal(INVOCATION_TYPE),
  data: InvocationData,
});
export const LifecycleEvent = z.object({
  ...envelopeShape,
  type: z.literal(LIFECYCLE_TYPE),
  data: LifecycleData,
});
export const ResourceEvent = z.object({
  ...envelopeShape,
  type: z.literal(RESOURCE_TYPE),
  data: ResourceData,
});

export const FaasEvent = z.discriminatedUnion('type', [InvocationEvent, LifecycleEvent, ResourceEvent]);

export type InvocationData = z.infer<typeof InvocationData>;
export type LifecycleData = z.infer<typeof LifecycleData>;
export type ResourceData = z.infer<typeof ResourceData>;
export type InvocationEvent = z.infer<typeof InvocationEvent>;
export type LifecycleEvent = z.infer<typeof LifecycleEvent>;
export type ResourceEvent = z.infer<typeof ResourceEvent>;
export type FaasEvent = z.infer<typeof FaasEvent>;
export type EventType = FaasEvent['type'];
export type Architecture = z.infer<typeof Architecture>;
export type Trigger = z.infer<typeof Trigger>;
export type Status = z.infer<typeof Status>;
export type Phase = z.infer<typeof Phase>;
export type StopReason = z.infer<typeof StopReason>;
