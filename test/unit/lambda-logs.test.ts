import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../../collector/receivers/batch.ts';
import { parseLogLine, parseLogsJson, parseLogsText } from '../../collector/receivers/lambda-logs.ts';
import type { InvocationEvent } from '../../contract/index.ts';
import { fixtureText, RECEIVER_NOW_MS } from '../fixtures/receivers/fixtures.ts';

const ctx: RequestContext = { nowMs: RECEIVER_NOW_MS, tenant: 'acme-prod', function: 'resize-images' };
const COLD_ID = '6d68ca91-49c9-448d-89b8-7ca3e6dc66aa';
const COLD = `REPORT RequestId: ${COLD_ID}\tDuration: 693.92 ms\tBilled Duration: 694 ms\tMemory Size: 1024 MB\tMax Memory Used: 184 MB\tInit Duration: 412.37 ms\t`;

function data(events: readonly unknown[]): InvocationEvent['data'][] {
  return (events as InvocationEvent[]).map((e) => e.data);
}

describe('Lambda REPORT lines', () => {
  it('reads every field of a cold REPORT line, with or without tabs', () => {
    const expected = {
      kind: 'report',
      ok: true,
      value: { requestId: COLD_ID, durationMs: 693.92, billedDurationMs: 694, memorySizeMb: 1024, maxMemoryUsedMb: 184, initDurationMs: 412.37, status: 'success' },
    };
    expect(parseLogLine(COLD)).toEqual(expected);
    expect(parseLogLine(COLD.replaceAll('\t', ' '))).toEqual(expected);
  });

  it('reads a warm line (no Init Duration), a timeout, X-Ray fields and a leading timestamp', () => {
    const line =
      '2026-09-21T14:11:33.213Z REPORT RequestId: 0c9d\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\tStatus: timeout\tXRAY TraceId: 1-5759e988-bd862e3fe1be46a994272793\tSegmentId: 53995c3f42cd8ad8\tSampled: true';
    expect(parseLogLine(line)).toEqual({
      kind: 'report',
      ok: true,
      value: {
        requestId: '0c9d',
        durationMs: 3000,
        billedDurationMs: 3000,
        memorySizeMb: 128,
        maxMemoryUsedMb: 60,
        status: 'timeout',
        timeMs: Date.parse('2026-09-21T14:11:33.213Z'),
      },
    });
  });

  it('rejects a malformed REPORT line with errors naming each bad field', () => {
    const result = parseLogLine('REPORT RequestId: abc Duration: fast Billed Duration: 13 ms Memory Size: 128 GB Status: exploded');
    expect(result).toEqual({
      kind: 'report',
      ok: false,
      requestId: 'abc',
      errors: [
        { field: 'Duration', message: 'must be a number of milliseconds like "12.34 ms", got "fast"' },
        { field: 'Memory Size', message: 'must be a whole number of MB like "128 MB", got "128 GB"' },
        { field: 'Max Memory Used', message: 'is missing' },
        { field: 'Status', message: 'must be success, error, failure or timeout, got "exploded"' },
      ],
    });
  });

  it('reads START lines for the version and ignores every other line', () => {
    expect(parseLogLine(`START RequestId: ${COLD_ID} Version: $LATEST`)).toEqual({ kind: 'start', requestId: COLD_ID, version: '$LATEST' });
    expect(parseLogLine(`END RequestId: ${COLD_ID}`)).toEqual({ kind: 'other' });
    expect(parseLogLine('REPORTING for duty')).toEqual({ kind: 'other' });
    expect(parseLogLine('')).toEqual({ kind: 'other' });
  });
});

describe('Lambda logs bodies → invocation events', () => {
  it('turns the text lines of a cold and a warm call into invocations', () => {
    const result = parseLogsText(fixtureText('lambda-report-lines.txt'), ctx);
    expect(result.rejected).toEqual([]);
    expect(result.ignored).toBe(5);
    expect(result.events.map((e) => [e.id, e.source, e.time])).toEqual([
      [COLD_ID, 'faasmeter/receivers/lambda-logs', new Date(RECEIVER_NOW_MS).toISOString()],
      ['3a1f9e7c-2b4d-4e6f-8a0b-1c2d3e4f5a6b', 'faasmeter/receivers/lambda-logs', new Date(RECEIVER_NOW_MS).toISOString()],
    ]);
    expect(data(result.events)).toEqual([
      {
        tenant: 'acme-prod',
        function: 'resize-images',
        revision: '7',
        instance: 'resize-images:7',
        trigger: 'other',
        // Lines without a timestamp end at the receiver's clock.
        startMs: Math.round(RECEIVER_NOW_MS - 693.92),
        durationMs: 693.92,
        status: 'success',
        cold: true,
        initDurationMs: 412.37,
        memoryMb: 1024,
        maxMemoryUsedMb: 184,
        arch: 'x86_64',
        requestBytes: 0,
        responseBytes: 0,
      },
      {
        tenant: 'acme-prod',
        function: 'resize-images',
        revision: '7',
        instance: 'resize-images:7',
        trigger: 'other',
        startMs: Math.round(RECEIVER_NOW_MS - 12.08),
        durationMs: 12.08,
        status: 'success',
        cold: false,
        memoryMb: 1024,
        maxMemoryUsedMb: 186,
        arch: 'x86_64',
        requestBytes: 0,
        responseBytes: 0,
      },
    ]);
  });

  it('keeps the good lines of a batch with malformed REPORT lines and says which line is wrong', () => {
    const text = `${fixtureText('lambda-report-lines.txt')}REPORT RequestId: broken\tDuration: 1 ms\tBilled Duration: 1 ms\tMemory Size: 0 MB\tMax Memory Used: 1 MB\n`;
    const result = parseLogsText(text, ctx);
    expect(result.events).toHaveLength(2);
    expect(result.rejected).toEqual([
      { index: 7, id: 'broken', errors: [{ field: 'Memory Size', message: 'must be a whole number of MB like "128 MB", got "0 MB"' }], reason: 'invalid' },
    ]);
  });

  it('reads a Logs API array: record strings and structured platform.report records, timed by the array', () => {
    const body = JSON.stringify([
      { time: '2026-09-21T14:11:19.815Z', type: 'platform.start', record: { requestId: 'r-1', version: '7' } },
      { time: '2026-09-21T14:11:20.000Z', type: 'function', record: 'hello' },
      { time: '2026-09-21T14:11:20.512Z', type: 'function', record: COLD },
      {
        time: '2026-09-21T14:11:31.213Z',
        type: 'platform.report',
        record: { requestId: 'r-2', metrics: { durationMs: 12.08, billedDurationMs: 13, memorySizeMB: 1024, maxMemoryUsedMB: 186 } },
      },
      { time: '2026-09-21T14:11:32.000Z', type: 'platform.report', record: { requestId: 'r-3' } },
    ]);
    const result = parseLogsJson(body, ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(result.value.events.map((e) => [e.id, e.time])).toEqual([
      [COLD_ID, '2026-09-21T14:11:20.512Z'],
      ['r-2', '2026-09-21T14:11:31.213Z'],
    ]);
    expect(result.value.ignored).toBe(2);
    expect(result.value.rejected.map((r) => [r.index, r.errors.map((e) => e.field)])).toEqual([[4, ['[4].record.metrics']]]);
  });

  it('reads a CloudWatch Logs subscription message: function from the log group, sandbox and version from the stream', () => {
    const result = parseLogsJson(fixtureText('lambda-cloudwatch-subscription.json'), { nowMs: RECEIVER_NOW_MS, tenant: 'acme-prod' });
    if (!result.ok) throw new Error(result.reason);
    const [cold, timeout] = data(result.value.events);
    expect(cold).toMatchObject({
      function: 'resize-images',
      revision: '7',
      instance: '2026/09/21/[7]2f5b8c0e1d4a47f3b6c9e2d5a8b1c4f7',
      // The START line's timestamp is the start.
      startMs: 1789999879815,
      cold: true,
      initDurationMs: 412.37,
    });
    expect(timeout).toMatchObject({ status: 'timeout', durationMs: 3000, startMs: 1789999893213 - 3000, cold: false });
  });

  it('fails a JSON body that is neither shape, naming both', () => {
    expect(parseLogsJson('{"records":[]}', ctx)).toMatchObject({ ok: false, reason: expect.stringContaining('Logs API JSON array or a CloudWatch Logs subscription') });
    expect(parseLogsJson('nope', ctx)).toMatchObject({ ok: false, reason: expect.stringContaining('not valid JSON') });
  });
});
