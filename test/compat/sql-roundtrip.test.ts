/**
 * The SQL builder's literals against the parser of current ClickHouse (chdb): generated values
 * come back out of `SELECT <literal>` unchanged, including the Decimal128 digits that 18.16
 * cannot print (see test/integration/sql-roundtrip.test.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Statement } from '../../clickhouse/sql.ts';
import { sql, v } from '../../clickhouse/sql.ts';
import { runInChdb } from '../helpers/chdb.ts';

const UINT64_MAX = 2n ** 64n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const hostile = fc
  .array(fc.constantFrom("'", '\\', "\\'", "''", '--', '/*', '*/', ';', '\n', '\r', '\t', '\0', '`', '"', '$$', '{x:String}', 'x', ' ', 'é', '😀', '\x7f', '\x1b'), { maxLength: 24 })
  .map((parts) => parts.join(''));
const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), hostile, fc.string({ unit: 'binary-ascii', maxLength: 40 }));
/** Up to the full 38 digits of Decimal128. */
const decimal = fc
  .tuple(fc.integer({ min: 0, max: 37 }), fc.bigInt({ min: -(10n ** 38n) + 1n, max: 10n ** 38n - 1n }))
  .map(([scale, units]) => {
    const digits = (units < 0n ? -units : units).toString().padStart(scale + 1, '0');
    const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
    return { text: units < 0n ? `-${text}` : text, scale };
  });

function canonical(text: string): string {
  const [whole = '', fraction = ''] = text.replace(/^-/, '').split('.');
  const trimmed = fraction.replace(/0+$/, '');
  const magnitude = `${whole.replace(/^0+(?=\d)/, '')}${trimmed ? `.${trimmed}` : ''}`;
  return text.startsWith('-') && /[1-9]/.test(magnitude) ? `-${magnitude}` : magnitude;
}

interface Case {
  statement: Statement;
  expected: Record<string, unknown>;
  what: string;
}

describe('typed values survive current ClickHouse’s parser exactly (chdb)', () => {
  it('strings, 64-bit integers, floats, decimals and arrays all come back as given', async () => {
    const seed = Date.now();
    const sample = <T>(arb: fc.Arbitrary<T>, numRuns: number) => fc.sample(arb, { numRuns, seed });
    const cases: Case[] = [
      ...sample(anyString, 300).map((x) => ({ statement: sql`SELECT ${v.string(x)} AS s`, expected: { s: x }, what: JSON.stringify(x) })),
      ...sample(fc.tuple(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.bigInt({ min: 0n, max: UINT64_MAX })), 100)
        .concat([
          [INT64_MIN, 0n],
          [INT64_MAX, UINT64_MAX],
        ])
        .map(([i, u]) => ({
          statement: sql`SELECT ${v.int64(i)} AS i, ${v.uint64(u)} AS u, toTypeName(${v.uint64(u)}) AS t`,
          expected: { i: i.toString(), u: u.toString(), t: 'UInt64' },
          what: `${i}, ${u}`,
        })),
      ...sample(decimal, 150).map((d) => ({
        statement: sql`SELECT toString(${v.decimal(d.text, d.scale)}) AS d`,
        expected: { d: canonical(d.text) },
        what: `${d.text} scale ${d.scale}`,
      })),
      ...sample(fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => x === 0 || Math.abs(x) >= 2.2250738585072014e-308), 100).map((x) => ({
        statement: sql`SELECT ${v.float64(x)} AS f`,
        expected: { f: x },
        what: String(x),
      })),
      ...sample(fc.array(anyString, { maxLength: 5 }), 50).map((xs) => ({
        statement: sql`SELECT ${v.array('String', xs)} AS a`,
        expected: { a: xs },
        what: JSON.stringify(xs),
      })),
      {
        statement: sql`SELECT toUInt32(${v.dateTime(4_291_747_199)}) AS t, toString(${v.date('2105-12-31')}) AS d, ${v.bool(true)} AS b, length(${v.array('Decimal', [], 3)}) AS e`,
        expected: { t: 4_291_747_199, d: '2105-12-31', b: 1, e: '0' },
        what: 'date, time, bool and empty decimal array',
      },
    ];
    const results = await runInChdb(cases.map((c) => ({ kind: 'query', text: c.statement.text })));
    const mismatches = cases.flatMap((c, i) => {
      const r = results[i];
      let actual = r?.rows?.[0];
      if (actual && typeof actual.d === 'string' && c.what.includes('scale')) actual = { d: canonical(actual.d) };
      const same = r?.ok === true && r.rows?.length === 1 && JSON.stringify(actual) === JSON.stringify(c.expected) && (!('f' in c.expected) || Object.is(actual?.f, c.expected.f));
      return same ? [] : [`${c.what}: sent ${c.statement.text.slice(0, 200)} → ${r?.ok ? JSON.stringify(r.rows) : r?.error}`];
    });
    expect(mismatches, `seed ${seed}`).toEqual([]);
  });
});
