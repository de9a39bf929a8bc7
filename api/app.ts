import { randomUUID } from 'node:crypto';
import type { Meter } from '@opentelemetry/api';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { z } from 'zod';
import type { ClickHouse } from '../clickhouse/client.ts';
import { ClickHouseError } from '../clickhouse/client.ts';
import type { Logger } from '../common/log.ts';
import type { OpsRoutes } from '../common/ops-server.ts';
import { handleOps } from '../common/ops-server.ts';
import { add, Dec, format, gbSecondsOf, mul, sub } from '../meter/pricing/money.ts';
import type { Plan, PricingConfig } from '../meter/pricing/index.ts';
import { costAtMemory, planFor, suggestMemory } from '../meter/pricing/index.ts';
import type { StoredStatement } from '../meter/statements.ts';
import type { ApiLimits } from './config.ts';
import { toCsv } from './csv.ts';
import type { CsvValue } from './csv.ts';
import { ApiError, badParameter } from './errors.ts';
import type { Principal } from './keys.ts';
import type { KeyStore } from './keys.ts';
import { buildOpenApi, jsonSchema } from './openapi.ts';
import type { OperationDoc } from './openapi.ts';
import { RateLimiter } from './rate-limit.ts';
import type { UsageDbRow } from './repository.ts';
import { Repository } from './repository.ts';
import {
  apiSchemas,
  ColdStartsResponse,
  HealthResponse,
  ReadyResponse,
  RightsizingResponse,
  StatementListResponse,
  StatementResponse,
  UsageResponse,
} from './schemas.ts';
import { TenantScope } from './scope.ts';
import type { Window } from './time.ts';
import { checkedRange, isoSeconds, monthBounds } from './time.ts';

export interface ApiDeps {
  ch: ClickHouse;
  pricing: PricingConfig;
  keys: KeyStore;
  limits: ApiLimits;
  log: Logger;
  meter: Meter;
  /** /metrics, /healthz and /readyz on the API's own port. */
  ops?: OpsRoutes;
  now?: () => number;
}

export const COST_RULE =
  'Estimate: calls × the plan’s request price + GB-s × the plan’s tier-1 price for the architecture, pro rata per row, ' +
  'before free allowance, volume tiers and provisioned idle time. Exact and unrounded; rows add up. The statement is the bill.';

export const RIGHTSIZING_RULE =
  'Suggested size: the smallest of 128, 256, 512, 1024, 1536, 2048, 3008, 4096, 10240 MB holding the peak used memory × 1.2. ' +
  'Costs assume the same billed ms at any size and price (exec + init) GB-s at the tier-1 price, without requests, free allowance ' +
  'or provisioned idle time; rounded to the currency’s minor units.';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

function tier1(plan: Plan, arch: 'x86_64' | 'arm64'): Dec {
  return new Dec(plan.computePrices[arch][0]!.pricePerGbSecond);
}

function nextMonth(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

function windowBounds(r: UsageDbRow, window: Window): { start: number; end: number } {
  if (window === 'hour') {
    const start = Number(r.window_start) * 1000;
    return { start, end: start + HOUR_MS };
  }
  const start = Date.parse(`${String(r.window_start)}T00:00:00Z`);
  return { start, end: window === 'day' ? start + DAY_MS : nextMonth(start) };
}

function usageRow(r: UsageDbRow, window: Window, plan: Plan): z.infer<typeof UsageResponse>['rows'][number] {
  const { start, end } = windowBounds(r, window);
  const gbX86 = gbSecondsOf(BigInt(r.mb_ms_x86));
  const gbArm = gbSecondsOf(BigInt(r.mb_ms_arm));
  const cost = add(add(mul(new Dec(r.calls_sum), new Dec(plan.requestPrice)), mul(gbX86, tier1(plan, 'x86_64'))), mul(gbArm, tier1(plan, 'arm64')));
  return {
    start: isoSeconds(start),
    end: isoSeconds(end),
    ...(r.function === undefined ? {} : { function: r.function }),
    ...(r.revision === undefined ? {} : { revision: r.revision }),
    ...(r.arch === 'x86_64' || r.arch === 'arm64' ? { arch: r.arch } : {}),
    calls: r.calls_sum,
    errors: r.errors_sum,
    timeouts: r.timeouts_sum,
    coldStarts: r.cold_sum,
    billedMs: r.billed_sum,
    initBilledMs: r.init_billed_sum,
    gbSeconds: format(add(gbX86, gbArm)),
    cost: format(cost),
  };
}

function statementBody(s: StoredStatement): z.infer<typeof StatementResponse> {
  return {
    tenant: s.tenant,
    period: s.period,
    status: s.status,
    currency: s.statement.currency,
    lines: s.statement.lines,
    subtotal: s.statement.subtotal,
    total: s.statement.total,
  };
}

const ms = (us: number) => us / 1000;

interface Ctx {
  requestId: string;
  principal: Principal;
}

/** The Express application: routes, auth, limits, errors, /openapi.json and the ops endpoints. */
export function createApiApp(deps: ApiDeps): express.Express {
  const { pricing, keys, limits, log } = deps;
  const now = deps.now ?? Date.now;
  const repo = new Repository(deps.ch, pricing);
  const schemas = apiSchemas(limits);
  const limiter = new RateLimiter(limits.ratePerSecond, limits.rateBurst);
  const defaultPage = Math.min(100, limits.maxPageSize);

  const requests = deps.meter.createCounter('faasmeter_api_requests_total', { description: 'API requests by route and status' });
  const duration = deps.meter.createHistogram('faasmeter_api_request_duration_seconds', { description: 'API request time by route' });
  const authFailures = deps.meter.createCounter('faasmeter_api_auth_failures_total', { description: 'Refused API keys by reason' });
  const throttled = deps.meter.createCounter('faasmeter_api_rate_limited_total', { description: 'Requests refused by the per-key rate limit' });

  // Which query parameters are integers, so "1e3", "0x10" or "" are refused before zod coerces them.
  const integerKeys = new WeakMap<z.ZodObject, Set<string>>();
  function integersOf(schema: z.ZodObject): Set<string> {
    let keys = integerKeys.get(schema);
    if (!keys) {
      const props = (jsonSchema(schema, 'input').properties ?? {}) as Record<string, { type?: string }>;
      keys = new Set(Object.entries(props).filter(([, p]) => p.type === 'integer').map(([k]) => k));
      integerKeys.set(schema, keys);
    }
    return keys;
  }

  /**
   * Query parameters parsed from the raw URL, once: a parameter not in the schema, or given
   * twice (`?tenant=a&tenant=b`), is a 400 rather than silently picking one reading.
   */
  function parseQuery<S extends z.ZodObject>(schema: S, req: Request): z.output<S> {
    const params = new URL(req.originalUrl, 'http://api.invalid').searchParams;
    const shape = schema.shape as Record<string, unknown>;
    const ints = integersOf(schema);
    const input: Record<string, string> = {};
    for (const [name, value] of params) {
      const shown = JSON.stringify(name.slice(0, 64));
      if (!Object.hasOwn(shape, name)) throw new ApiError(400, 'unknown_parameter', `unknown query parameter ${shown}`, { field: `query.${name.slice(0, 64)}` });
      if (Object.hasOwn(input, name)) throw new ApiError(400, 'duplicate_parameter', `query parameter ${shown} is given more than once`, { field: `query.${name}` });
      if (ints.has(name) && !/^[0-9]{1,12}$/.test(value)) throw badParameter(`query.${name}`, `${name}: must be a non-negative whole number`);
      input[name] = value;
    }
    const parsed = schema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const name = String(issue.path[0] ?? '');
      throw badParameter(`query.${name}`, `${name}: ${issue.message}`);
    }
    return parsed.data;
  }

  function parsePeriod(raw: string | string[] | undefined): string {
    const parsed = schemas.PeriodParams.safeParse({ period: raw });
    if (!parsed.success) throw badParameter('path.period', `period: ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
    return parsed.data.period;
  }

  /** The tenant a request reads: a tenant key's own; an admin key's named one. */
  function scopeFor(principal: Principal, tenant: string | undefined): TenantScope {
    if (principal.role === 'tenant') {
      if (tenant !== undefined && tenant !== principal.tenant) {
        throw new ApiError(403, 'tenant_forbidden', 'this key may read only its own tenant', { field: 'query.tenant' });
      }
      return TenantScope.of(principal.tenant);
    }
    if (tenant === undefined) throw new ApiError(400, 'tenant_required', 'admin keys must name a tenant with ?tenant=', { field: 'query.tenant' });
    return TenantScope.of(tenant);
  }

  async function authenticate(req: Request): Promise<Principal> {
    const header = req.headers.authorization;
    const challenge = { 'WWW-Authenticate': 'Bearer realm="faasmeter"' };
    const match = header === undefined ? null : /^Bearer ([!-~]{1,512})$/i.exec(header);
    if (!match) {
      authFailures.add(1, { reason: header === undefined ? 'missing' : 'malformed_header' });
      throw new ApiError(401, 'unauthorized', 'send an API key as "Authorization: Bearer <key>"', { headers: challenge });
    }
    const result = await keys.authenticate(match[1]!);
    if (!result.ok) {
      authFailures.add(1, { reason: result.reason });
      throw new ApiError(401, 'unauthorized', 'the API key is not valid (unknown, revoked or malformed)', { headers: challenge });
    }
    const allowed = limiter.take(result.principal.keyId);
    if (!allowed.ok) {
      throttled.add(1);
      throw new ApiError(429, 'rate_limited', `too many requests for this key; retry in ${allowed.retryAfterSeconds} s`, {
        headers: { 'Retry-After': String(allowed.retryAfterSeconds) },
      });
    }
    return result.principal;
  }

  function sendJson<S extends z.ZodType>(res: Response, schema: S, body: z.input<S>, status = 200): void {
    // Responses are checked against the schema /openapi.json publishes: a mismatch is our bug, a 500.
    res.status(status).json(schema.parse(body));
  }

  function sendCsv(res: Response, filename: string, text: string, nextOffset: number | null): void {
    res.status(200).type('text/csv; charset=utf-8').set('Content-Disposition', `attachment; filename="${filename}"`);
    if (nextOffset !== null) res.set('X-Next-Offset', String(nextOffset));
    res.send(text);
  }

  type Handler = (req: Request, res: Response, ctx: Ctx) => Promise<void>;
  const authed =
    (handler: Handler) =>
    async (req: Request, res: Response): Promise<void> => {
      const principal = await authenticate(req);
      res.locals.keyId = principal.keyId;
      await handler(req, res, { requestId: String(res.locals.requestId), principal });
    };

  async function usageData(req: Request, schema: typeof schemas.UsageQuery | typeof schemas.UsageCsvQuery, ctx: Ctx, pageDefault: number) {
    const q = parseQuery(schema, req);
    const scope = scopeFor(ctx.principal, q.tenant);
    const window = q.window ?? 'day';
    const range = checkedRange(q.from, q.to, window, limits.maxRangeDays[window]);
    const page = { limit: q.limit ?? pageDefault, offset: q.offset ?? 0 };
    const result = await repo.usage(
      scope,
      { window, groupBy: q.groupBy, fromMs: range.fromMs, toMs: range.toMs, function: q.function, revision: q.revision },
      page,
    );
    const { planId, plan } = planFor(pricing, scope.tenant);
    return { scope, window, range, groupBy: q.groupBy ?? null, planId, plan, rows: result.rows.map((r) => usageRow(r, window, plan)), nextOffset: result.nextOffset };
  }

  const usage: Handler = async (req, res, ctx) => {
    const d = await usageData(req, schemas.UsageQuery, ctx, defaultPage);
    sendJson(res, UsageResponse, {
      tenant: d.scope.tenant,
      window: d.window,
      from: isoSeconds(d.range.fromMs),
      to: isoSeconds(d.range.toMs),
      groupBy: d.groupBy,
      plan: d.planId,
      currency: d.plan.currency,
      costRule: COST_RULE,
      rows: d.rows,
      nextOffset: d.nextOffset,
    });
  };

  const usageCsv: Handler = async (req, res, ctx) => {
    const d = await usageData(req, schemas.UsageCsvQuery, ctx, limits.maxCsvRows);
    const header = ['start', 'end', 'function', 'revision', 'arch', 'calls', 'errors', 'timeouts', 'cold_starts', 'billed_ms', 'init_billed_ms', 'gb_seconds', 'cost', 'currency'];
    const rows = d.rows.map((r): CsvValue[] => [
      r.start,
      r.end,
      r.function,
      r.revision,
      r.arch,
      r.calls,
      r.errors,
      r.timeouts,
      r.coldStarts,
      r.billedMs,
      r.initBilledMs,
      r.gbSeconds,
      r.cost,
      d.plan.currency,
    ]);
    sendCsv(res, `usage-${d.scope.tenant}.csv`, toCsv(header, rows), d.nextOffset);
  };

  const statementsList: Handler = async (req, res, ctx) => {
    const q = parseQuery(schemas.StatementsQuery, req);
    const scope = scopeFor(ctx.principal, q.tenant);
    const limit = q.limit ?? defaultPage;
    const offset = q.offset ?? 0;
    const all = await repo.statementPeriods(scope);
    const periods = all.slice(offset, offset + limit);
    sendJson(res, StatementListResponse, { tenant: scope.tenant, periods, nextOffset: offset + limit < all.length ? offset + limit : null });
  };

  const statement: Handler = async (req, res, ctx) => {
    const raw = String(req.params.period ?? '');
    const csv = raw.endsWith('.csv');
    const period = parsePeriod(csv ? raw.slice(0, -4) : raw);
    const q = parseQuery(schemas.TenantOnlyQuery, req);
    const scope = scopeFor(ctx.principal, q.tenant);
    const s = await repo.statement(scope, period, now());
    if (!csv) {
      sendJson(res, StatementResponse, statementBody(s));
      return;
    }
    const st = s.statement;
    const header = ['period', 'status', 'currency', 'kind', 'arch', 'tier', 'usage_period', 'quantity', 'unit', 'unit_price', 'amount', 'amount_exact'];
    const rows: CsvValue[][] = st.lines.map((l) => [
      period,
      s.status,
      st.currency,
      l.kind,
      l.arch,
      l.tier,
      l.period,
      l.quantity,
      l.unit,
      l.unitPrice,
      l.amount,
      l.amountExact,
    ]);
    rows.push([period, s.status, st.currency, 'subtotal', null, null, null, null, null, null, st.subtotal, null]);
    rows.push([period, s.status, st.currency, 'total', null, null, null, null, null, null, st.total, null]);
    sendCsv(res, `statement-${scope.tenant}-${period}.csv`, toCsv(header, rows), null);
  };

  const closeStatement: Handler = async (req, res, ctx) => {
    const period = parsePeriod(req.params.period);
    const q = parseQuery(schemas.TenantOnlyQuery, req);
    if (ctx.principal.role !== 'admin') throw new ApiError(403, 'admin_only', 'closing a period needs an admin key');
    const scope = scopeFor(ctx.principal, q.tenant);
    const nowMs = now();
    if (monthBounds(period).toMs > nowMs) {
      throw new ApiError(409, 'period_not_ended', `${period} has not ended yet; a period can be closed from the first day of the next month`, {
        field: 'path.period',
      });
    }
    const s = await repo.close(scope, period, { nowMs, settleMs: limits.closeSettleMs });
    log.info({ requestId: ctx.requestId, keyId: ctx.principal.keyId, tenant: scope.tenant, period, total: s.statement.total }, 'period closed');
    sendJson(res, StatementResponse, statementBody(s));
  };

  const coldStarts: Handler = async (req, res, ctx) => {
    const q = parseQuery(schemas.ColdStartsQuery, req);
    const scope = scopeFor(ctx.principal, q.tenant);
    const range = checkedRange(q.from, q.to, 'hour', limits.maxRangeDays.coldStarts);
    const page = { limit: q.limit ?? defaultPage, offset: q.offset ?? 0 };
    const result = await repo.coldStarts(scope, { ...range, groupBy: q.groupBy, function: q.function }, page);
    const quant = (us: [number, number, number] | undefined) => (us ? { p50: ms(us[0]), p95: ms(us[1]), p99: ms(us[2]) } : null);
    sendJson(res, ColdStartsResponse, {
      tenant: scope.tenant,
      from: isoSeconds(range.fromMs),
      to: isoSeconds(range.toMs),
      groupBy: q.groupBy ?? null,
      rows: result.rows.map((r) => ({
        ...(r.function === undefined ? {} : { function: r.function }),
        ...(r.revision === undefined ? {} : { revision: r.revision }),
        calls: r.calls.toString(),
        coldStarts: r.coldStarts.toString(),
        rate: r.calls > 0n ? Number(r.coldStarts) / Number(r.calls) : 0,
        initDurationMs: quant(r.initUs),
        waitMs: quant(r.waitUs),
      })),
      nextOffset: result.nextOffset,
    });
  };

  const rightsizing: Handler = async (req, res, ctx) => {
    const q = parseQuery(schemas.RightsizingQuery, req);
    const scope = scopeFor(ctx.principal, q.tenant);
    const page = { limit: q.limit ?? defaultPage, offset: q.offset ?? 0 };
    const result = await repo.memoryPeaks(scope, monthBounds(q.period), page);
    const { plan } = planFor(pricing, scope.tenant);
    const rows = result.rows.flatMap((r) => {
      if (r.arch !== 'x86_64' && r.arch !== 'arm64') return [];
      const memoryMb = Number(r.memory_mb);
      const billedMs = BigInt(r.billed_sum) + BigInt(r.init_billed_sum);
      const peak = Number(r.peak_mb) > 0 ? Number(r.peak_mb) : null;
      const suggested = peak === null ? null : suggestMemory(peak);
      const current = costAtMemory(plan, { arch: r.arch, billedMs }, memoryMb);
      const atSuggested = suggested === null ? null : costAtMemory(plan, { arch: r.arch, billedMs }, suggested);
      const action = suggested === null ? 'unknown' : suggested < memoryMb ? 'decrease' : suggested > memoryMb ? 'increase' : 'keep';
      return [
        {
          function: r.function,
          arch: r.arch,
          memoryMb,
          calls: r.calls_sum,
          billedMs: billedMs.toString(),
          peakUsedMb: peak,
          suggestedMemoryMb: suggested,
          action,
          currentCost: current.cost,
          suggestedCost: atSuggested?.cost ?? null,
          saving: atSuggested ? format(sub(new Dec(current.cost), new Dec(atSuggested.cost)), plan.minorUnits) : null,
        } as const,
      ];
    });
    sendJson(res, RightsizingResponse, { tenant: scope.tenant, period: q.period, currency: plan.currency, rule: RIGHTSIZING_RULE, rows, nextOffset: result.nextOffset });
  };

  const operations = apiOperations(schemas);
  const document = buildOpenApi(operations, {
    title: 'faasmeter billing API',
    version: '1.0.0',
    description:
      'Usage, statements, cold starts and right-sizing for one tenant per request. Authenticate with `Authorization: Bearer <key>`. ' +
      'Every error is `{ "error": { "code", "message", "field"?, "requestId" } }`. See docs/api.md.',
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', false);

  app.use((req, res, next) => {
    const started = performance.now();
    const requestId = randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    res.on('finish', () => {
      const route = typeof res.locals.route === 'string' ? res.locals.route : 'other';
      const seconds = (performance.now() - started) / 1000;
      requests.add(1, { route, status: String(res.statusCode) });
      duration.record(seconds, { route });
      log.info({ requestId, method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 1000), keyId: res.locals.keyId }, 'request');
    });
    if (deps.ops && handleOps(deps.ops, req, res)) {
      res.locals.route = (req.url ?? '').split('?')[0];
      return;
    }
    next();
  });

  const route = (name: string, handler: (req: Request, res: Response) => Promise<void>) => async (req: Request, res: Response) => {
    res.locals.route = name;
    await handler(req, res);
  };
  app.get('/openapi.json', (_req, res) => {
    res.locals.route = '/openapi.json';
    res.json(document);
  });
  app.get('/v1/usage', route('/v1/usage', authed(usage)));
  app.get('/v1/usage.csv', route('/v1/usage.csv', authed(usageCsv)));
  app.get('/v1/statements', route('/v1/statements', authed(statementsList)));
  app.get('/v1/statements/:period', route('/v1/statements/{period}', authed(statement)));
  app.post('/v1/statements/:period/close', route('/v1/statements/{period}/close', authed(closeStatement)));
  app.get('/v1/cold-starts', route('/v1/cold-starts', authed(coldStarts)));
  app.get('/v1/rightsizing', route('/v1/rightsizing', authed(rightsizing)));

  const methodNotAllowed = (allow: string) => (_req: Request, _res: Response, next: NextFunction) => {
    next(new ApiError(405, 'method_not_allowed', `this path supports ${allow}`, { headers: { Allow: allow } }));
  };
  app.all(
    ['/v1/usage', '/v1/usage.csv', '/v1/statements', '/v1/statements/:period', '/v1/cold-starts', '/v1/rightsizing', '/openapi.json', '/healthz', '/readyz', '/metrics'],
    methodNotAllowed('GET, HEAD'),
  );
  app.all('/v1/statements/:period/close', methodNotAllowed('POST'));
  app.use((_req, _res, next) => next(new ApiError(404, 'not_found', 'no such endpoint; see /openapi.json')));

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const requestId = String(res.locals.requestId ?? randomUUID());
    let error: ApiError;
    if (err instanceof ApiError) {
      error = err;
    } else if (err instanceof URIError || (err as { status?: number }).status === 400) {
      error = new ApiError(400, 'invalid_path', 'the path is not valid percent-encoded UTF-8');
    } else if (err instanceof ClickHouseError && err.transient) {
      log.warn({ requestId, err }, 'ClickHouse unavailable');
      error = new ApiError(503, 'unavailable', 'the data store is unavailable; retry shortly', { headers: { 'Retry-After': '5' } });
    } else {
      log.error({ requestId, err, method: req.method, path: req.path }, 'request failed');
      error = new ApiError(500, 'internal_error', `internal error; quote request id ${requestId} when reporting it`);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(error.status).set(error.headers);
    res.json({ error: { code: error.code, message: error.message, ...(error.field === undefined ? {} : { field: error.field }), requestId } });
  });

  return app;
}

/** What /openapi.json describes: one entry per operation, built from the same schemas. */
export function apiOperations(schemas: ReturnType<typeof apiSchemas>): OperationDoc[] {
  const common = [400, 401, 403, 405, 429, 500, 503];
  const csvDoc = { description: 'RFC 4180 CSV; cells that could start a spreadsheet formula are prefixed with \'.', text: { contentType: 'text/csv' } };
  const nextOffsetHeader = {
    'X-Next-Offset': { description: 'Present when more rows follow: pass it as offset.', required: false, schema: { type: 'string', pattern: '^[0-9]+$' } },
  };
  return [
    {
      method: 'get',
      path: '/v1/usage',
      operationId: 'getUsage',
      summary: 'Usage per window, optionally per function, revision or architecture',
      description: `From the usage_hour / usage_day rollups. ${COST_RULE}`,
      tags: ['usage'],
      auth: true,
      query: schemas.UsageQuery,
      responses: { 200: { description: 'Usage rows, oldest window first.', json: UsageResponse } },
      errors: [...common, 422],
    },
    {
      method: 'get',
      path: '/v1/usage.csv',
      operationId: 'getUsageCsv',
      summary: 'The usage report as CSV',
      tags: ['usage'],
      auth: true,
      query: schemas.UsageCsvQuery,
      responses: { 200: { ...csvDoc, headers: nextOffsetHeader } },
      errors: [...common, 422],
    },
    {
      method: 'get',
      path: '/v1/statements',
      operationId: 'listStatements',
      summary: 'Billing periods with usage or a statement, newest first',
      tags: ['statements'],
      auth: true,
      query: schemas.StatementsQuery,
      responses: { 200: { description: 'Periods and their status.', json: StatementListResponse } },
      errors: common,
    },
    {
      method: 'get',
      path: '/v1/statements/{period}',
      operationId: 'getStatement',
      summary: 'A period’s statement: draft while open, final once closed',
      tags: ['statements'],
      auth: true,
      params: schemas.PeriodParams,
      query: schemas.TenantOnlyQuery,
      responses: { 200: { description: 'The statement; money as decimal strings.', json: StatementResponse } },
      errors: common,
    },
    {
      method: 'get',
      path: '/v1/statements/{period}.csv',
      operationId: 'getStatementCsv',
      summary: 'A period’s statement as CSV, ending with subtotal and total rows',
      tags: ['statements'],
      auth: true,
      params: schemas.PeriodParams,
      query: schemas.TenantOnlyQuery,
      responses: { 200: csvDoc },
      errors: common,
    },
    {
      method: 'post',
      path: '/v1/statements/{period}/close',
      operationId: 'closeStatement',
      summary: 'Close a period for a tenant and store its final statement (admin keys only)',
      description: 'Idempotent: closing a closed period returns its final statement. Calls of a closed period that arrive later are billed as adjustments on the next open statement.',
      tags: ['statements'],
      auth: true,
      params: schemas.PeriodParams,
      query: schemas.TenantOnlyQuery,
      responses: { 200: { description: 'The final statement.', json: StatementResponse } },
      errors: [...common, 409],
    },
    {
      method: 'get',
      path: '/v1/cold-starts',
      operationId: 'getColdStarts',
      summary: 'Cold-start count, rate and exact p50/p95/p99 of init duration and first-request wait',
      tags: ['performance'],
      auth: true,
      query: schemas.ColdStartsQuery,
      responses: { 200: { description: 'One row per group (or one total row).', json: ColdStartsResponse } },
      errors: [...common, 422],
    },
    {
      method: 'get',
      path: '/v1/rightsizing',
      operationId: 'getRightsizing',
      summary: 'Configured memory against observed peak, with the suggested size and its cost',
      description: RIGHTSIZING_RULE,
      tags: ['performance'],
      auth: true,
      query: schemas.RightsizingQuery,
      responses: { 200: { description: 'One row per function, architecture and configured size.', json: RightsizingResponse } },
      errors: common,
    },
    {
      method: 'get',
      path: '/openapi.json',
      operationId: 'getOpenApi',
      summary: 'This document',
      tags: ['ops'],
      auth: false,
      responses: { 200: { description: 'OpenAPI 3.1.', text: { contentType: 'application/json' } } },
      errors: [405],
    },
    {
      method: 'get',
      path: '/healthz',
      operationId: 'getHealth',
      summary: 'Liveness',
      tags: ['ops'],
      auth: false,
      responses: { 200: { description: 'Alive.', json: HealthResponse }, 503: { description: 'Broken beyond recovery: restart.', json: HealthResponse } },
      errors: [405],
    },
    {
      method: 'get',
      path: '/readyz',
      operationId: 'getReady',
      summary: 'Readiness (ClickHouse reachable, not shutting down)',
      tags: ['ops'],
      auth: false,
      responses: { 200: { description: 'Ready.', json: ReadyResponse }, 503: { description: 'Not ready.', json: ReadyResponse } },
      errors: [405],
    },
    {
      method: 'get',
      path: '/metrics',
      operationId: 'getMetrics',
      summary: 'Prometheus metrics',
      tags: ['ops'],
      auth: false,
      responses: { 200: { description: 'Prometheus text format.', text: { contentType: 'text/plain' } } },
      errors: [405],
    },
  ];
}
