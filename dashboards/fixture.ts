/**
 * A small known dataset for checking panel numbers on real servers (the integration suite on
 * ClickHouse 18.16, the compatibility suite on current ClickHouse through chdb), with the
 * answers computed here in plain TypeScript — independently of the SQL under test.
 *
 * Range: 2025-11-03 10:00–12:00 UTC. Calls in 08:00–10:00 are the previous period (Cost), one
 * call at 09:59:30 must not count anywhere in the range.
 */
import type { BilledCallRow } from './demo-data.ts';
import type { Selection } from './query.ts';

export const FIXTURE_FROM_MS = Date.UTC(2025, 10, 3, 10, 0, 0);
export const FIXTURE_TO_MS = Date.UTC(2025, 10, 3, 12, 0, 0);
/** Grafana's interval for the panels: 10 minutes (600 s buckets). */
export const FIXTURE_INTERVAL_MS = 600_000;

interface CallSpec {
  tenant: string;
  fn: string;
  revision: string;
  arch: 'x86_64' | 'arm64';
  memoryMb: number;
  /** HH:MM:SS on 2025-11-03 (UTC). */
  at: string;
  durationUs: number;
  cold?: { initUs: number; waitUs: number };
  error?: boolean;
  timeout?: boolean;
  usedMb?: number;
  instance?: string;
}

let sequence = 0;
function row(c: CallSpec): BilledCallRow {
  sequence += 1;
  const [h, m, s] = c.at.split(':').map(Number) as [number, number, number];
  const startMs = Date.UTC(2025, 10, 3, h, m, s) + (sequence % 7);
  const billedMs = Math.ceil(c.durationUs / 1000);
  const initBilledMs = c.cold ? Math.ceil(c.cold.initUs / 1000) : 0;
  return {
    event_id: `fixture-${sequence}`,
    tenant: c.tenant,
    function: c.fn,
    revision: c.revision,
    instance: c.instance ?? `${c.fn}-${c.revision}-${c.cold ? `cold${sequence}` : 'warm'}`,
    arch: c.arch,
    plan: 'aws-lambda-us-east-1',
    hour: Math.floor(startMs / 3_600_000) * 3_600,
    start_ms: startMs,
    usage_period: '2025-11',
    billing_period: '2025-11',
    memory_mb: c.memoryMb,
    duration_us: c.durationUs,
    billed_ms: billedMs,
    mb_ms: billedMs * c.memoryMb,
    cold: c.cold ? 1 : 0,
    init_duration_us: c.cold?.initUs ?? 0,
    init_billed_ms: initBilledMs,
    init_mb_ms: initBilledMs * c.memoryMb,
    wait_us: c.cold?.waitUs ?? 0,
    error: c.error ? 1 : 0,
    timeout: c.timeout ? 1 : 0,
    max_memory_used_mb: c.usedMb ?? 0,
    written_ms: startMs + 1_000,
  };
}

const api = (at: string, durationUs: number, extra: Partial<CallSpec> = {}) =>
  row({ tenant: 'acme', fn: 'api', revision: 'v1', arch: 'x86_64', memoryMb: 512, at, durationUs, usedMb: 150, ...extra });
const worker = (at: string, durationUs: number, extra: Partial<CallSpec> = {}) =>
  row({ tenant: 'acme', fn: 'worker', revision: 'v7', arch: 'arm64', memoryMb: 1024, at, durationUs, usedMb: 700, ...extra });
const globexApi = (at: string, durationUs: number, extra: Partial<CallSpec> = {}) =>
  row({ tenant: 'globex', fn: 'api', revision: 'r2', arch: 'x86_64', memoryMb: 256, at, durationUs, usedMb: 240, ...extra });

export const FIXTURE_ROWS: readonly BilledCallRow[] = [
  // acme/api v1: 10 calls, two cold (init 800 ms and 2.4 s), one error, one timeout, 10:00–10:59.
  api('10:01:00', 12_000, { cold: { initUs: 800_000, waitUs: 600_000 } }),
  api('10:02:10', 15_500),
  api('10:05:00', 9_000),
  api('10:12:00', 22_000, { error: true }),
  api('10:15:30', 18_000),
  api('10:21:00', 11_000),
  api('10:33:00', 30_000, { timeout: true }),
  api('10:41:00', 14_000),
  api('10:47:00', 250_000, { cold: { initUs: 2_400_000, waitUs: 2_000_000 } }),
  api('10:58:59', 16_000),
  // acme/worker v7 on arm64: 5 calls in 11:00–11:59, one cold start of 1.5 s.
  worker('11:00:05', 1_200_000, { cold: { initUs: 1_500_000, waitUs: 1_100_000 } }),
  worker('11:10:00', 900_000),
  worker('11:20:00', 1_100_000, { error: true }),
  worker('11:30:00', 950_000),
  worker('11:45:00', 1_000_000),
  // globex/api r2: 4 calls, one cold start of 300 ms, peak memory near its 256 MB.
  globexApi('10:30:00', 40_000, { cold: { initUs: 300_000, waitUs: 250_000 } }),
  globexApi('10:31:00', 35_000),
  globexApi('11:05:00', 45_000),
  globexApi('11:59:00', 38_000),
  // Previous period (08:00–10:00) and just before the range: count for "vs previous" only.
  api('08:30:00', 20_000),
  api('09:15:00', 20_000),
  worker('09:40:00', 1_000_000),
  api('09:59:30', 50_000, { cold: { initUs: 9_000_000, waitUs: 9_000_000 } }),
];

// --- answers, computed without SQL ---------------------------------------------------------------

export function inRange(r: BilledCallRow): boolean {
  return r.start_ms >= FIXTURE_FROM_MS && r.start_ms <= FIXTURE_TO_MS + 999;
}

/** ClickHouse's quantileExact: the element at floor(level × n) of the sorted values. */
export function quantileExact(level: number, values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const index = level < 1 ? Math.floor(level * sorted.length) : sorted.length - 1;
  return sorted[index]!;
}

export const LIST_PRICE = { request: 0.0000002, x86_64: 0.0000166667, arm64: 0.0000133334 } as const;

/** Estimated spend of rows at list prices (float, as the panel computes it). */
export function estimatedSpend(rows: readonly BilledCallRow[]): { requests: number; compute: number; total: number } {
  let requests = 0;
  let compute = 0;
  for (const r of rows) {
    requests += LIST_PRICE.request;
    compute += ((r.mb_ms + r.init_mb_ms) / 1_024_000) * (r.arch === 'arm64' ? LIST_PRICE.arm64 : LIST_PRICE.x86_64);
  }
  return { requests, compute, total: requests + compute };
}

// --- answers: the same table-driven checks for 18.16 (integration) and chdb (compat) --------------

export type Scalar = string | number | null;

export interface Answer {
  dashboard: string;
  title: string;
  selection?: Selection;
  /** Columns compared (others in the result are ignored). */
  columns: string[];
  rows: Array<Record<string, Scalar>>;
}

/** A result value as compared: 64-bit integers (strings from our client and chdb's runner) as numbers. */
function scalar(value: unknown): Scalar {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return /^-?\d+$/.test(value) ? Number(value) : value;
  return JSON.stringify(value);
}

export function normalizeRows(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]): Array<Record<string, Scalar>> {
  return rows.map((row) => {
    const out: Record<string, Scalar> = {};
    for (const c of columns) out[c] = scalar(row[c]);
    return out;
  });
}

/**
 * Differences between a query's rows and an answer, one line each (empty when they agree).
 * Floats may differ in the last bits with summation order between servers: numbers agree
 * within a relative 1e-9.
 */
export function answerMismatches(rows: ReadonlyArray<Record<string, unknown>>, answer: Answer): string[] {
  const got = normalizeRows(rows, answer.columns);
  if (got.length !== answer.rows.length) return [`${answer.rows.length} rows expected, got ${got.length}: ${JSON.stringify(got)}`];
  const out: string[] = [];
  got.forEach((row, i) => {
    for (const c of answer.columns) {
      const a = row[c];
      const e = answer.rows[i]![c] ?? null;
      const close = typeof a === 'number' && typeof e === 'number' ? Math.abs(a - e) <= 1e-9 * Math.max(Math.abs(a), Math.abs(e)) + 1e-15 : a === e;
      if (!close) out.push(`row ${i} ${c}: expected ${JSON.stringify(e)}, got ${JSON.stringify(a)}`);
    }
  });
  return out;
}

const groupBy = <T>(items: readonly T[], key: (t: T) => string) => {
  const out = new Map<string, T[]>();
  for (const item of items) out.set(key(item), [...(out.get(key(item)) ?? []), item]);
  return out;
};

/** Expected panel results over FIXTURE_ROWS, computed here without SQL. */
export function fixtureAnswers(): Answer[] {
  const calls = FIXTURE_ROWS.filter(inRange);
  const cold = calls.filter((r) => r.cold === 1);
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  const hours = FIXTURE_ROWS.filter((r) => r.hour >= FIXTURE_FROM_MS / 1000 && r.hour <= FIXTURE_TO_MS / 1000);
  const previous = FIXTURE_ROWS.filter((r) => r.hour >= (2 * FIXTURE_FROM_MS - FIXTURE_TO_MS) / 1000 && r.hour < FIXTURE_FROM_MS / 1000);

  const byFunction = [...groupBy(calls, (r) => r.function)]
    .map(([fn, rows]) => {
      const d = rows.map((r) => r.duration_us);
      const errors = sum(rows.map((r) => r.error + r.timeout));
      const coldRows = rows.filter((r) => r.cold === 1);
      return {
        function: fn,
        calls: rows.length,
        errors,
        error_ratio: errors / rows.length,
        p50_ms: quantileExact(0.5, d) / 1000,
        p95_ms: quantileExact(0.95, d) / 1000,
        p99_ms: quantileExact(0.99, d) / 1000,
        cold_starts: coldRows.length,
        cold_start_p95_ms: quantileExact(0.95, coldRows.map((r) => r.init_duration_us)) / 1000,
      };
    })
    .sort((a, b) => b.calls - a.calls || a.function.localeCompare(b.function));

  const spendRows = [...groupBy(hours, (r) => `${r.tenant}\u0000${r.function}`)]
    .map(([key, rows]) => {
      const [tenant, fn] = key.split('\u0000') as [string, string];
      const s = estimatedSpend(rows);
      return { tenant, function: fn, requests: rows.length, requests_usd: s.requests, compute_usd: s.compute, spend_usd: s.total };
    })
    .sort((a, b) => b.spend_usd - a.spend_usd);

  const current = estimatedSpend(hours).total;
  const before = estimatedSpend(previous).total;

  return [
    { dashboard: 'faasmeter-overview', title: 'Calls', columns: ['calls'], rows: [{ calls: calls.length }] },
    { dashboard: 'faasmeter-overview', title: 'Calls', selection: { tenant: 'acme', function: 'api', revision: 'v1' }, columns: ['calls'], rows: [{ calls: 10 }] },
    { dashboard: 'faasmeter-overview', title: 'Calls', selection: { tenant: `acme' OR 1=1 --` }, columns: ['calls'], rows: [{ calls: 0 }] },
    {
      dashboard: 'faasmeter-overview',
      title: 'Error ratio',
      columns: ['error_ratio'],
      rows: [{ error_ratio: sum(calls.map((r) => r.error + r.timeout)) / calls.length }],
    },
    { dashboard: 'faasmeter-overview', title: 'Cold-start p95', columns: ['init_p95_ms'], rows: [{ init_p95_ms: quantileExact(0.95, cold.map((r) => r.init_duration_us)) / 1000 }] },
    {
      dashboard: 'faasmeter-overview',
      title: 'By function',
      columns: ['function', 'calls', 'errors', 'error_ratio', 'p50_ms', 'p95_ms', 'p99_ms', 'cold_starts', 'cold_start_p95_ms'],
      rows: byFunction,
    },
    {
      dashboard: 'faasmeter-cold-starts',
      title: 'First-request wait p95',
      columns: ['wait_p95_ms'],
      rows: [{ wait_p95_ms: quantileExact(0.95, cold.map((r) => r.wait_us)) / 1000 }],
    },
    {
      dashboard: 'faasmeter-cold-starts',
      title: 'Slowest cold starts (top 20 instances)',
      columns: ['instance', 'function', 'init_ms', 'wait_ms'],
      rows: [...cold]
        .sort((a, b) => b.init_duration_us - a.init_duration_us || a.instance.localeCompare(b.instance))
        .map((r) => ({ instance: r.instance, function: r.function, init_ms: r.init_duration_us / 1000, wait_ms: r.wait_us / 1000 })),
    },
    { dashboard: 'faasmeter-cost', title: 'Estimated spend', columns: ['spend_usd'], rows: [{ spend_usd: current }] },
    { dashboard: 'faasmeter-cost', title: 'Spend vs previous period', columns: ['change'], rows: [{ change: (current - before) / before }] },
    {
      dashboard: 'faasmeter-cost',
      title: 'Spend per tenant and function',
      columns: ['tenant', 'function', 'requests', 'requests_usd', 'compute_usd', 'spend_usd'],
      rows: spendRows,
    },
  ];
}
