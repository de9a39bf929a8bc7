/**
 * Renders every dashboard to a static HTML page from its real panel queries over demo data:
 *  - ClickHouse panels: demo calls (dashboards/demo-data.ts) go into a fresh database on the
 *    ClickHouse server, migrated like production; each panel's SQL is expanded as Grafana
 *    would (dashboards/macros.ts) and run through our client.
 *  - Prometheus panels: demo samples are backfilled (promtool tsdb create-blocks-from
 *    openmetrics) into a private Prometheus, which evaluates each panel's PromQL.
 * Nothing is drawn from made-up results: an empty or failing query shows as such.
 *
 *   npx node dashboards/render.ts [--out .stack/dashboards-preview] [--clickhouse http://127.0.0.1:18123] [--keep]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startPrometheus, promQuery } from '../alerts/private-prometheus.ts';
import type { PrivateProcess } from '../alerts/private-prometheus.ts';
import type { ClickHouse } from '../clickhouse/client.ts';
import { createClickHouse } from '../clickhouse/client.ts';
import { migrate } from '../clickhouse/migrate.ts';
import { sql, v } from '../clickhouse/sql.ts';
import { demoCalls, demoOpenMetrics } from './demo-data.ts';
import { DASHBOARDS, fileNameOf } from './index.ts';
import type { Dashboard, Panel, PrometheusTarget } from './model.ts';
import { layout } from './model.ts';
import type { Cell, PanelResult, SeriesData } from './preview-html.ts';
import { renderPreview } from './preview-html.ts';
import { queryContext, runPanelQuery } from './query.ts';
import { expandQuery } from './macros.ts';

/** The demo story ends here (fixed, so every render draws the same pictures). */
export const DEMO_END_MS = Date.UTC(2025, 10, 3, 12, 0, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Preview range per dashboard (ending at DEMO_END_MS). */
const PREVIEW_RANGE_MS: Record<string, number> = {
  'faasmeter-overview': 6 * HOUR,
  'faasmeter-cold-starts': 24 * HOUR,
  'faasmeter-cost': 24 * HOUR,
  'faasmeter-rightsizing': 7 * DAY,
  'faasmeter-health': 3 * HOUR,
};

/** Demo samples are 15 s apart, like a typical scrape interval. */
const SCRAPE_S = 15;
const PREVIEW_WIDTH_PX = 1560;
/**
 * Grafana asks for one point per pixel of panel width; the preview asks for one per 6 px, so
 * demo traffic of a few calls a minute reads as a trend rather than per-minute noise.
 */
const PX_PER_POINT = 6;

/** Grafana's interval: range over the panel's data points, rounded up to a tidy step. */
export function panelInterval(rangeMs: number, panelWidthColumns: number, minMs = 1_000): number {
  const maxDataPoints = Math.max(1, Math.round(((panelWidthColumns / 24) * PREVIEW_WIDTH_PX) / PX_PER_POINT));
  const raw = Math.max(rangeMs / maxDataPoints, minMs);
  const steps = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);
  return steps.find((s) => s >= raw) ?? raw;
}

/**
 * Which columns hold numbers. Our client returns 64-bit integers as JSON strings (the same on
 * every server), so a column counts as numeric when all its values are numbers or all are
 * integer strings; a String column such as a revision "2024.1" stays text.
 */
export function numericColumns(rows: Array<Record<string, unknown>>): Set<string> {
  const columns = rows[0] ? Object.keys(rows[0]) : [];
  return new Set(
    columns.filter((c) => {
      const values = rows.map((r) => r[c]).filter((x) => x !== null && x !== undefined);
      return values.length > 0 && (values.every((x) => typeof x === 'number') || values.every((x) => typeof x === 'string' && /^-?\d+$/.test(x)));
    }),
  );
}

function toCell(value: unknown, numeric: boolean): Cell {
  if (value === null || value === undefined) return null;
  if (numeric) return Number(value);
  return typeof value === 'string' ? value : JSON.stringify(value);
}
const parseTime = (value: unknown) => Date.parse(`${String(value).replace(' ', 'T')}Z`);

/** What the plugin does with a long result in time-series format: one series per label set and value column. */
export function rowsToSeries(rows: Array<Record<string, unknown>>): SeriesData[] {
  const numeric = numericColumns(rows);
  const columns = rows[0] ? Object.keys(rows[0]).filter((k) => k !== 'time') : [];
  const labelColumns = columns.filter((c) => !numeric.has(c));
  const valueColumns = columns.filter((c) => numeric.has(c));
  const series = new Map<string, SeriesData>();
  for (const row of rows) {
    const labels = labelColumns.map((c) => String(row[c]));
    for (const column of valueColumns) {
      const name = [...labels, ...(valueColumns.length > 1 || labels.length === 0 ? [column] : [])].join(' ');
      let s = series.get(name);
      if (!s) series.set(name, (s = { name, points: [] }));
      s.points.push([parseTime(row.time), toCell(row[column], true) as number | null]);
    }
  }
  for (const s of series.values()) s.points.sort((a, b) => a[0] - b[0]);
  return [...series.values()];
}

export function rowsToTable(rows: Array<Record<string, unknown>>): PanelResult {
  const numeric = numericColumns(rows);
  const columns = rows[0] ? Object.keys(rows[0]) : [];
  return { kind: 'table', columns, rows: rows.map((r) => columns.map((c) => toCell(r[c], numeric.has(c)))) };
}

async function clickhouseResults(ch: ClickHouse, dashboard: Dashboard, panel: Panel, fromMs: number, toMs: number, width: number): Promise<PanelResult[]> {
  const ctx = queryContext(fromMs, toMs, panelInterval(toMs - fromMs, width, 60_000));
  const out: PanelResult[] = [];
  for (const [i, target] of panel.targets.entries()) {
    if (target.kind !== 'clickhouse') continue;
    const name = `${dashboard.uid}/${panel.title}#${i}`;
    try {
      const rows = await runPanelQuery(ch, { name, format: target.format, sql: expandQuery(target.rawSql, ctx) });
      out.push(target.format === 'time_series' ? { kind: 'series', series: rowsToSeries(rows) } : rowsToTable(rows));
    } catch (error) {
      out.push({ kind: 'error', message: `${name}: ${(error as Error).message}` });
    }
  }
  return out;
}

function legend(format: string | undefined, metric: Record<string, string>): string {
  if (!format || format === '__auto') return JSON.stringify(metric);
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k: string) => metric[k] ?? '');
}

/** Grafana's $__rate_interval: max($__interval + scrape interval, 4 × scrape interval). */
function rateInterval(intervalMs: number): string {
  return `${Math.max(intervalMs / 1000 + SCRAPE_S, 4 * SCRAPE_S)}s`;
}

async function prometheusResults(url: string, panel: Panel, fromMs: number, toMs: number, width: number): Promise<PanelResult[]> {
  const intervalMs = panelInterval(toMs - fromMs, width, SCRAPE_S * 1000);
  const out: PanelResult[] = [];
  for (const target of panel.targets as PrometheusTarget[]) {
    const expr = target.expr.replaceAll('$__rate_interval', rateInterval(intervalMs)).replaceAll('$__interval', `${intervalMs / 1000}s`);
    try {
      const result = target.instant
        ? await promQuery(url, { query: expr, time: String(toMs / 1000) })
        : await promQuery(url, { query: expr, start: String(fromMs / 1000), end: String(toMs / 1000), step: String(intervalMs / 1000) }, '/api/v1/query_range');
      const series: SeriesData[] = result.result.map((s) => ({
        name: legend(target.legendFormat, s.metric),
        points: (s.values ?? (s.value ? [s.value] : [])).map(([t, val]) => [t * 1000, Number.isFinite(Number(val)) ? Number(val) : null]),
      }));
      out.push({ kind: 'series', series });
    } catch (error) {
      out.push({ kind: 'error', message: `${panel.title}: ${(error as Error).message}` });
    }
  }
  return out;
}

export interface DemoEnvironment {
  ch: ClickHouse;
  database: string;
  prometheus: PrivateProcess;
  calls: number;
  close(keep?: boolean): Promise<void>;
}

/** A migrated database with the demo calls, and a private Prometheus with the demo samples. */
export async function startDemoEnvironment(clickhouseUrl: string): Promise<DemoEnvironment> {
  const database = `preview_${randomBytes(4).toString('hex')}`;
  // Not recorded for the chdb replay (recordFile ''): the integration suite already records every
  // panel query over its own fixture, and replaying 80k demo rows would only slow that suite.
  const ch = createClickHouse({ url: clickhouseUrl, database, requestTimeoutMs: 120_000, recordFile: '' });
  await migrate(ch, { database });
  // Full traffic for the last two days (Cost compares a day with the one before), a thinner
  // trickle for the five days before (Right-sizing reads a week of daily peaks).
  const rows = [...demoCalls(DEMO_END_MS - 7 * DAY, DEMO_END_MS - 2 * DAY, 11, 0.15), ...demoCalls(DEMO_END_MS - 2 * DAY, DEMO_END_MS, 42)];
  for (let i = 0; i < rows.length; i += 20_000) await ch.insert('billed_calls', rows.slice(i, i + 20_000));

  const dir = mkdtempSync(join(tmpdir(), 'faasmeter-preview-prom-'));
  const healthRange = PREVIEW_RANGE_MS['faasmeter-health']!;
  const om = join(dir, 'demo.om');
  writeFileSync(om, demoOpenMetrics((DEMO_END_MS - healthRange) / 1000 - 600, DEMO_END_MS / 1000, SCRAPE_S));
  mkdirSync(join(dir, 'data'), { recursive: true });
  execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', '--quiet', om, join(dir, 'data')], { stdio: 'pipe' });
  const prometheus = await startPrometheus({
    dir,
    retention: '100y',
    config: `global:\n  scrape_interval: ${SCRAPE_S}s\nscrape_configs: []\n`,
  });
  return {
    ch,
    database,
    prometheus,
    calls: rows.length,
    async close(keep = false) {
      await prometheus.stop();
      rmSync(dir, { recursive: true, force: true });
      if (!keep) await ch.withDatabase('default').command(sql`DROP DATABASE IF EXISTS ${v.ident(database)}`);
      await ch.close();
    },
  };
}

export interface RenderedPage {
  dashboard: Dashboard;
  file: string;
  panels: number;
  /** Titles of panels that drew nothing (no rows, or an error). */
  empty: string[];
}

export async function renderAll(env: DemoEnvironment, outDir: string): Promise<RenderedPage[]> {
  mkdirSync(outDir, { recursive: true });
  const links: Array<[string, string]> = DASHBOARDS.map((d) => [d.title, fileNameOf(d).replace(/\.json$/, '.html')]);
  const pages: RenderedPage[] = [];
  for (const dashboard of DASHBOARDS) {
    const rangeMs = PREVIEW_RANGE_MS[dashboard.uid] ?? 6 * HOUR;
    const fromMs = DEMO_END_MS - rangeMs;
    const results = new Map<Panel, PanelResult[]>();
    for (const row of layout(dashboard)) {
      for (const { panel, gridPos } of row.panels) {
        const prom = panel.targets.every((t) => t.kind === 'prometheus');
        results.set(
          panel,
          prom
            ? await prometheusResults(env.prometheus.url, panel, fromMs, DEMO_END_MS, gridPos.w)
            : await clickhouseResults(env.ch, dashboard, panel, fromMs, DEMO_END_MS, gridPos.w),
        );
      }
    }
    const source = dashboard.variables.length
      ? `demo data: ${env.calls} calls in ClickHouse database ${env.database}, panel SQL expanded as Grafana would`
      : 'demo data backfilled into a private Prometheus, panel PromQL evaluated by it';
    const page = renderPreview({ dashboard, fromMs, toMs: DEMO_END_MS, results, note: source, links });
    const file = join(outDir, fileNameOf(dashboard).replace(/\.json$/, '.html'));
    writeFileSync(file, page.html);
    pages.push({ dashboard, file, panels: page.panels, empty: page.empty });
  }
  return pages;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string', default: join(import.meta.dirname, '..', '.stack', 'dashboards-preview') },
      clickhouse: { type: 'string', default: process.env.FAASMETER_CLICKHOUSE_URL ?? 'http://127.0.0.1:18123' },
      keep: { type: 'boolean', default: false },
    },
  });
  const env = await startDemoEnvironment(values.clickhouse);
  try {
    for (const page of await renderAll(env, values.out)) {
      const empty = page.empty.length ? ` (empty: ${page.empty.join(', ')})` : '';
      process.stdout.write(`${page.file}: ${page.panels} panels${empty}\n`);
    }
  } finally {
    await env.close(values.keep);
  }
  if (values.keep) process.stdout.write(`kept ClickHouse database ${env.database}\n`);
  return 0;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
