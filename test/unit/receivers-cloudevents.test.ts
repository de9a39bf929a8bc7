import { describe, expect, it } from 'vitest';
import { cloudEventsInput, cloudEventsMode, convertCloudEvents } from '../../collector/receivers/cloudevents.ts';
import { invocationEvent } from '../../contract/index.ts';
import { RECEIVER_NOW_MS } from '../fixtures/receivers/fixtures.ts';

const good = invocationEvent(
  {
    tenant: 'acme-prod',
    function: 'checkout api',
    revision: 'r1',
    instance: 'i1',
    trigger: 'http',
    startMs: RECEIVER_NOW_MS - 1_000,
    durationMs: 12.5,
    status: 'success',
    cold: false,
    memoryMb: 256,
    arch: 'arm64',
    requestBytes: 1,
    responseBytes: 2,
  },
  { id: 'evt-1', source: 'faasmeter/test', timeMs: RECEIVER_NOW_MS - 900 },
);

describe('CloudEvents ingest parsing', () => {
  it('picks the HTTP binding mode from ce-specversion and the media type', () => {
    expect(cloudEventsMode('application/cloudevents+json', {})).toBe('structured');
    expect(cloudEventsMode('application/cloudevents-batch+json', {})).toBe('batch');
    expect(cloudEventsMode('application/json', { 'ce-specversion': '1.0' })).toBe('binary');
    expect(cloudEventsMode('application/json', {})).toBeUndefined();
    expect(cloudEventsMode('text/plain', { 'ce-specversion': '1.0' })).toBeUndefined();
  });

  it('rebuilds a binary-mode event from percent-encoded ce-* headers and the JSON data', () => {
    const input = cloudEventsInput('binary', JSON.stringify(good.data), {
      'ce-specversion': '1.0',
      'ce-id': good.id,
      'ce-source': good.source,
      'ce-type': good.type,
      'ce-time': good.time,
      'ce-subject': 'checkout%20api',
    });
    expect(input).toEqual({ ok: true, value: [good] });
    expect(convertCloudEvents((input as { value: unknown[] }).value, { nowMs: RECEIVER_NOW_MS }).events).toEqual([good]);
  });

  it('reads a structured event, a batch, and a byte-order mark, and fails bodies of the wrong shape', () => {
    expect(cloudEventsInput('structured', `\uFEFF${JSON.stringify(good)}`, {})).toEqual({ ok: true, value: [good] });
    expect(cloudEventsInput('batch', JSON.stringify([good, good]), {})).toEqual({ ok: true, value: [good, good] });
    expect(cloudEventsInput('batch', JSON.stringify(good), {})).toMatchObject({ ok: false, reason: expect.stringContaining('JSON array') });
    expect(cloudEventsInput('structured', '[]', {})).toMatchObject({ ok: false, reason: expect.stringContaining('JSON object') });
    expect(cloudEventsInput('binary', '{', {})).toMatchObject({ ok: false, reason: expect.stringContaining('not valid JSON') });
  });

  it("validates each event with the contract, keeping good ones, and rejects another tenant's under a key", () => {
    const late = { ...good, id: 'evt-2', data: { ...good.data, startMs: RECEIVER_NOW_MS + 3_600_000 } };
    const result = convertCloudEvents([good, late, { ...good, id: 'evt-3', data: { ...good.data, tenant: 'globex' } }], {
      nowMs: RECEIVER_NOW_MS,
      keyTenant: 'acme-prod',
    });
    expect(result.events).toEqual([good]);
    expect(result.rejected.map((r) => [r.index, r.id, r.reason, r.errors[0]!.field])).toEqual([
      [1, 'evt-2', 'invalid', 'data.startMs'],
      [2, 'evt-3', 'tenant_mismatch', 'data.tenant'],
    ]);
  });
});
