import { describe, expect, it } from 'vitest';
import { exactNumber, jsonEachRow, stringifyRow } from '../../clickhouse/client.ts';

describe('insert rows as JSONEachRow', () => {
  it('writes every integer as unquoted digits, exact beyond 2^53', () => {
    const row = { small: 42n, big: 18_446_744_073_709_551_615n, negative: -9_007_199_254_740_993n, money: exactNumber('0.000016667'), n: 7 };
    expect(stringifyRow(row)).toBe('{"small":42,"big":18446744073709551615,"negative":-9007199254740993,"money":0.000016667,"n":7}');
  });

  it('converts values inside arrays and nested objects (record-file lines hold whole batches)', () => {
    const line = { kind: 'insert', rows: [{ id: 'a', ms: 2n ** 60n, tags: [1n, 2n] }] };
    expect(stringifyRow(line)).toBe('{"kind":"insert","rows":[{"id":"a","ms":1152921504606846976,"tags":[1,2]}]}');
  });

  it('writes verbatim digits a caller made with JSON.rawJSON as they are', () => {
    const raw = (JSON as unknown as { rawJSON: (text: string) => unknown }).rawJSON;
    expect(stringifyRow({ big: raw('18446744073709551615'), at: raw('1795438811821') })).toBe('{"big":18446744073709551615,"at":1795438811821}');
  });

  it('keeps strings that look like numbers as strings, and nulls as nulls', () => {
    expect(jsonEachRow([{ a: '123', b: null }, { a: 'x"y', b: true }])).toBe('{"a":"123","b":null}\n{"a":"x\\"y","b":true}\n');
  });

  it('names the column holding a value ClickHouse cannot take', () => {
    expect(() => stringifyRow({ ok: 1, duration: Number.NaN })).toThrow('column duration: NaN is not a finite number');
    expect(() => stringifyRow({ memory: undefined })).toThrow('column memory: undefined (use null for a Nullable column)');
  });
});
