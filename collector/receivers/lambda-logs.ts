import type { ContractError, Status } from '../../contract/index.ts';
import type { BatchResult, BodyResult, RequestContext } from './batch.ts';
import { accept, error, isRecord, lookup, parseTime } from './batch.ts';
import type { LambdaCall, Sandbox } from './lambda.ts';
import { LAMBDA_STATUS, lambdaInvocation } from './lambda.ts';
import { reportCall } from './lambda-telemetry.ts';

/**
 * The classic Lambda platform log lines → invocation events:
 *
 *   REPORT RequestId: <id>\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\t
 *   Max Memory Used: 64 MB\tInit Duration: 200.12 ms[\tStatus: timeout][\tXRAY TraceId: …]
 *
 * Lambda separates fields with tabs; copies that went through a terminal or a log shipper often
 * have spaces, so fields are found by their names. START lines give the version of their request;
 * every other line is ignored. Bodies: text lines, a Logs API JSON array (`record` strings, and
 * structured `platform.report` records), or a CloudWatch Logs subscription message.
 */

export const LOGS_SOURCE = 'faasmeter/receivers/lambda-logs';

/** Longest first: "Billed Duration" must not be read as "Duration". */
const KEYS = [
  'Billed Restore Duration',
  'Restore Duration',
  'Billed Duration',
  'Init Duration',
  'Max Memory Used',
  'Memory Size',
  'Duration',
  'RequestId',
  'Version',
  'Status',
  'Error Type',
  'ErrorType',
  'XRAY TraceId',
  'SegmentId',
  'Sampled',
] as const;
type Key = (typeof KEYS)[number];
const KEY_PATTERN = new RegExp(`(?:^|[\\t ])(${KEYS.join('|')}): `, 'g');
/** An optional RFC 3339 timestamp before the line (CloudWatch exports, `docker logs -t`). */
const LINE = /^(?:(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))\s+)?(REPORT|START) (RequestId: .*)$/;

export interface ReportLine {
  requestId: string;
  durationMs: number;
  billedDurationMs: number;
  memorySizeMb: number;
  maxMemoryUsedMb: number;
  initDurationMs?: number;
  status: Status;
  /** From a timestamp before the line. */
  timeMs?: number;
}

function fields(rest: string): Map<Key, string> {
  const found = new Map<Key, string>();
  const matches = [...rest.matchAll(KEY_PATTERN)];
  for (const [i, m] of matches.entries()) {
    const start = m.index + m[0].length;
    const end = i + 1 < matches.length ? matches[i + 1]!.index : rest.length;
    found.set(m[1] as Key, rest.slice(start, end).trim());
  }
  return found;
}

function ms(found: Map<Key, string>, key: Key, errors: ContractError[], required: boolean): number | undefined {
  const value = found.get(key);
  if (value === undefined) {
    if (required) errors.push(error(key, 'is missing'));
    return undefined;
  }
  const m = /^(\d+(?:\.\d+)?) ms$/.exec(value);
  if (!m) errors.push(error(key, `must be a number of milliseconds like "12.34 ms", got "${value}"`));
  return m ? Number(m[1]) : undefined;
}

function mb(found: Map<Key, string>, key: Key, errors: ContractError[]): number | undefined {
  const value = found.get(key);
  if (value === undefined) {
    errors.push(error(key, 'is missing'));
    return undefined;
  }
  const m = /^(\d+) MB$/.exec(value);
  if (!m || Number(m[1]) < 1) errors.push(error(key, `must be a whole number of MB like "128 MB", got "${value}"`));
  return m ? Number(m[1]) : undefined;
}

export type LineResult =
  | { kind: 'report'; ok: true; value: ReportLine }
  | { kind: 'report'; ok: false; requestId?: string; errors: ContractError[] }
  | { kind: 'start'; requestId: string; version?: string; timeMs?: number }
  | { kind: 'other' };

/** One log line: a REPORT line's facts or the fields wrong with it, a START line's version, or nothing. */
export function parseLogLine(line: string): LineResult {
  const m = LINE.exec(line.trim());
  if (!m) return { kind: 'other' };
  const timeMs = m[1] ? Date.parse(m[1]) : undefined;
  const found = fields(m[3]!);
  const requestId = found.get('RequestId');
  if (m[2] === 'START') {
    return requestId ? { kind: 'start', requestId, ...(found.get('Version') ? { version: found.get('Version') } : {}), ...(timeMs !== undefined ? { timeMs } : {}) } : { kind: 'other' };
  }
  const errors: ContractError[] = [];
  if (!requestId) errors.push(error('RequestId', 'is missing'));
  else if (!/^\S+$/.test(requestId)) errors.push(error('RequestId', `must be one token, got "${requestId}"`));
  const durationMs = ms(found, 'Duration', errors, true);
  const billedDurationMs = ms(found, 'Billed Duration', errors, true);
  const memorySizeMb = mb(found, 'Memory Size', errors);
  const maxMemoryUsedMb = mb(found, 'Max Memory Used', errors);
  const initDurationMs = ms(found, 'Init Duration', errors, false) ?? ms(found, 'Restore Duration', errors, false);
  const rawStatus = found.get('Status');
  const status = rawStatus === undefined ? 'success' : lookup(LAMBDA_STATUS, rawStatus);
  if (status === undefined) errors.push(error('Status', `must be success, error, failure or timeout, got "${rawStatus}"`));
  if (
    errors.length > 0 ||
    !requestId ||
    durationMs === undefined ||
    billedDurationMs === undefined ||
    memorySizeMb === undefined ||
    maxMemoryUsedMb === undefined ||
    status === undefined
  ) {
    return { kind: 'report', ok: false, ...(requestId ? { requestId } : {}), errors };
  }
  return {
    kind: 'report',
    ok: true,
    value: {
      requestId,
      durationMs,
      billedDurationMs,
      memorySizeMb,
      maxMemoryUsedMb,
      ...(initDurationMs !== undefined ? { initDurationMs } : {}),
      status,
      ...(timeMs !== undefined ? { timeMs } : {}),
    },
  };
}

/** One entry of a logs body: a text line, or a structured platform.report, with its time if known. */
type Entry = { line: string; timeMs?: number } | { report: unknown; timeMs?: number };

/**
 * Lines are numbered as given, from 0, so a rejection's index points at the line (or array item)
 * to fix. Lines without a timestamp are taken to end at the receiver's clock.
 */
export function convertLogs(entries: readonly Entry[], sandbox: Sandbox, ctx: RequestContext): BatchResult {
  const result: BatchResult = { events: [], rejected: [], ignored: 0 };
  const parsed = entries.map((e) => ('line' in e ? parseLogLine(e.line) : undefined));
  const starts = new Map<string, { version?: string; startMs?: number }>();
  for (const [i, p] of parsed.entries()) {
    if (p?.kind === 'start') {
      const startMs = p.timeMs ?? entries[i]!.timeMs;
      starts.set(p.requestId, { ...(p.version ? { version: p.version } : {}), ...(startMs !== undefined ? { startMs } : {}) });
    }
  }
  for (const [index, entry] of entries.entries()) {
    const p = parsed[index];
    let call: LambdaCall;
    if (p === undefined) {
      const record = (entry as { report: unknown }).report;
      const reported = reportCall(record, entry.timeMs ?? ctx.nowMs, `[${index}]`, isRecord(record) && typeof record.requestId === 'string' ? starts.get(record.requestId) : undefined);
      if (!reported.ok) {
        result.rejected.push({ index, errors: reported.errors, reason: 'invalid' });
        continue;
      }
      call = reported.value;
    } else if (p.kind !== 'report') {
      result.ignored += 1;
      continue;
    } else if (!p.ok) {
      result.rejected.push({ index, ...(p.requestId ? { id: p.requestId } : {}), errors: p.errors, reason: 'invalid' });
      continue;
    } else {
      const r = p.value;
      const start = starts.get(r.requestId);
      call = {
        requestId: r.requestId,
        endMs: r.timeMs ?? entry.timeMs ?? ctx.nowMs,
        ...(start?.startMs !== undefined ? { startMs: start.startMs } : {}),
        durationMs: r.durationMs,
        memorySizeMb: r.memorySizeMb,
        maxMemoryUsedMb: r.maxMemoryUsedMb,
        ...(r.initDurationMs !== undefined ? { initDurationMs: r.initDurationMs } : {}),
        status: r.status,
        ...(start?.version ? { version: start.version } : {}),
      };
    }
    const event = lambdaInvocation(call, sandbox, ctx, LOGS_SOURCE, {
      id: 'RequestId',
      'data.durationMs': 'Duration',
      'data.initDurationMs': 'Init Duration',
      'data.memoryMb': 'Memory Size',
      'data.maxMemoryUsedMb': 'Max Memory Used',
    });
    if (event.ok) accept(result, event.value, index, ctx);
    else result.rejected.push({ index, id: call.requestId, errors: event.errors, reason: 'invalid' });
  }
  return result;
}

export function parseLogsText(body: string, ctx: RequestContext): BatchResult {
  const lines = body.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return convertLogs(
    lines.map((line) => ({ line })),
    {},
    ctx,
  );
}

/**
 * JSON bodies: the Logs API array (`[{time, type, record}]`, where `record` is a log line or a
 * structured `platform.report`), or a CloudWatch Logs subscription message (`{logGroup,
 * logStream, logEvents: [{timestamp, message}]}`), whose log group names the function
 * (`/aws/lambda/<name>`) and whose log stream is the sandbox (`2024/01/01/[$LATEST]abc…`).
 */
export function parseLogsJson(body: string, ctx: RequestContext): BodyResult<BatchResult> {
  let input: unknown;
  try {
    input = JSON.parse(body);
  } catch (e) {
    return { ok: false, reason: `body: is not valid JSON (${(e as Error).message})` };
  }
  if (Array.isArray(input)) {
    const entries: Entry[] = input.map((item) => {
      if (!isRecord(item)) return { line: '' };
      const timeMs = parseTime(item.time);
      const at = timeMs !== undefined ? { timeMs } : {};
      if (typeof item.record === 'string') return { line: item.record, ...at };
      if (item.type === 'platform.report') return { report: item.record, ...at };
      return { line: '', ...at };
    });
    return { ok: true, value: convertLogs(entries, {}, ctx) };
  }
  if (isRecord(input) && Array.isArray(input.logEvents)) {
    const group = typeof input.logGroup === 'string' ? /^\/aws\/lambda\/(.+)$/.exec(input.logGroup)?.[1] : undefined;
    const stream = typeof input.logStream === 'string' && input.logStream.length > 0 ? input.logStream : undefined;
    const version = stream ? /\[([^\]]+)\]/.exec(stream)?.[1] : undefined;
    const sandbox: Sandbox = {
      ...(group ? { functionName: group } : {}),
      ...(version ? { functionVersion: version } : {}),
      ...(stream ? { instance: stream } : {}),
    };
    const entries: Entry[] = input.logEvents.map((e) =>
      isRecord(e) && typeof e.message === 'string'
        ? { line: e.message, ...(typeof e.timestamp === 'number' ? { timeMs: e.timestamp } : {}) }
        : { line: '' },
    );
    return { ok: true, value: convertLogs(entries, sandbox, ctx) };
  }
  return { ok: false, reason: 'body: must be a Logs API JSON array or a CloudWatch Logs subscription message ({logGroup, logStream, logEvents})' };
}
