import type { ContractError, LifecycleData } from '../../contract/index.ts';
import { lifecycleEvent } from '../../contract/index.ts';
import type { BatchResult, BodyResult, RequestContext } from './batch.ts';
import { accept, error, isRecord, lookup, parseTime, roundMicros, validate } from './batch.ts';
import type { LambdaCall, Sandbox } from './lambda.ts';
import { LAMBDA_STATUS, lambdaIdentity, lambdaInvocation } from './lambda.ts';

/**
 * AWS Lambda Telemetry API batches (what Lambda POSTs to a subscribed extension, which forwards
 * them here) → invocation and lifecycle events:
 *
 * - `platform.report` → one invocation (cold when metrics.initDurationMs or restoreDurationMs is there);
 * - `platform.initStart` → lifecycle `created`; a successful `platform.initReport` → `ready` with
 *   the init duration as the start-up timing;
 * - `platform.start` / `platform.runtimeDone` refine the invocation of the same request id in the
 *   same batch (exact start time, version, response bytes);
 * - everything else (function/extension logs, restore events, logsDropped…) is ignored.
 *
 * One subscriber sees one sandbox, so a batch's `platform.initStart` (functionName,
 * functionVersion, instanceId, instanceMaxMemory where Lambda sends them) describes every event in it.
 */

export const TELEMETRY_SOURCE = 'faasmeter/receivers/lambda-telemetry';
const MIB = 1024 * 1024;

function reportFields(index: number): Record<string, string> {
  const at = `[${index}]`;
  return {
    id: `${at}.record.requestId`,
    time: `${at}.time`,
    'data.startMs': `${at}.time`,
    'data.durationMs': `${at}.record.metrics.durationMs`,
    'data.initDurationMs': `${at}.record.metrics.initDurationMs`,
    'data.memoryMb': `${at}.record.metrics.memorySizeMB`,
    'data.maxMemoryUsedMb': `${at}.record.metrics.maxMemoryUsedMB`,
  };
}

function nonNegative(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function positiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

interface RequestFacts {
  startMs?: number;
  version?: string;
  responseBytes?: number;
}

/** A `platform.report` record as a call, or the errors that name what is wrong with it. */
export function reportCall(record: unknown, endMs: number, at: string, facts: RequestFacts = {}): { ok: true; value: LambdaCall } | { ok: false; errors: ContractError[] } {
  if (!isRecord(record)) return { ok: false, errors: [error(`${at}.record`, 'must be an object')] };
  const errors: ContractError[] = [];
  const requestId = text(record.requestId);
  if (requestId === undefined) errors.push(error(`${at}.record.requestId`, 'must be a non-empty string'));
  const m = record.metrics;
  if (!isRecord(m)) {
    errors.push(error(`${at}.record.metrics`, 'must be an object with durationMs and memorySizeMB'));
    return { ok: false, errors };
  }
  if (!nonNegative(m.durationMs)) errors.push(error(`${at}.record.metrics.durationMs`, 'must be a non-negative number of milliseconds'));
  if (!positiveInt(m.memorySizeMB)) errors.push(error(`${at}.record.metrics.memorySizeMB`, 'must be a positive whole number of MB'));
  if (m.maxMemoryUsedMB !== undefined && !positiveInt(m.maxMemoryUsedMB)) {
    errors.push(error(`${at}.record.metrics.maxMemoryUsedMB`, 'must be a positive whole number of MB'));
  }
  for (const key of ['initDurationMs', 'restoreDurationMs'] as const) {
    if (m[key] !== undefined && !nonNegative(m[key])) errors.push(error(`${at}.record.metrics.${key}`, 'must be a non-negative number of milliseconds'));
  }
  const status = record.status === undefined ? 'success' : typeof record.status === 'string' ? lookup(LAMBDA_STATUS, record.status) : undefined;
  if (status === undefined) errors.push(error(`${at}.record.status`, 'must be success, failure, error or timeout'));
  if (errors.length > 0 || requestId === undefined || status === undefined) return { ok: false, errors };
  const init = (m.initDurationMs ?? m.restoreDurationMs) as number | undefined;
  return {
    ok: true,
    value: {
      requestId,
      endMs,
      ...(facts.startMs !== undefined ? { startMs: facts.startMs } : {}),
      durationMs: m.durationMs as number,
      memorySizeMb: m.memorySizeMB as number,
      ...(m.maxMemoryUsedMB !== undefined ? { maxMemoryUsedMb: m.maxMemoryUsedMB as number } : {}),
      ...(init !== undefined ? { initDurationMs: init } : {}),
      status,
      ...(facts.version !== undefined ? { version: facts.version } : {}),
      ...(facts.responseBytes !== undefined ? { responseBytes: facts.responseBytes } : {}),
    },
  };
}

const USED_TYPES = new Set(['platform.report', 'platform.initStart', 'platform.initReport']);

export function convertTelemetry(items: readonly unknown[], ctx: RequestContext): BatchResult {
  const result: BatchResult = { events: [], rejected: [], ignored: 0 };
  const requests = new Map<string, RequestFacts>();
  const sandbox: Sandbox = {};
  let memoryMb: number | undefined;

  // First pass: what the batch says about requests and the sandbox, wherever it sits in the batch.
  for (const item of items) {
    if (!isRecord(item) || !isRecord(item.record)) continue;
    const record = item.record;
    const requestId = text(record.requestId);
    if (item.type === 'platform.start' && requestId) {
      const startMs = parseTime(item.time);
      requests.set(requestId, {
        ...requests.get(requestId),
        ...(startMs !== undefined ? { startMs } : {}),
        ...(text(record.version) ? { version: text(record.version) } : {}),
      });
    } else if (item.type === 'platform.runtimeDone' && requestId && isRecord(record.metrics)) {
      const produced = record.metrics.producedBytes;
      if (typeof produced === 'number' && Number.isSafeInteger(produced) && produced >= 0) {
        requests.set(requestId, { ...requests.get(requestId), responseBytes: produced });
      }
    } else if (item.type === 'platform.initStart') {
      sandbox.functionName ??= text(record.functionName);
      sandbox.functionVersion ??= text(record.functionVersion);
      sandbox.instance ??= text(record.instanceId);
      if (positiveInt(record.instanceMaxMemory)) memoryMb ??= Math.ceil(record.instanceMaxMemory / MIB);
    }
  }

  for (const [index, item] of items.entries()) {
    const at = `[${index}]`;
    if (!isRecord(item)) {
      result.rejected.push({ index, errors: [error(at, 'must be a Telemetry API event object')], reason: 'invalid' });
      continue;
    }
    if (typeof item.type !== 'string') {
      result.rejected.push({ index, errors: [error(`${at}.type`, 'must be a string')], reason: 'invalid' });
      continue;
    }
    if (!USED_TYPES.has(item.type)) {
      result.ignored += 1;
      continue;
    }
    const timeMs = parseTime(item.time);
    if (timeMs === undefined) {
      result.rejected.push({ index, errors: [error(`${at}.time`, 'must be an RFC 3339 timestamp')], reason: 'invalid' });
      continue;
    }
    if (item.type === 'platform.report') {
      const requestId = isRecord(item.record) ? text(item.record.requestId) : undefined;
      const call = reportCall(item.record, timeMs, at, requestId ? requests.get(requestId) : undefined);
      const parsed = call.ok ? lambdaInvocation(call.value, sandbox, ctx, TELEMETRY_SOURCE, reportFields(index)) : call;
      if (parsed.ok) accept(result, parsed.value, index, ctx);
      else result.rejected.push({ index, ...(requestId ? { id: requestId } : {}), errors: parsed.errors, reason: 'invalid' });
      continue;
    }
    const lifecycle = lifecycleFromInit(item.type, item.record, timeMs, at, sandbox, memoryMb, ctx);
    if (lifecycle === 'ignored') result.ignored += 1;
    else if (lifecycle.ok) accept(result, lifecycle.value, index, ctx);
    else result.rejected.push({ index, errors: lifecycle.errors, reason: 'invalid' });
  }
  return result;
}

function lifecycleFromInit(type: string, record: unknown, timeMs: number, at: string, sandbox: Sandbox, memoryMb: number | undefined, ctx: RequestContext) {
  if (!isRecord(record)) return { ok: false as const, errors: [error(`${at}.record`, 'must be an object')] };
  let phase: LifecycleData['phase'] = 'created';
  let timings: LifecycleData['timings'];
  if (type === 'platform.initReport') {
    // A failed init is retried inside the next invoke (a "suppressed init"): the sandbox is not ready yet.
    if (record.status !== undefined && record.status !== 'success') return 'ignored' as const;
    const duration = isRecord(record.metrics) ? record.metrics.durationMs : undefined;
    if (!nonNegative(duration)) return { ok: false as const, errors: [error(`${at}.record.metrics.durationMs`, 'must be a non-negative number of milliseconds')] };
    phase = 'ready';
    // Lambda reports one figure for extension, runtime and function init: the app's start-up,
    // as the proxy reports it (and as REPORT's Init Duration carries on the cold call).
    timings = { appInitMs: roundMicros(duration) };
  }
  const identity = lambdaIdentity(ctx, sandbox, undefined);
  if (!identity.ok) return identity;
  const id = identity.value;
  const event = lifecycleEvent(
    {
      tenant: id.tenant,
      function: id.function,
      revision: id.revision,
      instance: id.instance,
      phase,
      timeMs,
      ...(timings ? { timings } : {}),
      ...(record.initializationType === 'provisioned-concurrency' ? { provisioned: true } : {}),
      ...(memoryMb !== undefined ? { memoryMb } : {}),
      arch: id.arch,
    },
    { source: TELEMETRY_SOURCE },
  );
  return validate(event, ctx.nowMs, { 'data.timeMs': `${at}.time`, time: `${at}.time` });
}

export function parseTelemetry(body: string, ctx: RequestContext): BodyResult<BatchResult> {
  let items: unknown;
  try {
    items = JSON.parse(body);
  } catch (e) {
    return { ok: false, reason: `body: is not valid JSON (${(e as Error).message})` };
  }
  if (!Array.isArray(items)) return { ok: false, reason: 'body: must be a JSON array of Telemetry API events' };
  return { ok: true, value: convertTelemetry(items, ctx) };
}
