/**
 * The dashboards' panel queries on current ClickHouse (chdb), exactly as Grafana and the plugin
 * would send them: the migrations build the schema, the fixture calls go into billed_calls (the
 * materialized views fill the rollups), every panel and variable query of every dashboard runs
 * for three selections (All, one function, hostile values), and the shared fixture answers hold
 * here as they do on 18.16 in test/integration/dashboards-clickhouse.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { listMigrations } from '../../clickhouse/migrate.ts';
import type { Answer } from '../../dashboards/fixture.ts';
import { answerMismatches, FIXTURE_FROM_MS, FIXTURE_INTERVAL_MS, FIXTURE_ROWS, FIXTURE_TO_MS, fixtureAnswers } from '../../dashboards/fixture.ts';
import { DASHBOARDS } from '../../dashboards/index.ts';
import type { ExpandedQuery, Selection } from '../../dashboards/query.ts';
import { expandDashboard, panelQuery, queryContext } from '../../dashboards/query.ts';
import type { ChdbResult, ChdbStatement } from '../helpers/chdb.ts';
import { runInChdb } from '../helpers/chdb.ts';

const database = 'faasmeter_dashboards';
const selections: Array<[string, Selection]> = [
  ['all', {}],
  ['one function', { tenant: 'acme', function: 'api', revision: 'v1' }],
  ['hostile values', { tenant: `acme' OR 1=1 --`, function: `x\\' OR 1=1 --`, revision: '${tenant}$__fromTime' }],
];

const expanded = (selection: Selection = {}) =>
  DASHBOARDS.flatMap((d) => expandDashboard(d, queryContext(FIXTURE_FROM_MS, FIXTURE_TO_MS, FIXTURE_INTERVAL_MS, selection)));

const panels: Array<{ selection: string; query: ExpandedQuery }> = selections.flatMap(([name, s]) => expanded(s).map((query) => ({ selection: name, query })));
const answers: Array<{ answer: Answer; query: ExpandedQuery }> = fixtureAnswers().map((answer) => {
  const dashboard = DASHBOARDS.find((d) => d.uid === answer.dashboard)!;
  const queries = expandDashboard(dashboard, queryContext(FIXTURE_FROM_MS, FIXTURE_TO_MS, FIXTURE_INTERVAL_MS, answer.selection ?? {}));
  return { answer, query: panelQuery(queries, dashboard, answer.title) };
});

let setup: ChdbResult[] = [];
let panelResults: ChdbResult[] = [];
let answerResults: ChdbResult[] = [];

beforeAll(async () => {
  const statements: ChdbStatement[] = [
    ...listMigrations().flatMap((m) => m.statements.map((text): ChdbStatement => ({ kind: 'command', text, database }))),
    { kind: 'insert', table: 'billed_calls', rows: FIXTURE_ROWS, database },
  ];
  const results = await runInChdb([
    ...statements,
    ...panels.map(({ query }): ChdbStatement => ({ kind: 'query', text: query.sql, database })),
    ...answers.map(({ query }): ChdbStatement => ({ kind: 'query', text: query.sql, database })),
  ]);
  setup = results.slice(0, statements.length);
  panelResults = results.slice(statements.length, statements.length + panels.length);
  answerResults = results.slice(statements.length + panels.length);
}, 300_000);

describe('dashboards on current ClickHouse (chdb)', () => {
  it('the schema and the fixture load', () => {
    expect(setup.filter((r) => !r.ok).map((r) => r.error)).toEqual([]);
  });

  it('every panel and variable query runs, for all, one-function and hostile selections', () => {
    expect(panels.length).toBeGreaterThan(100);
    const failed = panelResults.flatMap((r, i) => (r.ok ? [] : [`${panels[i]!.selection}: ${panels[i]!.query.name}\n  → ${r.error ?? ''}`]));
    expect(failed).toEqual([]);
  });

  it('a hostile selection matches nothing', () => {
    const calls = panels.findIndex((p) => p.selection === 'hostile values' && p.query.name === 'faasmeter-overview/Calls#0');
    expect(panelResults[calls]?.rows).toEqual([{ calls: '0' }]);
  });

  it('the fixture answers hold, as on 18.16', () => {
    const wrong = answers.flatMap(({ answer }, i) => {
      const r = answerResults[i]!;
      const where = `${answer.dashboard} / ${answer.title}${answer.selection ? ` ${JSON.stringify(answer.selection)}` : ''}`;
      if (!r.ok) return [`${where}: ${r.error ?? 'failed'}`];
      return answerMismatches(r.rows ?? [], answer).map((m) => `${where}: ${m}`);
    });
    expect(wrong).toEqual([]);
  });
});
