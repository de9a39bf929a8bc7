import { createRequire } from 'node:module';

/**
 * kafkajs 2.2.4 (unmaintained upstream) re-arms a timer after every response even when no
 * request waits: `throttledUntil - Date.now()` is negative, Node clamps it to 1 ms, and the
 * timer's callback re-arms it. Every broker connection then wakes its process 1,000 times a
 * second forever (tulios/kafkajs#1751, with Node 24's TimeoutNegativeWarning as the symptom):
 * an idle sidecar spent about 4 % of a core on it. Only a request waiting in the queue needs
 * that timer, and push() arms it when one starts waiting, so with none waiting it is not armed.
 */

interface RequestQueueInternals {
  pending: unknown[];
  scheduleCheckPendingRequests: (this: RequestQueueInternals) => void;
}

interface RequestQueueClass {
  prototype: RequestQueueInternals & { [PATCHED]?: true };
}

const PATCHED = Symbol.for('faasmeter.kafkajs.requestQueuePatched');

/** The class kafkajs's own connections use: the same file, so the same module instance. */
export const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as RequestQueueClass;

export function patchRequestQueue(): void {
  const proto = RequestQueue.prototype;
  if (proto[PATCHED]) return;
  const schedule = proto.scheduleCheckPendingRequests;
  proto.scheduleCheckPendingRequests = function (this: RequestQueueInternals) {
    if (this.pending.length === 0) return;
    schedule.call(this);
  };
  proto[PATCHED] = true;
}
