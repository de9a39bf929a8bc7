/**
 * What Grafana and the grafana-clickhouse-datasource plugin do to a panel's SQL before ClickHouse
 * sees it, reproduced so that tests and the HTML preview run exactly the text Grafana would send.
 *
 * Two steps, in Grafana's order:
 *  1. the frontend substitutes template variables (`$name`, `${name}`, `${name:format}`,
 *     `[[name]]`) with the variable formats of Grafana's format registry; without a format the
 *     plugin's own formatter applies (a single value as is, a list as 'a','b' — neither escaped);
 *  2. the plugin backend expands `$__` macros (pkg/macros/macros.go over sqlutil/macropro):
 *     longest macro names first, arguments split at top-level commas, and only in SQL code —
 *     never inside string literals, quoted identifiers or comments.
 *
 * Our panels reference variables only as `decodeURLComponent('${name:percentencode}')` (see
 * `sqlVar`): Grafana's percent encoding is strict (RFC 3986: only A-Z a-z 0-9 - . _ ~ and %XX
 * survive), so no value can end the quoted literal or smuggle in a macro, whereas `:sqlstring`
 * and `:singlequote` leave backslashes alone and ClickHouse reads `\'` as an escaped quote.
 */
import { ALL_VALUE, GRAFANA_ALL } from './model.ts';

export type VariableValue = string | string[];

export interface VariableState {
  /** The selected value(s), or GRAFANA_ALL. */
  value: VariableValue;
  /** The custom all value; without one, All means every option. */
  allValue?: string;
  /** The variable's options (used for All without a custom all value). */
  options?: string[];
}

export interface QueryContext {
  /** Time range in epoch milliseconds, as the dashboard time picker sets it. */
  fromMs: number;
  toMs: number;
  /** The panel's interval (Grafana's $__interval), in ms. */
  intervalMs: number;
  variables: Record<string, VariableState>;
}

/** A variable as our dashboards use it: selected value, or All (→ '*'). */
export function dashboardVariable(value: string | undefined): VariableState {
  return value === undefined ? { value: GRAFANA_ALL, allValue: ALL_VALUE } : { value, allValue: ALL_VALUE };
}

// --- step 1: template variables ------------------------------------------------------------------

/** encodeURIComponent plus the RFC 3986 sub-delims it leaves alone, as Grafana's formatter does. */
export function encodeURIComponentStrict(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

type Formatter = (value: VariableValue) => string;

const join = (value: VariableValue, sep: string) => (Array.isArray(value) ? value.join(sep) : value);

/** The subset of Grafana's format registry (scenes formatRegistry.ts) a SQL author might use. */
const FORMATS: Record<string, Formatter> = {
  raw: (v) => String(v),
  text: (v) => join(v, ' + '),
  csv: (v) => join(v, ','),
  pipe: (v) => join(v, '|'),
  glob: (v) => (Array.isArray(v) && v.length > 1 ? `{${v.join(',')}}` : String(v)),
  json: (v) => (typeof v === 'string' ? v : JSON.stringify(v)),
  percentencode: (v) => encodeURIComponentStrict(Array.isArray(v) ? `{${v.join(',')}}` : v),
  singlequote: (v) => (Array.isArray(v) ? v : [v]).map((s) => `'${s.replace(/'/g, "\\'")}'`).join(','),
  doublequote: (v) => (Array.isArray(v) ? v : [v]).map((s) => `"${s.replace(/"/g, '\\"')}"`).join(','),
  sqlstring: (v) => (Array.isArray(v) ? v : [v]).map((s) => `'${s.replace(/'|"/g, (m) => (m === "'" ? "''" : '\\"'))}'`).join(','),
};

/** The ClickHouse plugin's formatter for a variable written without a format (CHDatasource.format). */
const pluginFormat: Formatter = (v) => (Array.isArray(v) ? `'${v.join("','")}'` : v);

// templateSrv's variable regex: $name | [[name:fmt]] | ${name.fieldPath:fmt}
const VARIABLE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;

export function interpolateVariables(sql: string, variables: Record<string, VariableState>): string {
  return sql.replace(VARIABLE, (match, n1?: string, n2?: string, f2?: string, n4?: string, _path?: string, f4?: string) => {
    const name = n1 ?? n2 ?? n4 ?? '';
    const state = Object.hasOwn(variables, name) ? variables[name] : undefined;
    if (state === undefined) return match; // not a variable: $__macros stay for the backend
    const format = f2 ?? f4;
    const formatter = format === undefined ? pluginFormat : FORMATS[format];
    if (formatter === undefined) throw new Error(`variable ${name}: format "${format}" is not supported here`);
    const isAll = state.value === GRAFANA_ALL || (Array.isArray(state.value) && state.value[0] === GRAFANA_ALL);
    if (isAll && state.allValue) {
      // scenes CustomAllValue: formatted only for text and percentencode, verbatim otherwise.
      if (format === 'text') return 'All';
      return format === 'percentencode' ? encodeURIComponentStrict(state.allValue) : state.allValue;
    }
    return formatter(isAll ? (state.options ?? []) : state.value);
  });
}

// --- step 2: macros --------------------------------------------------------------------------------

export interface Region {
  kind: 'code' | 'string' | 'identifier' | 'comment';
  start: number;
  end: number;
}

/**
 * Splits SQL into code, string literals ('…' with backslash escapes and '' pairs), quoted
 * identifiers ("…", `…`) and comments (--, /* *\/), the way ClickHouse's lexer reads them.
 * An unterminated literal runs to the end of the text.
 */
export function sqlRegions(sql: string): Region[] {
  const regions: Region[] = [];
  let i = 0;
  let codeStart = 0;
  const push = (kind: Region['kind'], start: number, end: number) => {
    if (codeStart < start) regions.push({ kind: 'code', start: codeStart, end: start });
    regions.push({ kind, start, end });
    codeStart = end;
  };
  while (i < sql.length) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === '\\') j += 2;
        else if (sql[j] === c && sql[j + 1] === c) j += 2;
        else if (sql[j] === c) break;
        else j += 1;
      }
      const end = Math.min(j + 1, sql.length);
      push(c === "'" ? 'string' : 'identifier', i, end);
      i = end;
    } else if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      const end = nl === -1 ? sql.length : nl;
      push('comment', i, end);
      i = end;
    } else if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      const end = close === -1 ? sql.length : close + 2;
      push('comment', i, end);
      i = end;
    } else {
      i += 1;
    }
  }
  if (codeStart < sql.length) regions.push({ kind: 'code', start: codeStart, end: sql.length });
  return regions;
}

type Macro = (ctx: QueryContext, args: string[] | undefined, name: string) => string;

const unix = (ms: number) => Math.floor(ms / 1000);
const dateTime = (ms: number) => `toDateTime(${unix(ms)})`;
const dateTime64 = (ms: number) => `fromUnixTimestamp64Milli(${Math.trunc(ms)})`;
const date = (ms: number) => `toDate('${new Date(ms).toISOString().slice(0, 10)}')`;
const intervalSeconds = (ctx: QueryContext) => Math.trunc(Math.max(ctx.intervalMs / 1000, 1));

function oneArg(name: string, args: string[] | undefined, count = 1): string[] {
  const got = args?.length ?? 0;
  if (got !== count) throw new Error(`unexpected number of arguments: $__${name} expected ${count} argument(s), received ${got}`);
  return args!;
}

/** sqlutil's gtime.FormatInterval. */
function formatInterval(ms: number): string {
  const units: Array<[number, string]> = [
    [365 * 86_400_000, 'y'],
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
    [1, 'ms'],
  ];
  for (const [size, suffix] of units) if (ms >= size) return `${Math.floor(ms / size)}${suffix}`;
  return '1ms';
}

/** pkg/macros ClickHouseMacros merged over the SDK defaults. */
const MACROS: Record<string, Macro> = {
  fromTime: (ctx) => dateTime(ctx.fromMs),
  toTime: (ctx) => dateTime(ctx.toMs),
  fromTime_ms: (ctx) => dateTime64(ctx.fromMs),
  toTime_ms: (ctx) => dateTime64(ctx.toMs),
  timeFilter: (ctx, args, n) => {
    const [col] = oneArg(n, args);
    return `${col} >= ${dateTime(ctx.fromMs)} AND ${col} <= ${dateTime(ctx.toMs)}`;
  },
  timeFilter_ms: (ctx, args, n) => {
    const [col] = oneArg(n, args);
    return `${col} >= ${dateTime64(ctx.fromMs)} AND ${col} <= ${dateTime64(ctx.toMs)}`;
  },
  dateFilter: (ctx, args, n) => {
    const [col] = oneArg(n, args);
    return `${col} >= ${date(ctx.fromMs)} AND ${col} <= ${date(ctx.toMs)}`;
  },
  dateTimeFilter: (ctx, args, n) => {
    const [d, t] = oneArg(n, args, 2);
    return `(${d} >= ${date(ctx.fromMs)} AND ${d} <= ${date(ctx.toMs)}) AND (${t} >= ${dateTime(ctx.fromMs)} AND ${t} <= ${dateTime(ctx.toMs)})`;
  },
  timeInterval: (ctx, args, n) => `toStartOfInterval(toDateTime(${oneArg(n, args)[0]}), INTERVAL ${intervalSeconds(ctx)} second)`,
  timeInterval_ms: (ctx, args, n) =>
    `toStartOfInterval(toDateTime64(${oneArg(n, args)[0]}, 3), INTERVAL ${Math.trunc(Math.max(ctx.intervalMs, 1))} millisecond)`,
  interval_s: (ctx) => String(intervalSeconds(ctx)),
  timeFrom: (ctx, args, n) => `${oneArg(n, args)[0]} >= ${dateTime(ctx.fromMs)}`,
  timeTo: (ctx, args, n) => `${oneArg(n, args)[0]} <= ${dateTime(ctx.toMs)}`,
  interval: (ctx) => formatInterval(ctx.intervalMs),
  interval_ms: (ctx) => String(Math.trunc(ctx.intervalMs)),
};
MACROS.dt = MACROS.dateTimeFilter!;

/** sqlutil parseArgs: a bracketed list right after the name, split at depth-1 commas. */
function parseArgs(rest: string): { args: string[] | undefined; length: number } {
  if (!rest.startsWith('(')) return { args: undefined, length: 0 };
  const args: string[] = [];
  let depth = 0;
  let arg = '';
  for (let i = 0; i < rest.length; i++) {
    const r = rest[i];
    if (r === '(') {
      depth++;
      if (depth === 1) continue;
    } else if (r === ')') {
      depth--;
      if (depth === 0) {
        args.push(arg.trim());
        return { args, length: i + 1 };
      }
    } else if (r === ',' && depth === 1) {
      args.push(arg.trim());
      arg = '';
      continue;
    }
    arg += r;
  }
  throw new Error('failed to parse macro arguments (missing close bracket?)');
}

const BY_LENGTH = Object.keys(MACROS).sort((a, b) => b.length - a.length);

export function expandMacros(sql: string, ctx: QueryContext): string {
  let out = sql;
  for (const name of BY_LENGTH) {
    const pattern = new RegExp(`\\$__${name}\\b`, 'g');
    const code = sqlRegions(out).filter((r) => r.kind === 'code');
    const inCode = (at: number) => code.some((r) => at >= r.start && at < r.end);
    const hits = [...out.matchAll(pattern)].filter((m) => inCode(m.index));
    // Right to left, so earlier offsets stay valid.
    for (const m of hits.reverse()) {
      const end = m.index + m[0].length;
      const { args, length } = parseArgs(out.slice(end));
      out = out.slice(0, m.index) + MACROS[name]!(ctx, args, name) + out.slice(end + length);
    }
  }
  return out;
}

/** The SQL Grafana sends for a panel: variables substituted, then macros expanded. */
export function expandQuery(sql: string, ctx: QueryContext): string {
  return expandMacros(interpolateVariables(sql, ctx.variables), ctx);
}

/** How our panels reference a variable: a string literal no value can escape (see the top). */
export function sqlVar(name: string): string {
  return `decodeURLComponent('\${${name}:percentencode}')`;
}

/** `column` equals the variable, or the variable is All. */
export function matchVar(column: string, name: string): string {
  return `(${sqlVar(name)} = '${ALL_VALUE}' OR ${column} = ${sqlVar(name)})`;
}
