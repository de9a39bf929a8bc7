import type { InvocationEvent, LifecycleEvent, ResourceEvent } from '../contract/index.ts';
import type { CallQuantities } from './pricing/index.ts';
import { toMicros } from './pricing/index.ts';

/** Row shapes of the ClickHouse tables (see clickhouse/migrations), built from contract events. */

// The same microsecond rounding billing uses, so a stored duration always agrees with billed_ms.
const toUs = (ms: number | undefined): number => (ms === undefined ? 0 : toMicros(ms));
const toUsOrNull = (ms: number | undefined): number | null => (ms === undefined ? null : toMicros(ms));
const seconds = (ms: number): number => Math.floor(ms / 1000);
const hourOf = (ms: number): number => Math.floor(ms / 3_600_000) * 3_600;

export interface Provenance {
  receivedMs: number;
  partition: number;
  offset: string;
}

export interface InvocationRawRow {
  event_id: string;
  source: string;
  tenant: string;
  function: string;
  revision: string;
  instance: string;
  trigger: string;
  start_ms: number;
  start_time: number;
  duration_us: number;
  status: string;
  http_status: number | null;
  cold: number;
  init_duration_us: number;
  wait_us: number;
  memory_mb: number;
  max_memory_used_mb: number | null;
  cpu_us: number | null;
  arch: string;
  request_bytes: number;
  response_bytes: number;
  received_ms: number;
  kafka_partition: number;
  kafka_offset: string;
}

export function invocationRawRow(event: InvocationEvent, p: Provenance): InvocationRawRow {
  const d = event.data;
  return {
    event_id: event.id,
    source: event.source,
    tenant: d.tenant,
    function: d.function,
    revision: d.revision,
    instance: d.instance,
    trigger: d.trigger,
    start_ms: d.startMs,
    start_time: seconds(d.startMs),
    duration_us: toUs(d.durationMs),
    status: d.status,
    http_status: d.httpStatus ?? null,
    cold: d.cold ? 1 : 0,
    init_duration_us: toUs(d.initDurationMs),
    wait_us: toUs(d.waitMs),
    memory_mb: d.memoryMb,
    max_memory_used_mb: d.maxMemoryUsedMb ?? null,
    cpu_us: toUsOrNull(d.cpuMs),
    arch: d.arch,
    request_bytes: d.requestBytes,
    response_bytes: d.responseBytes,
    received_ms: p.receivedMs,
    kafka_partition: p.partition,
    kafka_offset: p.offset,
  };
}

export interface BilledCallRow {
  event_id: string;
  tenant: string;
  function: string;
  revision: string;
  instance: string;
  arch: string;
  plan: string;
  hour: number;
  start_ms: number;
  usage_period: string;
  billing_period: string;
  memory_mb: number;
  duration_us: number;
  billed_ms: number;
  mb_ms: number;
  cold: number;
  init_duration_us: number;
  init_billed_ms: number;
  init_mb_ms: number;
  wait_us: number;
  error: number;
  timeout: number;
  max_memory_used_mb: number;
  written_ms: number;
}

export function billedCallRow(
  event: InvocationEvent,
  q: CallQuantities,
  billing: { plan: string; usagePeriod: string; billingPeriod: string; writtenMs: number },
): BilledCallRow {
  const d = event.data;
  return {
    event_id: event.id,
    tenant: d.tenant,
    function: d.function,
    revision: d.revision,
    instance: d.instance,
    arch: d.arch,
    plan: billing.plan,
    hour: hourOf(d.startMs),
    start_ms: d.startMs,
    usage_period: billing.usagePeriod,
    billing_period: billing.billingPeriod,
    memory_mb: d.memoryMb,
    duration_us: toUs(d.durationMs),
    billed_ms: q.billedMs,
    mb_ms: q.mbMs,
    cold: d.cold ? 1 : 0,
    init_duration_us: toUs(d.initDurationMs),
    init_billed_ms: q.initBilledMs,
    init_mb_ms: q.initMbMs,
    wait_us: toUs(d.waitMs),
    error: d.status === 'success' ? 0 : 1,
    timeout: d.status === 'timeout' ? 1 : 0,
    max_memory_used_mb: d.maxMemoryUsedMb ?? 0,
    written_ms: billing.writtenMs,
  };
}

export function hourOfMs(ms: number): number {
  return hourOf(ms);
}

export interface LifecycleRow {
  event_id: string;
  tenant: string;
  function: string;
  revision: string;
  instance: string;
  phase: string;
  time_ms: number;
  time: number;
  stop_reason: string;
  runtime_init_us: number | null;
  app_init_us: number | null;
  first_request_wait_us: number | null;
  provisioned: number;
  memory_mb: number;
  arch: string;
  received_ms: number;
}

export function lifecycleRow(event: LifecycleEvent, receivedMs: number): LifecycleRow {
  const d = event.data;
  return {
    event_id: event.id,
    tenant: d.tenant,
    function: d.function,
    revision: d.revision,
    instance: d.instance,
    phase: d.phase,
    time_ms: d.timeMs,
    time: seconds(d.timeMs),
    stop_reason: d.stopReason ?? '',
    runtime_init_us: toUsOrNull(d.timings?.runtimeInitMs),
    app_init_us: toUsOrNull(d.timings?.appInitMs),
    first_request_wait_us: toUsOrNull(d.timings?.firstRequestWaitMs),
    provisioned: d.provisioned ? 1 : 0,
    memory_mb: d.memoryMb ?? 0,
    arch: d.arch ?? '',
    received_ms: receivedMs,
  };
}

export interface ResourceRow {
  event_id: string;
  tenant: string;
  function: string;
  revision: string;
  instance: string;
  time_ms: number;
  time: number;
  cpu_usage_us: number;
  cpu_throttled_us: number;
  memory_current_bytes: number;
  memory_peak_bytes: number;
  oom_kills: number;
  received_ms: number;
}

export function resourceRow(event: ResourceEvent, receivedMs: number): ResourceRow {
  const d = event.data;
  return {
    event_id: event.id,
    tenant: d.tenant,
    function: d.function,
    revision: d.revision ?? '',
    instance: d.instance,
    time_ms: d.timeMs,
    time: seconds(d.timeMs),
    cpu_usage_us: d.cpuUsageUs,
    cpu_throttled_us: d.cpuThrottledUs,
    memory_current_bytes: d.memoryCurrentBytes,
    memory_peak_bytes: d.memoryPeakBytes,
    oom_kills: d.oomKills,
    received_ms: receivedMs,
  };
}
