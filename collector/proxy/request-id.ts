import type { IncomingHttpHeaders } from 'node:http';
import { EVENT_ID_MAX } from '../../contract/index.ts';

/** The contract's event id rule (contract/cloudevents.ts), as one regex: no zod on the hot path. */
const VALID_ID = new RegExp(`^[\\x21-\\x7e]{1,${EVENT_ID_MAX}}$`);

/** How many recent platform ids an instance remembers to refuse reuse. */
export const RECENT_IDS = 4096;

/**
 * Picks the platform's invocation id from the configured headers, so an event can be joined to
 * the platform's own logs and traces and deduplicated against other collectors reporting the
 * same call. The event id is the billing idempotency key, and headers such as x-request-id can
 * be set by whoever calls the function: an id this instance already used recently is refused
 * (the caller then gets a fresh UUIDv7), so repeating a header cannot make two calls one.
 */
export class RequestIdPicker {
  readonly #headers: readonly string[];
  readonly #recent = new Set<string>();
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(headers: readonly string[], remember = RECENT_IDS) {
    this.#headers = headers;
    this.#ring = new Array<string | undefined>(remember);
  }

  pick(headers: IncomingHttpHeaders): string | undefined {
    for (const name of this.#headers) {
      const value = headers[name];
      // A repeated header arrives joined with ", " (or as an array): not one id, so not usable.
      if (typeof value !== 'string' || !VALID_ID.test(value)) continue;
      if (this.#recent.has(value)) return undefined;
      this.#remember(value);
      return value;
    }
    return undefined;
  }

  #remember(id: string): void {
    const evicted = this.#ring[this.#next];
    if (evicted !== undefined) this.#recent.delete(evicted);
    this.#ring[this.#next] = id;
    this.#recent.add(id);
    this.#next = (this.#next + 1) % this.#ring.length;
  }
}
