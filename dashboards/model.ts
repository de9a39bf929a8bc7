/**
 * A small typed model of the Grafana dashboards we ship, and its translation to Grafana's JSON.
 * Only what our dashboards use is modelled (four panel kinds, two datasources, three query
 * variables); the foundation SDK covers all of Grafana and would be most of our dependency tree.
 *
 * Layout is derived, not written: rows stack vertically and panels fill a 24-column grid left to
 * right, wrapping when a panel does not fit.
 */

export const CLICKHOUSE_DS = Object.freeze({ type: 'grafana-clickhouse-datasource', uid: 'faasmeter-clickhouse' });
export const PROMETHEUS_DS = Object.freeze({ type: 'prometheus', uid: 'faasmeter-prometheus' });
export type DatasourceRef = typeof CLICKHOUSE_DS | typeof PROMETHEUS_DS;

/** The plugin's result formats (sqlutil.FormatQueryOption): long rows become series, or a table. */
export type ClickHouseFormat = 'time_series' | 'table';

export interface ClickHouseTarget {
  kind: 'clickhouse';
  rawSql: string;
  format: ClickHouseFormat;
}

export interface PrometheusTarget {
  kind: 'prometheus';
  expr: string;
  legendFormat?: string;
  /** One value per series instead of a range (stat and bar gauge panels). */
  instant?: boolean;
}

export type Target = ClickHouseTarget | PrometheusTarget;

export type PanelKind = 'timeseries' | 'stat' | 'table' | 'bargauge';

/** Grafana unit ids we use. */
export type Unit =
  | 'none'
  | 'short'
  | 'percentunit'
  | 'ms'
  | 's'
  | 'bytes'
  | 'mbytes'
  | 'currencyUSD'
  | 'reqps'
  | 'ops';

export interface Threshold {
  value: number | null;
  color: string;
}

export interface Panel {
  kind: PanelKind;
  title: string;
  description?: string;
  unit?: Unit;
  decimals?: number;
  min?: number;
  max?: number;
  /** Ascending; the first step's value is null (the base colour). */
  thresholds?: Threshold[];
  /** Grid width in columns (of 24) and height in grid units (30 px each). */
  width: number;
  height: number;
  targets: Target[];
  /** Per-column units for tables, by column name. */
  columnUnits?: Record<string, Unit>;
  /** Timeseries only: stack series (shares of a whole). */
  stacked?: boolean;
}

export interface Row {
  title: string;
  panels: Panel[];
}

export interface QueryVariable {
  name: string;
  label: string;
  /** ClickHouse SQL returning one column of values; may reference earlier variables. */
  query: string;
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  /** Relative Grafana time range, e.g. now-6h. */
  from: string;
  refresh: string;
  variables: QueryVariable[];
  rows: Row[];
}

/**
 * The value every variable takes for "All". Grafana substitutes a custom all value instead of the
 * list of options, percent-encoded under `:percentencode` like any value. No tenant can be named
 * `*` (contract: tenants start with a letter or digit); a function named `*` would match all.
 */
export const ALL_VALUE = '*';

/** Grafana's marker for "All selected" in a variable's current value. */
export const GRAFANA_ALL = '$__all';

// --- Grafana JSON -------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const GRID_COLUMNS = 24;
const REF_IDS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function datasourceOf(target: Target): DatasourceRef {
  return target.kind === 'clickhouse' ? CLICKHOUSE_DS : PROMETHEUS_DS;
}

function targetJson(target: Target, index: number): JsonObject {
  const refId = REF_IDS[index] ?? `Q${index}`;
  if (target.kind === 'clickhouse') {
    return {
      refId,
      datasource: { ...CLICKHOUSE_DS },
      editorType: 'sql',
      rawSql: target.rawSql,
      // sqlutil.FormatQueryOption: 0 = time series (long rows → one series per label set), 1 = table.
      format: target.format === 'time_series' ? 0 : 1,
      queryType: target.format === 'time_series' ? 'timeseries' : 'table',
      pluginVersion: '4.20.0',
    };
  }
  return {
    refId,
    datasource: { ...PROMETHEUS_DS },
    expr: target.expr,
    legendFormat: target.legendFormat ?? '__auto',
    range: !target.instant,
    instant: target.instant === true,
    editorMode: 'code',
  };
}

function thresholdsJson(panel: Panel): JsonObject {
  const steps = panel.thresholds ?? [{ value: null, color: 'green' }];
  return { mode: 'absolute', steps: steps.map((s) => ({ value: s.value, color: s.color })) };
}

function fieldConfig(panel: Panel): JsonObject {
  const defaults: JsonObject = {
    unit: panel.unit ?? 'short',
    thresholds: thresholdsJson(panel),
    color: { mode: panel.kind === 'timeseries' ? 'palette-classic' : 'thresholds' },
  };
  if (panel.decimals !== undefined) defaults.decimals = panel.decimals;
  if (panel.min !== undefined) defaults.min = panel.min;
  if (panel.max !== undefined) defaults.max = panel.max;
  if (panel.kind === 'timeseries') {
    defaults.custom = {
      drawStyle: 'line',
      lineWidth: 1,
      fillOpacity: panel.stacked ? 30 : 10,
      showPoints: 'never',
      spanNulls: false,
      stacking: { mode: panel.stacked ? 'normal' : 'none', group: 'A' },
    };
  }
  const overrides: Json[] = Object.entries(panel.columnUnits ?? {}).map(([column, unit]) => ({
    matcher: { id: 'byName', options: column },
    properties: [{ id: 'unit', value: unit }],
  }));
  return { defaults, overrides };
}

function optionsJson(panel: Panel): JsonObject {
  switch (panel.kind) {
    case 'timeseries':
      return {
        legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['mean', 'max'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      };
    case 'stat':
      return {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'value',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      };
    case 'table':
      return { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], countRows: false } };
    case 'bargauge':
      // values: true shows one bar per row of a table result (rows are named by their string column).
      return {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: true },
        orientation: 'horizontal',
        displayMode: 'gradient',
        showUnfilled: true,
        valueMode: 'color',
        namePlacement: 'left',
        minVizHeight: 16,
        maxVizHeight: 32,
      };
  }
}

function variableJson(v: QueryVariable): JsonObject {
  return {
    type: 'query',
    name: v.name,
    label: v.label,
    datasource: { ...CLICKHOUSE_DS },
    definition: v.query,
    query: v.query,
    // 2: refresh options when the time range changes.
    refresh: 2,
    sort: 1,
    multi: false,
    includeAll: true,
    allValue: ALL_VALUE,
    current: { selected: true, text: 'All', value: GRAFANA_ALL },
    options: [],
    hide: 0,
    skipUrlSync: false,
  };
}

export interface PlacedPanel {
  panel: Panel;
  id: number;
  gridPos: { x: number; y: number; w: number; h: number };
}

export interface PlacedRow {
  row: Row;
  id: number;
  y: number;
  panels: PlacedPanel[];
}

/** Assigns ids and grid positions; the HTML preview uses the same layout as Grafana. */
export function layout(dashboard: Dashboard): PlacedRow[] {
  let id = 1;
  let y = 0;
  const rows: PlacedRow[] = [];
  for (const row of dashboard.rows) {
    const placedRow: PlacedRow = { row, id: id++, y, panels: [] };
    y += 1;
    let x = 0;
    let lineHeight = 0;
    for (const panel of row.panels) {
      if (panel.width < 1 || panel.width > GRID_COLUMNS) throw new RangeError(`${dashboard.uid}/${panel.title}: width ${panel.width} is not 1..24`);
      if (x + panel.width > GRID_COLUMNS) {
        y += lineHeight;
        x = 0;
        lineHeight = 0;
      }
      placedRow.panels.push({ panel, id: id++, gridPos: { x, y, w: panel.width, h: panel.height } });
      x += panel.width;
      lineHeight = Math.max(lineHeight, panel.height);
    }
    y += lineHeight;
    rows.push(placedRow);
  }
  return rows;
}

/** The dashboard as Grafana imports it (schemaVersion 39, Grafana 10.x and 11.x). */
export function toGrafanaJson(dashboard: Dashboard): JsonObject {
  const panels: Json[] = [];
  for (const placed of layout(dashboard)) {
    panels.push({ type: 'row', id: placed.id, title: placed.row.title, collapsed: false, gridPos: { x: 0, y: placed.y, w: GRID_COLUMNS, h: 1 }, panels: [] });
    for (const { panel, id, gridPos } of placed.panels) {
      const datasources = new Set(panel.targets.map((t) => datasourceOf(t).uid));
      if (datasources.size !== 1) throw new Error(`${dashboard.uid}/${panel.title}: a panel queries exactly one datasource`);
      const json: JsonObject = {
        type: panel.kind,
        id,
        title: panel.title,
        gridPos,
        datasource: { ...datasourceOf(panel.targets[0]!) },
        targets: panel.targets.map(targetJson),
        fieldConfig: fieldConfig(panel),
        options: optionsJson(panel),
      };
      if (panel.description !== undefined) json.description = panel.description;
      panels.push(json);
    }
  }
  return {
    uid: dashboard.uid,
    title: dashboard.title,
    description: dashboard.description,
    tags: dashboard.tags,
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    timezone: 'utc',
    time: { from: dashboard.from, to: 'now' },
    refresh: dashboard.refresh,
    templating: { list: dashboard.variables.map(variableJson) },
    annotations: { list: [] },
    links: [{ title: 'faasmeter', type: 'dashboards', tags: ['faasmeter'], asDropdown: true, includeVars: true, keepTime: true }],
    panels,
  };
}

/** Every ClickHouse SQL text of a dashboard (variables first), named for messages and records. */
export function clickhouseQueries(dashboard: Dashboard): Array<{ name: string; panel?: Panel; sql: string; format: ClickHouseFormat }> {
  const out: Array<{ name: string; panel?: Panel; sql: string; format: ClickHouseFormat }> = dashboard.variables.map((v) => ({
    name: `${dashboard.uid}/var:${v.name}`,
    sql: v.query,
    format: 'table' as const,
  }));
  for (const row of dashboard.rows) {
    for (const panel of row.panels) {
      panel.targets.forEach((t, i) => {
        if (t.kind === 'clickhouse') out.push({ name: `${dashboard.uid}/${panel.title}#${i}`, panel, sql: t.rawSql, format: t.format });
      });
    }
  }
  return out;
}
