import type { ContractError, InvocationData, Status, Trigger } from '../../contract/index.ts';
import { invocationEvent } from '../../contract/index.ts';
import type { BatchResult, BodyResult, Rejection, RequestContext } from './batch.ts';
import { accept, ARCH_ALIASES, error, isRecord, lookup, roundMicros, TRIGGERS, validate } from './batch.ts';

/**
 * OTLP traces → invocation events, following the OpenTelemetry FaaS semantic conventions. Both
 * encodings arrive here as the same object tree: the JSON body as parsed, the protobuf body as
 * the generated decoder's `toObject` (ids as bytes, 64-bit integers as decimal strings).
 */

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CONSUMER = 5;
const STATUS_CODE_ERROR = 2;
const SPAN_KINDS: Readonly<Record<string, number>> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Readonly<Record<string, number>> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };
const MIB = 1024 * 1024;

export const OTLP_SOURCE = 'faasmeter/receivers/otlp';

type AttrValue = string | number | boolean;
type Attributes = ReadonlyMap<string, AttrValue>;

/** Contract paths → the attribute or field an OTLP producer sets, for error messages. */
const FIELD_NAMES: Readonly<Record<string, string>> = {
  id: 'faas.invocation_id',
  time: 'endTimeUnixNano',
  'data.tenant': 'resource faasmeter.tenant',
  'data.function': 'faas.name',
  'data.revision': 'faas.version',
  'data.instance': 'faas.instance',
  'data.startMs': 'startTimeUnixNano',
  'data.durationMs': 'endTimeUnixNano - startTimeUnixNano',
  'data.httpStatus': 'http.response.status_code',
  'data.memoryMb': 'faas.max_memory',
  'data.requestBytes': 'http.request.body.size',
  'data.responseBytes': 'http.response.body.size',
};

/** Scalar AnyValue only: no FaaS attribute we read is an array, map or bytes. */
function anyValue(value: unknown): AttrValue | undefined {
  if (!isRecord(value)) return undefined;
  if (typeof value.stringValue === 'string') return value.stringValue;
  if (typeof value.boolValue === 'boolean') return value.boolValue;
  if (typeof value.doubleValue === 'number') return value.doubleValue;
  const int = value.intValue;
  if (typeof int === 'number') return int;
  // int64 arrives as a decimal string (JSON mapping, and our protobuf decode); kept as text when
  // it is not one, so the check that needs the number names the attribute.
  if (typeof int === 'string') return /^-?\d+$/.test(int) && Number.isSafeInteger(Number(int)) ? Number(int) : int;
  return undefined;
}

function attributes(list: unknown): Map<string, AttrValue> {
  const map = new Map<string, AttrValue>();
  if (!Array.isArray(list)) return map;
  for (const kv of list) {
    if (!isRecord(kv) || typeof kv.key !== 'string') continue;
    const value = anyValue(kv.value);
    if (value !== undefined) map.set(kv.key, value);
  }
  return map;
}

function hasFaas(attrs: Attributes): boolean {
  for (const key of attrs.keys()) if (key.startsWith('faas.')) return true;
  return false;
}

function enumValue(value: unknown, names: Readonly<Record<string, number>>): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return lookup(names, value) ?? -1;
  return 0;
}

/** JSON carries ids as hex (OTLP/JSON's one deviation from the protobuf JSON mapping), protobuf as bytes. */
function spanIdHex(value: unknown, bytes: number): string | undefined {
  if (value instanceof Uint8Array) return value.length === bytes ? Buffer.from(value).toString('hex') : undefined;
  if (typeof value === 'string' && value.length === bytes * 2 && /^[0-9a-f]+$/i.test(value)) return value.toLowerCase();
  return undefined;
}

function nanos(value: unknown): bigint | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) return BigInt(value);
  return undefined;
}

function text(value: AttrValue | undefined): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : String(value);
}

/**
 * `faas.max_memory` is bytes in current semantic conventions, but older ones and several Lambda
 * resource detectors send MiB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, sometimes as a string). No
 * function runs in less than 1 MiB, so a smaller number can only be MiB.
 */
function memoryMb(value: AttrValue | undefined, errors: ContractError[]): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (n === undefined) {
    errors.push(error('faas.max_memory', 'is missing: the configured memory (bytes) is needed to meter MB·ms'));
    return 0;
  }
  if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) {
    errors.push(error('faas.max_memory', 'must be a positive integer number of bytes'));
    return 0;
  }
  return n < MIB ? n : Math.ceil(n / MIB);
}

function count(value: AttrValue | undefined): number | undefined {
  return typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined;
}

function status(span: Record<string, unknown>, attr: (key: string) => AttrValue | undefined, httpStatus: number | undefined): Status {
  const errorType = attr('error.type');
  if (errorType === 'timeout') return 'timeout';
  const code = enumValue(isRecord(span.status) ? span.status.code : undefined, STATUS_CODES);
  // A server span's 4xx is the client's error, not the function's (HTTP semantic conventions).
  if (code === STATUS_CODE_ERROR || (httpStatus !== undefined && httpStatus >= 500)) return 'error';
  return 'success';
}

function trigger(value: AttrValue | undefined, httpStatus: number | undefined): Trigger {
  if (typeof value === 'string') return TRIGGERS.has(value) ? (value as Trigger) : 'other';
  return httpStatus !== undefined ? 'http' : 'other';
}

interface SpanInput {
  span: Record<string, unknown>;
  resource: Attributes;
  path: string;
}

/**
 * FaaS invocation spans are SERVER spans (http and most triggers) of a function, known by any
 * `faas.*` attribute on the span or its resource, or CONSUMER spans that name the invocation
 * themselves (`faas.trigger`/`faas.invocation_id`): a function's own message-processing CONSUMER
 * spans under its invocation must not count as more calls.
 */
function isInvocationSpan(kind: number, spanAttrs: Attributes, resource: Attributes): boolean {
  if (kind === SPAN_KIND_SERVER) return hasFaas(spanAttrs) || hasFaas(resource);
  if (kind === SPAN_KIND_CONSUMER) return spanAttrs.has('faas.trigger') || spanAttrs.has('faas.invocation_id');
  return false;
}

function spanToInvocation({ span, resource, path }: SpanInput, index: number, ctx: RequestContext): Rejection | { event: ReturnType<typeof invocationEvent> } | 'ignored' {
  const spanAttrs = attributes(span.attributes);
  if (!isInvocationSpan(enumValue(span.kind, SPAN_KINDS), spanAttrs, resource)) return 'ignored';
  const attr = (key: string) => spanAttrs.get(key) ?? resource.get(key);
  const errors: ContractError[] = [];

  const traceId = spanIdHex(span.traceId, 16);
  const spanId = spanIdHex(span.spanId, 8);
  if (traceId === undefined) errors.push(error('traceId', 'must be 16 bytes (32 hex characters in JSON)'));
  if (spanId === undefined) errors.push(error('spanId', 'must be 8 bytes (16 hex characters in JSON)'));
  const start = nanos(span.startTimeUnixNano);
  const end = nanos(span.endTimeUnixNano);
  if (start === undefined) errors.push(error('startTimeUnixNano', 'must be an unsigned integer number of nanoseconds'));
  if (end === undefined) errors.push(error('endTimeUnixNano', 'must be an unsigned integer number of nanoseconds'));
  if (start !== undefined && end !== undefined && end < start) errors.push(error('endTimeUnixNano', 'must not be before startTimeUnixNano'));

  const tenant = text(resource.get('faasmeter.tenant')) ?? ctx.tenant;
  if (tenant === undefined) {
    errors.push(error('resource faasmeter.tenant', 'is missing: set the resource attribute or send an ingest key bound to a tenant'));
  }
  const serviceName = text(resource.get('service.name'));
  const fn = text(attr('faas.name')) ?? (serviceName?.startsWith('unknown_service') ? undefined : serviceName);
  if (fn === undefined) errors.push(error('faas.name', 'is missing (and no usable resource service.name)'));
  const memory = memoryMb(attr('faas.max_memory'), errors);

  const rawArch = text(resource.get('host.arch') ?? attr('faas.arch'));
  const arch = rawArch === undefined ? 'x86_64' : lookup(ARCH_ALIASES, rawArch.toLowerCase());
  if (arch === undefined) errors.push(error('host.arch', `"${rawArch}" is not a supported architecture (amd64, x86_64, arm64, aarch64)`));

  const cold = attr('faas.coldstart');
  if (cold !== undefined && typeof cold !== 'boolean') errors.push(error('faas.coldstart', 'must be a boolean'));

  const invocationId = text(attr('faas.invocation_id'));
  const id = invocationId ?? (traceId && spanId ? `otlp-${traceId}-${spanId}` : undefined);
  if (errors.length > 0 || start === undefined || end === undefined || id === undefined || tenant === undefined || fn === undefined || arch === undefined) {
    return { index, path, ...(id ? { id } : {}), errors, reason: 'invalid' };
  }

  const httpStatus = count(attr('http.response.status_code') ?? attr('http.status_code'));
  const data: InvocationData = {
    tenant,
    function: fn,
    revision: text(attr('faas.version')) ?? text(resource.get('service.version')) ?? 'unknown',
    instance:
      text(attr('faas.instance')) ??
      text(resource.get('service.instance.id')) ??
      text(resource.get('k8s.pod.name')) ??
      text(resource.get('host.name')) ??
      'unknown',
    trigger: trigger(attr('faas.trigger'), httpStatus),
    startMs: Number(start / 1_000_000n),
    durationMs: roundMicros(Number(end - start) / 1e6),
    status: status(span, attr, httpStatus),
    ...(httpStatus !== undefined ? { httpStatus } : {}),
    cold: cold === true,
    memoryMb: memory,
    arch,
    requestBytes: count(attr('http.request.body.size') ?? attr('http.request_content_length')) ?? 0,
    responseBytes: count(attr('http.response.body.size') ?? attr('http.response_content_length')) ?? 0,
  };
  const platform = text(resource.get('cloud.platform'));
  const candidate = invocationEvent(data, {
    id,
    source: platform ? `${OTLP_SOURCE}/${platform}` : OTLP_SOURCE,
    timeMs: Number(end / 1_000_000n),
  });
  const valid = validate(candidate, ctx.nowMs, FIELD_NAMES);
  return valid.ok ? { event: candidate } : { index, path, id, errors: valid.errors, reason: 'invalid' };
}

/** Walks an ExportTraceServiceRequest object tree; only a wrong top-level shape fails the whole body. */
export function convertTraces(request: unknown, ctx: RequestContext): BodyResult<BatchResult> {
  if (!isRecord(request)) return { ok: false, reason: 'body: must be an ExportTraceServiceRequest object' };
  const resourceSpans = request.resourceSpans ?? [];
  if (!Array.isArray(resourceSpans)) return { ok: false, reason: 'resourceSpans: must be an array' };
  const result: BatchResult = { events: [], rejected: [], ignored: 0 };
  let index = 0;
  for (const [r, rs] of resourceSpans.entries()) {
    if (!isRecord(rs)) return { ok: false, reason: `resourceSpans[${r}]: must be an object` };
    const resource = attributes(isRecord(rs.resource) ? rs.resource.attributes : undefined);
    const scopeSpans = rs.scopeSpans ?? [];
    if (!Array.isArray(scopeSpans)) return { ok: false, reason: `resourceSpans[${r}].scopeSpans: must be an array` };
    for (const [s, ss] of scopeSpans.entries()) {
      const spans = isRecord(ss) ? (ss.spans ?? []) : undefined;
      if (!Array.isArray(spans)) return { ok: false, reason: `resourceSpans[${r}].scopeSpans[${s}].spans: must be an array` };
      for (const [i, span] of spans.entries()) {
        const path = `resourceSpans[${r}].scopeSpans[${s}].spans[${i}]`;
        if (!isRecord(span)) {
          result.rejected.push({ index, path, errors: [error('', 'span must be an object')], reason: 'invalid' });
        } else {
          const outcome = spanToInvocation({ span, resource, path }, index, ctx);
          if (outcome === 'ignored') result.ignored += 1;
          else if ('event' in outcome) accept(result, outcome.event, index, ctx, { path, field: 'resource faasmeter.tenant' });
          else result.rejected.push(outcome);
        }
        index += 1;
      }
    }
  }
  return { ok: true, value: result };
}

export function parseOtlpJson(body: string, ctx: RequestContext): BodyResult<BatchResult> {
  let request: unknown;
  try {
    request = JSON.parse(body);
  } catch (e) {
    return { ok: false, reason: `body: is not valid JSON (${(e as Error).message})` };
  }
  return convertTraces(request, ctx);
}

/** The OTLP partial-success message: how many spans, and the first few reasons with where they were. */
export function partialSuccessMessage(rejected: readonly Rejection[], limit = 5): string {
  const shown = rejected.slice(0, limit).map((r) => {
    const what = r.errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join('; ');
    return `${r.path ?? `#${r.index}`}${r.id ? ` (${r.id})` : ''}: ${what}`;
  });
  const more = rejected.length > limit ? `; and ${rejected.length - limit} more` : '';
  return `${rejected.length} span(s) rejected: ${shown.join(' | ')}${more}`;
}
