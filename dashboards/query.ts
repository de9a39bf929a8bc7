/**
 * Panel queries as Grafana would send them: every ClickHouse query of a dashboard expanded for
 * one time range, interval and variable selection. The integration and compatibility suites run
 * these exact texts, and the HTML preview renders their results.
 */
import type { ClickHouse } from '../clickhouse/client.ts';
import { unsafeRawSql } from '../clickhouse/sql.ts';
import type { QueryContext } from './macros.ts';
import { dashboardVariable, expandQuery } from './macros.ts';
import type { ClickHouseFormat, Dashboard, Panel } from './model.ts';
import { clickhouseQueries } from './model.ts';

export interface ExpandedQuery {
  /** `<uid>/<panel title>#<target index>` or `<uid>/var:<name>`. */
  name: string;
  panel?: Panel;
  format: ClickHouseFormat;
  sql: string;
}

export interface Selection {
  tenant?: string;
  function?: string;
  revision?: string;
}

/** A query context for a range and our three variables (undefined = All). */
export function queryContext(fromMs: number, toMs: number, intervalMs: number, selection: Selection = {}): QueryContext {
  return {
    fromMs,
    toMs,
    intervalMs,
    variables: {
      tenant: dashboardVariable(selection.tenant),
      function: dashboardVariable(selection.function),
      revision: dashboardVariable(selection.revision),
    },
  };
}

export function expandDashboard(dashboard: Dashboard, ctx: QueryContext): ExpandedQuery[] {
  return clickhouseQueries(dashboard).map((q) => ({ ...q, sql: expandQuery(q.sql, ctx) }));
}

/** One panel's query by title (target index 0 unless given); throws when there is none. */
export function panelQuery(queries: readonly ExpandedQuery[], dashboard: Dashboard, title: string, target = 0): ExpandedQuery {
  const name = `${dashboard.uid}/${title}#${target}`;
  const found = queries.find((q) => q.name === name);
  if (!found) throw new Error(`no ClickHouse query ${name}`);
  return found;
}

/**
 * Runs an expanded panel query through our client (so FAASMETER_SQL_RECORD records it for the
 * chdb replay). The text is code we ship after Grafana's own expansion; variable values reach it
 * only percent-encoded (dashboards/macros.ts), so it cannot carry anything else.
 */
export function runPanelQuery<T = Record<string, unknown>>(ch: ClickHouse, query: ExpandedQuery): Promise<T[]> {
  return ch.query<T>(unsafeRawSql(query.sql));
}
