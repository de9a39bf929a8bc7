/**
 * Every ClickHouse panel query of every dashboard, expanded exactly as Grafana and the
 * grafana-clickhouse-datasource plugin would for a fixed range and variable selection, runs on
 * the real 18.16 server against a small known dataset and returns the numbers computed
 * independently in dashboards/fixture.ts (and, for right-sizing, by the meter's pricing code).
 * Queries go through our client, so FAASMETER_SQL_RECORD captures them for the chdb replay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouse } from '../../clickhouse/client.ts';
import { sql, unsafeRawSql, v } from '../../clickhouse/sql.ts';
import { coldStarts } from '../../dashboards/cold-starts.ts';
import { cost } from '../../dashboards/cost.ts';
import type { BilledCallRow } from '../../dashboards/demo-data.ts';
import {
  estimatedSpend,
  answerMismatches,
  fixtureAnswers,
  FIXTURE_FROM_MS,
  FIXTURE_INTERVAL_MS,
  FIXTURE_ROWS,
  FIXTURE_TO_MS,
  inRange,
  LIST_PRICE,
  quantileExact,
} from '../../dashboards/fixture.ts';
import { DASHBOARDS } from '../../dashboards/index.ts';
import { interpolateVariables } from '../../dashboards/macros.ts';
import { overview } from '../../dashboards/overview.ts';
import type { ExpandedQuery, Selection } from '../../dashboards/query.ts';
import { expandDashboard, panelQuery, queryContext, runPanelQuery } from '../../dashboards/query.ts';
import { rightsizing } from '../../dashboards/rightsizing.ts';
import type { Dashboard } from '../../dashboards/model.ts';
import { AWS_LAMBDA_US_EAST_1, costAtMemory, suggestMemory } from '../../meter/pricing/index.ts';
import { migratedDatabase } from '../helpers/clickhouse.ts';

let ch: ClickHouse;
let database: string;

beforeAll(async () => {
  ({ ch, database } = await migratedDatabase('dashboards'));
  await ch.insert('billed_calls', FIXTURE_ROWS);
});

afterAll(async () => {
  if (ch) {
    await ch.withDatabase('default').command(sql`DROP DATABASE IF EXISTS ${v.ident(database)}`);
    await ch.close();
  }
});

const expanded = (dashboard: Dashboard, selection: Selection = {}) =>
  expandDashboard(dashboard, queryContext(FIXTURE_FROM_MS, FIXTURE_TO_MS, FIXTURE_INTERVAL_MS, selection));

async function rows(dashboard: Dashboard, title: string, selection: Selection = {}, target = 0): Promise<Array<Record<string, unknown>>> {
  return runPanelQuery(ch, panelQuery(expanded(dashboard, selection), dashboard, title, target));
}

async function single(dashboard: Dashboard, title: string, selection: Selection = {}): Promise<number | null> {
  const [first] = await rows(dashboard, title, selection);
  const value = Object.values(first ?? {})[0];
  return value === null || value === undefined ? null : Number(value);
}

const num = (x: unknown) => Number(x);
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const where = (pred: (r: BilledCallRow) => boolean) => FIXTURE_ROWS.filter(pred);
const inRangeRows = where(inRange);

describe('dashboards on ClickHouse 18.16: every panel query', () => {
  const selections: Array<[string, Selection]> = [
    ['all tenants', {}],
    ['tenant acme, function api, revision v1', { tenant: 'acme', function: 'api', revision: 'v1' }],
    ['a hostile tenant value', { tenant: `acme' OR 1=1 --`, function: `x\\' OR 1=1 --`, revision: '${tenant}$__fromTime' }],
  ];
  for (const [what, selection] of selections) {
    it(`runs and leaves no Grafana token behind, for ${what}`, async () => {
      const all: ExpandedQuery[] = DASHBOARDS.flatMap((d) => expanded(d, selection));
      expect(all.length).toBeGreaterThan(30);
      for (const q of all) {
        expect(q.sql, q.name).not.toMatch(/\$/);
        expect(q.sql, q.name).not.toMatch(/toStartOfInterval|DateTime64|LowCardinality|fromUnixTimestamp64/);
        await expect(runPanelQuery(ch, q), q.name).resolves.toBeInstanceOf(Array);
      }
    });
  }

  it('a hostile variable value matches nothing instead of widening the filter', async () => {
    const hostile = { tenant: `acme' OR 1=1 --` };
    expect(await single(overview, 'Calls', hostile)).toBe(0);
    expect(await rows(cost, 'Spend per tenant and function', { tenant: `x\\' OR tenant != '` })).toEqual([]);
  });
});

describe('the shared fixture answers (also checked on current ClickHouse by the compat suite)', () => {
  for (const answer of fixtureAnswers()) {
    it(`${answer.dashboard} / ${answer.title}${answer.selection ? ` with ${JSON.stringify(answer.selection)}` : ''}`, async () => {
      const dashboard = DASHBOARDS.find((d) => d.uid === answer.dashboard)!;
      expect(answerMismatches(await rows(dashboard, answer.title, answer.selection), answer)).toEqual([]);
    });
  }
});

it('percent-encoded variable values come back exactly from decodeURLComponent on the server', async () => {
  for (const value of [`' OR 1=1 --`, `\\' OR 1=1 --`, '\\', `o'neil's "fn" \`back\``, 'ünïcödé 🙂 %41', '']) {
    const text = interpolateVariables("SELECT decodeURLComponent('${t:percentencode}') AS v", { t: { value } });
    expect(await ch.query(unsafeRawSql(text))).toEqual([{ v: value }]);
  }
});

describe('variables', () => {
  it('list tenants, then the functions and revisions of the selected tenant', async () => {
    const queries = expanded(overview, { tenant: 'acme', function: 'api' });
    const values = async (name: string) => (await runPanelQuery(ch, queries.find((q) => q.name === `faasmeter-overview/var:${name}`)!)).map((r) => Object.values(r)[0]);
    expect(await values('tenant')).toEqual(['acme', 'globex']);
    expect(await values('function')).toEqual(['api', 'worker']);
    expect(await values('revision')).toEqual(['v1']);
  });
});

describe('Overview', () => {
  it('counts calls, errors and cold starts in the range, per selection', async () => {
    expect(await single(overview, 'Calls')).toBe(inRangeRows.length);
    expect(await single(overview, 'Calls', { tenant: 'acme' })).toBe(inRangeRows.filter((r) => r.tenant === 'acme').length);
    expect(await single(overview, 'Calls', { tenant: 'acme', function: 'api' })).toBe(10);
    const errors = sum(inRangeRows.map((r) => r.error + r.timeout));
    expect(await single(overview, 'Error ratio')).toBeCloseTo(errors / inRangeRows.length, 12);
    const cold = sum(inRangeRows.map((r) => r.cold));
    expect(await single(overview, 'Cold-start ratio')).toBeCloseTo(cold / inRangeRows.length, 12);
  });

  it('cold-start p95 is the exact 95th percentile of init durations in the range', async () => {
    const inits = inRangeRows.filter((r) => r.cold === 1).map((r) => r.init_duration_us);
    expect(inits).toHaveLength(4);
    // The 9 s cold start at 09:59:30 lies outside the range.
    expect(await single(overview, 'Cold-start p95')).toBe(quantileExact(0.95, inits) / 1000);
    expect(await single(overview, 'Cold-start p95')).toBe(2400);
  });

  it('per-function table: calls, errors, duration percentiles, cold-start p95 (api spans two tenants)', async () => {
    const table = await rows(overview, 'By function');
    expect(table.map((r) => r.function)).toEqual(['api', 'worker']);
    for (const fn of ['api', 'worker']) {
      const calls = inRangeRows.filter((r) => r.function === fn);
      const got = table.find((r) => r.function === fn)!;
      const durations = calls.map((r) => r.duration_us);
      expect(num(got.calls)).toBe(calls.length);
      expect(num(got.errors)).toBe(sum(calls.map((r) => r.error + r.timeout)));
      expect(got.p50_ms).toBe(quantileExact(0.5, durations) / 1000);
      expect(got.p95_ms).toBe(quantileExact(0.95, durations) / 1000);
      expect(got.p99_ms).toBe(quantileExact(0.99, durations) / 1000);
      expect(num(got.cold_starts)).toBe(sum(calls.map((r) => r.cold)));
      expect(got.cold_start_p95_ms).toBe(quantileExact(0.95, calls.filter((r) => r.cold).map((r) => r.init_duration_us)) / 1000);
    }
  });

  it('calls per second are bucketed by the interval with intDiv (10-minute buckets)', async () => {
    const series = await rows(overview, 'Calls per second by function', { tenant: 'acme' });
    const bucketOf = (ms: number) => Math.floor(ms / 600_000) * 600;
    const expected = new Map<string, number>();
    for (const r of inRangeRows.filter((x) => x.tenant === 'acme')) {
      const key = `${new Date(bucketOf(r.start_ms) * 1000).toISOString().slice(0, 19).replace('T', ' ')}|${r.function}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    expect(series).toHaveLength(expected.size);
    for (const point of series) {
      expect(num(point.calls_per_second) * 600).toBeCloseTo(expected.get(`${String(point.time)}|${String(point.function)}`)!, 9);
    }
  });
});

describe('Cold starts', () => {
  it('init and first-request wait distributions put each cold start in its bucket', async () => {
    const init = await rows(coldStarts, 'Init duration distribution');
    // Init 300 ms, 800 ms, 1.5 s and 2.4 s; empty buckets are not rows.
    expect(init.map((r) => [r.bucket, num(r.cold_starts)])).toEqual([
      ['3: 250-500 ms', 1],
      ['4: 0.5-1 s', 1],
      ['5: 1-2.5 s', 2],
    ]);
    // Waits 250 ms (a bucket's lower bound belongs to it), 600 ms, 1.1 s and 2 s.
    const wait = await rows(coldStarts, 'First-request wait distribution');
    expect(wait.map((r) => [r.bucket, num(r.cold_starts)])).toEqual([
      ['3: 250-500 ms', 1],
      ['4: 0.5-1 s', 1],
      ['5: 1-2.5 s', 2],
    ]);
  });

  it('lists the slowest instances first and splits by revision and architecture', async () => {
    const slowest = await rows(coldStarts, 'Slowest cold starts (top 20 instances)');
    expect(slowest.map((r) => r.init_ms)).toEqual([2400, 1500, 800, 300]);
    expect(slowest[0]).toMatchObject({ function: 'api', revision: 'v1', arch: 'x86_64', wait_ms: 2000 });
    const byRevision = await rows(coldStarts, 'By revision and architecture');
    expect(byRevision.map((r) => [r.function, r.revision, r.arch, num(r.cold_starts), r.init_p95_ms])).toEqual([
      ['api', 'v1', 'x86_64', 2, 2400],
      ['worker', 'v7', 'arm64', 1, 1500],
      ['api', 'r2', 'x86_64', 1, 300],
    ]);
  });

  it('first-request wait p95 is exact', async () => {
    const waits = inRangeRows.filter((r) => r.cold === 1).map((r) => r.wait_us);
    expect(await single(coldStarts, 'First-request wait p95')).toBe(quantileExact(0.95, waits) / 1000);
  });
});

describe('Cost (estimate at list prices)', () => {
  const hourRows = where((r) => r.hour >= FIXTURE_FROM_MS / 1000 && r.hour <= FIXTURE_TO_MS / 1000);
  const previousRows = where((r) => r.hour >= (2 * FIXTURE_FROM_MS - FIXTURE_TO_MS) / 1000 && r.hour < FIXTURE_FROM_MS / 1000);

  it('spend, requests and GB-s of the range', async () => {
    expect(await single(cost, 'Estimated spend')).toBeCloseTo(estimatedSpend(hourRows).total, 12);
    expect(await single(cost, 'Requests')).toBe(hourRows.length);
    expect(await single(cost, 'GB-seconds')).toBeCloseTo(sum(hourRows.map((r) => r.mb_ms + r.init_mb_ms)) / 1_024_000, 9);
  });

  it('spend per tenant and function, most expensive first', async () => {
    const table = await rows(cost, 'Spend per tenant and function');
    const keys = [...new Set(hourRows.map((r) => `${r.tenant}/${r.function}`))];
    const expected = keys
      .map((k) => ({ k, spend: estimatedSpend(hourRows.filter((r) => `${r.tenant}/${r.function}` === k)) }))
      .sort((a, b) => b.spend.total - a.spend.total);
    expect(table.map((r) => `${String(r.tenant)}/${String(r.function)}`)).toEqual(expected.map((e) => e.k));
    table.forEach((r, i) => {
      expect(num(r.spend_usd)).toBeCloseTo(expected[i]!.spend.total, 12);
      expect(num(r.requests_usd)).toBeCloseTo(expected[i]!.spend.requests, 12);
    });
  });

  it('compares the range with the equally long range before it', async () => {
    const current = estimatedSpend(hourRows).total;
    const previous = estimatedSpend(previousRows).total;
    expect(previousRows).toHaveLength(4);
    expect(await single(cost, 'Spend vs previous period')).toBeCloseTo((current - previous) / previous, 9);
    const trend = await rows(cost, 'Spend trend vs previous period');
    const byPeriod = (p: string) => sum(trend.filter((r) => r.period === p).map((r) => num(r.spend_usd)));
    expect(byPeriod('this period')).toBeCloseTo(current, 12);
    expect(byPeriod('previous period')).toBeCloseTo(previous, 12);
    // The previous period is shifted onto the current range, so both share the time axis.
    for (const point of trend) {
      const t = Date.parse(`${String(point.time).replace(' ', 'T')}Z`);
      expect(t).toBeGreaterThanOrEqual(FIXTURE_FROM_MS);
      expect(t).toBeLessThanOrEqual(FIXTURE_TO_MS);
    }
  });

  it('splits spend into GB-s and requests shares, and reports free allowance used this month', async () => {
    const spend = estimatedSpend(hourRows);
    const share = await rows(cost, 'GB-s vs requests share of spend');
    expect(share.map((r) => r.part)).toEqual(['compute (GB-s)', 'requests']);
    expect(num(share[0]!.share)).toBeCloseTo(spend.compute / spend.total, 12);
    const allowance = await rows(cost, 'Free allowance used this month', { tenant: 'acme' });
    const acme = where((r) => r.tenant === 'acme');
    expect(allowance.map((r) => r.allowance)).toEqual(['acme GB-s', 'acme requests']);
    expect(num(allowance[0]!.used)).toBeCloseTo(sum(acme.map((r) => r.mb_ms + r.init_mb_ms)) / 1_024_000 / 400_000, 15);
    expect(num(allowance[1]!.used)).toBeCloseTo(acme.length / 1_000_000, 15);
  });

  it('prices arm64 GB-s lower than x86_64', () => {
    expect(LIST_PRICE.arm64).toBeLessThan(LIST_PRICE.x86_64);
  });
});

describe('Right-sizing (whole days, what-if at tier-1 prices)', () => {
  const groups = ['acme/api', 'acme/worker', 'globex/api'].map((key) => {
    const calls = FIXTURE_ROWS.filter((r) => `${r.tenant}/${r.function}` === key);
    const first = calls[0]!;
    const billedMs = BigInt(sum(calls.map((r) => r.billed_ms + r.init_billed_ms)));
    const peak = Math.max(...calls.map((r) => r.max_memory_used_mb));
    const suggested = suggestMemory(peak)!;
    const usage = { arch: first.arch as 'x86_64' | 'arm64', billedMs };
    const saving = Number(costAtMemory(AWS_LAMBDA_US_EAST_1, usage, first.memory_mb).costExact) - Number(costAtMemory(AWS_LAMBDA_US_EAST_1, usage, suggested).costExact);
    return { key, fn: first.function, memory: first.memory_mb, peak, suggested, saving };
  });

  it('suggests the size the pricing module suggests and the saving it computes', async () => {
    const table = await rows(rightsizing, 'Memory per function: configured vs peak');
    expect(table).toHaveLength(3);
    for (const g of groups) {
      const got = table.find((r) => r.function === g.fn && num(r.memory_mb) === g.memory)!;
      expect(num(got.peak_mb), g.key).toBe(g.peak);
      expect(num(got.suggested_mb), g.key).toBe(g.suggested);
      expect(num(got.saving_usd), g.key).toBeCloseTo(g.saving, 12);
    }
    // acme/api shrinks (512 → 256), worker stays, globex/api needs more (256 → 512).
    expect(groups.map((g) => g.suggested)).toEqual([256, 1024, 512]);
  });

  it('the total saving counts only functions that can shrink', async () => {
    expect(await single(rightsizing, 'Estimated saving in range')).toBeCloseTo(groups[0]!.saving, 12);
  });
});
