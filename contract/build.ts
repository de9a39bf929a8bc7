import { v7 as uuidv7 } from 'uuid';
import type {
  InvocationData,
  InvocationEvent,
  LifecycleData,
  LifecycleEvent,
  ResourceData,
  ResourceEvent,
} from './events.ts';
import { INVOCATION_TYPE, LIFECYCLE_TYPE, RESOURCE_TYPE } from './events.ts';

export interface EnvelopeOptions {
  /** The platform's own id when it has one (request id, span's invocation id); else a UUIDv7. */
  id?: string;
  /** URI-reference naming the producer, e.g. `faasmeter/proxy/<instance>`. */
  source: string;
  timeMs?: number;
}

function envelope(options: EnvelopeOptions, subject: string) {
  return {
    specversion: '1.0' as const,
    id: options.id ?? uuidv7(),
    source: options.source,
    time: new Date(options.timeMs ?? Date.now()).toISOString(),
    subject,
    datacontenttype: 'application/json' as const,
  };
}

/**
 * Instance names may hold spaces or non-ASCII (the contract only bans control characters), but
 * an event id must be printable ASCII without spaces, so a derived id percent-encodes the UTF-8
 * bytes of anything else. "%" is encoded too, so two different names never share an id.
 */
function idPart(value: string): string {
  return value.replace(/[^\x21-\x24\x26-\x7e]/gu, (char) =>
    Array.from(Buffer.from(char, 'utf8'), (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

export function invocationEvent(data: InvocationData, options: EnvelopeOptions): InvocationEvent {
  return { ...envelope(options, data.function), type: INVOCATION_TYPE, data };
}

export function lifecycleEvent(data: LifecycleData, options: EnvelopeOptions): LifecycleEvent {
  // Lifecycle ids are derived, not random: a re-sent phase change must dedupe like a re-sent call.
  const id = options.id ?? `${idPart(data.instance)}:${data.phase}:${data.timeMs}`.slice(-128);
  return { ...envelope({ ...options, id, timeMs: options.timeMs ?? data.timeMs }, data.function), type: LIFECYCLE_TYPE, data };
}

export function resourceEvent(data: ResourceData, options: EnvelopeOptions): ResourceEvent {
  const id = options.id ?? `${idPart(data.instance)}:r:${data.timeMs}`.slice(-128);
  return { ...envelope({ ...options, id, timeMs: options.timeMs ?? data.timeMs }, data.function), type: RESOURCE_TYPE, data };
}
