import { afterEach, describe, expect, it } from 'vitest';
import { patchRequestQueue, RequestQueue } from '../../kafka/request-queue-patch.ts';

interface Queue {
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  maybeThrottle(ms: number): void;
  push(request: { entry: Record<string, unknown>; expectResponse: boolean; sendRequest: () => void }): void;
  destroy(): void;
}
type QueueClass = new (options: Record<string, unknown>) => Queue;

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const queues: Queue[] = [];

function queue(): Queue {
  const q = new (RequestQueue as unknown as QueueClass)({
    maxInFlightRequests: 1,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: '127.0.0.1:1',
    logger: quiet,
  });
  queues.push(q);
  return q;
}

const entry = (correlationId: number) => ({ correlationId, apiKey: 0, apiName: 'Produce', apiVersion: 3, resolve: () => {}, reject: () => {} });

afterEach(() => {
  for (const q of queues.splice(0)) q.destroy();
});

describe('kafkajs request queue patch', () => {
  patchRequestQueue();

  it('arms no timer once nothing waits, so an idle connection does not wake its process every millisecond', () => {
    const q = queue();
    // What kafkajs does after every response it receives.
    q.checkPendingRequests();
    expect(q.throttleCheckTimeoutId).toBeNull();
  });

  it('still sends a request held back by broker throttling once the throttle ends', async () => {
    const q = queue();
    q.maybeThrottle(40);
    const heldAt = Date.now();
    const sent = new Promise<number>((resolve) => q.push({ entry: entry(1), expectResponse: false, sendRequest: () => resolve(Date.now()) }));
    expect(q.throttleCheckTimeoutId).not.toBeNull();
    expect((await sent) - heldAt).toBeGreaterThanOrEqual(35);
  });

  it('is applied once however often it is called', () => {
    patchRequestQueue();
    patchRequestQueue();
    const q = queue();
    q.checkPendingRequests();
    expect(q.throttleCheckTimeoutId).toBeNull();
  });
});
