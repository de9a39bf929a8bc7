import type { ContractError, FaasEvent, ParseResult, Status, Trigger } from '../../contract/index.ts';
import { invocationEvent } from '../../contract/index.ts';
import type { RequestContext } from './batch.ts';
import { ARCH_ALIASES, error, lookup, roundMicros, TRIGGERS, validate } from './batch.ts';

/**
 * What both Lambda formats (Telemetry API `platform.report`, the classic REPORT log line) say
 * about one call, and how it becomes an invocation event. The request id is the event id, so the
 * same call reported by the Telemetry API, a REPORT line and an OTLP span (`faas.invocation_id`
 * is the request id there too) is billed once.
 */
export interface LambdaCall {
  requestId: string;
  /** When the report was written: the end of the call (plus a little platform overhead). */
  endMs: number;
  /** From `platform.start` (or the START line) when the same batch carried it. */
  startMs?: number;
  durationMs: number;
  memorySizeMb: number;
  maxMemoryUsedMb?: number;
  /** Init Duration (or SnapStart's Restore Duration): present only on a cold call. */
  initDurationMs?: number;
  status: Status;
  /** Function version from `platform.start` / the START line. */
  version?: string;
  /** `platform.runtimeDone` metrics.producedBytes. */
  responseBytes?: number;
}

/** Facts about the one sandbox a Telemetry API subscriber or log stream belongs to. */
export interface Sandbox {
  functionName?: string;
  functionVersion?: string;
  instance?: string;
}

export const LAMBDA_STATUS: Readonly<Record<string, Status>> = {
  success: 'success',
  error: 'error',
  failure: 'error',
  timeout: 'timeout',
};

const CONTEXT_FIELDS: Readonly<Record<string, string>> = {
  'data.tenant': 'tenant (ingest key, X-Faasmeter-Tenant or ?tenant=)',
  'data.function': 'function (X-Faasmeter-Function or ?function=)',
  'data.revision': 'version (X-Faasmeter-Version or ?version=)',
  'data.instance': 'instance (X-Faasmeter-Instance or ?instance=)',
};

export interface LambdaIdentity {
  tenant: string;
  function: string;
  revision: string;
  instance: string;
  arch: 'x86_64' | 'arm64';
  trigger: Trigger;
}

/**
 * Lambda's payloads name neither tenant nor (usually) function: the request does, through its
 * ingest key, headers or query. Without an instance id the sandbox is `function:revision`.
 */
export function lambdaIdentity(ctx: RequestContext, sandbox: Sandbox, version: string | undefined): { ok: true; value: LambdaIdentity } | { ok: false; errors: ContractError[] } {
  const errors: ContractError[] = [];
  if (ctx.tenant === undefined) errors.push(error('tenant', 'is missing: send an ingest key, the X-Faasmeter-Tenant header or ?tenant='));
  const fn = ctx.function ?? sandbox.functionName;
  if (fn === undefined) errors.push(error('function', 'is missing: send the X-Faasmeter-Function header or ?function='));
  const arch = ctx.arch === undefined ? 'x86_64' : lookup(ARCH_ALIASES, ctx.arch.toLowerCase());
  if (arch === undefined) errors.push(error('arch', `"${ctx.arch}" is not a supported architecture (x86_64, arm64)`));
  if (ctx.trigger !== undefined && !TRIGGERS.has(ctx.trigger)) errors.push(error('trigger', `"${ctx.trigger}" must be one of ${[...TRIGGERS].join(', ')}`));
  if (errors.length > 0 || ctx.tenant === undefined || fn === undefined || arch === undefined) return { ok: false, errors };
  const revision = ctx.revision ?? version ?? sandbox.functionVersion ?? '$LATEST';
  return {
    ok: true,
    value: {
      tenant: ctx.tenant,
      function: fn,
      revision,
      instance: ctx.instance ?? sandbox.instance ?? `${fn}:${revision}`,
      arch,
      trigger: (ctx.trigger as Trigger | undefined) ?? 'other',
    },
  };
}

export function lambdaInvocation(
  call: LambdaCall,
  sandbox: Sandbox,
  ctx: RequestContext,
  source: string,
  fieldNames: Readonly<Record<string, string>>,
): ParseResult<FaasEvent> {
  const identity = lambdaIdentity(ctx, sandbox, call.version);
  if (!identity.ok) return identity;
  const id = identity.value;
  const cold = call.initDurationMs !== undefined;
  const event = invocationEvent(
    {
      tenant: id.tenant,
      function: id.function,
      revision: id.revision,
      instance: id.instance,
      trigger: id.trigger,
      startMs: call.startMs ?? Math.round(call.endMs - call.durationMs),
      durationMs: roundMicros(call.durationMs),
      status: call.status,
      cold,
      ...(cold ? { initDurationMs: roundMicros(call.initDurationMs!) } : {}),
      memoryMb: call.memorySizeMb,
      ...(call.maxMemoryUsedMb !== undefined ? { maxMemoryUsedMb: call.maxMemoryUsedMb } : {}),
      arch: id.arch,
      requestBytes: 0,
      responseBytes: call.responseBytes ?? 0,
    },
    { id: call.requestId, source, timeMs: call.endMs },
  );
  return validate(event, ctx.nowMs, { ...CONTEXT_FIELDS, ...fieldNames });
}
