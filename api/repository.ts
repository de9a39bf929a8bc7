import type { ClickHouse } from '../clickhouse/client.ts';
import type { Statement } from '../clickhouse/sql.ts';
import { join, sql, unsafeRawSql, v } from '../clickhouse/sql.ts';
import type { PricingConfig } from '../meter/pricing/index.ts';
import type { StoredStatement } from '../meter/statements.ts';
import { closePeriod, readStatement } from '../meter/statements.ts';
import type { TenantScope } from './scope.ts';
import type { Window } from './time.ts';
import { dayString } from './time.ts';

/**
 * Every read the API makes of tenant data. Each function takes the TenantScope first and runs
 * its statements only through `scope.client(ch)`, which refuses any statement that reads a table
 * without `tenant = '<scope tenant>'` (see scope.ts). Reads come from rollups (usage_hour,
 * usage_day, usage_period, memory_peaks) and the small cold_starts table, never billed_calls.
 * Integer columns are selected under their own aliases (`sum(calls) AS calls_sum`): a sum named
 * like its column can be taken for the column elsewhere in the query on some server versions.
 */

export interface Page {
  limit: number;
  offset: number;
}

/** `LIMIT n OFFSET m` with bare numbers (18.16 accepts no expression there, not even toUInt64(n)). */
function pageClause({ limit, offset }: Page): Statement {
  if (!Number.isSafeInteger(limit) || limit < 1 || !Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`page: limit ${limit} / offset ${offset} are not a positive and a non-negative integer`);
  }
  // Both are validated integers rendered by String(); one row more tells whether a next page exists.
  return unsafeRawSql(`LIMIT ${limit + 1} OFFSET ${offset}`);
}

function paged<T>(rows: T[], page: Page): { rows: T[]; nextOffset: number | null } {
  return rows.length > page.limit ? { rows: rows.slice(0, page.limit), nextOffset: page.offset + page.limit } : { rows, nextOffset: null };
}

const seconds = (ms: number) => Math.floor(ms / 1000);

export type UsageGroup = 'function' | 'revision' | 'arch';

export interface UsageFilter {
  window: Window;
  groupBy: UsageGroup | undefined;
  fromMs: number;
  toMs: number;
  function: string | undefined;
  revision: string | undefined;
}

export interface UsageDbRow {
  /** Epoch seconds (hour windows) or 'YYYY-MM-DD' (day and month windows). */
  window_start: number | string;
  function?: string;
  revision?: string;
  arch?: string;
  calls_sum: string;
  errors_sum: string;
  timeouts_sum: string;
  cold_sum: string;
  billed_sum: string;
  init_billed_sum: string;
  /** exec + init MB·ms per architecture, for pricing. */
  mb_ms_x86: string;
  mb_ms_arm: string;
}

function groupColumns(groupBy: UsageGroup | 'function' | 'revision' | undefined): Statement[] {
  if (groupBy === 'function') return [sql`function`];
  if (groupBy === 'revision') return [sql`function`, sql`revision`];
  if (groupBy === 'arch') return [sql`arch`];
  return [];
}

const listTail = (columns: Statement[]): Statement => (columns.length === 0 ? sql`` : sql`, ${join(columns, ', ')}`);

export interface ColdStartDbRow {
  function?: string;
  revision?: string;
  calls: bigint;
  coldStarts: bigint;
  /** µs at p50, p95, p99; undefined without cold starts. */
  initUs?: [number, number, number];
  waitUs?: [number, number, number];
}

export interface MemoryPeakDbRow {
  function: string;
  arch: string;
  memory_mb: number;
  calls_sum: string;
  billed_sum: string;
  init_billed_sum: string;
  peak_mb: number;
}

export interface PeriodStatus {
  period: string;
  status: 'draft' | 'final';
  total: string | null;
  currency: string | null;
}

const quantiles = (q: unknown): [number, number, number] => {
  const values = (q as Array<string | number>).map(Number);
  return [values[0] ?? 0, values[1] ?? 0, values[2] ?? 0];
};

export class Repository {
  readonly #ch: ClickHouse;
  readonly #pricing: PricingConfig;

  constructor(ch: ClickHouse, pricing: PricingConfig) {
    this.#ch = ch;
    this.#pricing = pricing;
  }

  /** Usage per window (and group), from usage_hour (hour windows) or usage_day (day, month). */
  async usage(scope: TenantScope, f: UsageFilter, page: Page): Promise<{ rows: UsageDbRow[]; nextOffset: number | null }> {
    const hourly = f.window === 'hour';
    const windowExpr = hourly ? sql`toUInt32(hour)` : f.window === 'day' ? sql`toString(day)` : sql`toString(toStartOfMonth(day))`;
    const conditions = [
      scope.predicate,
      hourly
        ? sql`hour >= ${v.dateTime(seconds(f.fromMs))} AND hour < ${v.dateTime(seconds(f.toMs))}`
        : sql`day >= ${v.date(dayString(f.fromMs))} AND day < ${v.date(dayString(f.toMs))}`,
    ];
    if (f.function !== undefined) conditions.push(sql`function = ${v.string(f.function)}`);
    if (f.revision !== undefined) conditions.push(sql`revision = ${v.string(f.revision)}`);
    const groups = listTail(groupColumns(f.groupBy));
    const rows = await scope.client(this.#ch).query<UsageDbRow>(
      sql`SELECT ${windowExpr} AS window_start${groups},
                 sum(calls) AS calls_sum, sum(errors) AS errors_sum, sum(timeouts) AS timeouts_sum,
                 sum(cold_starts) AS cold_sum, sum(billed_ms) AS billed_sum, sum(init_billed_ms) AS init_billed_sum,
                 sumIf(mb_ms + init_mb_ms, arch = 'x86_64') AS mb_ms_x86,
                 sumIf(mb_ms + init_mb_ms, arch = 'arm64') AS mb_ms_arm
          FROM ${hourly ? sql`usage_hour` : sql`usage_day`}
          WHERE ${join(conditions, ' AND ')}
          GROUP BY window_start${groups}
          ORDER BY window_start${groups}
          ${pageClause(page)}`,
    );
    return paged(rows, page);
  }

  /**
   * Cold starts per group over whole hours: calls from usage_hour, the count and exact
   * quantiles (nearest rank, `quantilesExact`) of init duration and first-request wait from
   * cold_starts. Pages follow the groups that had calls.
   */
  async coldStarts(
    scope: TenantScope,
    f: { fromMs: number; toMs: number; groupBy: 'function' | 'revision' | undefined; function: string | undefined },
    page: Page,
  ): Promise<{ rows: ColdStartDbRow[]; nextOffset: number | null }> {
    const client = scope.client(this.#ch);
    const columns = groupColumns(f.groupBy);
    // Always GROUP BY something: no group at all makes an empty input yield one row of zeros.
    const groupBy = columns.length === 0 ? sql`tenant` : join(columns, ', ');
    const select = columns.length === 0 ? sql`` : sql`${join(columns, ', ')},`;
    const conditions = [scope.predicate, sql`hour >= ${v.dateTime(seconds(f.fromMs))} AND hour < ${v.dateTime(seconds(f.toMs))}`];
    if (f.function !== undefined) conditions.push(sql`function = ${v.string(f.function)}`);
    const callRows = paged(
      await client.query<{ function?: string; revision?: string; calls_sum: string }>(
        sql`SELECT ${select} sum(calls) AS calls_sum
            FROM usage_hour
            WHERE ${join(conditions, ' AND ')}
            GROUP BY ${groupBy}
            ORDER BY ${groupBy}
            ${pageClause(page)}`,
      ),
      page,
    );
    if (callRows.rows.length === 0) return { rows: [], nextOffset: null };
    const coldConditions = [...conditions];
    if (columns.length > 0) {
      const names = [...new Set(callRows.rows.map((r) => r.function ?? ''))];
      coldConditions.push(sql`function IN (${v.list('String', names)})`);
    }
    const coldRows = await client.query<{ function?: string; revision?: string; cold_count: string; init_q: unknown; wait_q: unknown }>(
      sql`SELECT ${select} count() AS cold_count,
                 quantilesExact(0.5, 0.95, 0.99)(init_duration_us) AS init_q,
                 quantilesExact(0.5, 0.95, 0.99)(wait_us) AS wait_q
          FROM cold_starts
          WHERE ${join(coldConditions, ' AND ')}
          GROUP BY ${groupBy}`,
    );
    const key = (r: { function?: string; revision?: string }) => JSON.stringify([r.function ?? null, r.revision ?? null]);
    const cold = new Map(coldRows.map((r) => [key(r), r]));
    return {
      rows: callRows.rows.map((r) => {
        const c = cold.get(key(r));
        const row: ColdStartDbRow = { calls: BigInt(r.calls_sum), coldStarts: BigInt(c?.cold_count ?? 0) };
        if (r.function !== undefined) row.function = r.function;
        if (r.revision !== undefined) row.revision = r.revision;
        if (c) {
          row.initUs = quantiles(c.init_q);
          row.waitUs = quantiles(c.wait_q);
        }
        return row;
      }),
      nextOffset: callRows.nextOffset,
    };
  }

  /** Peak memory and billed time per function, architecture and configured size over a month. */
  async memoryPeaks(scope: TenantScope, range: { fromMs: number; toMs: number }, page: Page): Promise<{ rows: MemoryPeakDbRow[]; nextOffset: number | null }> {
    const rows = await scope.client(this.#ch).query<MemoryPeakDbRow>(
      sql`SELECT function, arch, memory_mb,
                 sumMerge(calls) AS calls_sum, sumMerge(billed_ms) AS billed_sum,
                 sumMerge(init_billed_ms) AS init_billed_sum, maxMerge(peak_used_mb) AS peak_mb
          FROM memory_peaks
          WHERE ${scope.predicate} AND day >= ${v.date(dayString(range.fromMs))} AND day < ${v.date(dayString(range.toMs))}
          GROUP BY function, arch, memory_mb
          ORDER BY function, arch, memory_mb
          ${pageClause(page)}`,
    );
    return paged(rows, page);
  }

  /**
   * Periods with usage, billed hours or a statement, newest first; final when a final statement
   * is stored. Months with usage come from usage_day; billing periods that differ from them
   * (late calls billed on a later statement) from the sealed billing_hours.
   */
  async statementPeriods(scope: TenantScope): Promise<PeriodStatus[]> {
    const client = scope.client(this.#ch);
    const [months, billed, finals, closed] = await Promise.all([
      client.query<{ month_start: string }>(
        sql`SELECT toString(toStartOfMonth(day)) AS month_start FROM usage_day WHERE ${scope.predicate} GROUP BY month_start`,
      ),
      client.query<{ period_name: string }>(
        sql`SELECT billing_period AS period_name FROM billing_hours WHERE ${scope.predicate} GROUP BY billing_period`,
      ),
      client.query<{ period: string; total_final: string; currency_final: string }>(
        sql`SELECT period, argMax(total, created_ms) AS total_final, argMax(currency, created_ms) AS currency_final
            FROM statements
            WHERE ${scope.predicate} AND status = 'final'
            GROUP BY period`,
      ),
      client.query<{ period: string }>(sql`SELECT period FROM closed_periods WHERE ${scope.predicate} GROUP BY period`),
    ]);
    const byPeriod = new Map<string, PeriodStatus>();
    const names = [...months.map((r) => r.month_start.slice(0, 7)), ...billed.map((r) => r.period_name), ...closed.map((r) => r.period)];
    for (const p of names) byPeriod.set(p, { period: p, status: 'draft', total: null, currency: null });
    for (const f of finals) byPeriod.set(f.period, { period: f.period, status: 'final', total: f.total_final, currency: f.currency_final });
    return [...byPeriod.values()].sort((a, b) => (a.period < b.period ? 1 : -1));
  }

  /** The final statement of a closed period, else a draft priced now (meter/statements.ts). */
  statement(scope: TenantScope, period: string, nowMs: number): Promise<StoredStatement> {
    return readStatement(scope.client(this.#ch), this.#pricing, scope.tenant, period, nowMs);
  }

  /**
   * Closes the period for the scope's tenant and stores its final statement; idempotent. Not
   * through the scoped client: closing also runs the meter's sealer, housekeeping over every
   * tenant's finished hours that returns nothing to the caller. The statement it prices and
   * returns is the scope tenant's alone (meter/statements.ts filters every read by tenant).
   */
  close(scope: TenantScope, period: string, options: { nowMs: number; settleMs: number }): Promise<StoredStatement> {
    return closePeriod(this.#ch, this.#pricing, scope.tenant, period, options);
  }
}
