/**
 * Our client against the real ClickHouse 18.16: the settings and requests @clickhouse/client
 * sends must be ones this server accepts, and its answers must reach callers as typed here.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouse, RecordedStatement } from '../../clickhouse/client.ts';
import { ClickHouseError, createClickHouse, describeStatement, exactNumber } from '../../clickhouse/client.ts';
import { sql, v } from '../../clickhouse/sql.ts';
import { CLICKHOUSE_URL, uniqueDatabase } from '../helpers/clickhouse.ts';

const database = uniqueDatabase('client');
const root = createClickHouse({ url: CLICKHOUSE_URL });
let ch: ClickHouse;

beforeAll(async () => {
  await root.command(sql`CREATE DATABASE ${v.ident(database)}`);
  ch = root.withDatabase(database);
  await ch.command(sql`CREATE TABLE numbers_exact (id UInt32, u UInt64, i Int64, d Decimal128(18), t DateTime, n Nullable(UInt16), tags Array(String)) ENGINE = Memory`);
});

afterAll(async () => {
  await root.command(sql`DROP DATABASE IF EXISTS ${v.ident(database)}`);
  await root.close();
});

describe('@clickhouse/client as we configure it works with ClickHouse 18.16', () => {
  it('ping, query, command and insert are all accepted (no setting or header the server rejects)', async () => {
    await ch.ping();
    await ch.command(sql`CREATE TABLE IF NOT EXISTS smoke (a String) ENGINE = Memory`);
    await ch.insert('smoke', [{ a: 'x' }]);
    expect(await ch.query(sql`SELECT a FROM smoke`)).toEqual([{ a: 'x' }]);
    expect(await ch.query(sql`SELECT currentDatabase() AS db`)).toEqual([{ db: database }]);
  });

  it('64-bit integers arrive as strings and smaller integers as numbers, on every server', async () => {
    const [row] = await ch.query(sql`SELECT toUInt64(1) AS u64, toInt64(-1) AS i64, count() AS c, toUInt32(7) AS u32, toUInt8(1) AS u8, toFloat64(0.5) AS f`);
    expect(row).toEqual({ u64: '1', i64: '-1', c: '1', u32: 7, u8: 1, f: 0.5 });
  });

  it('inserts carry bigint and exactNumber() digits exactly, decimals unquoted as 18.16 requires', async () => {
    const u = 2n ** 64n - 1n;
    const i = -(2n ** 63n);
    const d = '123456789.123456789012345678';
    await ch.insert('numbers_exact', [{ id: 1, u, i, d: exactNumber(d), t: 1_700_000_000, n: null, tags: ["it's", '\\', '\n'] }]);
    const rows = await ch.query(sql`SELECT u, i, toString(d) AS d, toUInt32(t) AS t, n, tags FROM numbers_exact WHERE id = 1`);
    expect(rows).toEqual([{ u: u.toString(), i: i.toString(), d, t: 1_700_000_000, n: null, tags: ["it's", '\\', '\n'] }]);
  });

  it('a failure in a late block of a streamed result fails the query instead of truncating it', async () => {
    // The first blocks would already be on the wire without wait_end_of_query; 18.16 would then append the error as text.
    const failing = ch.query(sql`SELECT number, throwIf(number = 200000) AS x FROM system.numbers LIMIT 300000`);
    await expect(failing).rejects.toThrow(ClickHouseError);
    await expect(failing).rejects.toMatchObject({ code: 395, statement: 'SELECT from system.numbers' });
  });

  it('an error names the statement kind and table and keeps the values out of the message', async () => {
    const secret = 'tenant-secret-7c1f';
    const missing = ch.query(sql`SELECT * FROM no_such_table WHERE tenant = ${v.string(secret)}`);
    await expect(missing).rejects.toMatchObject({ statement: 'SELECT from no_such_table', code: 60, transient: false });
    const syntax = ch.command(sql`INSERT INTO smoke SELECT ${v.string(secret)} FROM`);
    await expect(syntax).rejects.toThrow(/^ClickHouse INSERT into smoke failed: Syntax error: failed at position \d+/);
    await expect(syntax).rejects.not.toThrow(secret);
    const badRow = ch.insert('numbers_exact', [{ id: 2, u: secret }]);
    await expect(badRow).rejects.toThrow(/^ClickHouse INSERT into numbers_exact failed: .*\(code \d+\)$/s);
    await expect(badRow).rejects.not.toThrow(secret);
  });

  it('an insert row with a value JSON cannot carry exactly is refused before anything is sent, naming the column', async () => {
    await expect(ch.insert('numbers_exact', [{ id: 3, u: Number.NaN }])).rejects.toThrow(/INSERT into numbers_exact failed: column u: NaN is not a finite number/);
    expect(await ch.query(sql`SELECT id FROM numbers_exact WHERE id = 3`)).toEqual([]);
  });

  it('a closed server address fails fast and is marked transient', async () => {
    const dead = createClickHouse({ url: 'http://127.0.0.1:9', requestTimeoutMs: 2_000 });
    try {
      await expect(dead.ping()).rejects.toMatchObject({ name: 'ClickHouseError', transient: true });
    } finally {
      await dead.close();
    }
  });

  it('the recorder appends every statement that succeeded, with its database, and nothing that failed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'faasmeter-record-'));
    const file = join(dir, 'nested', 'record.jsonl');
    const recording = createClickHouse({ url: CLICKHOUSE_URL, database, recordFile: file });
    try {
      await recording.command(sql`CREATE TABLE IF NOT EXISTS recorded (a String, u UInt64) ENGINE = Memory`);
      await recording.insert('recorded', [{ a: "q'uote", u: 2n ** 64n - 1n }]);
      await recording.query(sql`SELECT a FROM recorded WHERE a = ${v.string("q'uote")}`);
      await expect(recording.query(sql`SELECT * FROM missing_table`)).rejects.toThrow(ClickHouseError);
      await recording.withDatabase('default').query(sql`SELECT 1 AS one`);
      const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
      expect(lines.map((l) => JSON.parse(l) as RecordedStatement)).toEqual([
        { kind: 'command', database, text: 'CREATE TABLE IF NOT EXISTS recorded (a String, u UInt64) ENGINE = Memory' },
        { kind: 'insert', database, table: 'recorded', rows: [{ a: "q'uote", u: Number(2n ** 64n - 1n) }] },
        { kind: 'query', database, text: "SELECT a FROM recorded WHERE a = 'q\\'uote'" },
        { kind: 'query', database: 'default', text: 'SELECT 1 AS one' },
      ]);
      // The digits are in the file as sent, not rounded through a double.
      expect(lines[1]).toContain('"u":18446744073709551615');
    } finally {
      await recording.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('after close, requests fail with a clear error instead of reopening sockets', async () => {
    const short = createClickHouse({ url: CLICKHOUSE_URL });
    await short.ping();
    await short.close();
    await expect(short.query(sql`SELECT 1`)).rejects.toThrow(/the client is closed/);
  });
});

describe('statement descriptions name the kind and the table, never a literal', () => {
  it.each([
    ['SELECT a FROM t WHERE x = 1', 'SELECT from t'],
    ["SELECT count() FROM (SELECT 'v' FROM inner_t) WHERE 1", 'SELECT from inner_t'],
    ['SELECT 1', 'SELECT'],
    ['-- comment\nCREATE TABLE IF NOT EXISTS usage_minute (a UInt8) ENGINE = Memory', 'CREATE TABLE usage_minute'],
    ['CREATE MATERIALIZED VIEW IF NOT EXISTS mv TO t AS SELECT 1', 'CREATE MATERIALIZED VIEW mv'],
    ['CREATE DATABASE IF NOT EXISTS `db`', 'CREATE DATABASE db'],
    ['INSERT INTO db.t (a) SELECT 1', 'INSERT into db.t'],
    ['ALTER TABLE t ADD COLUMN c UInt8', 'ALTER TABLE t'],
    ['DROP TABLE IF EXISTS schema_migrations_lock', 'DROP TABLE schema_migrations_lock'],
    ["SELECT 'FROM secret' AS x", 'SELECT'],
    ["SELECT 'unterminated", 'statement'],
  ])('%s → %s', (text, description) => {
    expect(describeStatement(text)).toBe(description);
  });
});
