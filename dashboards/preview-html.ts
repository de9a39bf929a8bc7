/**
 * A static HTML look at a dashboard for people without Grafana: the same layout (24-column grid,
 * 30 px rows), panel kinds drawn as inline SVG and HTML, values formatted with the panel's unit.
 * Self-contained: no scripts or styles from elsewhere. A small inline script records render
 * errors and counts non-empty panels in `window.__preview` for the headless-browser check.
 */
import type { Dashboard, Panel, Threshold, Unit } from './model.ts';
import { layout } from './model.ts';

export interface SeriesData {
  name: string;
  /** [epoch ms, value] in time order. */
  points: Array<[number, number | null]>;
}

export type Cell = string | number | null;

export type PanelResult =
  | { kind: 'series'; series: SeriesData[] }
  | { kind: 'table'; columns: string[]; rows: Cell[][] }
  | { kind: 'error'; message: string };

export interface PreviewInput {
  dashboard: Dashboard;
  fromMs: number;
  toMs: number;
  /** Panel id → its targets' results (one per target). */
  results: Map<Panel, PanelResult[]>;
  /** Shown under the title: where the data came from. */
  note: string;
  /** Other dashboards, for the navigation bar: [title, href]. */
  links: Array<[string, string]>;
}

// --- formatting -----------------------------------------------------------------------------------

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function scaled(value: number, steps: Array<[number, string]>, decimals?: number): string {
  const abs = Math.abs(value);
  for (const [size, suffix] of steps) {
    if (abs >= size) return `${trim(value / size, decimals)}${suffix}`;
  }
  return trim(value, decimals);
}

function trim(value: number, decimals?: number): string {
  if (decimals !== undefined) return value.toFixed(decimals);
  const abs = Math.abs(value);
  const d = abs === 0 ? 0 : abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return String(Number(value.toFixed(d)));
}

export function formatValue(value: number | null, unit: Unit = 'short', decimals?: number): string {
  if (value === null || Number.isNaN(value)) return '–';
  switch (unit) {
    case 'percentunit':
      return `${trim(value * 100, decimals ?? (Math.abs(value) < 0.1 ? 2 : 1))}%`;
    case 'ms':
      return Math.abs(value) >= 1000 ? `${trim(value / 1000, decimals)} s` : `${trim(value, decimals)} ms`;
    case 's':
      return Math.abs(value) < 1 ? `${trim(value * 1000, decimals)} ms` : `${trim(value, decimals)} s`;
    case 'bytes':
      return `${scaled(value, [[2 ** 40, ' TiB'], [2 ** 30, ' GiB'], [2 ** 20, ' MiB'], [2 ** 10, ' KiB']], decimals)}${Math.abs(value) < 1024 ? ' B' : ''}`;
    case 'mbytes':
      return Math.abs(value) >= 1024 ? `${trim(value / 1024, decimals)} GiB` : `${trim(value, decimals)} MiB`;
    case 'currencyUSD': {
      const abs = Math.abs(value);
      const digits = abs >= 1000 ? scaled(abs, [[1e6, 'M'], [1e3, 'K']], decimals) : abs.toFixed(decimals ?? (abs < 1 && abs > 0 ? 4 : 2));
      return `${value < 0 ? '-' : ''}$${digits}`;
    }
    case 'reqps':
      return `${scaled(value, [[1e6, 'M'], [1e3, 'K']], decimals)} req/s`;
    case 'ops':
      return `${scaled(value, [[1e6, 'M'], [1e3, 'K']], decimals)} ops/s`;
    case 'none':
      return Number.isInteger(value) ? String(value) : trim(value, decimals);
    case 'short':
      return scaled(value, [[1e9, ' Bil'], [1e6, ' Mil'], [1e3, 'K']], decimals);
  }
}

function thresholdColor(value: number | null, thresholds: Threshold[] | undefined, fallback: string): string {
  if (!thresholds || value === null) return fallback;
  let color = thresholds[0]?.color ?? fallback;
  for (const t of thresholds) if (t.value !== null && value >= t.value) color = t.color;
  return COLOR[color] ?? color;
}

const COLOR: Record<string, string> = { green: '#73bf69', orange: '#ff9830', red: '#f2495c', blue: '#5794f2' };
const PALETTE = ['#73bf69', '#f2cc0c', '#8ab8ff', '#ff780a', '#f2495c', '#5794f2', '#b877d9', '#705da0', '#37872d', '#fade2a', '#447ebc', '#c15c17'];

// --- charts ---------------------------------------------------------------------------------------

function niceTicks(min: number, max: number, count = 5): number[] {
  if (max === min) max = min + 1;
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function timeLabel(ms: number, spanMs: number): string {
  const iso = new Date(ms).toISOString();
  return spanMs > 2 * 86_400_000 ? `${iso.slice(5, 10)}` : spanMs > 86_400_000 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
}

let clipIds = 0;

function timeseriesSvg(panel: Panel, series: SeriesData[], fromMs: number, toMs: number, width: number, height: number): string {
  const left = 64;
  const right = 12;
  const top = 8;
  const bottom = 22;
  const w = width - left - right;
  const h = height - top - bottom;
  const stacked = panel.stacked === true;
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const lines = series.map((s) => new Map(s.points));
  const stackBase = new Map<number, number>();
  const drawn = lines.map((m) => {
    const pts: Array<[number, number | null, number]> = [];
    for (const t of times) {
      const v = m.get(t);
      if (v === undefined || v === null) {
        if (!stacked) pts.push([t, null, 0]);
        continue;
      }
      const base = stacked ? (stackBase.get(t) ?? 0) : 0;
      if (stacked) stackBase.set(t, base + v);
      pts.push([t, base + v, base]);
    }
    return pts;
  });
  const values = drawn.flatMap((pts) => pts.flatMap((p) => (p[1] === null ? [] : [p[1], p[2]])));
  const lo = panel.min ?? Math.min(0, ...values);
  const hiRaw = panel.max ?? Math.max(...values, lo + 1e-9);
  const ticks = niceTicks(lo, hiRaw * 1.05);
  const hi = Math.max(hiRaw, ticks.at(-1) ?? hiRaw);
  const x = (t: number) => left + ((t - fromMs) / (toMs - fromMs)) * w;
  const y = (v: number) => top + h - ((v - lo) / (hi - lo || 1)) * h;
  const clip = `clip${++clipIds}`;
  const parts: string[] = [`<clipPath id="${clip}"><rect x="${left}" y="${top - 2}" width="${w}" height="${h + 4}"/></clipPath>`];
  for (const tick of ticks) {
    parts.push(`<line x1="${left}" x2="${left + w}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(tick) + 4).toFixed(1)}" class="axis" text-anchor="end">${escapeHtml(formatValue(tick, panel.unit, panel.decimals))}</text>`);
  }
  const span = toMs - fromMs;
  for (let i = 0; i <= 6; i++) {
    const t = fromMs + (span * i) / 6;
    parts.push(`<text x="${x(t).toFixed(1)}" y="${height - 6}" class="axis" text-anchor="middle">${timeLabel(t, span)}</text>`);
  }
  drawn.forEach((pts, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    let path = '';
    let pen = false;
    for (const [t, v] of pts) {
      if (v === null) {
        pen = false;
        continue;
      }
      path += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    if (stacked && pts.length > 0) {
      const back = [...pts].reverse().map(([t, , b]) => `L${x(t).toFixed(1)},${y(b).toFixed(1)}`).join('');
      parts.push(`<path d="${path}${back}Z" fill="${color}" fill-opacity="0.35" stroke="none" clip-path="url(#${clip})"/>`);
    }
    if (pts.length === 1 && pts[0]![1] !== null) parts.push(`<circle cx="${x(pts[0]![0]).toFixed(1)}" cy="${y(pts[0]![1]).toFixed(1)}" r="3" fill="${color}" clip-path="url(#${clip})"/>`);
    parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="1.5" clip-path="url(#${clip})"/>`);
  });
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" width="100%" height="${height}" preserveAspectRatio="none">${parts.join('')}</svg>`;
}

function legendHtml(panel: Panel, series: SeriesData[]): string {
  const rows = series.map((s, i) => {
    const vals = s.points.map((p) => p[1]).filter((v): v is number => v !== null);
    const mean = vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null;
    const max = vals.length ? Math.max(...vals) : null;
    return (
      `<tr><td><span class="swatch" style="background:${PALETTE[i % PALETTE.length]}"></span>${escapeHtml(s.name)}</td>` +
      `<td>${escapeHtml(formatValue(mean, panel.unit, panel.decimals))}</td><td>${escapeHtml(formatValue(max, panel.unit, panel.decimals))}</td></tr>`
    );
  });
  return `<table class="legend"><thead><tr><th></th><th>Mean</th><th>Max</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

// --- panels ---------------------------------------------------------------------------------------

const isNumber = (c: Cell): c is number => typeof c === 'number';

/** Rows as (name, value): string cells joined for the name, the last number for the value. */
function namedValues(results: PanelResult[]): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const r of results) {
    if (r.kind === 'table') {
      for (const row of r.rows) {
        const value = [...row].reverse().find(isNumber);
        if (value === undefined) continue;
        out.push([row.filter((c) => typeof c === 'string').join(' ') || r.columns[row.indexOf(value)] || '', value]);
      }
    } else if (r.kind === 'series') {
      for (const s of r.series) {
        const last = [...s.points].reverse().find((p) => p[1] !== null);
        if (last) out.push([s.name, last[1]!]);
      }
    }
  }
  return out;
}

function panelBody(panel: Panel, results: PanelResult[], input: PreviewInput, widthPx: number, heightPx: number): { html: string; empty: boolean } {
  const errors = results.filter((r) => r.kind === 'error');
  if (errors.length > 0) return { html: `<div class="error">${errors.map((e) => escapeHtml(e.message)).join('<br>')}</div>`, empty: true };
  switch (panel.kind) {
    case 'timeseries': {
      const series = results.flatMap((r) => (r.kind === 'series' ? r.series : []));
      if (series.every((s) => s.points.length === 0)) return { html: '<div class="nodata">No data</div>', empty: true };
      // Like Grafana, the legend table takes what the chart leaves (at most 40 % of the panel).
      const legendRows = Math.min(series.length, Math.max(2, Math.floor((heightPx * 0.4) / 16)));
      const chartHeight = Math.max(80, heightPx - 26 - legendRows * 16);
      return {
        html: `${timeseriesSvg(panel, series, input.fromMs, input.toMs, widthPx, chartHeight)}<div class="legendbox">${legendHtml(panel, series)}</div>`,
        empty: false,
      };
    }
    case 'stat': {
      const values = namedValues(results);
      if (values.length === 0) return { html: '<div class="nodata">No data</div>', empty: true };
      const items = values.map(([name, v]) => {
        const color = thresholdColor(v, panel.thresholds, '#73bf69');
        const label = values.length > 1 ? `<div class="statname">${escapeHtml(name)}</div>` : '';
        return `<div class="stat">${label}<div class="statvalue" style="color:${color}">${escapeHtml(formatValue(v, panel.unit, panel.decimals))}</div></div>`;
      });
      return { html: `<div class="stats">${items.join('')}</div>`, empty: false };
    }
    case 'bargauge': {
      const values = namedValues(results);
      if (values.length === 0) return { html: '<div class="nodata">No data</div>', empty: true };
      const max = panel.max ?? Math.max(...values.map((v) => v[1]), 1e-12);
      const min = panel.min ?? Math.min(0, ...values.map((v) => v[1]));
      const bars = values.map(([name, v]) => {
        const share = Math.max(0, Math.min(1, (v - min) / (max - min || 1)));
        const color = thresholdColor(v, panel.thresholds, '#73bf69');
        return (
          `<div class="bar"><div class="barname">${escapeHtml(name)}</div><div class="bartrack">` +
          `<div class="barfill" style="width:${(share * 100).toFixed(1)}%;background:linear-gradient(90deg, ${color}55, ${color})"></div></div>` +
          `<div class="barvalue" style="color:${color}">${escapeHtml(formatValue(v, panel.unit, panel.decimals))}</div></div>`
        );
      });
      return { html: `<div class="bars">${bars.join('')}</div>`, empty: false };
    }
    case 'table': {
      const table = results.find((r) => r.kind === 'table');
      if (!table || table.kind !== 'table' || table.rows.length === 0) return { html: '<div class="nodata">No data</div>', empty: true };
      const head = table.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
      const body = table.rows
        .map(
          (row) =>
            `<tr>${row
              .map((c, i) => {
                const unit = panel.columnUnits?.[table.columns[i] ?? ''];
                const text = !isNumber(c) ? (c ?? '–') : unit ? formatValue(c, unit) : Number.isInteger(c) ? c.toLocaleString('en-US') : formatValue(c, 'short');
                return `<td class="${isNumber(c) ? 'num' : ''}">${escapeHtml(text)}</td>`;
              })
              .join('')}</tr>`,
        )
        .join('');
      return { html: `<div class="tablebox"><table class="data"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`, empty: false };
    }
  }
}

const CSS = `
body{margin:0;background:#111217;color:#ccccdc;font:13px/1.35 Inter,Helvetica,Arial,sans-serif}
header{padding:14px 20px 6px}h1{font-size:20px;margin:0 0 4px;color:#fff;font-weight:500}
.meta{color:#8e8e9e;font-size:12px}.meta b{color:#ccccdc;font-weight:500}
nav{padding:6px 20px}nav a{color:#6e9fff;margin-right:14px;text-decoration:none}nav a.current{color:#fff;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:30px;gap:8px;padding:8px 20px 24px}
.row{grid-column:1/-1;color:#fff;font-size:15px;font-weight:500;border-bottom:1px solid #2c2d33;display:flex;align-items:flex-end;padding-bottom:3px}
.panel{background:#181b1f;border:1px solid #2c2d33;border-radius:2px;display:flex;flex-direction:column;overflow:hidden;min-width:0}
.ptitle{padding:6px 8px 2px;font-weight:500;color:#d8d9da;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.pbody{flex:1;min-height:0;padding:2px 8px 6px;overflow:hidden;display:flex;flex-direction:column}
svg.chart{display:block}svg .grid{stroke:#2c2d33;stroke-width:1}svg .axis{fill:#8e8e9e;font-size:10px}
.legendbox{overflow:hidden}table.legend{width:100%;border-collapse:collapse;font-size:11px}
table.legend th{color:#6e9fff;font-weight:500;text-align:right}table.legend td{padding:0 4px;line-height:16px;text-align:right;white-space:nowrap}
table.legend td:first-child{text-align:left;overflow:hidden;text-overflow:ellipsis;max-width:0;width:60%}
.swatch{display:inline-block;width:14px;height:4px;margin-right:6px;vertical-align:middle;border-radius:2px}
.stats{display:flex;flex:1;gap:8px;align-items:center;justify-content:center}.stat{text-align:center}
.statvalue{font-size:34px;font-weight:500}.statname{color:#8e8e9e;font-size:11px}
.bars{display:flex;flex-direction:column;gap:5px;justify-content:center;flex:1}
.bar{display:grid;grid-template-columns:minmax(90px,32%) 1fr 90px;align-items:center;gap:8px}
.barname{text-align:right;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;color:#ccccdc}
.bartrack{background:#22252b;height:16px;border-radius:2px}.barfill{height:100%;border-radius:2px}
.barvalue{font-weight:500;white-space:nowrap}
.tablebox{overflow:hidden;flex:1}table.data{width:100%;border-collapse:collapse;font-size:12px}
table.data th{color:#6e9fff;text-align:left;font-weight:500;border-bottom:1px solid #2c2d33;padding:3px 6px;white-space:nowrap}
table.data td{padding:3px 6px;border-bottom:1px solid #202226;white-space:nowrap}table.data td.num{text-align:right}
.nodata{color:#8e8e9e;margin:auto}.error{color:#f2495c;margin:auto;font-size:12px}
`;

const SCRIPT = `
window.__preview = { errors: [], panels: 0, nonEmpty: 0, empty: [] };
window.addEventListener('error', function (e) { window.__preview.errors.push(String(e.message || e)); });
window.addEventListener('load', function () {
  var panels = document.querySelectorAll('.panel');
  window.__preview.panels = panels.length;
  panels.forEach(function (p) {
    var body = p.querySelector('.pbody');
    var drawn = body && body.querySelector('svg path, svg circle, .statvalue, .barfill, table.data td');
    if (p.getAttribute('data-empty') === 'false' && drawn) window.__preview.nonEmpty++;
    else window.__preview.empty.push(p.getAttribute('data-title'));
  });
  document.body.setAttribute('data-preview', JSON.stringify(window.__preview));
});
`;

/** Grid units → pixels at the preview's 1600 px width, for SVG sizing. */
const COLUMN_PX = (1600 - 40) / 24;
const ROW_PX = 38;

export function renderPreview(input: PreviewInput): { html: string; panels: number; empty: string[] } {
  const cells: string[] = [];
  const empty: string[] = [];
  let panels = 0;
  for (const placed of layout(input.dashboard)) {
    cells.push(`<div class="row" style="grid-row:${placed.y + 1}/span 1">${escapeHtml(placed.row.title)}</div>`);
    for (const { panel, gridPos } of placed.panels) {
      panels++;
      const widthPx = Math.round(gridPos.w * COLUMN_PX - 20);
      const heightPx = Math.round(gridPos.h * ROW_PX - 40);
      const body = panelBody(panel, input.results.get(panel) ?? [], input, widthPx, heightPx);
      if (body.empty) empty.push(panel.title);
      const tip = panel.description ? ` title="${escapeHtml(panel.description)}"` : '';
      cells.push(
        `<section class="panel" data-title="${escapeHtml(panel.title)}" data-empty="${body.empty}" data-kind="${panel.kind}" ` +
          `style="grid-column:${gridPos.x + 1}/span ${gridPos.w};grid-row:${gridPos.y + 1}/span ${gridPos.h}">` +
          `<div class="ptitle"${tip}>${escapeHtml(panel.title)}</div><div class="pbody">${body.html}</div></section>`,
      );
    }
  }
  const nav = input.links
    .map(([title, href]) => `<a href="${escapeHtml(href)}"${title === input.dashboard.title ? ' class="current"' : ''}>${escapeHtml(title)}</a>`)
    .join('');
  const range = `${new Date(input.fromMs).toISOString().slice(0, 16).replace('T', ' ')} – ${new Date(input.toMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const vars = input.dashboard.variables.length ? ` · ${input.dashboard.variables.map((v) => `<b>${escapeHtml(v.label)}</b>: All`).join(' ')}` : '';
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.dashboard.title)}</title>` +
    `<style>${CSS}</style></head><body><header><h1>${escapeHtml(input.dashboard.title)}</h1>` +
    `<div class="meta">${escapeHtml(range)}${vars} · ${escapeHtml(input.note)}</div></header><nav>${nav}</nav>` +
    `<main class="grid">${cells.join('')}</main><script>${SCRIPT}</script></body></html>\n`;
  return { html, panels, empty };
}
