/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument -- response bodies are untyped JSON, checked by value */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Decimal } from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiApp } from '../../api/app.ts';
import type { ApiLimits } from '../../api/config.ts';
import { DEFAULT_LIMITS } from '../../api/config.ts';
import { ErrorBody } from '../../api/errors.ts';
import { KeyHasher, KeyStore } from '../../api/keys.ts';
import type { ClickHouse } from '../../clickhouse/client.ts';
import { createClickHouse } from '../../clickhouse/client.ts';
import { sql, v } from '../../clickhouse/sql.ts';
import { decodeStringLiteral, tokenize } from '../../clickhouse/sql-lexer.ts';
import { createLogger } from '../../common/log.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import type { Architecture, InvocationEvent } from '../../contract/index.ts';
import { sealHours } from '../../meter/sealer.ts';
import { CLICKHOUSE_URL, migratedDatabase } from '../helpers/clickhouse.ts';
import { REFERENCE_PLANS } from '../helpers/meter-fixtures.ts';
import type { RefPlan } from '../helpers/reference-billing.ts';
import { referenceTotal, referenceUsage } from '../helpers/reference-billing.ts';
import type { SeedPlan } from '../api/seed.ts';
import { FORMULA_FUNCTION, generateCalls, PRICING, provisionedInstance, seedPlan, writeThroughMeter } from '../api/seed.ts';

/**
 * The billing API against ClickHouse 18.16, seeded through the real meter writer. Every figure
 * an endpoint returns is compared with a computation in this file from the seeded events alone
 * (its own rounding and pricing arithmetic, sharing no code with meter/pricing or the API).
 */

const D = Decimal.clone({ precision: 80, rounding: Decimal.ROUND_HALF_UP });
type D = Decimal;
const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

const plan: SeedPlan = seedPlan();
const onTime = generateCalls({ fromMs: plan.p1Start, toMs: plan.p2End, perFunction: 400, seed: 11, idPrefix: 'on' });
const late = generateCalls({ fromMs: plan.p1Start, toMs: plan.p2Start, perFunction: 30, seed: 12, idPrefix: 'late' }).filter((e) => e.data.tenant === 'acme');
const prov = provisionedInstance(plan);
const allCalls: InvocationEvent[] = [...onTime, ...prov.calls, ...late];

// ---------- the independent computation ----------

function billedMs(ms: number, p: RefPlan): bigint {
  const micros = BigInt(new D(String(ms)).times(1000).toDecimalPlaces(0, Decimal.ROUND_HALF_UP).toFixed(0));
  const step = BigInt(p.granularityMs) * 1000n;
  const billed = ((micros + step - 1n) / step) * BigInt(p.granularityMs);
  return billed < BigInt(p.minimumMs) ? BigInt(p.minimumMs) : billed;
}

interface CallFacts {
  billed: bigint;
  initBilled: bigint;
}
function facts(e: InvocationEvent): CallFacts {
  const p = REFERENCE_PLANS[e.data.tenant]!;
  const initBilled = p.billInit && e.data.cold && e.data.initDurationMs !== undefined ? billedMs(e.data.initDurationMs, p) : 0n;
  return { billed: billedMs(e.data.durationMs, p), initBilled };
}

const gbS = (mbMs: bigint): D => new D(mbMs.toString()).div(1_024_000);
const tier1 = (tenant: string, arch: Architecture): D => new D(REFERENCE_PLANS[tenant]!.tiers[arch][0]!.price);

type Window = 'hour' | 'day' | 'month';
function windowStart(ms: number, window: Window): number {
  if (window === 'hour') return ms - (ms % 3_600_000);
  if (window === 'day') return ms - (ms % 86_400_000);
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

function expectedUsage(
  tenant: string,
  q: { window: Window; groupBy?: 'function' | 'revision' | 'arch'; fromMs: number; toMs: number; function?: string; revision?: string },
) {
  const groups = new Map<string, { start: number; key: Record<string, string>; calls: bigint; errors: bigint; timeouts: bigint; cold: bigint; billed: bigint; initBilled: bigint; gb: Record<Architecture, D> }>();
  for (const e of allCalls) {
    const d = e.data;
    if (d.tenant !== tenant || d.startMs < q.fromMs || d.startMs >= q.toMs) continue;
    if (q.function !== undefined && d.function !== q.function) continue;
    if (q.revision !== undefined && d.revision !== q.revision) continue;
    const key: Record<string, string> =
      q.groupBy === 'function' ? { function: d.function } : q.groupBy === 'revision' ? { function: d.function, revision: d.revision } : q.groupBy === 'arch' ? { arch: d.arch } : {};
    const start = windowStart(d.startMs, q.window);
    const id = JSON.stringify([start, key]);
    const g = groups.get(id) ?? { start, key, calls: 0n, errors: 0n, timeouts: 0n, cold: 0n, billed: 0n, initBilled: 0n, gb: { x86_64: new D(0), arm64: new D(0) } };
    const f = facts(e);
    g.calls += 1n;
    if (d.status !== 'success') g.errors += 1n;
    if (d.status === 'timeout') g.timeouts += 1n;
    if (d.cold) g.cold += 1n;
    g.billed += f.billed;
    g.initBilled += f.initBilled;
    g.gb[d.arch] = g.gb[d.arch].plus(gbS(BigInt(d.memoryMb) * (f.billed + f.initBilled)));
    groups.set(id, g);
  }
  const p = REFERENCE_PLANS[tenant]!;
  const end = (start: number) => (q.window === 'hour' ? start + 3_600_000 : q.window === 'day' ? start + 86_400_000 : windowStart(start + 32 * 86_400_000, 'month'));
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...groups.values()]
    .sort((a, b) => a.start - b.start || cmp(a.key.function ?? a.key.arch ?? '', b.key.function ?? b.key.arch ?? '') || cmp(a.key.revision ?? '', b.key.revision ?? ''))
    .map((g) => ({
      start: iso(g.start),
      end: iso(end(g.start)),
      ...g.key,
      calls: g.calls.toString(),
      errors: g.errors.toString(),
      timeouts: g.timeouts.toString(),
      coldStarts: g.cold.toString(),
      billedMs: g.billed.toString(),
      initBilledMs: g.initBilled.toString(),
      gbSeconds: g.gb.x86_64.plus(g.gb.arm64).toFixed(),
      cost: new D(g.calls.toString())
        .times(p.requestPrice)
        .plus(g.gb.x86_64.times(tier1(tenant, 'x86_64')))
        .plus(g.gb.arm64.times(tier1(tenant, 'arm64')))
        .toFixed(),
    }));
}

/** Nearest rank as ClickHouse's quantileExact takes it: the element at floor(level × n). */
function quantile(sorted: number[], level: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(level * sorted.length))]!;
}
const micros = (ms: number) => Number(new D(String(ms)).times(1000).toDecimalPlaces(0, Decimal.ROUND_HALF_UP).toFixed(0));

function expectedColdStarts(tenant: string, fromMs: number, toMs: number) {
  const byFunction = new Map<string, { calls: number; init: number[]; wait: number[] }>();
  for (const e of allCalls) {
    const d = e.data;
    if (d.tenant !== tenant || d.startMs < fromMs || d.startMs >= toMs) continue;
    const g = byFunction.get(d.function) ?? { calls: 0, init: [], wait: [] };
    g.calls += 1;
    if (d.cold) {
      g.init.push(micros(d.initDurationMs ?? 0));
      g.wait.push(micros(d.waitMs ?? 0));
    }
    byFunction.set(d.function, g);
  }
  const q = (values: number[]) => {
    const s = [...values].sort((a, b) => a - b);
    return s.length === 0 ? null : { p50: quantile(s, 0.5) / 1000, p95: quantile(s, 0.95) / 1000, p99: quantile(s, 0.99) / 1000 };
  };
  return [...byFunction.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([fn, g]) => ({ function: fn, calls: String(g.calls), coldStarts: String(g.init.length), rate: g.init.length / g.calls, initDurationMs: q(g.init), waitMs: q(g.wait) }));
}

const SIZES = [128, 256, 512, 1024, 1536, 2048, 3008, 4096, 10240];
const cents = (x: D) => x.toDecimalPlaces(2, Decimal.ROUND_HALF_UP).toFixed(2);

function expectedRightsizing(tenant: string, fromMs: number, toMs: number) {
  const groups = new Map<string, { function: string; arch: Architecture; memoryMb: number; calls: number; billed: bigint; peak: number }>();
  for (const e of allCalls) {
    const d = e.data;
    if (d.tenant !== tenant || d.startMs < fromMs || d.startMs >= toMs) continue;
    const id = JSON.stringify([d.function, d.arch, d.memoryMb]);
    const g = groups.get(id) ?? { function: d.function, arch: d.arch, memoryMb: d.memoryMb, calls: 0, billed: 0n, peak: 0 };
    const f = facts(e);
    g.calls += 1;
    g.billed += f.billed + f.initBilled;
    g.peak = Math.max(g.peak, d.maxMemoryUsedMb ?? 0);
    groups.set(id, g);
  }
  const cost = (g: { billed: bigint; arch: Architecture }, mb: number) => cents(gbS(g.billed * BigInt(mb)).times(tier1(tenant, g.arch)));
  return [...groups.values()]
    .sort((a, b) => (a.function < b.function ? -1 : a.function > b.function ? 1 : 0))
    .map((g) => {
      // peak × 1.2 ≤ size, in integers: peak × 12 ≤ size × 10.
      const suggested = SIZES.find((s) => g.peak * 12 <= s * 10) ?? null;
      return {
        function: g.function,
        arch: g.arch,
        memoryMb: g.memoryMb,
        calls: String(g.calls),
        billedMs: g.billed.toString(),
        peakUsedMb: g.peak,
        suggestedMemoryMb: suggested,
        action: suggested === null ? 'unknown' : suggested < g.memoryMb ? 'decrease' : suggested > g.memoryMb ? 'increase' : 'keep',
        currentCost: cost(g, g.memoryMb),
        suggestedCost: suggested === null ? null : cost(g, suggested),
        saving: suggested === null ? null : new D(cost(g, g.memoryMb)).minus(cost(g, suggested)).toFixed(2),
      };
    });
}

const callsOf = (tenant: string, fromMs: number, toMs: number, events: readonly InvocationEvent[] = allCalls) =>
  events.filter((e) => e.data.tenant === tenant && e.data.startMs >= fromMs && e.data.startMs < toMs);
const refTotal = (tenant: string, events: readonly InvocationEvent[]) => referenceTotal(referenceUsage(events, REFERENCE_PLANS[tenant]!), REFERENCE_PLANS[tenant]!);

// ---------- the server under test ----------

let ch: ClickHouse;
let database: string;
const statements: string[] = [];
const keys: Record<'acme' | 'globex' | 'initech' | 'admin', string> = { acme: '', globex: '', initech: '', admin: '' };
let store: KeyStore;
const servers: Server[] = [];

function spy(inner: ClickHouse): ClickHouse {
  return {
    ...inner,
    query: (s) => {
      statements.push(s.text);
      return inner.query(s);
    },
    command: (s) => {
      statements.push(s.text);
      return inner.command(s);
    },
  };
}

async function startApi(options: { limits?: Partial<ApiLimits>; ch?: ClickHouse } = {}): Promise<string> {
  const app = createApiApp({
    ch: options.ch ?? spy(ch),
    pricing: PRICING,
    keys: store,
    limits: { ...DEFAULT_LIMITS, rateBurst: 100_000, ratePerSecond: 100_000, closeSettleMs: 0, ...options.limits },
    log: createLogger('api-test', process.env.API_TEST_LOG_LEVEL ?? 'silent'),
    meter: createTelemetry('api-test').meter,
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let base: string;
const extraClients: ClickHouse[] = [];

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}
async function request(path: string, key: string | undefined, init: RequestInit = {}, at = base): Promise<Reply> {
  const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` };
  const res = await fetch(`${at}${path}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string> | undefined) } });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Sends the path byte for byte: fetch() would resolve "..", "%2e%2e" and the like first. */
function rawRequest(path: string, key: string): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, headers: { authorization: `Bearer ${key}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const headers = new Headers();
        for (const [k, val] of Object.entries(res.headers)) if (typeof val === 'string') headers.set(k, val);
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers, text, json });
      });
    });
    req.once('error', reject);
    req.end();
  });
}

function expectError(r: Reply, status: number, code?: string): void {
  expect(r.status, r.text).toBe(status);
  const body = ErrorBody.parse(r.json);
  if (code) expect(body.error.code).toBe(code);
  expect(r.headers.get('x-request-id')).toBe(body.error.requestId);
  expect(r.text).not.toMatch(/SELECT|FROM |\bat .*\.ts|ClickHouse|Code: \d+/);
}

function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i += 1;
    } else cell += c;
  }
  return rows;
}

const p2Range = () => `from=${plan.p2}-01&to=${iso(plan.p2End).slice(0, 10)}`;

beforeAll(async () => {
  ({ ch, database } = await migratedDatabase('api'));
  store = new KeyStore(ch, new KeyHasher());
  for (const tenant of ['acme', 'globex', 'initech'] as const) keys[tenant] = (await store.create({ tenant, name: `${tenant} test key` })).key;
  keys.admin = (await store.create({ admin: true, name: 'admin test key' })).key;
  base = await startApi();

  await writeThroughMeter(ch, [...onTime, ...prov.events, ...prov.calls]);
  // P1 is closed for acme through the API, as an operator would; acme's late calls for P1
  // then arrive and are billed on P2 as an adjustment.
  const closed = await request(`/v1/statements/${plan.p1}/close?tenant=acme`, keys.admin, { method: 'POST' });
  expect(closed.status, closed.text).toBe(200);
  await writeThroughMeter(ch, late);
  // The meter's sealer runs on a timer in production; here once, after the last write.
  await sealHours(ch);
}, 180_000);

afterAll(async () => {
  for (const s of servers) s.close();
  for (const c of extraClients) await c.close();
  await ch.command(sql`DROP DATABASE IF EXISTS ${v.ident(database)}`);
  await ch.close();
});

describe('GET /v1/usage matches an independent computation from the seeded events', () => {
  const cases: Array<{ tenant: 'acme' | 'globex' | 'initech'; window: Window; groupBy?: 'function' | 'revision' | 'arch'; range: () => [number, number]; fn?: string }> = [
    { tenant: 'acme', window: 'day', groupBy: 'function', range: () => [plan.p2Start, plan.p2End] },
    { tenant: 'acme', window: 'month', groupBy: 'revision', range: () => [plan.p1Start, plan.p2End] },
    { tenant: 'globex', window: 'month', groupBy: 'arch', range: () => [plan.p1Start, plan.p2End] },
    { tenant: 'initech', window: 'day', range: () => [plan.p2Start, plan.p2End] },
    { tenant: 'acme', window: 'hour', groupBy: 'function', range: () => [plan.p2Start + 86_400_000, plan.p2Start + 4 * 86_400_000] },
    { tenant: 'acme', window: 'month', groupBy: 'function', range: () => [plan.p1Start, plan.p2End], fn: FORMULA_FUNCTION },
  ];
  for (const c of cases) {
    it(`${c.tenant}: window=${c.window} groupBy=${c.groupBy ?? 'none'}${c.fn ? ' with a function filter that needs escaping' : ''}`, async () => {
      const [fromMs, toMs] = c.range();
      const params = new URLSearchParams({ from: iso(fromMs), to: iso(toMs), window: c.window, limit: '1000' });
      if (c.groupBy) params.set('groupBy', c.groupBy);
      if (c.fn) params.set('function', c.fn);
      const r = await request(`/v1/usage?${params.toString()}`, keys[c.tenant]);
      expect(r.status, r.text).toBe(200);
      const expected = expectedUsage(c.tenant, { window: c.window, groupBy: c.groupBy, fromMs, toMs, ...(c.fn ? { function: c.fn } : {}) });
      expect(expected.length).toBeGreaterThan(0);
      expect(r.json.rows).toEqual(expected);
      expect(r.json).toMatchObject({ tenant: c.tenant, window: c.window, plan: PRICING.tenants[c.tenant], currency: 'USD', nextOffset: null });
    });
  }

  it('pages: limit/offset walk the same rows, and nextOffset is null on the last page', async () => {
    const q = `${p2Range()}&groupBy=function&window=day`;
    const all = (await request(`/v1/usage?${q}&limit=1000`, keys.acme)).json.rows;
    const walked: unknown[] = [];
    let offset: number | null = 0;
    let pages = 0;
    while (offset !== null) {
      const r = await request(`/v1/usage?${q}&limit=7&offset=${offset}`, keys.acme);
      expect(r.status).toBe(200);
      walked.push(...r.json.rows);
      offset = r.json.nextOffset;
      pages += 1;
    }
    expect(pages).toBe(Math.ceil(all.length / 7));
    expect(walked).toEqual(all);
  });

  it('usage.csv holds the JSON rows, RFC 4180-quoted, with formula-like cells neutralised', async () => {
    const q = `from=${plan.p1}-01&to=${iso(plan.p2End).slice(0, 10)}&window=month&groupBy=revision`;
    const [json, csv] = await Promise.all([request(`/v1/usage?${q}`, keys.acme), request(`/v1/usage.csv?${q}`, keys.acme)]);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = parseCsv(csv.text);
    expect(rows[0]).toEqual(['start', 'end', 'function', 'revision', 'arch', 'calls', 'errors', 'timeouts', 'cold_starts', 'billed_ms', 'init_billed_ms', 'gb_seconds', 'cost', 'currency']);
    const body = rows.slice(1);
    expect(body.length).toBe(json.json.rows.length);
    json.json.rows.forEach((r: any, i: number) => {
      const neutral = (s: string) => (/^[=+\-@]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s) ? `'${s}` : s);
      expect(body[i]).toEqual([r.start, r.end, neutral(r.function), neutral(r.revision), '', r.calls, r.errors, r.timeouts, r.coldStarts, r.billedMs, r.initBilledMs, r.gbSeconds, r.cost, 'USD']);
    });
    expect(csv.text).toContain(`'${FORMULA_FUNCTION}`);
    expect(csv.text).toContain(`"r,""q"""`);
    expect(csv.text).toContain(`,'-1+1,`);
    expect(csv.text.split('\r\n').some((line) => /^[=+@]|,[=+@]/.test(line))).toBe(false);
  });
});

describe('statements', () => {
  it('a draft statement equals the reference total of the tenant’s calls (globex, coarse granularity, init unbilled)', async () => {
    const r = await request(`/v1/statements/${plan.p2}`, keys.globex);
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ tenant: 'globex', period: plan.p2, status: 'draft', currency: 'USD' });
    expect(r.json.total).toBe(refTotal('globex', callsOf('globex', plan.p2Start, plan.p2End)));
    expect(r.json.total).not.toBe('0.00');
    const sum = r.json.lines.reduce((a: D, l: { amount: string }) => a.plus(l.amount), new D(0)).toFixed(2);
    expect(sum).toBe(r.json.subtotal);
  });

  it('a closed period reads as the final statement of the calls on time; late calls are an adjustment on the next draft', async () => {
    const p1OnTime = callsOf('acme', plan.p1Start, plan.p2Start, onTime);
    const p1Late = callsOf('acme', plan.p1Start, plan.p2Start, late);
    expect(p1Late.length).toBeGreaterThan(0);
    const final = await request(`/v1/statements/${plan.p1}`, keys.acme);
    expect(final.json).toMatchObject({ status: 'final', period: plan.p1, total: refTotal('acme', p1OnTime) });

    const draft = await request(`/v1/statements/${plan.p2}`, keys.acme);
    expect(draft.json.status).toBe('draft');
    const adjustment = new D(refTotal('acme', [...p1OnTime, ...p1Late])).minus(refTotal('acme', p1OnTime)).toFixed(2);
    const line = draft.json.lines.find((l: { kind: string }) => l.kind === 'adjustment');
    expect(line).toMatchObject({ kind: 'adjustment', period: plan.p1, quantity: String(p1Late.length), unitPrice: null, amount: adjustment });
    expect(draft.json.total).toBe(new D(refTotal('acme', callsOf('acme', plan.p2Start, plan.p2End, onTime))).plus(adjustment).toFixed(2));
  });

  it('provisioned idle time is billed: ready→stopped minus busy time, at the idle price (initech)', async () => {
    const r = await request(`/v1/statements/${plan.p2}`, keys.initech);
    const busy = prov.calls.reduce((a, e) => {
      const f = facts(e);
      return a + f.billed + f.initBilled;
    }, 0n);
    const idleMbMs = (BigInt(prov.stoppedMs - prov.readyMs) - busy) * BigInt(prov.memoryMb);
    const idle = r.json.lines.find((l: { kind: string }) => l.kind === 'provisioned_idle');
    expect(idle).toMatchObject({ arch: 'x86_64', quantity: gbS(idleMbMs).toFixed(), amount: cents(gbS(idleMbMs).times('0.0000041667')) });
    // Everything else initech used is inside the AWS free allowance.
    expect(r.json.total).toBe(idle.amount);
  });

  it('GET /v1/statements lists periods newest first with their status', async () => {
    const r = await request('/v1/statements', keys.acme);
    expect(r.json).toEqual({
      tenant: 'acme',
      periods: [
        { period: plan.p2, status: 'draft', total: null, currency: null },
        { period: plan.p1, status: 'final', total: refTotal('acme', callsOf('acme', plan.p1Start, plan.p2Start, onTime)), currency: 'USD' },
      ],
      nextOffset: null,
    });
  });

  it('the statement CSV has the JSON lines, then subtotal and total rows', async () => {
    const [json, csv] = await Promise.all([request(`/v1/statements/${plan.p2}`, keys.acme), request(`/v1/statements/${plan.p2}.csv`, keys.acme)]);
    const rows = parseCsv(csv.text);
    expect(rows[0]).toEqual(['period', 'status', 'currency', 'kind', 'arch', 'tier', 'usage_period', 'quantity', 'unit', 'unit_price', 'amount', 'amount_exact']);
    expect(rows.slice(1, -2).map((r) => [r[3], r[10]])).toEqual(json.json.lines.map((l: { kind: string; amount: string }) => [l.kind, l.amount]));
    expect(rows.at(-2)!.slice(3, 4).concat(rows.at(-2)![10]!)).toEqual(['subtotal', json.json.subtotal]);
    expect(rows.at(-1)!.slice(3, 4).concat(rows.at(-1)![10]!)).toEqual(['total', json.json.total]);
  });

  it('closing is admin-only, refuses a period that has not ended, and is idempotent', async () => {
    expectError(await request(`/v1/statements/${plan.p2}/close`, keys.acme, { method: 'POST' }), 403, 'admin_only');
    expectError(await request(`/v1/statements/${plan.p2}/close?tenant=acme`, keys.acme, { method: 'POST' }), 403, 'admin_only');
    expectError(await request(`/v1/statements/${plan.p2}/close`, keys.admin, { method: 'POST' }), 400, 'tenant_required');
    const current = iso(Date.now()).slice(0, 7);
    expectError(await request(`/v1/statements/${current}/close?tenant=acme`, keys.admin, { method: 'POST' }), 409, 'period_not_ended');
    const again = await request(`/v1/statements/${plan.p1}/close?tenant=acme`, keys.admin, { method: 'POST' });
    expect(again.json).toMatchObject({ status: 'final', total: refTotal('acme', callsOf('acme', plan.p1Start, plan.p2Start, onTime)) });
  });
});

describe('GET /v1/cold-starts and /v1/rightsizing match the seeded events', () => {
  it('cold-start count, rate and exact p50/p95/p99 of init and wait per function', async () => {
    const r = await request(`/v1/cold-starts?from=${iso(plan.p2Start)}&to=${iso(plan.p2End)}&groupBy=function`, keys.acme);
    expect(r.status, r.text).toBe(200);
    expect(r.json.rows).toEqual(expectedColdStarts('acme', plan.p2Start, plan.p2End));
    const total = await request(`/v1/cold-starts?from=${iso(plan.p2Start)}&to=${iso(plan.p2End)}`, keys.acme);
    expect(total.json.rows).toHaveLength(1);
    expect(total.json.rows[0].coldStarts).toBe(String(callsOf('acme', plan.p2Start, plan.p2End).filter((e) => e.data.cold).length));
  });

  it('rightsizing: peak, suggested size, costs at both sizes and the saving', async () => {
    for (const tenant of ['acme', 'globex'] as const) {
      const r = await request(`/v1/rightsizing?period=${plan.p2}`, keys[tenant]);
      expect(r.status, r.text).toBe(200);
      expect(r.json.rows).toEqual(expectedRightsizing(tenant, plan.p2Start, plan.p2End));
    }
  });
});

describe('tenant isolation: a tenant key never sees another tenant’s data', () => {
  const endpoints = () => [
    `/v1/usage?${p2Range()}&groupBy=revision`,
    `/v1/usage.csv?${p2Range()}&groupBy=revision`,
    '/v1/statements',
    `/v1/statements/${plan.p2}`,
    `/v1/statements/${plan.p2}.csv`,
    `/v1/cold-starts?from=${iso(plan.p2Start)}&to=${iso(plan.p2End)}&groupBy=revision`,
    `/v1/rightsizing?period=${plan.p2}`,
  ];
  const foreignMarkers = ['globex', 'initech', 'globex-only'];

  it('every endpoint answers acme’s key with acme’s data only (no other tenant’s names anywhere)', async () => {
    for (const path of endpoints()) {
      const r = await request(path, keys.acme);
      expect(r.status, `${path}: ${r.text}`).toBe(200);
      for (const marker of foreignMarkers) expect(r.text, path).not.toContain(marker);
    }
    // "shared" exists for all three tenants: acme's key gets acme's figures for it.
    const shared = await request(`/v1/usage?${p2Range()}&window=month&function=shared`, keys.acme);
    expect(shared.json.rows).toEqual(expectedUsage('acme', { window: 'month', fromMs: plan.p2Start, toMs: plan.p2End, function: 'shared' }));
    // Another tenant's function and revision names, as filters, find nothing.
    for (const filter of ['function=globex-only', 'revision=globex-shared-1', 'function=shared&revision=initech-shared-1']) {
      expect((await request(`/v1/usage?${p2Range()}&window=month&${filter}`, keys.acme)).json.rows).toEqual([]);
    }
    const cold = await request(`/v1/cold-starts?from=${iso(plan.p2Start)}&to=${iso(plan.p2End)}&function=globex-only`, keys.acme);
    expect(cold.json.rows).toEqual([]);
  });

  it('naming another tenant is 403 on every endpoint; naming one’s own is fine; an admin key reads either', async () => {
    for (const path of [...endpoints(), `/v1/statements/${plan.p1}/close`]) {
      const method = path.endsWith('/close') ? 'POST' : 'GET';
      const sep = path.includes('?') ? '&' : '?';
      expectError(await request(`${path}${sep}tenant=globex`, keys.acme, { method }), 403);
      expectError(await request(`${path}${sep}tenant=%67lobex`, keys.acme, { method }), 403);
      if (method === 'GET') {
        expect((await request(`${path}${sep}tenant=acme`, keys.acme)).status).toBe(200);
        const admin = await request(`${path}${sep}tenant=globex`, keys.admin);
        expect(admin.status).toBe(200);
        expect(admin.text).not.toContain('acme');
      }
    }
  });

  it('parameter tricks are refused: arrays, repeats, case variants, encoded separators, path traversal', async () => {
    const u = `/v1/usage?${p2Range()}`;
    const refused: Array<[string, number]> = [
      [`${u}&tenant[]=globex`, 400],
      [`${u}&tenant%5B%5D=globex`, 400],
      [`${u}&tenant=acme&tenant=globex`, 400],
      [`${u}&tenant=globex&tenant=acme`, 400],
      [`${u}&TENANT=globex`, 400],
      [`${u}&tenant=globex%00`, 400],
      [`${u}&tenant=acme%26tenant%3Dglobex`, 400],
      [`${u}&tenant=acme%27%20OR%20tenant%3D%27globex`, 400],
      [`${u}&function=shared&function=globex-only`, 400],
      ['/v1/statements/..%2F', 400],
      ['/v1/statements/..%2F..%2Fglobex', 400],
      ['/v1/statements/%2e%2e', 400],
      [`/v1/statements/${plan.p2}%00`, 400],
      [`/v1/statements/${plan.p2}%2F..%2F..%2Fstatements%2F${plan.p2}%3Ftenant%3Dglobex`, 400],
      [`/v1/statements/${plan.p2};tenant=globex`, 400],
      [`/v1/statements/${plan.p2}.csv%3Ftenant=globex`, 400],
      ['/v1/statements/%E0%A4%A', 400],
      [`/v1/statements/${plan.p2}/../../../v1/statements/${plan.p2}?tenant=globex`, 404],
      ['/v1/../v1/statements', 404],
      ['/v1/statements/../statements/..', 404],
    ];
    for (const [path, status] of refused) {
      const r = await rawRequest(path, keys.acme);
      expectError(r, status);
      expect(r.text).not.toContain('globex-only');
    }
  });

  it('keys: unknown, malformed and revoked keys get 401; revocation (via the CLI) takes effect on the next request', async () => {
    expectError(await request('/v1/statements', undefined), 401, 'unauthorized');
    expectError(await request('/v1/statements', 'fm_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), 401, 'unauthorized');
    expectError(await request('/v1/statements', `${keys.acme}x`), 401, 'unauthorized');
    expectError(await request('/v1/statements', undefined, { headers: { authorization: `Basic ${keys.acme}` } }), 401, 'unauthorized');
    const env = { ...process.env, FAASMETER_CLICKHOUSE_URL: CLICKHOUSE_URL, FAASMETER_CLICKHOUSE_DATABASE: database, FAASMETER_LOG_LEVEL: 'silent' };
    const cli = (args: string[]) => run('npx', ['node', join(root, 'cli', 'faasmeter.ts'), 'keys', ...args], { cwd: root, env });
    const created = JSON.parse((await cli(['create', '--tenant', 'globex', '--name', 'revocation test', '--json'])).stdout) as { keyId: string; key: string };
    expect(created.key).toMatch(/^fm_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect((await request('/v1/statements', created.key)).status).toBe(200);
    // Only the hash is stored.
    const rows = await ch.query<{ key_hash: string }>(sql`SELECT key_hash FROM api_keys WHERE key_id = ${v.string(created.keyId)}`);
    expect(rows.map((r) => r.key_hash)).toEqual([`sha256:${createHash('sha256').update(created.key).digest('hex')}`]);
    const listed = (await cli(['list', '--tenant', 'globex', '--json'])).stdout;
    expect(listed).toContain(created.keyId);
    expect(listed).not.toContain(created.key);
    await cli(['revoke', created.keyId]);
    expectError(await request('/v1/statements', created.key), 401, 'unauthorized');
  });

  it('an HMAC-peppered key verifies only where the pepper is known', async () => {
    const peppered = new KeyStore(ch, new KeyHasher('a-pepper-of-sixteen-chars'));
    const { key } = await peppered.create({ tenant: 'initech' });
    expect(await peppered.authenticate(key)).toMatchObject({ ok: true, principal: { tenant: 'initech' } });
    expect(await store.authenticate(key)).toEqual({ ok: false, reason: 'mismatch' });
  });
});

describe('hostile input changes nothing and reaches ClickHouse only as escaped literals', () => {
  const PAYLOADS = [
    "' OR 1=1 --",
    "acme' OR tenant = 'globex",
    "x'); DROP TABLE billed_calls; --",
    "\\' OR 1=1 /*",
    "2026-10' UNION ALL SELECT * FROM api_keys --",
    '`; TRUNCATE TABLE statements',
    '"globex"',
    "\u02bc OR 1=1 \u2019",
  ];

  async function snapshot(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const table of ['billed_calls', 'usage_hour', 'api_keys', 'statements', 'closed_periods']) {
      const [row] = await ch.query<{ n: string }>(sql`SELECT count() AS n FROM ${v.ident(table)}`);
      out[table] = row!.n;
    }
    return out;
  }

  it('every parameter of every endpoint, with every payload: a 4xx, or an empty 200 for free-text name filters', async () => {
    const before = await snapshot();
    const from = iso(plan.p2Start);
    const to = iso(plan.p2End);
    const targets: Array<{ path: (p: string) => string; freeText?: boolean; method?: string }> = [];
    for (const param of ['from', 'to', 'window', 'groupBy', 'function', 'revision', 'tenant', 'limit', 'offset']) {
      for (const endpoint of ['/v1/usage', '/v1/usage.csv']) {
        targets.push({
          path: (p) => {
            const q = new URLSearchParams({ from, to, window: 'day' });
            q.set(param, p);
            return `${endpoint}?${q.toString()}`;
          },
          freeText: param === 'function' || param === 'revision',
        });
      }
    }
    for (const param of ['from', 'to', 'groupBy', 'function', 'tenant', 'limit']) {
      targets.push({
        path: (p) => {
          const q = new URLSearchParams({ from, to });
          q.set(param, p);
          return `/v1/cold-starts?${q.toString()}`;
        },
        freeText: param === 'function',
      });
    }
    targets.push({ path: (p) => `/v1/rightsizing?${new URLSearchParams({ period: p }).toString()}` });
    targets.push({ path: (p) => `/v1/rightsizing?${new URLSearchParams({ period: plan.p2, tenant: p }).toString()}` });
    targets.push({ path: (p) => `/v1/statements?${new URLSearchParams({ tenant: p }).toString()}` });
    targets.push({ path: (p) => `/v1/statements/${encodeURIComponent(p)}` });
    targets.push({ path: (p) => `/v1/statements/${encodeURIComponent(p)}.csv` });
    targets.push({ path: (p) => `/v1/statements/${plan.p2}?${new URLSearchParams({ tenant: p }).toString()}` });
    targets.push({ path: (p) => `/v1/statements/${encodeURIComponent(p)}/close?tenant=acme`, method: 'POST' });
    targets.push({ path: (p) => `/v1/statements/${plan.p1}/close?${new URLSearchParams({ tenant: p }).toString()}`, method: 'POST' });

    let free = 0;
    for (const payload of PAYLOADS) {
      for (const t of targets) {
        statements.length = 0;
        const r = await request(t.path(payload), t.method === 'POST' ? keys.admin : keys.acme, { method: t.method ?? 'GET' });
        if (t.freeText && r.status === 200) {
          // Function and revision names may hold quotes by contract: the filter matches nothing.
          free += 1;
          if (r.json) expect(r.json.rows).toEqual([]);
          else expect(r.text.trim().split('\r\n')).toHaveLength(1);
          const literals = statements.flatMap((s) => tokenize(s).filter((tk) => tk.kind === 'string').map((tk) => decodeStringLiteral(tk.text)));
          expect(literals).toContain(payload);
        } else {
          expect(r.status, `${t.path(payload)} → ${r.text}`).toBeGreaterThanOrEqual(400);
          expect(r.status).toBeLessThan(500);
          expectError(r, r.status);
        }
        // Outside string literals, no statement carries any part of the payload's SQL.
        for (const s of statements) {
          const code = tokenize(s)
            .filter((tk) => tk.kind !== 'string')
            .map((tk) => tk.text)
            .join(' ');
          expect(code).not.toMatch(/DROP|TRUNCATE|UNION|OR 1|globex/);
        }
      }
    }
    expect(free).toBeGreaterThan(0);
    expect(await snapshot()).toEqual(before);
    expect((await request(`/v1/statements/${plan.p2}`, keys.globex)).json.total).toBe(refTotal('globex', callsOf('globex', plan.p2Start, plan.p2End)));
  });
});

describe('limits and errors', () => {
  it('ranges: too long, misaligned, empty, impossible dates and page sizes each get a clear 4xx naming the field', async () => {
    const cases: Array<[string, number, string, string]> = [
      [`/v1/usage?from=2026-01-01&to=2026-02-02T00:00:00Z&window=hour`, 422, 'range_too_long', 'query.to'],
      [`/v1/usage?from=2024-01-01&to=2026-01-01&window=day`, 422, 'range_too_long', 'query.to'],
      [`/v1/usage?from=2026-01-01T10:30:00Z&to=2026-01-02&window=hour`, 422, 'invalid_range', 'query.from'],
      [`/v1/usage?from=2026-01-15&to=2026-03-01&window=month`, 422, 'invalid_range', 'query.from'],
      [`/v1/usage?from=2026-02-01&to=2026-02-01`, 422, 'invalid_range', 'query.to'],
      [`/v1/usage?from=2026-02-30&to=2026-03-02`, 422, 'invalid_range', 'query.from'],
      [`/v1/usage?from=1999-01-01&to=2026-03-02`, 400, 'invalid_parameter', 'query.from'],
      [`/v1/usage?from=2026-01-01`, 400, 'invalid_parameter', 'query.to'],
      [`/v1/usage?${p2Range()}&limit=5000`, 400, 'invalid_parameter', 'query.limit'],
      [`/v1/usage?${p2Range()}&limit=0`, 400, 'invalid_parameter', 'query.limit'],
      [`/v1/usage?${p2Range()}&limit=1e2`, 400, 'invalid_parameter', 'query.limit'],
      [`/v1/usage?${p2Range()}&window=week`, 400, 'invalid_parameter', 'query.window'],
      [`/v1/usage?${p2Range()}&colour=red`, 400, 'unknown_parameter', 'query.colour'],
      [`/v1/cold-starts?from=2026-01-01&to=2026-06-01`, 422, 'range_too_long', 'query.to'],
      [`/v1/rightsizing?period=2026-13`, 400, 'invalid_parameter', 'query.period'],
      [`/v1/statements/2026-1`, 400, 'invalid_parameter', 'path.period'],
    ];
    for (const [path, status, code, field] of cases) {
      const r = await request(path, keys.acme);
      expectError(r, status, code);
      expect(r.json.error.field, path).toBe(field);
      expect(r.json.error.message.length).toBeGreaterThan(5);
    }
    expectError(await request('/v1/nothing-here', keys.acme), 404, 'not_found');
    const wrong = await request('/v1/usage', keys.acme, { method: 'DELETE' });
    expectError(wrong, 405, 'method_not_allowed');
    expect(wrong.headers.get('allow')).toBe('GET, HEAD');
  });

  it('the per-key rate limit answers 429 with Retry-After, and other keys are unaffected', async () => {
    const limited = await startApi({ limits: { ratePerSecond: 0.5, rateBurst: 3 } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await request('/v1/statements', keys.acme, {}, limited)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const r = await request('/v1/statements', keys.acme, {}, limited);
    expectError(r, 429, 'rate_limited');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await request('/v1/statements', keys.globex, {}, limited)).status).toBe(200);
  });

  it('a ClickHouse failure is a 500 or 503 with a request id and no SQL, stack or server text', async () => {
    const noDb = createClickHouse({ url: CLICKHOUSE_URL, database: 'faasmeter_api_no_such_db' });
    const unreachable = createClickHouse({ url: 'http://127.0.0.1:1', database });
    extraClients.push(noDb, unreachable);
    const missing = await startApi({ ch: noDb });
    // Keys still authenticate against the real store; the data reads hit a database that does not exist.
    const r = await request(`/v1/statements/${plan.p2}`, keys.acme, {}, missing);
    expectError(r, 500, 'internal_error');
    expect(r.json.error.message).toContain(r.json.error.requestId);
    const down = await startApi({ ch: unreachable });
    expectError(await request(`/v1/usage?${p2Range()}`, keys.acme, {}, down), 503, 'unavailable');
  });

  it('/openapi.json is OpenAPI 3.1 generated from the request schemas', async () => {
    const r = await request('/openapi.json', undefined);
    expect(r.json.openapi).toBe('3.1.0');
    expect(Object.keys(r.json.paths)).toEqual(
      expect.arrayContaining(['/v1/usage', '/v1/usage.csv', '/v1/statements', '/v1/statements/{period}', '/v1/statements/{period}.csv', '/v1/statements/{period}/close', '/v1/cold-starts', '/v1/rightsizing', '/healthz', '/readyz', '/metrics']),
    );
    const params = r.json.paths['/v1/usage'].get.parameters as Array<{ name: string; required: boolean }>;
    expect(params.filter((p) => p.required).map((p) => p.name)).toEqual(['from', 'to']);
    expect(params.find((p: any) => p.name === 'limit')).toMatchObject({ schema: { type: 'integer', maximum: DEFAULT_LIMITS.maxPageSize } });
  });
});
