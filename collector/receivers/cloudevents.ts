import type { IncomingHttpHeaders } from 'node:http';
import { parseEvent } from '../../contract/index.ts';
import type { BatchResult, BodyResult, RequestContext } from './batch.ts';
import { accept, error, isRecord } from './batch.ts';

/**
 * CloudEvents ingest for producers that speak our contract directly: the HTTP protocol binding's
 * structured mode (`application/cloudevents+json`, one event), batched mode
 * (`application/cloudevents-batch+json`, an array) and binary mode (attributes in `ce-*`
 * headers, the `data` as a JSON body). Every event is validated by the contract's own parser.
 */

export type CloudEventsMode = 'structured' | 'batch' | 'binary';

const CE_ATTRIBUTES = ['specversion', 'id', 'source', 'type', 'time', 'subject'] as const;

/** Header values are percent-encoded by the HTTP binding (non-printable and `%` characters). */
function headerValue(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** The mode a request uses: ce-specversion means binary, otherwise the media type decides. */
export function cloudEventsMode(mediaType: string, headers: IncomingHttpHeaders): CloudEventsMode | undefined {
  if (headers['ce-specversion'] !== undefined) return mediaType === 'application/json' ? 'binary' : undefined;
  if (mediaType === 'application/cloudevents+json') return 'structured';
  if (mediaType === 'application/cloudevents-batch+json') return 'batch';
  return undefined;
}

/** Events to validate, each with its position; a body that is not JSON of the mode's shape fails whole. */
export function cloudEventsInput(mode: CloudEventsMode, body: string, headers: IncomingHttpHeaders): BodyResult<unknown[]> {
  let decoded: unknown;
  try {
    // Some producers' JSON writers prepend a byte-order mark; it carries no meaning here.
    decoded = JSON.parse(body.charCodeAt(0) === 0xfeff ? body.slice(1) : body);
  } catch (e) {
    return { ok: false, reason: `body: is not valid JSON (${(e as Error).message})` };
  }
  if (mode === 'batch') {
    return Array.isArray(decoded) ? { ok: true, value: decoded } : { ok: false, reason: 'body: a batch (application/cloudevents-batch+json) must be a JSON array of events' };
  }
  if (mode === 'structured') {
    return isRecord(decoded) ? { ok: true, value: [decoded] } : { ok: false, reason: 'body: a structured event (application/cloudevents+json) must be a JSON object' };
  }
  const event: Record<string, unknown> = { datacontenttype: 'application/json', data: decoded };
  for (const name of CE_ATTRIBUTES) {
    const value = headerValue(headers[`ce-${name}`]);
    if (value !== undefined) event[name] = value;
  }
  return { ok: true, value: [event] };
}

export function convertCloudEvents(items: readonly unknown[], ctx: Pick<RequestContext, 'keyTenant' | 'nowMs'>): BatchResult {
  const result: BatchResult = { events: [], rejected: [], ignored: 0 };
  for (const [index, item] of items.entries()) {
    const id = isRecord(item) && typeof item.id === 'string' ? item.id : undefined;
    if (!isRecord(item)) {
      result.rejected.push({ index, errors: [error('', 'must be a CloudEvent object')], reason: 'invalid' });
      continue;
    }
    const parsed = parseEvent(item, { nowMs: ctx.nowMs });
    if (parsed.ok) accept(result, parsed.value, index, ctx);
    else result.rejected.push({ index, ...(id !== undefined ? { id } : {}), errors: parsed.errors, reason: 'invalid' });
  }
  return result;
}
