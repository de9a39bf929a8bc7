/**
 * The typed SQL builder. Every value reaches ClickHouse as a literal we render ourselves: the
 * servers we support do not share a server-side parameter syntax (18.16 has no `{name:Type}`), so
 * binding happens here, and only typed values and fragments can be interpolated:
 *
 *   sql`SELECT count() FROM billed_calls WHERE tenant = ${v.string(t)} AND start_ms >= ${v.uint64(ms)}`
 *
 * Numbers are wrapped in their conversion function (`toUInt64(5)`), so a value has the type its
 * caller named on every server, a negative number can never meet a `-` in the template to form a
 * `--` comment, and each literal is a self-delimited unit.
 */
import { SqlLexError, tokenize } from './sql-lexer.ts';

export class SqlValueError extends Error {
  override name = 'SqlValueError';
}

/** A built statement or fragment. `text` is final SQL; values are already rendered as literals. */
export class Statement {
  readonly text: string;
  // A private member makes the class nominal: a look-alike `{ text }` object is a type error.
  private readonly fragment = true;

  constructor(text: string) {
    this.text = text;
  }

  toString(): string {
    return this.text;
  }
}

/** One typed value rendered as a ClickHouse literal. */
export class SqlLiteral {
  /** The ClickHouse type the literal has on every server. */
  readonly type: string;
  readonly text: string;
  private readonly literal = true;

  constructor(type: string, text: string) {
    this.type = type;
    this.text = text;
  }

  toString(): string {
    return this.text;
  }
}

export type SqlPart = SqlLiteral | Statement;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const UINT32_MAX = 2 ** 32 - 1;
/** 2105-12-31 23:59:59 UTC: 18.16's date tables end with 2105 (current servers reach 2106-02-07). */
const DATETIME_MAX = 4_291_747_199;
const DATE_MIN = '1970-01-01';
const DATE_MAX = '2105-12-31';
const DECIMAL_PRECISION = 38;
const MIN_NORMAL_FLOAT64 = 2.2250738585072014e-308;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `string "${value.slice(0, 40)}…"` : `string "${value}"`;
  if (typeof value === 'bigint') return `bigint ${value}n`;
  if (value instanceof Date) return `Date ${Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString()}`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined) return `${typeof value} ${String(value)}`;
  return typeof value;
}

function fail(kind: string, value: unknown, problem: string): never {
  throw new SqlValueError(`v.${kind}: ${describe(value)} ${problem}`);
}

function integer(kind: string, value: unknown, min: bigint, max: bigint): bigint {
  let n: bigint;
  if (typeof value === 'bigint') {
    n = value;
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(kind, value, 'is not a finite number');
    if (!Number.isInteger(value)) fail(kind, value, 'is not an integer');
    if (!Number.isSafeInteger(value)) fail(kind, value, 'is not a safe integer (beyond ±2^53 a number has lost digits); pass a bigint');
    n = BigInt(value);
  } else if (typeof value === 'string') {
    if (!/^-?[0-9]{1,20}$/.test(value)) fail(kind, value, 'is not a decimal integer');
    n = BigInt(value);
  } else {
    fail(kind, value, 'is not a bigint, integer number or decimal integer string');
  }
  if (n < min || n > max) fail(kind, value, `is out of range [${min}, ${max}]`);
  return n;
}

/**
 * ClickHouse string literal. Quote and backslash are escaped, and so is every control character,
 * so the literal is one line of printable text; everything else travels as UTF-8. A string with a
 * lone surrogate has no UTF-8 form, so it would not come back as it went in: it is refused.
 */
function quoteString(kind: string, value: unknown): string {
  if (typeof value !== 'string') fail(kind, value, 'is not a string');
  if (!value.isWellFormed()) refuseSurrogate(kind, value);
  if (!needsEscaping(value)) return `'${value}'`;
  let out = "'";
  for (const ch of value) {
    const code = ch.charCodeAt(0);
    if (ch === "'") out += "\\'";
    else if (ch === '\\') out += '\\\\';
    else if (code === 0) out += '\\0';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0').toUpperCase()}`;
    else out += ch;
  }
  return `${out}'`;
}

function needsEscaping(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x27 || code === 0x5c || code === 0x7f) return true;
  }
  return false;
}

function refuseSurrogate(kind: string, value: string): never {
  const index = [...value].findIndex((ch) => ch.length === 1 && ch.charCodeAt(0) >= 0xd800 && ch.charCodeAt(0) <= 0xdfff);
  // The value itself stays out of the message: strings are tenant data.
  throw new SqlValueError(
    `v.${kind}: a string of ${value.length} UTF-16 units is not well-formed (lone surrogate at code point ${index}), so it has no UTF-8 form to send`,
  );
}

function float64(kind: string, value: unknown): string {
  if (typeof value !== 'number') fail(kind, value, 'is not a number');
  if (!Number.isFinite(value)) fail(kind, value, 'is not a finite number');
  if (value !== 0 && Math.abs(value) < MIN_NORMAL_FLOAT64) {
    fail(kind, value, 'is subnormal: ClickHouse 18.16 cannot parse it exactly (|x| must be 0 or at least 2.2250738585072014e-308)');
  }
  // String(-0) is "0"; the float literal keeps the sign.
  return Object.is(value, -0) ? '-0.' : String(value);
}

function epochSeconds(kind: string, value: unknown): number {
  let seconds: number;
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) fail(kind, value, 'is not a valid date');
    // DateTime has whole seconds; a Date's milliseconds are dropped as the server would.
    seconds = Math.floor(ms / 1000);
  } else if (typeof value === 'number') {
    if (!Number.isInteger(value)) fail(kind, value, 'is not a whole number of epoch seconds');
    seconds = value;
  } else {
    fail(kind, value, 'is not epoch seconds or a Date');
  }
  if (seconds < 0 || seconds > DATETIME_MAX) fail(kind, value, `is outside the DateTime range both servers share [0, ${DATETIME_MAX}] (1970 to 2105)`);
  return seconds;
}

function isoDate(kind: string, value: unknown): string {
  let text: string;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) fail(kind, value, 'is not a valid date');
    text = value.toISOString().slice(0, 10);
  } else if (typeof value === 'string') {
    const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(value);
    if (!m) fail(kind, value, 'is not a YYYY-MM-DD date');
    const parsed = new Date(`${value}T00:00:00Z`);
    if (Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== value) fail(kind, value, 'is not a calendar date');
    text = value;
  } else {
    fail(kind, value, 'is not a YYYY-MM-DD string or a Date');
  }
  if (text < DATE_MIN || text > DATE_MAX) fail(kind, value, `is outside the Date range both servers share [${DATE_MIN}, ${DATE_MAX}]`);
  return text;
}

function decimalText(kind: string, value: unknown, scale: number): string {
  if (!Number.isInteger(scale) || scale < 0 || scale > DECIMAL_PRECISION) {
    throw new SqlValueError(`v.${kind}: scale ${String(scale)} is not a whole number from 0 to ${DECIMAL_PRECISION}`);
  }
  if (typeof value !== 'string') fail(kind, value, 'is not a decimal string (money never passes through a float)');
  const m = /^([+-]?)([0-9]+)(?:\.([0-9]+))?$/.exec(value);
  if (!m) fail(kind, value, 'is not a decimal number like -12.345');
  const [, sign = '', whole = '', fraction = ''] = m;
  if (fraction.length > scale) fail(kind, value, `has ${fraction.length} fractional digits, more than scale ${scale}; round it first`);
  const digits = whole.replace(/^0+/, '');
  if (digits.length + scale > DECIMAL_PRECISION) fail(kind, value, `does not fit Decimal128 with scale ${scale} (${DECIMAL_PRECISION - scale} integer digits at most)`);
  return `${sign === '-' ? '-' : ''}${digits || '0'}${fraction ? `.${fraction}` : ''}`;
}

function checkedScale(scale: unknown): number {
  if (typeof scale !== 'number' || !Number.isInteger(scale) || scale < 0 || scale > DECIMAL_PRECISION) {
    throw new SqlValueError(`v.array: Decimal needs a scale from 0 to ${DECIMAL_PRECISION}, got ${String(scale)}`);
  }
  return scale;
}

function identifier(name: unknown): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
    fail('ident', name, 'is not a plain identifier (letters, digits and _, not starting with a digit)');
  }
  return `\`${name}\``;
}

/** Element types an array or IN list can hold, named as ClickHouse names them. */
export interface ElementInputs {
  String: string;
  Int64: bigint | number | string;
  UInt64: bigint | number | string;
  UInt32: number;
  Float64: number;
  Bool: boolean;
  Date: string | Date;
  DateTime: number | Date;
  Decimal: string;
}
export type ElementType = keyof ElementInputs;
type ScaleArgument<K extends ElementType> = K extends 'Decimal' ? [scale: number] : [];

const render: { [K in ElementType]: (value: unknown, scale: number) => string } = {
  String: (x) => quoteString('string', x),
  Int64: (x) => `toInt64(${integer('int64', x, INT64_MIN, INT64_MAX)})`,
  UInt64: (x) => `toUInt64(${integer('uint64', x, 0n, UINT64_MAX)})`,
  UInt32: (x) => {
    if (typeof x !== 'number') fail('uint32', x, 'is not a number');
    return `toUInt32(${integer('uint32', x, 0n, BigInt(UINT32_MAX))})`;
  },
  Float64: (x) => `toFloat64(${float64('float64', x)})`,
  Bool: (x) => {
    if (typeof x !== 'boolean') fail('bool', x, 'is not a boolean');
    return x ? '1' : '0';
  },
  Date: (x) => `toDate('${isoDate('date', x)}')`,
  // toUInt32 pins the argument's type, which for a bare literal would depend on its size (UInt8/16/32).
  DateTime: (x) => `toDateTime(toUInt32(${epochSeconds('dateTime', x)}))`,
  Decimal: (x, scale) => `toDecimal128('${decimalText('decimal', x, scale)}', ${scale})`,
};

const emptyArray: { [K in ElementType]: (scale: number) => string } = {
  String: () => 'emptyArrayString()',
  Int64: () => 'emptyArrayInt64()',
  UInt64: () => 'emptyArrayUInt64()',
  UInt32: () => 'emptyArrayUInt32()',
  Float64: () => 'emptyArrayFloat64()',
  Bool: () => 'emptyArrayUInt8()',
  Date: () => 'emptyArrayDate()',
  DateTime: () => 'emptyArrayDateTime()',
  Decimal: (scale) => `CAST([] AS Array(Decimal(${DECIMAL_PRECISION}, ${scale})))`,
};

function elementType(kind: unknown): ElementType {
  if (typeof kind !== 'string' || !Object.hasOwn(render, kind)) {
    throw new SqlValueError(`v.array: element type ${String(kind)} is not one of ${Object.keys(render).join(', ')}`);
  }
  return kind as ElementType;
}

function elements(what: string, kind: ElementType, values: unknown, scale: number): string[] {
  if (!Array.isArray(values)) throw new SqlValueError(`v.${what}: values must be an array, got ${describe(values)}`);
  return values.map((x: unknown, i) => {
    try {
      return render[kind](x, scale);
    } catch (error) {
      if (error instanceof SqlValueError) throw new SqlValueError(`v.${what}('${kind}') element #${i + 1}: ${error.message}`);
      throw error;
    }
  });
}

/** Typed values for interpolation. Each validates its input and throws SqlValueError naming the problem. */
export const v = {
  string: (value: string): SqlLiteral => new SqlLiteral('String', quoteString('string', value)),
  /** bigint, safe-integer number, or a decimal integer string (64-bit integers arrive from ClickHouse as strings). */
  int64: (value: bigint | number | string): SqlLiteral => new SqlLiteral('Int64', render.Int64(value, 0)),
  uint64: (value: bigint | number | string): SqlLiteral => new SqlLiteral('UInt64', render.UInt64(value, 0)),
  uint32: (value: number): SqlLiteral => new SqlLiteral('UInt32', render.UInt32(value, 0)),
  /** Finite, and zero or normal: 18.16 cannot parse subnormal literals. */
  float64: (value: number): SqlLiteral => new SqlLiteral('Float64', render.Float64(value, 0)),
  /** 1 or 0 (UInt8): neither server has a Bool type in common. */
  bool: (value: boolean): SqlLiteral => new SqlLiteral('UInt8', render.Bool(value, 0)),
  /** Epoch seconds (a whole number) or a Date (its milliseconds dropped). */
  dateTime: (value: number | Date): SqlLiteral => new SqlLiteral('DateTime', render.DateTime(value, 0)),
  /** 'YYYY-MM-DD', or a Date taken as its UTC calendar day. */
  date: (value: string | Date): SqlLiteral => new SqlLiteral('Date', render.Date(value, 0)),
  /** A decimal string with at most `scale` fractional digits, as Decimal128(scale). */
  decimal: (value: string, scale: number): SqlLiteral => {
    const text = render.Decimal(value, scale);
    return new SqlLiteral(`Decimal(${DECIMAL_PRECISION}, ${scale})`, text);
  },
  /** An array literal; an empty array keeps its element type. */
  array: <K extends ElementType>(kind: K, values: readonly ElementInputs[K][], ...scale: ScaleArgument<K>): SqlLiteral => {
    const type = elementType(kind);
    const s = type === 'Decimal' ? checkedScale(scale[0]) : 0;
    const items = elements('array', type, values, s);
    const name = type === 'Decimal' ? `Decimal(${DECIMAL_PRECISION}, ${s})` : type === 'Bool' ? 'UInt8' : type;
    return new SqlLiteral(`Array(${name})`, items.length === 0 ? emptyArray[type](s) : `[${items.join(', ')}]`);
  },
  /**
   * The values of an IN list, comma-separated: `x IN (${v.list('String', xs)})`. 18.16 does not
   * accept an array on the right of IN, and `IN ()` is a syntax error, so an empty list is refused.
   */
  list: <K extends ElementType>(kind: K, values: readonly ElementInputs[K][], ...scale: ScaleArgument<K>): Statement => {
    const type = elementType(kind);
    const items = elements('list', type, values, type === 'Decimal' ? checkedScale(scale[0]) : 0);
    if (items.length === 0) throw new SqlValueError('v.list: an IN list needs at least one value (skip the query, or the condition, when there are none)');
    return new Statement(items.join(', '));
  },
  /** A backtick-quoted identifier, or a dotted name from several parts: v.ident(database, table). */
  ident: (...parts: [string, ...string[]]): SqlLiteral => {
    if (parts.length === 0) throw new SqlValueError('v.ident: needs at least one name');
    return new SqlLiteral('Identifier', parts.map(identifier).join('.'));
  },
};

const PLACEHOLDER = '\u0000';
const checkedTemplates = new WeakSet<TemplateStringsArray>();

/** Rejects a template that would put a value inside a string, comment or quoted identifier. */
function checkTemplate(strings: TemplateStringsArray): void {
  if (checkedTemplates.has(strings)) return;
  if (strings.some((s) => s.includes(PLACEHOLDER))) throw new SqlValueError('sql: a template must not contain NUL characters');
  let tokens;
  try {
    tokens = tokenize(strings.join(PLACEHOLDER), { placeholder: PLACEHOLDER, trivia: true });
  } catch (error) {
    if (error instanceof SqlLexError) throw new SqlValueError(`sql: template is not complete SQL text: ${error.message}`);
    throw error;
  }
  const swallowed = tokens.find((t) => t.kind !== 'placeholder' && t.text.includes(PLACEHOLDER));
  if (swallowed) {
    const where = swallowed.kind === 'string' ? 'a string literal' : swallowed.kind === 'comment' ? 'a comment' : 'a quoted identifier';
    throw new SqlValueError(`sql: a placeholder sits inside ${where} in the template; interpolate the whole value instead, e.g. = \${v.string(x)}`);
  }
  checkedTemplates.add(strings);
}

const WORDISH = /[A-Za-z0-9_$]/;
const OPERATOR = /[-+*/%<>=!|&^~?:.]/;
const QUOTE = /['"`]/;

/**
 * True when two characters written next to each other would lex as one token where they were
 * meant as two: word+word, a doubled quote, `--` or `/*`, `<=`, a word before a quote (x'41' is
 * a hex string on current servers), a digit beside a dot.
 */
function wouldMerge(a: string, b: string): boolean {
  if (WORDISH.test(a)) return WORDISH.test(b) || QUOTE.test(b) || b === '.';
  if (QUOTE.test(a)) return a === b;
  if (a === '.') return WORDISH.test(b);
  return OPERATOR.test(a) && OPERATOR.test(b);
}

function append(out: string, piece: string): string {
  if (out.length === 0 || piece.length === 0) return out + piece;
  return wouldMerge(out[out.length - 1]!, piece[0]!) ? `${out} ${piece}` : out + piece;
}

function interpolable(value: unknown, index: number): SqlPart {
  if (value instanceof SqlLiteral || value instanceof Statement) return value;
  throw new SqlValueError(
    `sql: interpolation #${index + 1} is a ${value === null ? 'null' : typeof value}; only typed values (v.string(...), v.uint64(...), …) and sql fragments can be interpolated`,
  );
}

const BEFORE_IN_LIST = /\bIN\s*\(?\s*$/i;

/** Tagged template: static text is code, every interpolation a typed value or a fragment. */
export function sql(strings: TemplateStringsArray, ...values: readonly SqlPart[]): Statement {
  checkTemplate(strings);
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i += 1) {
    const part = interpolable(values[i], i);
    if (part instanceof SqlLiteral && part.type.startsWith('Array(') && BEFORE_IN_LIST.test(strings[i] ?? '')) {
      // Current servers accept `x IN ([...])`; 18.16 fails with "Type mismatch in IN or VALUES section".
      throw new SqlValueError(`sql: interpolation #${i + 1} puts an array after IN, which ClickHouse 18.16 rejects; use IN (\${v.list(...)}) or has(\${v.array(...)}, x)`);
    }
    out = append(out, part.text);
    out = append(out, strings[i + 1] ?? '');
  }
  return new Statement(out);
}

export type JoinSeparator = ', ' | ',' | ',\n' | ' AND ' | ' OR ' | '\n' | ' ' | ' UNION ALL ';
const SEPARATORS: ReadonlySet<string> = new Set<JoinSeparator>([', ', ',', ',\n', ' AND ', ' OR ', '\n', ' ', ' UNION ALL ']);

/** Joins fragments or values, e.g. conditions with ' AND ' or IN-list values with ', '. */
export function join(parts: readonly SqlPart[], separator: JoinSeparator | Statement = ', '): Statement {
  let sep: string;
  if (separator instanceof Statement) sep = separator.text;
  else if (typeof separator === 'string' && SEPARATORS.has(separator)) sep = separator;
  else throw new SqlValueError(`join: separator ${describe(separator)} is not one of ${[...SEPARATORS].map((s) => JSON.stringify(s)).join(', ')} or an sql fragment`);
  let out = '';
  parts.forEach((part, i) => {
    if (i > 0) out = append(out, sep);
    out = append(out, interpolable(part, i).text);
  });
  return new Statement(out);
}

/**
 * Wraps text that is code we ship (a migration file) as a statement. Never pass it anything that
 * came from outside: that is what `sql` and `v` are for.
 */
export function unsafeRawSql(text: string): Statement {
  return new Statement(text);
}

export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}
