import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { decodeStringLiteral, tokenize } from '../../clickhouse/sql-lexer.ts';
import type { Token } from '../../clickhouse/sql-lexer.ts';
import { differences, generatedFiles } from '../../dashboards/generate.ts';
import { DASHBOARDS, fileNameOf } from '../../dashboards/index.ts';
import type { QueryContext } from '../../dashboards/macros.ts';
import { expandMacros, expandQuery, interpolateVariables, sqlRegions } from '../../dashboards/macros.ts';
import { ALL_VALUE, GRAFANA_ALL, clickhouseQueries, layout } from '../../dashboards/model.ts';
import type { Selection } from '../../dashboards/query.ts';
import { expandDashboard, queryContext } from '../../dashboards/query.ts';

const root = join(import.meta.dirname, '..', '..');
const FROM = Date.UTC(2025, 10, 3, 10, 0, 0);
const TO = Date.UTC(2025, 10, 3, 12, 0, 0);

interface GrafanaPanel {
  type: string;
  id: number;
  title: string;
  datasource?: { uid: string; type: string };
  targets?: Array<{ datasource?: { uid: string; type: string }; rawSql?: string; expr?: string }>;
  gridPos: { x: number; y: number; w: number; h: number };
}
interface GrafanaDashboard {
  uid: string;
  panels: GrafanaPanel[];
  templating: { list: Array<{ name: string; datasource: { uid: string; type?: string } }> };
}

const committed = (name: string) => JSON.parse(readFileSync(join(root, 'dashboards', 'generated', name), 'utf8')) as GrafanaDashboard;

describe('generated dashboards', () => {
  it('the committed JSON is exactly what the code generates', () => {
    expect(differences()).toEqual([]);
    expect([...generatedFiles().keys()].sort()).toEqual(DASHBOARDS.map(fileNameOf).sort());
  });

  it('every panel, target and variable uses a datasource uid that provisioning defines, with its type', () => {
    const provisioning = parse(readFileSync(join(root, 'dashboards', 'provisioning', 'datasources.yaml'), 'utf8')) as {
      datasources: Array<{ uid: string; type: string }>;
    };
    const types = new Map(provisioning.datasources.map((d) => [d.uid, d.type]));
    expect(types.size).toBe(2);
    for (const d of DASHBOARDS) {
      const json = committed(fileNameOf(d));
      const refs = [
        ...json.templating.list.map((v) => ({ where: `var ${v.name}`, ds: v.datasource })),
        ...json.panels
          .filter((p) => p.type !== 'row')
          .flatMap((p) => [{ where: p.title, ds: p.datasource! }, ...(p.targets ?? []).map((t) => ({ where: `${p.title} target`, ds: t.datasource! }))]),
      ];
      for (const { where, ds } of refs) {
        expect(types.has(ds?.uid), `${json.uid} ${where}: ${ds?.uid}`).toBe(true);
        if (ds.type !== undefined) expect(ds.type, `${json.uid} ${where}`).toBe(types.get(ds.uid));
      }
    }
  });

  it('the dashboards provider points Grafana at a folder of JSON files', () => {
    const provider = parse(readFileSync(join(root, 'dashboards', 'provisioning', 'dashboards.yaml'), 'utf8')) as {
      providers: Array<{ type: string; options: { path: string } }>;
    };
    expect(provider.providers[0]).toMatchObject({ type: 'file' });
  });

  it('panels never overlap, fit the 24-column grid and have unique ids', () => {
    for (const d of DASHBOARDS) {
      const placed = layout(d).flatMap((r) => [{ id: r.id, gridPos: { x: 0, y: r.y, w: 24, h: 1 } }, ...r.panels]);
      expect(new Set(placed.map((p) => p.id)).size).toBe(placed.length);
      for (const a of placed) {
        expect(a.gridPos.x + a.gridPos.w).toBeLessThanOrEqual(24);
        for (const b of placed) {
          if (a === b) continue;
          const apart =
            a.gridPos.x + a.gridPos.w <= b.gridPos.x ||
            b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
            a.gridPos.y + a.gridPos.h <= b.gridPos.y ||
            b.gridPos.y + b.gridPos.h <= a.gridPos.y;
          expect(apart, `${d.uid}: panels ${a.id} and ${b.id} overlap`).toBe(true);
        }
      }
    }
  });

  it('every dashboard has the five we promise, the SQL ones with tenant/function/revision variables', () => {
    expect(DASHBOARDS.map((d) => d.uid)).toEqual([
      'faasmeter-overview',
      'faasmeter-cold-starts',
      'faasmeter-cost',
      'faasmeter-rightsizing',
      'faasmeter-health',
    ]);
    for (const d of DASHBOARDS.filter((x) => x.uid !== 'faasmeter-health')) expect(d.variables.map((v) => v.name)).toEqual(['tenant', 'function', 'revision']);
  });

  it('time-series SQL returns a time column in order; SQL uses no construct 18.16 lacks', () => {
    for (const d of DASHBOARDS) {
      for (const q of clickhouseQueries(d)) {
        if (q.format === 'time_series') {
          expect(q.sql, q.name).toMatch(/ AS time\b/);
          expect(q.sql, q.name).toMatch(/ORDER BY time\b/);
        }
        expect(q.sql, q.name).not.toMatch(/\$__timeInterval|toStartOfInterval|DateTime64|LowCardinality|(?<!\$)\{\w+:\w+\}/);
        // Variables only in their injection-proof form.
        for (const m of q.sql.matchAll(/\$\{?(tenant|function|revision)\b[^}]*\}?/g)) expect(m[0], q.name).toMatch(/^\$\{\w+:percentencode\}$/);
        expect(q.sql, `${q.name}: no comments`).not.toMatch(/--|\/\*/);
      }
    }
  });
});

describe('panel queries expand completely', () => {
  const selections: Selection[] = [{}, { tenant: 'acme' }, { tenant: 'acme', function: 'api', revision: 'v1' }];
  for (const intervalMs of [1_000, 60_000, 3_600_000, 250]) {
    it(`with a ${intervalMs} ms interval, every query (variables included) has no $ left`, () => {
      for (const d of DASHBOARDS) {
        for (const selection of selections) {
          for (const q of expandDashboard(d, queryContext(FROM, TO, intervalMs, selection))) {
            expect(q.sql, q.name).not.toContain('$');
            expect(() => tokenize(q.sql), q.name).not.toThrow();
          }
        }
      }
    });
  }
});

describe('variable quoting cannot be broken by a value', () => {
  const structure = (tokens: Token[]) => tokens.map((t) => (t.kind === 'string' ? 'string' : `${t.kind}:${t.text}`));
  const queries = DASHBOARDS.flatMap((d) => clickhouseQueries(d));
  const hostile = [
    `' OR 1=1 --`,
    `\\' OR 1=1 --`,
    `\\`,
    `'); DROP TABLE billed_calls; --`,
    '$__fromTime ${tenant} [[function]]',
    `/* */ "x" \`y\``,
    '%27%20OR%201%3D1',
    '\n\r\t\u0000 ünïcödé 🙂',
  ];

  // Distinct benign values mark where each variable lands in the expanded text.
  const SENTINELS = { tenant: 'sentinel-tenant', function: 'sentinel-function', revision: 'sentinel-revision' };

  function checkValue(value: string): void {
    for (const q of queries) {
      const benign = tokenize(expandQuery(q.sql, queryContext(FROM, TO, 60_000, SENTINELS)));
      const evil = tokenize(expandQuery(q.sql, queryContext(FROM, TO, 60_000, { tenant: value, function: value, revision: value })));
      expect(structure(evil), `${q.name} with ${JSON.stringify(value)}`).toEqual(structure(benign));
      // Every literal that held a variable gives the value back exactly once ClickHouse decodes it
      // (string literal, then decodeURLComponent); every other literal is unchanged.
      benign.forEach((t, i) => {
        if (t.kind !== 'string') return;
        const literal = decodeStringLiteral(evil[i]!.text);
        if (Object.values(SENTINELS).includes(decodeStringLiteral(t.text))) expect(decodeURIComponent(literal)).toBe(value);
        else expect(literal).toBe(decodeStringLiteral(t.text));
      });
    }
  }

  it('for known hostile values', () => {
    for (const value of hostile) checkValue(value);
  });

  it('for any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 24 }), (value) => {
        checkValue(value);
      }),
      { numRuns: 60 },
    );
  });
});

describe('macros.ts expands like the grafana-clickhouse-datasource plugin', () => {
  const ctx: QueryContext = { fromMs: 1_700_000_000_123, toMs: 1_700_003_600_999, intervalMs: 30_000, variables: {} };

  it('time macros are seconds-precision DateTime literals', () => {
    expect(expandMacros('SELECT $__fromTime, $__toTime', ctx)).toBe('SELECT toDateTime(1700000000), toDateTime(1700003600)');
    expect(expandMacros('WHERE $__timeFilter(minute)', ctx)).toBe('WHERE minute >= toDateTime(1700000000) AND minute <= toDateTime(1700003600)');
    expect(expandMacros('WHERE $__dateFilter(day)', ctx)).toBe("WHERE day >= toDate('2023-11-14') AND day <= toDate('2023-11-14')");
    expect(expandMacros('$__fromTime_ms', ctx)).toBe('fromUnixTimestamp64Milli(1700000000123)');
  });

  it('longer macro names win over their prefixes, and arguments may nest', () => {
    expect(expandMacros('$__timeFilter_ms(t) AND $__timeFilter(toDateTime(intDiv(start_ms, 1000)))', ctx)).toBe(
      't >= fromUnixTimestamp64Milli(1700000000123) AND t <= fromUnixTimestamp64Milli(1700003600999) AND ' +
        'toDateTime(intDiv(start_ms, 1000)) >= toDateTime(1700000000) AND toDateTime(intDiv(start_ms, 1000)) <= toDateTime(1700003600)',
    );
  });

  it('$__interval_s is whole seconds, at least 1; $__timeInterval is the toStartOfInterval we avoid', () => {
    expect(expandMacros('$__interval_s', ctx)).toBe('30');
    expect(expandMacros('$__interval_s', { ...ctx, intervalMs: 250 })).toBe('1');
    expect(expandMacros('$__interval_s', { ...ctx, intervalMs: 1_999 })).toBe('1');
    expect(expandMacros('$__timeInterval(minute)', ctx)).toBe('toStartOfInterval(toDateTime(minute), INTERVAL 30 second)');
    expect(expandMacros('$__interval $__interval_ms', { ...ctx, intervalMs: 90_000 })).toBe('1m 90000');
  });

  it('macros inside string literals and comments stay as written', () => {
    expect(expandMacros("SELECT '$__fromTime' -- $__toTime\n, $__toTime", ctx)).toBe("SELECT '$__fromTime' -- $__toTime\n, toDateTime(1700003600)");
    expect(sqlRegions("a 'b\\'c' d").map((r) => r.kind)).toEqual(['code', 'string', 'code']);
  });

  it('a macro with the wrong number of arguments is an error, as in the plugin', () => {
    expect(() => expandMacros('$__timeFilter(a, b)', ctx)).toThrow(/expected 1 argument/);
    expect(() => expandMacros('$__timeFilter(a', ctx)).toThrow(/missing close bracket/);
  });
});

describe('template variables are formatted like Grafana', () => {
  const vars = { tenant: { value: `o'neil\\`, allValue: ALL_VALUE }, many: { value: ['a', "b'c"] } };

  it('formats: plugin default, sqlstring, singlequote, percentencode, raw', () => {
    expect(interpolateVariables('$tenant|${tenant}|[[tenant]]', vars)).toBe(`o'neil\\|o'neil\\|o'neil\\`);
    expect(interpolateVariables('${many}', vars)).toBe(`'a','b'c'`);
    expect(interpolateVariables('${tenant:sqlstring}', vars)).toBe(`'o''neil\\'`);
    expect(interpolateVariables('${tenant:singlequote}', vars)).toBe(`'o\\'neil\\'`);
    expect(interpolateVariables('${tenant:percentencode}', vars)).toBe('o%27neil%5C');
    expect(interpolateVariables('${many:percentencode}', vars)).toBe('%7Ba%2Cb%27c%7D');
    expect(interpolateVariables('${tenant:raw}', vars)).toBe(`o'neil\\`);
  });

  it("All with a custom all value: percent-encoded under :percentencode, verbatim otherwise, 'All' as text", () => {
    const all = { tenant: { value: GRAFANA_ALL, allValue: ALL_VALUE } };
    expect(interpolateVariables('${tenant:percentencode} ${tenant} ${tenant:text}', all)).toBe('%2A * All');
  });

  it('unknown names (macros, built-ins) are left for the backend', () => {
    expect(interpolateVariables('$__fromTime ${nope} $__interval_s', vars)).toBe('$__fromTime ${nope} $__interval_s');
  });

  it('sqlstring and singlequote are breakable by a backslash in ClickHouse, percentencode is not', () => {
    const value = `\\' OR 1=1 --`;
    const kinds = (text: string) => tokenize(text).map((t) => t.kind);
    const v = { t: { value } };
    expect(kinds(interpolateVariables("x = ${t:sqlstring}", v))).not.toEqual(kinds("x = 'a'"));
    expect(kinds(interpolateVariables("x = decodeURLComponent('${t:percentencode}')", v))).toEqual(kinds("x = decodeURLComponent('a')"));
  });
});
