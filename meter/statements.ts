import type { ClickHouse } from '../clickhouse/client.ts';
import type { Statement as SqlStatement } from '../clickhouse/sql.ts';
import { join, sql, v } from '../clickhouse/sql.ts';
import type { Architecture } from '../contract/index.ts';
import type { PeriodUsage, PricingConfig, Statement } from './pricing/index.ts';
import { addUsage, emptyUsage, planFor, priceStatement } from './pricing/index.ts';
import { periodBounds } from './periods.ts';
import { dirtyHours, sealHours } from './sealer.ts';

/**
 * Statements are priced from the small per-period rollup (usage_period), never from raw calls,
 * so reading one costs the same over ten calls or ten million. A period's statement is a draft
 * until the period is closed; closing stores the final statement and the usage it billed, which
 * later adjustments for late calls are priced on top of.
 */

const ARCHS: readonly Architecture[] = ['x86_64', 'arm64'];

export function usageToJson(u: PeriodUsage): string {
  return JSON.stringify(u, (_k, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

export function usageFromJson(text: string): PeriodUsage {
  const raw = JSON.parse(text) as { requests: string; arch: Record<Architecture, Record<string, string>> };
  const out = emptyUsage();
  out.requests = BigInt(raw.requests);
  for (const arch of ARCHS) {
    const a = raw.arch[arch];
    out.arch[arch] = {
      execMbMs: BigInt(a?.execMbMs ?? '0'),
      initMbMs: BigInt(a?.initMbMs ?? '0'),
      provisionedIdleMbMs: BigInt(a?.provisionedIdleMbMs ?? '0'),
    };
  }
  return out;
}

const isArch = (a: string): a is Architecture => a === 'x86_64' || a === 'arm64';

interface UsageRow {
  usage_period: string;
  arch: string;
  calls: string | number;
  mb_ms: string | number;
  init_mb_ms: string | number;
}

/**
 * Call usage of a tenant matching `where` (a condition on billing_period / usage_period), by the
 * period the calls ran in. Cleanly sealed hours come from their newest seal; every other hour is
 * read from billed calls with one row per event id. Either way a call written twice counts once.
 */
async function billedUsage(ch: ClickHouse, tenant: string, where: SqlStatement): Promise<Map<string, PeriodUsage>> {
  const dirty = await dirtyHours(ch);
  const dirtyList = join(dirty.map((h) => v.dateTime(h)), ', ');
  const [sealed, live] = await Promise.all([
    ch.query<UsageRow>(
      sql`SELECT usage_period, arch, sum(c) AS calls, sum(m) AS mb_ms, sum(im) AS init_mb_ms
          FROM (
              SELECT hour, billing_period, usage_period, arch,
                     argMax(calls, sealed_ms) AS c, argMax(mb_ms, sealed_ms) AS m, argMax(init_mb_ms, sealed_ms) AS im
              FROM billing_hours
              WHERE tenant = ${v.string(tenant)} AND ${where} ${dirty.length > 0 ? sql`AND hour NOT IN (${dirtyList})` : sql``}
              GROUP BY hour, billing_period, usage_period, arch
          )
          GROUP BY usage_period, arch`,
    ),
    // Inner aliases differ from column names: 18.16 would substitute an aggregate alias such as
    // `any(usage_period) AS usage_period` into the WHERE clause and reject the query.
    dirty.length === 0
      ? Promise.resolve([])
      : ch.query<UsageRow>(
          sql`SELECT up AS usage_period, ar AS arch, count() AS calls, sum(m) AS mb_ms, sum(im) AS init_mb_ms
              FROM (
                  SELECT event_id, any(usage_period) AS up, any(arch) AS ar, any(mb_ms) AS m, any(init_mb_ms) AS im
                  FROM billed_calls
                  WHERE tenant = ${v.string(tenant)} AND ${where} AND hour IN (${dirtyList})
                  GROUP BY event_id
              )
              GROUP BY up, ar`,
        ),
  ]);
  const byPeriod = new Map<string, PeriodUsage>();
  for (const row of [...sealed, ...live]) {
    if (!isArch(row.arch)) continue;
    let usage = byPeriod.get(row.usage_period);
    if (!usage) byPeriod.set(row.usage_period, (usage = emptyUsage()));
    usage.requests += BigInt(row.calls);
    usage.arch[row.arch].execMbMs += BigInt(row.mb_ms);
    usage.arch[row.arch].initMbMs += BigInt(row.init_mb_ms);
  }
  return byPeriod;
}

/** Call usage billed on `period`'s statement, split by the period each call ran in. */
function callUsageByUsagePeriod(ch: ClickHouse, tenant: string, period: string): Promise<Map<string, PeriodUsage>> {
  return billedUsage(ch, tenant, sql`billing_period = ${v.string(period)}`);
}

/** Late usage of `usagePeriod` that statements before `period` already billed as adjustments. */
async function lateUsageBilledBefore(ch: ClickHouse, tenant: string, usagePeriod: string, period: string): Promise<PeriodUsage> {
  const byPeriod = await billedUsage(
    ch,
    tenant,
    sql`usage_period = ${v.string(usagePeriod)} AND billing_period > ${v.string(usagePeriod)} AND billing_period < ${v.string(period)}`,
  );
  return byPeriod.get(usagePeriod) ?? emptyUsage();
}

/**
 * Idle time of provisioned instances (min-scale > 0) within the period: each instance's
 * ready→stopped lifetime clipped to the period (still running: up to `nowMs`), minus the time it
 * spent serving billed calls, times its memory.
 */
export async function provisionedIdle(ch: ClickHouse, tenant: string, period: string, nowMs: number): Promise<PeriodUsage> {
  const { startMs, endMs } = periodBounds(period);
  const lookbackMs = startMs - 62 * 24 * 3_600_000;
  const instances = await ch.query<{ instance: string; arch: string; memory_mb: number; ready_ms: string; stopped_ms: string }>(
    sql`SELECT instance, any(arch) AS arch, max(memory_mb) AS memory_mb,
               minIf(time_ms, phase = 'ready') AS ready_ms,
               maxIf(time_ms, phase = 'stopped') AS stopped_ms
        FROM lifecycle_events
        WHERE tenant = ${v.string(tenant)} AND provisioned = 1
          AND time_ms >= ${v.uint64(lookbackMs)} AND time_ms < ${v.uint64(endMs)}
        GROUP BY instance
        HAVING ready_ms > 0`,
  );
  const usage = emptyUsage();
  if (instances.length === 0) return usage;
  const busyRows = await ch.query<{ instance: string; busy_ms: string | number }>(
    sql`SELECT instance, sum(busy_ms) AS busy_ms FROM instance_usage
        WHERE tenant = ${v.string(tenant)}
          AND hour >= ${v.dateTime(Math.floor(startMs / 1000))} AND hour < ${v.dateTime(Math.floor(endMs / 1000))}
          AND instance IN (${v.list('String', instances.map((i) => i.instance))})
        GROUP BY instance`,
  );
  const busy = new Map(busyRows.map((r) => [r.instance, BigInt(r.busy_ms)]));
  for (const inst of instances) {
    if (!isArch(inst.arch) || inst.memory_mb <= 0) continue;
    const ready = Number(inst.ready_ms);
    const stopped = Number(inst.stopped_ms) > ready ? Number(inst.stopped_ms) : Math.min(nowMs, endMs);
    const from = Math.max(ready, startMs);
    const to = Math.min(stopped, endMs);
    if (to <= from) continue;
    const idle = BigInt(to - from) - (busy.get(inst.instance) ?? 0n);
    if (idle > 0n) usage.arch[inst.arch].provisionedIdleMbMs += idle * BigInt(inst.memory_mb);
  }
  return usage;
}

export interface StoredStatement {
  tenant: string;
  period: string;
  status: 'draft' | 'final';
  statement: Statement;
  usage: PeriodUsage;
}

async function finalStatement(ch: ClickHouse, tenant: string, period: string): Promise<StoredStatement | undefined> {
  const rows = await ch.query<{ lines_json: string; usage_json: string }>(
    sql`SELECT argMax(lines_json, created_ms) AS lines_json, argMax(usage_json, created_ms) AS usage_json
        FROM statements
        WHERE tenant = ${v.string(tenant)} AND period = ${v.string(period)} AND status = 'final'
        GROUP BY tenant, period`,
  );
  const row = rows[0];
  if (!row) return undefined;
  return { tenant, period, status: 'final', statement: JSON.parse(row.lines_json) as Statement, usage: usageFromJson(row.usage_json) };
}

export async function isClosed(ch: ClickHouse, tenant: string, period: string): Promise<boolean> {
  const rows = await ch.query<{ n: string | number }>(
    sql`SELECT count() AS n FROM closed_periods WHERE tenant = ${v.string(tenant)} AND period = ${v.string(period)}`,
  );
  return Number(rows[0]?.n ?? 0) > 0;
}

/** Prices `period` for `tenant` from current data: the draft, or what closing it would store. */
export async function computeStatement(
  ch: ClickHouse,
  pricing: PricingConfig,
  tenant: string,
  period: string,
  nowMs: number,
): Promise<{ statement: Statement; usage: PeriodUsage }> {
  const { plan } = planFor(pricing, tenant);
  const [byUsagePeriod, idle] = await Promise.all([
    callUsageByUsagePeriod(ch, tenant, period),
    provisionedIdle(ch, tenant, period, nowMs),
  ]);
  const usage = addUsage(byUsagePeriod.get(period) ?? emptyUsage(), idle);
  const adjustments = [];
  for (const [usagePeriod, late] of [...byUsagePeriod].sort(([a], [b]) => a.localeCompare(b))) {
    if (usagePeriod === period) continue;
    // Priced on top of everything already billed for that month: its final statement and the
    // late usage earlier statements adjusted for, so an allowance or tier is never used twice.
    const [prior, earlierLate] = await Promise.all([
      finalStatement(ch, tenant, usagePeriod),
      lateUsageBilledBefore(ch, tenant, usagePeriod, period),
    ]);
    adjustments.push({ period: usagePeriod, usage: late, priorUsage: addUsage(prior?.usage ?? emptyUsage(), earlierLate) });
  }
  return { statement: priceStatement({ plan, period, usage, adjustments }), usage };
}

/** The stored final statement of a closed period, else a draft priced from current data. */
export async function readStatement(
  ch: ClickHouse,
  pricing: PricingConfig,
  tenant: string,
  period: string,
  nowMs = Date.now(),
): Promise<StoredStatement> {
  const final = await finalStatement(ch, tenant, period);
  if (final) return final;
  const { statement, usage } = await computeStatement(ch, pricing, tenant, period, nowMs);
  return { tenant, period, status: 'draft', statement, usage };
}

/**
 * Closes a period: from now on the meter bills calls of that month on the next open statement.
 * The close is recorded first and the statement priced after `settleMs`, so a batch that read
 * the period as open just before the close has landed before the final figures are taken.
 */
export async function closePeriod(
  ch: ClickHouse,
  pricing: PricingConfig,
  tenant: string,
  period: string,
  { nowMs = Date.now(), settleMs = 0 }: { nowMs?: number; settleMs?: number } = {},
): Promise<StoredStatement> {
  const existing = await finalStatement(ch, tenant, period);
  if (existing) return existing;
  await ch.insert('closed_periods', [{ tenant, period, closed_ms: nowMs, closed_time: Math.floor(nowMs / 1000) }]);
  if (settleMs > 0) await new Promise((resolve) => setTimeout(resolve, settleMs));
  // Seal what can be sealed so the final figures come from sealed hours wherever possible.
  await sealHours(ch, { nowMs: Math.max(nowMs, Date.now()) });
  const { statement, usage } = await computeStatement(ch, pricing, tenant, period, nowMs);
  await ch.insert('statements', [
    {
      tenant,
      period,
      status: 'final',
      plan: planFor(pricing, tenant).planId,
      currency: statement.currency,
      subtotal: statement.subtotal,
      total: statement.total,
      lines_json: JSON.stringify(statement),
      usage_json: usageToJson(usage),
      created_ms: nowMs,
      created_time: Math.floor(nowMs / 1000),
    },
  ]);
  return { tenant, period, status: 'final', statement, usage };
}
