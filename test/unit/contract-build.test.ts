import { describe, expect, it } from 'vitest';
import type { FaasEvent, InvocationData, LifecycleData, ResourceData } from '../../contract/index.ts';
import {
  EVENT_ID_MAX,
  formatErrors,
  invocationEvent,
  lifecycleEvent,
  parseEvent,
  partitionKey,
  resourceEvent,
  TOPICS,
  topicFor,
} from '../../contract/index.ts';
import { FIXTURE_NOW_MS, validFixtures } from '../../contract/fixtures/fixtures.ts';

const NOW_MS = FIXTURE_NOW_MS;
const INSTANCE = 'thumbnailer-00007-deployment-5c8d7f9b4-m7tzp';

const invocationData: InvocationData = {
  tenant: 'acme-prod',
  function: 'checkout-api',
  revision: 'checkout-api-00042',
  instance: 'checkout-api-00042-deployment-7d9f8b6c5d-x2k4q',
  trigger: 'http',
  startMs: NOW_MS - 5_000,
  durationMs: 23.84,
  status: 'success',
  httpStatus: 200,
  cold: false,
  memoryMb: 512,
  arch: 'x86_64',
  requestBytes: 1_834,
  responseBytes: 5_120,
};

function lifecycleData(overrides: Partial<LifecycleData> = {}): LifecycleData {
  return {
    tenant: 'globex',
    function: 'thumbnailer',
    revision: 'thumbnailer-00007',
    instance: INSTANCE,
    phase: 'ready',
    timeMs: NOW_MS - 60_000,
    ...overrides,
  };
}

function resourceData(overrides: Partial<ResourceData> = {}): ResourceData {
  return {
    tenant: 'globex',
    function: 'thumbnailer',
    instance: INSTANCE,
    timeMs: NOW_MS - 10_000,
    cpuUsageUs: 48_213_377,
    cpuThrottledUs: 1_204_500,
    memoryCurrentBytes: 183_500_800,
    memoryPeakBytes: 201_326_592,
    oomKills: 0,
    ...overrides,
  };
}

function expectValid(event: FaasEvent): void {
  const result = parseEvent(event, { nowMs: NOW_MS });
  if (!result.ok) expect.fail(`built event is invalid: ${formatErrors(result.errors)}`);
}

describe('partitionKey', () => {
  it('a re-sent invocation (same id, later envelope time) gets the same key as the original', () => {
    const original = invocationEvent(invocationData, { id: '01a0c450-5878-703d-a57c-4950cab58ba5', source: 'faasmeter/proxy/a', timeMs: NOW_MS });
    const resent = { ...original, time: new Date(NOW_MS + 30_000).toISOString(), source: 'faasmeter/spool/a' };
    expect(partitionKey(resent)).toBe(partitionKey(original));
    expect(partitionKey(original)).toBe('01a0c450-5878-703d-a57c-4950cab58ba5');
  });

  it('different invocations of one instance spread over keys by id', () => {
    const a = invocationEvent(invocationData, { source: 'faasmeter/proxy/a', timeMs: NOW_MS });
    const b = invocationEvent(invocationData, { source: 'faasmeter/proxy/a', timeMs: NOW_MS });
    expect(partitionKey(a)).not.toBe(partitionKey(b));
  });

  it('lifecycle and resource events of one instance share a tenant/instance key, so they stay in order', () => {
    const keys = new Set([
      partitionKey(lifecycleEvent(lifecycleData({ phase: 'created', timeMs: NOW_MS - 90_000 }), { source: 's' })),
      partitionKey(lifecycleEvent(lifecycleData({ phase: 'stopped', stopReason: 'scale_to_zero' }), { source: 's' })),
      partitionKey(resourceEvent(resourceData(), { source: 's' })),
      partitionKey(resourceEvent(resourceData({ timeMs: NOW_MS }), { source: 's' })),
    ]);
    expect([...keys]).toEqual([`globex/${INSTANCE}`]);
  });

  it('the same instance name in two tenants gets two keys', () => {
    const a = lifecycleEvent(lifecycleData(), { source: 's' });
    const b = lifecycleEvent(lifecycleData({ tenant: 'initech' }), { source: 's' });
    expect(partitionKey(a)).not.toBe(partitionKey(b));
  });

  it('each event type is routed to its own versioned topic', () => {
    expect(topicFor('dev.faasmeter.invocation.v1')).toBe(TOPICS.invocations);
    expect(topicFor('dev.faasmeter.lifecycle.v1')).toBe(TOPICS.lifecycle);
    expect(topicFor('dev.faasmeter.resource.v1')).toBe(TOPICS.resources);
  });

  it('every valid fixture gets a non-empty key', () => {
    for (const fixture of validFixtures()) {
      const result = parseEvent(fixture.event, { nowMs: NOW_MS });
      if (!result.ok) expect.fail(`${fixture.name}: ${formatErrors(result.errors)}`);
      expect(partitionKey(result.value), fixture.name).not.toBe('');
    }
  });
});

describe('event factories', () => {
  it('lifecycleEvent derives the same id for the same phase change, whenever and by whomever it is sent', () => {
    const first = lifecycleEvent(lifecycleData(), { source: 'faasmeter/kube-watcher/globex' });
    const again = lifecycleEvent(lifecycleData(), { source: 'faasmeter/kube-watcher/globex-2', timeMs: NOW_MS });
    expect(again.id).toBe(first.id);
    expect(first.id).toBe(`${INSTANCE}:ready:${NOW_MS - 60_000}`);
    expectValid(first);
  });

  it('lifecycleEvent ids differ by phase and by time', () => {
    const ready = lifecycleEvent(lifecycleData(), { source: 's' });
    const first = lifecycleEvent(lifecycleData({ phase: 'first_request' }), { source: 's' });
    const later = lifecycleEvent(lifecycleData({ timeMs: NOW_MS - 59_999 }), { source: 's' });
    expect(new Set([ready.id, first.id, later.id]).size).toBe(3);
  });

  it('lifecycleEvent uses the data time for the envelope unless told otherwise', () => {
    expect(lifecycleEvent(lifecycleData(), { source: 's' }).time).toBe(new Date(NOW_MS - 60_000).toISOString());
  });

  it('an explicit id wins over the derived one', () => {
    expect(lifecycleEvent(lifecycleData(), { source: 's', id: 'k8s-event-42' }).id).toBe('k8s-event-42');
  });

  it('resourceEvent derives a deterministic id per instance and sample time', () => {
    const a = resourceEvent(resourceData(), { source: 's' });
    const b = resourceEvent(resourceData({ cpuUsageUs: 1 }), { source: 't', timeMs: NOW_MS });
    expect(a.id).toBe(b.id);
    expect(resourceEvent(resourceData({ timeMs: NOW_MS - 9_000 }), { source: 's' }).id).not.toBe(a.id);
    expectValid(a);
  });

  it.each([
    ['spaces', 'nightly report 0'],
    ['non-ASCII letters', 'función-ñandú-7d9f8b6c5d'],
    ['a percent sign', 'pod%20a'],
  ])('derived ids stay valid printable-ASCII event ids for instance names with %s', (_, instance) => {
    const lifecycle = lifecycleEvent(lifecycleData({ instance }), { source: 's' });
    const resource = resourceEvent(resourceData({ instance }), { source: 's' });
    expectValid(lifecycle);
    expectValid(resource);
  });

  it('instance names that differ only in characters that need escaping get different derived ids', () => {
    const ids = ['pod a', 'pod%20a', 'pod_a', 'pod\u00a0a'].map((instance) => lifecycleEvent(lifecycleData({ instance }), { source: 's' }).id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('a derived id for a 256-character instance name is cut to the id limit, keeping phase and time', () => {
    const instance = `${'x'.repeat(200)}-${'ñ'.repeat(55)}`;
    const event = lifecycleEvent(lifecycleData({ instance }), { source: 's' });
    expect(event.id.length).toBeLessThanOrEqual(EVENT_ID_MAX);
    expect(event.id.endsWith(`:ready:${NOW_MS - 60_000}`)).toBe(true);
    expectValid(event);
  });

  it('invocationEvent without an id gets a UUIDv7, and the subject is the function', () => {
    const event = invocationEvent(invocationData, { source: 'faasmeter/proxy/a', timeMs: NOW_MS });
    expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(event.subject).toBe('checkout-api');
    expectValid(event);
  });
});
