import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../../collector/receivers/batch.ts';
import { parseTelemetry } from '../../collector/receivers/lambda-telemetry.ts';
import type { InvocationEvent, LifecycleEvent } from '../../contract/index.ts';
import type { Json } from '../fixtures/receivers/fixtures.ts';
import { RECEIVER_NOW_MS, telemetryFixture } from '../fixtures/receivers/fixtures.ts';

const ctx: RequestContext = { nowMs: RECEIVER_NOW_MS, tenant: 'acme-prod' };
const COLD_ID = '6d68ca91-49c9-448d-89b8-7ca3e6dc66aa';
const WARM_ID = '3a1f9e7c-2b4d-4e6f-8a0b-1c2d3e4f5a6b';

function parse(items: unknown, c: RequestContext = ctx) {
  const result = parseTelemetry(JSON.stringify(items), c);
  if (!result.ok) throw new Error(result.reason);
  return result.value;
}

function byType<T>(events: readonly unknown[], type: string): T[] {
  return events.filter((e) => (e as { type: string }).type === type) as T[];
}

describe('Lambda Telemetry API → events', () => {
  it('turns a cold and a warm call into invocations with every metric carried', () => {
    const result = parse(telemetryFixture());
    expect(result.rejected).toEqual([]);
    const [cold, warm] = byType<InvocationEvent>(result.events, 'dev.faasmeter.invocation.v1');
    expect(cold).toEqual({
      specversion: '1.0',
      id: COLD_ID,
      source: 'faasmeter/receivers/lambda-telemetry',
      type: 'dev.faasmeter.invocation.v1',
      time: '2026-09-21T14:11:20.512Z',
      subject: 'resize-images',
      datacontenttype: 'application/json',
      data: {
        tenant: 'acme-prod',
        // functionName and functionVersion come from the batch's platform.initStart.
        function: 'resize-images',
        revision: '7',
        instance: 'resize-images:7',
        trigger: 'other',
        // platform.start's time, not the report's time minus the duration.
        startMs: Date.parse('2026-09-21T14:11:19.815Z'),
        durationMs: 693.92,
        status: 'success',
        cold: true,
        initDurationMs: 412.37,
        memoryMb: 1024,
        maxMemoryUsedMb: 184,
        arch: 'x86_64',
        requestBytes: 0,
        responseBytes: 2048,
      },
    });
    expect(warm!.id).toBe(WARM_ID);
    expect(warm!.data).toEqual({
      tenant: 'acme-prod',
      function: 'resize-images',
      revision: '7',
      instance: 'resize-images:7',
      trigger: 'other',
      startMs: Date.parse('2026-09-21T14:11:31.200Z'),
      durationMs: 12.08,
      status: 'success',
      cold: false,
      memoryMb: 1024,
      maxMemoryUsedMb: 186,
      arch: 'x86_64',
      requestBytes: 0,
      responseBytes: 512,
    });
  });

  it('turns initStart into `created` and initReport into `ready` with the init duration as the start-up timing', () => {
    const lifecycle = byType<LifecycleEvent>(parse(telemetryFixture()).events, 'dev.faasmeter.lifecycle.v1');
    expect(lifecycle.map((e) => e.data)).toEqual([
      {
        tenant: 'acme-prod',
        function: 'resize-images',
        revision: '7',
        instance: 'resize-images:7',
        phase: 'created',
        timeMs: Date.parse('2026-09-21T14:11:19.402Z'),
        arch: 'x86_64',
      },
      {
        tenant: 'acme-prod',
        function: 'resize-images',
        revision: '7',
        instance: 'resize-images:7',
        phase: 'ready',
        timeMs: Date.parse('2026-09-21T14:11:19.814Z'),
        timings: { appInitMs: 412.37 },
        arch: 'x86_64',
      },
    ]);
    expect(lifecycle[1]!.id).toBe(`resize-images:7:ready:${Date.parse('2026-09-21T14:11:19.814Z')}`);
  });

  it('counts what it does not meter as ignored: logs, runtimeDone, start, unknown types', () => {
    const result = parse([...telemetryFixture(), { time: '2026-09-21T14:11:32.000Z', type: 'platform.somethingNew', record: {} }]);
    // function log, initRuntimeDone, 2 × start, 2 × runtimeDone, telemetrySubscription, the unknown type
    expect(result.ignored).toBe(8);
    expect(result.events).toHaveLength(4);
  });

  it('prefers the request context for function, version, instance, arch and trigger', () => {
    const result = parse(telemetryFixture(), {
      ...ctx,
      function: 'thumbnails',
      revision: '8',
      instance: '2026/09/21/[8]abc',
      arch: 'aarch64',
      trigger: 'pubsub',
    });
    expect(result.events[0]!.data).toMatchObject({ function: 'thumbnails', revision: '8', instance: '2026/09/21/[8]abc', arch: 'arm64' });
    expect((result.events[2] as InvocationEvent).data.trigger).toBe('pubsub');
  });

  it('uses instanceId and instanceMaxMemory from initStart when Lambda sends them', () => {
    const items = telemetryFixture();
    Object.assign(items[0]!.record, { instanceId: 'i-0a1b2c', instanceMaxMemory: 2147483648 });
    const result = parse(items);
    expect(result.events.map((e) => e.data.instance)).toEqual(['i-0a1b2c', 'i-0a1b2c', 'i-0a1b2c', 'i-0a1b2c']);
    expect((result.events[0] as LifecycleEvent).data.memoryMb).toBe(2048);
  });

  it('works out the start from the report when platform.start is in another batch, and maps statuses', () => {
    const report = (id: string, status: string, extra: Json = {}) => ({
      time: '2026-09-21T14:12:00.000Z',
      type: 'platform.report',
      record: { requestId: id, status, metrics: { durationMs: 3000, billedDurationMs: 3000, memorySizeMB: 128, maxMemoryUsedMB: 60, ...extra } },
    });
    const result = parse([report('t1', 'timeout'), report('e1', 'error'), report('f1', 'failure'), report('s1', 'success', { restoreDurationMs: 120.5 })], {
      ...ctx,
      function: 'fn',
    });
    const data = result.events.map((e) => (e as InvocationEvent).data);
    expect(data.map((d) => d.status)).toEqual(['timeout', 'error', 'error', 'success']);
    expect(data[0]!.startMs).toBe(Date.parse('2026-09-21T14:12:00.000Z') - 3000);
    expect(data[0]!.revision).toBe('$LATEST');
    // SnapStart's restore is that call's start-up.
    expect(data[3]).toMatchObject({ cold: true, initDurationMs: 120.5 });
  });

  it('rejects malformed events with reasons naming the field, and still delivers the good ones', () => {
    const fixture = telemetryFixture();
    const items: unknown[] = [...fixture];
    const bad = structuredClone(fixture[6]!);
    bad.record.requestId = 'bad-1';
    delete bad.record.metrics!.memorySizeMB;
    bad.record.metrics!.durationMs = '12';
    const badStatus = structuredClone(fixture[9]!);
    badStatus.record.requestId = 'bad-2';
    badStatus.record.status = 'exploded';
    const badTime = { ...structuredClone(fixture[9]!), time: 'yesterday' };
    const noReportRecord = { time: '2026-09-21T14:11:32.000Z', type: 'platform.report', record: null };
    const noInitMetrics = { time: '2026-09-21T14:11:32.000Z', type: 'platform.initReport', record: { phase: 'init' } };
    items.push(bad, badStatus, badTime, noReportRecord, noInitMetrics, 42, { type: 7 });
    const result = parse(items);
    expect(result.events.map((e) => e.id)).toContain(COLD_ID);
    expect(result.events.map((e) => e.id)).toContain(WARM_ID);
    expect(result.events).toHaveLength(4);
    expect(result.rejected.map((r) => [r.index, r.errors.map((e) => e.field)])).toEqual([
      [11, ['[11].record.metrics.durationMs', '[11].record.metrics.memorySizeMB']],
      [12, ['[12].record.status']],
      [13, ['[13].time']],
      [14, ['[14].record']],
      [15, ['[15].record.metrics.durationMs']],
      [16, ['[16]']],
      [17, ['[17].type']],
    ]);
    expect(result.rejected[0]!.id).toBe('bad-1');
  });

  it('rejects calls when neither the request nor the batch names the tenant or the function', () => {
    const items = telemetryFixture().filter((e) => e.type !== 'platform.initStart');
    const result = parse(items, { nowMs: RECEIVER_NOW_MS });
    expect(result.events).toEqual([]);
    expect(result.rejected[0]!.errors.map((e) => e.field)).toEqual(['tenant', 'function']);
    expect(result.rejected[0]!.errors[0]!.message).toContain('ingest key');
  });

  it('rejects unsupported architectures and triggers from the request, naming the parameter', () => {
    const result = parse(telemetryFixture(), { ...ctx, arch: 'sparc', trigger: 'cron' });
    expect(result.events).toEqual([]);
    expect(new Set(result.rejected.flatMap((r) => r.errors.map((e) => e.field)))).toEqual(new Set(['arch', 'trigger']));
  });

  it("rejects events for another tenant than the request's ingest key", () => {
    const result = parse(telemetryFixture(), { ...ctx, tenant: 'acme-prod', keyTenant: 'globex' });
    expect(result.events).toEqual([]);
    expect(result.rejected.every((r) => r.reason === 'tenant_mismatch')).toBe(true);
  });

  it('fails the whole body only when it is not a JSON array', () => {
    expect(parseTelemetry('{"type":"platform.report"}', ctx)).toEqual({ ok: false, reason: 'body: must be a JSON array of Telemetry API events' });
    expect(parseTelemetry('[{', ctx)).toMatchObject({ ok: false, reason: expect.stringContaining('not valid JSON') });
  });
});
