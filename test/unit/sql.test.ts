import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SqlLiteral, SqlPart, Statement } from '../../clickhouse/sql.ts';
import { join, sql, SqlValueError, v } from '../../clickhouse/sql.ts';
import type { Token } from '../../clickhouse/sql-lexer.ts';
import { decodeStringLiteral, tokenize } from '../../clickhouse/sql-lexer.ts';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const HOLE = '\u0000';

const sig = (tokens: Token[]) => tokens.map((t) => `${t.kind}:${t.text}`);

/**
 * The token sequence a statement must have: the template's own tokens, with each placeholder
 * replaced by exactly the tokens of the literal put there.
 */
function expectedTokens(strings: readonly string[], parts: readonly SqlPart[]): string[] {
  const template = tokenize(strings.join(HOLE), { placeholder: HOLE });
  let next = 0;
  return template.flatMap((t) => (t.kind === 'placeholder' ? sig(tokenize(parts[next++]!.text)) : [`${t.kind}:${t.text}`]));
}

/** Build with `sql` and check the statement's structure is the template's, whatever the values. */
function assertStructure(strings: TemplateStringsArray, ...parts: SqlPart[]): Statement {
  const statement = sql(strings, ...parts);
  expect(sig(tokenize(statement.text))).toEqual(expectedTokens(strings, parts));
  return statement;
}

const tpl = (strings: TemplateStringsArray, ..._: unknown[]) => strings;

/** Templates that put values where a careless builder would let them escape. */
const templates = [
  tpl`SELECT ${0} AS s`,
  tpl`SELECT x FROM t WHERE a = ${0} -- trailing comment
AND b != ${0}`,
  tpl`SELECT ${0}${0}`,
  tpl`SELECT 10-${0}`,
  tpl`SELECT 1/${0}`,
  tpl`SELECT f(${0},${0}) /* block ' -- ; */ , 'it''s'`,
  tpl`INSERT INTO t SELECT ${0}; SELECT ${0}`,
  tpl`SELECT * FROM t WHERE x IN (1, ${0}) AND y=${0}`,
];

// Strings built from the pieces that end literals, start comments or end statements.
const hostile = fc
  .array(fc.constantFrom("'", '\\', "\\'", "''", '--', '/*', '*/', ';', '\n', '\r', '\t', '\0', '`', '"', '$$', '{x:String}', 'x', ' ', 'é', '😀', '\x7f', '\x1b'), { maxLength: 24 })
  .map((parts) => parts.join(''));
const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), hostile, fc.string({ unit: 'binary-ascii' }));
const int64 = fc.oneof(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.constantFrom(INT64_MIN, INT64_MAX, -1n, 0n, 1n));
const uint64 = fc.oneof(fc.bigInt({ min: 0n, max: UINT64_MAX }), fc.constantFrom(0n, UINT64_MAX, 2n ** 63n));
const normalDouble = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => x === 0 || Math.abs(x) >= 2.2250738585072014e-308);
const decimal = fc
  .tuple(fc.integer({ min: 0, max: 18 }), fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }))
  .map(([scale, units]) => {
    const digits = (units < 0n ? -units : units).toString().padStart(scale + 1, '0');
    const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
    return { text: units < 0n ? `-${text}` : text, scale };
  });

const literal: fc.Arbitrary<SqlLiteral> = fc.oneof(
  anyString.map(v.string),
  int64.map(v.int64),
  uint64.map(v.uint64),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }).map(v.uint32),
  normalDouble.map(v.float64),
  fc.boolean().map(v.bool),
  fc.integer({ min: 0, max: 4_291_747_199 }).map(v.dateTime),
  decimal.map((d) => v.decimal(d.text, d.scale)),
  fc.array(anyString, { maxLength: 5 }).map((xs) => v.array('String', xs)),
  fc.array(uint64, { maxLength: 5 }).map((xs) => v.array('UInt64', xs)),
  fc.array(decimal, { maxLength: 3 }).map((ds) => v.array('Decimal', ds.map((d) => (d.scale <= 4 ? d.text : '0')), 4)),
  fc.constantFrom('tenant', 'billed_calls', '_x1', 'from', 'function').map((name) => v.ident(name)),
);

describe('values cannot change a statement’s structure', () => {
  it('every template keeps its token sequence, with each placeholder expanded to its literal only', () => {
    fc.assert(
      fc.property(fc.constantFrom(...templates), fc.array(literal, { minLength: 4, maxLength: 4 }), (strings, parts) => {
        const holes = strings.length - 1;
        assertStructure(strings, ...parts.slice(0, holes));
      }),
      { numRuns: 2000 },
    );
  });

  it('a string value is exactly one string-literal token that decodes to the value', () => {
    fc.assert(
      fc.property(anyString, (x) => {
        const tokens = tokenize(v.string(x).text);
        expect(tokens.map((t) => t.kind)).toEqual(['string']);
        expect(decodeStringLiteral(tokens[0]!.text)).toBe(x);
      }),
      { numRuns: 3000 },
    );
  });

  it('a string value is printable ASCII apart from its non-ASCII characters: every control character is escaped', () => {
    fc.assert(
      fc.property(anyString, (x) => {
        const text = v.string(x).text;
        expect([...text].filter((ch) => ch.charCodeAt(0) < 0x20 || ch === '\x7f')).toEqual([]);
      }),
    );
  });

  it('64-bit integers are one number token inside their conversion function, sign outside the digits', () => {
    fc.assert(
      fc.property(int64, uint64, (i, u) => {
        const signed = sig(tokenize(v.int64(i).text));
        expect(signed).toEqual(['word:toInt64', 'operator:(', ...(i < 0n ? ['operator:-'] : []), `number:${i < 0n ? -i : i}`, 'operator:)']);
        expect(sig(tokenize(v.uint64(u).text))).toEqual(['word:toUInt64', 'operator:(', `number:${u}`, 'operator:)']);
      }),
    );
  });

  it('a float64 is one number token that parses back to the same double', () => {
    fc.assert(
      fc.property(normalDouble, (x) => {
        const tokens = tokenize(v.float64(x).text);
        const numberTokens = tokens.filter((t) => t.kind === 'number');
        expect(numberTokens).toHaveLength(1);
        const negative = tokens.some((t) => t.text === '-');
        expect(Object.is(Number(`${negative ? '-' : ''}${numberTokens[0]!.text}`), x)).toBe(true);
      }),
    );
  });

  it('a decimal is one string token holding exactly the given digits, with the scale beside it', () => {
    fc.assert(
      fc.property(decimal, (d) => {
        const tokens = sig(tokenize(v.decimal(d.text, d.scale).text));
        expect(tokens).toEqual(['word:toDecimal128', 'operator:(', `string:'${d.text}'`, 'operator:,', `number:${d.scale}`, 'operator:)']);
      }),
    );
  });

  it('an array literal holds one literal per element between its brackets', () => {
    fc.assert(
      fc.property(fc.array(anyString, { minLength: 1, maxLength: 8 }), (xs) => {
        const tokens = tokenize(v.array('String', xs).text);
        expect(tokens[0]!.text).toBe('[');
        expect(tokens.at(-1)!.text).toBe(']');
        const strings = tokens.filter((t) => t.kind === 'string');
        expect(strings.map((t) => decodeStringLiteral(t.text))).toEqual(xs);
        expect(tokens).toHaveLength(2 * xs.length + 1);
      }),
    );
  });

  it('an empty array keeps its element type', () => {
    expect(v.array('String', []).text).toBe('emptyArrayString()');
    expect(v.array('UInt64', []).text).toBe('emptyArrayUInt64()');
    expect(v.array('Decimal', [], 2).text).toBe('CAST([] AS Array(Decimal(38, 2)))');
  });

  it('nested fragments and joined lists keep their structure', () => {
    fc.assert(
      fc.property(fc.array(literal, { minLength: 1, maxLength: 6 }), anyString, (parts, x) => {
        const conditions = parts.map((p) => sql`c = ${p}`);
        const where = join(conditions, ' AND ');
        const statement = assertStructure(tpl`SELECT 1 FROM t WHERE ${0} AND s = ${0}`, where, v.string(x));
        expect(statement.text).toContain(' AND ');
      }),
    );
  });

  it('adjacent values and operators are kept apart so they cannot fuse into one token', () => {
    expect(sql`SELECT ${v.string('a')}${v.string('b')}`.text).toBe("SELECT 'a' 'b'");
    expect(sql`SELECT 10-${v.bool(true)}`.text).toBe('SELECT 10-1');
    expect(sql`SELECT 10-${sql`-1`}`.text).toBe('SELECT 10- -1');
    expect(sql`SELECT 2/${sql`*x*/3`}`.text).toBe('SELECT 2/ *x*/3');
    expect(sql`SELECT x${v.string('41')}`.text).toBe("SELECT x '41'");
    expect(sql`SELECT ${v.ident('db', 'tbl')}.${v.ident('col')}`.text).toBe('SELECT `db`.`tbl`.`col`');
  });

  it('identifiers are backtick-quoted, so keywords are safe column names', () => {
    expect(sql`SELECT ${v.ident('function')} FROM ${v.ident('db', 'from')}`.text).toBe('SELECT `function` FROM `db`.`from`');
  });

  it('typed literals render in the form both servers read with the same type', () => {
    expect(v.dateTime(1_700_000_000).text).toBe('toDateTime(toUInt32(1700000000))');
    expect(v.dateTime(new Date(1_700_000_000_999)).text).toBe('toDateTime(toUInt32(1700000000))');
    expect(v.date('2024-02-29').text).toBe("toDate('2024-02-29')");
    expect(v.date(new Date(Date.UTC(2024, 0, 5, 23))).text).toBe("toDate('2024-01-05')");
    expect(v.float64(-0).text).toBe('toFloat64(-0.)');
    expect(v.float64(1e21).text).toBe('toFloat64(1e+21)');
    expect(v.bool(false).text).toBe('0');
    expect(v.uint32(7).text).toBe('toUInt32(7)');
    expect(v.int64('-42').text).toBe('toInt64(-42)');
    expect(v.decimal('+007.50', 2).text).toBe("toDecimal128('7.50', 2)");
    expect(v.list('UInt64', [1, 2n]).text).toBe('toUInt64(1), toUInt64(2)');
    expect(sql`SELECT 'it''s', \`a b\` FROM t`.text).toBe("SELECT 'it''s', `a b` FROM t");
  });
});

describe('invalid values are rejected with an error that names the problem', () => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['NaN float', () => v.float64(Number.NaN), /v\.float64: number NaN is not a finite number/],
    ['Infinity float', () => v.float64(Number.POSITIVE_INFINITY), /not a finite number/],
    ['-Infinity float', () => v.float64(Number.NEGATIVE_INFINITY), /not a finite number/],
    ['subnormal float', () => v.float64(5e-324), /subnormal/],
    ['NaN as an integer', () => v.uint64(Number.NaN), /v\.uint64: number NaN is not a finite number/],
    ['fractional integer', () => v.int64(1.5), /v\.int64: number 1\.5 is not an integer/],
    ['unsafe integer number', () => v.uint64(2 ** 53), /not a safe integer.*pass a bigint/],
    ['uint64 above range', () => v.uint64(UINT64_MAX + 1n), /out of range \[0, 18446744073709551615\]/],
    ['negative uint64', () => v.uint64(-1n), /out of range/],
    ['int64 above range', () => v.int64(INT64_MAX + 1n), /v\.int64: .* out of range/],
    ['int64 below range', () => v.int64(INT64_MIN - 1n), /out of range/],
    ['uint32 above range', () => v.uint32(2 ** 32), /v\.uint32: .* out of range/],
    ['uint32 bigint', () => v.uint32(1n as never), /v\.uint32: bigint 1n is not a number/],
    ['integer string with junk', () => v.uint64('12 OR 1=1'), /not a decimal integer/],
    ['string that is not a string', () => v.string(5 as never), /v\.string: number 5 is not a string/],
    ['lone surrogate', () => v.string('a\ud800b'), /not well-formed \(lone surrogate at code point 1\)/],
    ['identifier with a dash', () => v.ident('a-b'), /v\.ident: string "a-b" is not a plain identifier/],
    ['identifier starting with a digit', () => v.ident('1a'), /not a plain identifier/],
    ['identifier with a backtick', () => v.ident('a`b'), /not a plain identifier/],
    ['empty identifier', () => v.ident(''), /not a plain identifier/],
    ['decimal with two points', () => v.decimal('1.2.3', 2), /v\.decimal: string "1\.2\.3" is not a decimal number/],
    ['decimal in exponent form', () => v.decimal('1e5', 2), /not a decimal number/],
    ['decimal as a number', () => v.decimal(1.5 as never, 2), /not a decimal string \(money never passes through a float\)/],
    ['decimal with too many fractional digits', () => v.decimal('1.234', 2), /has 3 fractional digits, more than scale 2/],
    ['decimal too large for Decimal128', () => v.decimal('1', 38), /does not fit Decimal128 with scale 38/],
    ['decimal scale out of range', () => v.decimal('1', 39), /scale 39 is not a whole number from 0 to 38/],
    ['impossible date', () => v.date('2023-02-30'), /v\.date: string "2023-02-30" is not a calendar date/],
    ['date after 2105', () => v.date('2106-01-01'), /outside the Date range/],
    ['fractional epoch seconds', () => v.dateTime(1.5), /not a whole number of epoch seconds/],
    ['DateTime after 2105', () => v.dateTime(4_291_747_200), /outside the DateTime range/],
    ['invalid Date', () => v.dateTime(new Date(Number.NaN)), /not a valid date/],
    ['array element', () => v.array('UInt64', [1, -1]), /v\.array\('UInt64'\) element #2: v\.uint64: number -1 is out of range/],
    ['array element type', () => (v.array as (kind: string, values: unknown[]) => unknown)('Text', []), /element type Text is not one of/],
    ['empty IN list', () => v.list('String', []), /an IN list needs at least one value/],
    ['array on the right of IN', () => sql`SELECT 1 WHERE x IN (${v.array('String', ['a'])})`, /puts an array after IN, which ClickHouse 18\.16 rejects; use IN \(\$\{v\.list/],
    ['join separator that is not code we know', () => join([v.uint32(1)], '; DROP TABLE t; ' as never), /join: separator .* is not one of/],
    ['placeholder inside a string literal', () => sql`SELECT '${v.string('x')}'`, /placeholder sits inside a string literal/],
    ['placeholder inside a comment', () => sql`SELECT 1 -- ${v.string('x')}`, /placeholder sits inside a comment/],
    ['placeholder inside a quoted identifier', () => sql`SELECT \`${v.string('x')}\``, /placeholder sits inside a quoted identifier/],
    ['unterminated string in the template', () => sql`SELECT 'abc`, /template is not complete SQL text: unterminated string literal/],
  ];
  it.each(cases)('%s', (_name, make, message) => {
    expect(make).toThrow(SqlValueError);
    expect(make).toThrow(message);
  });

  it('a raw string cannot be interpolated, at compile time or at run time', () => {
    const tenant = "x' OR 1=1 --";
    // @ts-expect-error raw strings are not interpolable: wrap them in v.string()
    expect(() => sql`SELECT 1 WHERE tenant = ${tenant}`).toThrow(/interpolation #1 is a string; only typed values/);
    // @ts-expect-error a look-alike object is not a fragment
    expect(() => sql`SELECT ${{ text: '1; DROP TABLE t' }}`).toThrow(/interpolation #1 is a object/);
    // @ts-expect-error numbers must say their type
    expect(() => sql`SELECT ${1}`).toThrow(/interpolation #1 is a number/);
  });
});
