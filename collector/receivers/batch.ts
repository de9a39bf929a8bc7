import type { Architecture, ContractError, FaasEvent, ParseResult, Trigger } from '../../contract/index.ts';
import { formatErrors, parseEvent } from '../../contract/index.ts';

/** One input item (span, telemetry event, log line, CloudEvent) that produced no event, and why. */
export interface Rejection {
  /** Position in the request: array index, line number (0-based) or span path order. */
  index: number;
  /** Where in a nested payload the item sits, e.g. `resourceSpans[0].scopeSpans[0].spans[2]`. */
  path?: string;
  /** The event id the item carried or would have produced, when known. */
  id?: string;
  errors: ContractError[];
  /** Low-cardinality class for metrics; `errors` carries the detail. */
  reason: RejectReason;
}

export type RejectReason = 'invalid' | 'tenant_mismatch';

export interface BatchResult {
  events: FaasEvent[];
  rejected: Rejection[];
  /** Items we recognise as not metering-relevant (client spans, START lines, unknown event types). */
  ignored: number;
}

/** A body we cannot read as the format at all: the request fails with 400 and this reason. */
export type BodyResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Values a request carries outside its payload (headers, query, ingest key). Formats that do not
 * name the tenant, function or revision themselves (the Lambda APIs) take them from here.
 */
export interface RequestContext {
  /** The tenant of the request's ingest key: every event must be this tenant's. */
  keyTenant?: string;
  /** The tenant for formats that do not name one: the key's, or the one the request names when keys are off. */
  tenant?: string;
  function?: string;
  revision?: string;
  instance?: string;
  arch?: string;
  trigger?: string;
  /** The receiver's clock: the time of lines without their own, and the future-skew reference. */
  nowMs: number;
}

export const ARCH_ALIASES: Readonly<Record<string, Architecture>> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  x64: 'x86_64',
  arm64: 'arm64',
  aarch64: 'arm64',
};

export const TRIGGERS: ReadonlySet<string> = new Set<Trigger>(['http', 'pubsub', 'timer', 'datasource', 'other']);

/** A table lookup that never answers from Object.prototype ("constructor", "toString"…). */
export function lookup<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

export function error(field: string, message: string): ContractError {
  return { field, message };
}

/**
 * Validates a built event against the contract. `fieldNames` maps contract paths back to the
 * names the producer used (an OTLP attribute, a Telemetry API field), so the error points at
 * what the producer can fix.
 */
export function validate(candidate: FaasEvent, nowMs: number, fieldNames: Readonly<Record<string, string>> = {}): ParseResult<FaasEvent> {
  const result = parseEvent(candidate, { nowMs });
  if (result.ok) return result;
  return {
    ok: false,
    errors: result.errors.map((e) => {
      const theirs = fieldNames[e.field];
      return theirs ? { field: `${theirs} (${e.field})`, message: e.message } : e;
    }),
  };
}

/**
 * Takes a valid event into the batch unless it belongs to another tenant than the request's
 * ingest key: a key can only ever bill its own tenant. `field` names where the producer set it.
 */
export function accept(
  result: BatchResult,
  event: FaasEvent,
  index: number,
  ctx: Pick<RequestContext, 'keyTenant'>,
  where: { path?: string; field?: string } = {},
): void {
  if (ctx.keyTenant === undefined || event.data.tenant === ctx.keyTenant) {
    result.events.push(event);
    return;
  }
  result.rejected.push({
    index,
    ...(where.path !== undefined ? { path: where.path } : {}),
    id: event.id,
    errors: [error(where.field ?? 'data.tenant', `"${event.data.tenant}" is not the tenant of this ingest key`)],
    reason: 'tenant_mismatch',
  });
}

/** One line naming every field wrong with an item, e.g. `[2].record.metrics.durationMs: must be …`. */
export function formatRejection(rejection: Rejection): string {
  return formatErrors(rejection.errors);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses an RFC 3339 timestamp into epoch ms; undefined when it is not one. */
export function parseTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Durations keep microsecond precision: enough for per-call rounding, free of float noise. */
export function roundMicros(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
