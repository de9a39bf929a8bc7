import type { z } from 'zod';
import { EARLIEST_TIME_MS, FaasEvent, MAX_CLOCK_SKEW_MS } from './events.ts';

/** A validation failure that names the field, so a producer can fix it without reading our code. */
export interface ContractError {
  /** Dotted path of the offending field, e.g. `data.durationMs`; empty for the whole payload. */
  field: string;
  message: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: ContractError[] };

export interface ParseOptions {
  /** The receiver's clock; events further ahead of it than the allowed skew are rejected. */
  nowMs?: number;
}

export function formatErrors(errors: readonly ContractError[]): string {
  return errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join('; ');
}

function fromZod(error: z.ZodError): ContractError[] {
  return error.issues.map((issue) => ({
    field: issue.path.map(String).join('.'),
    message: issue.code === 'invalid_union' && issue.path.length === 1 && issue.path[0] === 'type'
      ? 'must be one of the dev.faasmeter.*.v1 event types'
      : issue.message,
  }));
}

function eventTimes(event: FaasEvent): Array<[string, number]> {
  const times: Array<[string, number]> = [['time', Date.parse(event.time)]];
  if ('startMs' in event.data) times.push(['data.startMs', event.data.startMs]);
  if ('timeMs' in event.data) times.push(['data.timeMs', event.data.timeMs]);
  return times;
}

/** Validates one decoded event. Unknown fields are dropped; missing or malformed ones are errors. */
export function parseEvent(input: unknown, options: ParseOptions = {}): ParseResult<FaasEvent> {
  const parsed = FaasEvent.safeParse(input);
  if (!parsed.success) return { ok: false, errors: fromZod(parsed.error) };
  const latest = (options.nowMs ?? Date.now()) + MAX_CLOCK_SKEW_MS;
  const errors: ContractError[] = [];
  for (const [field, ms] of eventTimes(parsed.data)) {
    if (ms > latest) errors.push({ field, message: 'is too far in the future (more than 10 minutes ahead)' });
    if (ms < EARLIEST_TIME_MS) errors.push({ field, message: 'must be after 2000-01-01' });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: parsed.data };
}

/** Decodes and validates raw bytes from Kafka or HTTP; bad JSON is a contract error, never a throw. */
export function parseEventJson(raw: string | Uint8Array, options: ParseOptions = {}): ParseResult<FaasEvent> {
  // Checked at run time too: JavaScript callers hand over whatever their client gave them, e.g.
  // a Kafka tombstone's null value, and reading `.buffer` of that would throw instead of report.
  if (typeof raw !== 'string' && !(raw instanceof Uint8Array)) {
    return { ok: false, errors: [{ field: '', message: 'is not valid JSON (expected a string or bytes)' }] };
  }
  const text = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  let decoded: unknown;
  try {
    // Some producers' JSON writers prepend a byte-order mark; it carries no meaning here.
    decoded = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    return { ok: false, errors: [{ field: '', message: `is not valid JSON (${(error as Error).message})` }] };
  }
  return parseEvent(decoded, options);
}
