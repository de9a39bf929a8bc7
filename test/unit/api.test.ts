/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument -- response bodies are untyped JSON, checked by value */
import { describe, expect, it } from 'vitest';
import { apiOperations } from '../../api/app.ts';
import { DEFAULT_LIMITS } from '../../api/config.ts';
import { csvCell, toCsv } from '../../api/csv.ts';
import { ApiError } from '../../api/errors.ts';
import { generateKey, KeyHasher, parseKey } from '../../api/keys.ts';
import { buildOpenApi } from '../../api/openapi.ts';
import { RateLimiter } from '../../api/rate-limit.ts';
import { Repository } from '../../api/repository.ts';
import { apiSchemas } from '../../api/schemas.ts';
import { ScopeViolation, TenantScope } from '../../api/scope.ts';
import { checkedRange } from '../../api/time.ts';
import type { ClickHouse } from '../../clickhouse/client.ts';
import { sql, v } from '../../clickhouse/sql.ts';
import { DEFAULT_PRICING_CONFIG } from '../../meter/pricing/index.ts';

function recordingClickHouse(texts: string[]): ClickHouse {
  const ch: ClickHouse = {
    database: 'test',
    query: (s) => {
      texts.push(s.text);
      return Promise.resolve([]);
    },
    command: (s) => {
      texts.push(s.text);
      return Promise.resolve();
    },
    insert: () => Promise.resolve(),
    ping: () => Promise.resolve(),
    withDatabase: () => ch,
    close: () => Promise.resolve(),
  };
  return ch;
}

describe('CSV export', () => {
  it('quotes per RFC 4180: comma, quote, CR and LF force quotes, and quotes double', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell(null)).toBe('');
    expect(toCsv(['a', 'b'], [['1', 'x,y']])).toBe('a,b\r\n1,"x,y"\r\n');
  });

  it('neutralises cells a spreadsheet would evaluate (= + - @ tab CR) with a leading quote', () => {
    for (const cell of ['=1+1', '+SUM(A1)', '-2+3', '@cmd', '\tx', '=HYPERLINK("http://x","y")']) expect(csvCell(cell).replace(/^"/, '').startsWith("'")).toBe(true);
    expect(csvCell("=cmd|' /C calc'!A0")).toBe("'=cmd|' /C calc'!A0");
  });

  it('leaves plain decimal numbers, negative amounts included, as numbers', () => {
    expect(csvCell('-0.50')).toBe('-0.50');
    expect(csvCell('-12')).toBe('-12');
    expect(csvCell('-1e3')).toBe("'-1e3");
  });
});

describe('API keys', () => {
  it('a key is fm_ + 16 hex id + 32 random bytes base64url, and parses back to its id', () => {
    const { keyId, key } = generateKey();
    expect(key).toMatch(/^fm_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(key.split('_').slice(2).join('_'), 'base64url')).toHaveLength(32);
    expect(parseKey(key)).toEqual({ keyId });
    expect(parseKey(`${key}x`)).toBeUndefined();
    expect(parseKey(`Fm_${key.slice(3)}`)).toBeUndefined();
    expect(generateKey().key).not.toBe(key);
  });

  it('stores SHA-256 without a pepper and HMAC-SHA-256 with one; each verifies only the right key', () => {
    const { key } = generateKey();
    const plain = new KeyHasher();
    const peppered = new KeyHasher('pepper-pepper-pepper');
    expect(plain.hash(key)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(peppered.hash(key)).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(plain.verify(key, plain.hash(key))).toBe(true);
    expect(peppered.verify(key, peppered.hash(key))).toBe(true);
    expect(plain.verify(key, peppered.hash(key))).toBe(false);
    expect(new KeyHasher('another-pepper-entirely').verify(key, peppered.hash(key))).toBe(false);
    expect(plain.verify(generateKey().key, plain.hash(key))).toBe(false);
    expect(plain.verify(key, 'sha256:abcd')).toBe(false);
    expect(plain.verify(key, 'md5:00')).toBe(false);
  });
});

describe('tenant scope', () => {
  const scope = TenantScope.of('acme');

  it('refuses a statement whose table read lacks the tenant predicate, before it reaches ClickHouse', async () => {
    const texts: string[] = [];
    const client = scope.client(recordingClickHouse(texts));
    await expect(client.query(sql`SELECT count() FROM usage_hour`)).rejects.toThrow(ScopeViolation);
    await expect(client.query(sql`SELECT count() FROM usage_hour WHERE tenant = ${v.string('globex')}`)).rejects.toThrow(ScopeViolation);
    await expect(
      client.query(sql`SELECT count() FROM usage_hour WHERE ${scope.predicate} AND hour IN (SELECT hour FROM usage_day)`),
    ).rejects.toThrow(ScopeViolation);
    await expect(client.command(sql`DROP TABLE usage_hour`)).rejects.toThrow(ScopeViolation);
    await expect(client.insert('statements', [{ tenant: 'globex' }])).rejects.toThrow(ScopeViolation);
    expect(texts).toEqual([]);
    await client.query(sql`SELECT count() FROM usage_hour WHERE ${scope.predicate} AND hour IN (SELECT hour FROM sealed_hours)`);
    expect(texts).toHaveLength(1);
  });

  it('refuses a tenant id the contract would not accept', () => {
    expect(() => TenantScope.of("acme' OR 1=1")).toThrow(ScopeViolation);
    expect(() => TenantScope.of('')).toThrow(ScopeViolation);
  });

  it('every statement the repository builds that reads a tenant table carries the predicate', async () => {
    const texts: string[] = [];
    const repo = new Repository(recordingClickHouse(texts), DEFAULT_PRICING_CONFIG);
    const page = { limit: 10, offset: 0 };
    const range = { fromMs: Date.UTC(2026, 9, 1), toMs: Date.UTC(2026, 10, 1) };
    for (const window of ['hour', 'day', 'month'] as const) {
      for (const groupBy of [undefined, 'function', 'revision', 'arch'] as const) {
        await repo.usage(scope, { window, groupBy, ...range, function: "f'x", revision: 'r' }, page);
      }
    }
    await repo.coldStarts(scope, { ...range, groupBy: 'revision', function: undefined }, page);
    await repo.memoryPeaks(scope, range, page);
    await repo.statementPeriods(scope);
    await repo.statement(scope, '2026-10', Date.UTC(2026, 10, 2));
    expect(texts.length).toBeGreaterThan(15);
    // Only the meter's markers of written and sealed hours have no tenant column.
    const markersOnly = (t: string) => /\bFROM (written_hours|sealed_hours)\b/.test(t) && !/\bFROM (?!written_hours|sealed_hours)[a-z_]+\b/.test(t);
    for (const text of texts) if (!markersOnly(text)) expect(text).toContain("tenant = 'acme'");
    expect(texts.filter((t) => !markersOnly(t)).length).toBeGreaterThan(15);
    expect(texts.some((t) => t.includes("function = 'f\\'x'"))).toBe(true);
  });
});

describe('ranges', () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (error) {
      return error instanceof ApiError ? `${error.status} ${error.code} ${error.field}` : 'other';
    }
    return 'ok';
  };

  it('needs from < to on window boundaries within the window’s maximum span', () => {
    expect(checkedRange('2026-10-01', '2026-11-01', 'month', 1100)).toEqual({ fromMs: Date.UTC(2026, 9, 1), toMs: Date.UTC(2026, 10, 1) });
    expect(code(() => checkedRange('2026-10-02', '2026-11-01', 'month', 1100))).toBe('422 invalid_range query.from');
    expect(code(() => checkedRange('2026-10-01T01:00:00Z', '2026-10-02', 'day', 400))).toBe('422 invalid_range query.from');
    expect(code(() => checkedRange('2026-10-01T01:00:01Z', '2026-10-02', 'hour', 31))).toBe('422 invalid_range query.from');
    expect(code(() => checkedRange('2026-10-02', '2026-10-01', 'day', 400))).toBe('422 invalid_range query.to');
    expect(code(() => checkedRange('2026-10-01', '2026-11-02', 'hour', 31))).toBe('422 range_too_long query.to');
    expect(code(() => checkedRange('2026-10-01', '2026-11-01', 'hour', 31))).toBe('ok');
    expect(code(() => checkedRange('2026-02-29', '2026-03-01', 'day', 400))).toBe('422 invalid_range query.from');
  });
});

describe('rate limit', () => {
  it('allows the burst, then one request per 1/rate seconds, per key', () => {
    let now = 0;
    const limiter = new RateLimiter(2, 3, () => now);
    expect([1, 2, 3, 4].map(() => limiter.take('a').ok)).toEqual([true, true, true, false]);
    expect(limiter.take('b').ok).toBe(true);
    expect(limiter.take('a')).toEqual({ ok: false, retryAfterSeconds: 1 });
    now += 500;
    expect(limiter.take('a').ok).toBe(true);
    expect(limiter.take('a').ok).toBe(false);
  });
});

describe('OpenAPI document', () => {
  const doc = buildOpenApi(apiOperations(apiSchemas(DEFAULT_LIMITS)), { title: 't', version: '1', description: 'd' }) as any;

  it('parameters come from the request schemas, with the configured page limit', () => {
    const usage = doc.paths['/v1/usage'].get;
    const names = usage.parameters.map((p: { name: string }) => p.name);
    expect(names).toEqual(['from', 'to', 'window', 'groupBy', 'function', 'revision', 'tenant', 'limit', 'offset']);
    expect(usage.parameters.find((p: { name: string }) => p.name === 'limit').schema).toMatchObject({ type: 'integer', minimum: 1, maximum: DEFAULT_LIMITS.maxPageSize });
    expect(usage.parameters.find((p: { name: string }) => p.name === 'window').schema.enum).toEqual(['hour', 'day', 'month']);
    expect(doc.paths['/v1/statements/{period}'].get.parameters[0]).toMatchObject({ name: 'period', in: 'path', required: true });
  });

  it('every error response is the shared Error schema, and protected operations declare the bearer scheme', () => {
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const op of Object.values<any>(item)) {
        for (const [status, response] of Object.entries<any>(op.responses)) {
          if (Number(status) >= 400 && !['/healthz', '/readyz'].includes(path)) expect(response.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
        }
        expect(op.security).toEqual(path.startsWith('/v1/') ? [{ apiKey: [] }] : []);
      }
    }
    expect(doc.components.schemas.Error.properties.error.required).toEqual(['code', 'message', 'requestId']);
  });
});
