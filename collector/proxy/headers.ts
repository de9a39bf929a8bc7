import type { IncomingHttpHeaders } from 'node:http';
import type { Trigger } from '../../contract/index.ts';

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1): meaningful for one connection only, so a proxy removes
 * them, together with every field the Connection header lists. Node frames each hop itself
 * (Transfer-Encoding, Content-Length, keep-alive) on both sides.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade']);

function connectionTokens(raw: readonly string[]): string[] | undefined {
  let tokens: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const token of raw[i + 1]!.split(',')) {
        const t = token.trim().toLowerCase();
        if (t.length > 0 && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade') (tokens ??= []).push(t);
      }
    }
  }
  return tokens;
}

/** The end-to-end fields of a raw header list (`[name, value, name, value, ...]`), order kept. */
export function endToEndHeaders(raw: readonly string[]): string[] {
  const listed = connectionTokens(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (listed !== undefined && listed.includes(lower))) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

/** Serialises a status line and header list for a socket that left Node's HTTP machinery (Upgrade). */
export function rawResponseHead(status: number, message: string, headers: readonly string[]): string {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}\r\n`;
}

/** Knative's PingSource: cron-scheduled CloudEvents, i.e. OpenTelemetry's `timer` trigger. */
const TIMER_EVENT_TYPES = new Set(['dev.knative.sources.ping']);

/**
 * OpenTelemetry `faas.trigger` from what the request itself shows: a CloudEvent (binary mode:
 * `ce-type` header; structured mode: `application/cloudevents+json`) is `pubsub` — Knative
 * Eventing, Pub/Sub push, Event Grid deliver this way — except the cron source, which is `timer`.
 * Everything else is `http`. Nothing a proxy sees distinguishes `datasource`.
 */
export function triggerOf(headers: IncomingHttpHeaders): Trigger {
  const ceType = headers['ce-type'];
  if (ceType !== undefined) return TIMER_EVENT_TYPES.has(ceType as string) ? 'timer' : 'pubsub';
  const contentType = headers['content-type'];
  if (contentType !== undefined && contentType.startsWith('application/cloudevents')) return 'pubsub';
  return 'http';
}
