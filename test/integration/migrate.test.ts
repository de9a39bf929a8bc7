/**
 * The migration machinery against the real ClickHouse 18.16, with migrations of its own in a
 * temporary directory (the product's migrations are exercised by every suite that migrates).
 */
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClickHouse } from '../../clickhouse/client.ts';
import { createClickHouse } from '../../clickhouse/client.ts';
import { runMigrateCommand } from '../../clickhouse/migrate-command.ts';
import { bookkeeping, listMigrations, migrate, MigrationError, splitStatements } from '../../clickhouse/migrate.ts';
import { sql, v } from '../../clickhouse/sql.ts';
import { CLICKHOUSE_URL, uniqueDatabase } from '../helpers/clickhouse.ts';

const clients: ClickHouse[] = [];
const databases: string[] = [];
const dirs: string[] = [];

function client(): ClickHouse {
  const ch = createClickHouse({ url: CLICKHOUSE_URL });
  clients.push(ch);
  return ch;
}

function database(name: string): string {
  const db = uniqueDatabase(`migrate_${name}`);
  databases.push(db);
  return db;
}

const FILES: Record<string, string> = {
  '0001_first.sql': `-- A comment before the first statement; a ';' in a comment does not split.
CREATE TABLE IF NOT EXISTS first (
    id UInt32,
    note String DEFAULT ';'
) ENGINE = MergeTree ORDER BY id;

/* block comment; with a semicolon */
CREATE TABLE IF NOT EXISTS applied_log (migration String) ENGINE = MergeTree ORDER BY migration;
`,
  // Not idempotent on purpose: a second application would leave two rows behind.
  '0002_second.sql': `INSERT INTO applied_log (migration) VALUES ('0002');
CREATE TABLE IF NOT EXISTS second (id UInt32) ENGINE = MergeTree ORDER BY id`,
  '0003_third.sql': `CREATE VIEW IF NOT EXISTS third AS SELECT id FROM first;
INSERT INTO applied_log (migration) VALUES ('0003');
`,
  'README.md': 'not a migration',
};

async function migrationsDir(files: Record<string, string> = FILES): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'faasmeter-migrations-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

async function appliedLog(ch: ClickHouse, db: string): Promise<string[]> {
  const rows = await ch.withDatabase(db).query<{ migration: string }>(sql`SELECT migration FROM applied_log ORDER BY migration`);
  return rows.map((r) => r.migration);
}

async function history(ch: ClickHouse, db: string) {
  return ch.withDatabase(db).query<{ version: number; name: string; checksum: string }>(bookkeeping.readHistory());
}

async function lockExists(ch: ClickHouse, db: string): Promise<boolean> {
  const [row] = await ch.query<{ n: string }>(sql`SELECT count() AS n FROM system.tables WHERE database = ${v.string(db)} AND name LIKE 'schema_migrations_lock%'`);
  return row?.n !== '0';
}

afterAll(async () => {
  const admin = client();
  for (const db of databases) await admin.command(sql`DROP DATABASE IF EXISTS ${v.ident(db)}`);
  for (const ch of clients) await ch.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('migration files', () => {
  it('split into statements at ; tokens only, comments before a statement dropped', () => {
    expect(splitStatements(FILES['0001_first.sql']!)).toEqual([
      "CREATE TABLE IF NOT EXISTS first (\n    id UInt32,\n    note String DEFAULT ';'\n) ENGINE = MergeTree ORDER BY id",
      'CREATE TABLE IF NOT EXISTS applied_log (migration String) ENGINE = MergeTree ORDER BY migration',
    ]);
    expect(splitStatements('SELECT 1;;\n-- only a comment\n;SELECT 2')).toEqual(['SELECT 1', 'SELECT 2']);
  });

  it('are listed in version order with checksums; other files are ignored', async () => {
    const list = listMigrations(await migrationsDir());
    expect(list.map((m) => [m.version, m.name, m.statements.length])).toEqual([
      [1, '0001_first.sql', 2],
      [2, '0002_second.sql', 2],
      [3, '0003_third.sql', 2],
    ]);
    expect(list[0]!.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a misnamed .sql file or a repeated version is an error naming the files', async () => {
    await expect(migrationsDir({ '1_bad.sql': 'SELECT 1' }).then(listMigrations)).rejects.toThrow(/migration file 1_bad\.sql is not named NNNN_snake_name\.sql/);
    await expect(migrationsDir({ '0001_a.sql': 'SELECT 1', '0001_b.sql': 'SELECT 1' }).then(listMigrations)).rejects.toThrow(
      /migrations 0001_a\.sql and 0001_b\.sql share version 1/,
    );
  });
});

describe('migrate() on ClickHouse 18.16', () => {
  it('creates the database, applies every migration in order and records each one', async () => {
    const ch = client();
    const db = database('fresh');
    const dir = await migrationsDir();
    const result = await migrate(ch, { database: db, dir });
    expect(result.applied.map((m) => m.name)).toEqual(['0001_first.sql', '0002_second.sql', '0003_third.sql']);
    const files = listMigrations(dir);
    expect(await history(ch, db)).toEqual(files.map((m) => ({ version: m.version, name: m.name, checksum: m.checksum })));
    expect(await appliedLog(ch, db)).toEqual(['0002', '0003']);
    expect(await lockExists(ch, db)).toBe(false);
  });

  it('a second run applies nothing', async () => {
    const ch = client();
    const db = database('twice');
    const dir = await migrationsDir();
    await migrate(ch, { database: db, dir });
    expect((await migrate(ch, { database: db, dir })).applied).toEqual([]);
    expect(await appliedLog(ch, db)).toEqual(['0002', '0003']);
    expect(await history(ch, db)).toHaveLength(3);
  });

  it('a new migration file is applied on the next run, after the ones already there', async () => {
    const ch = client();
    const db = database('later');
    const dir = await migrationsDir();
    await migrate(ch, { database: db, dir });
    await writeFile(join(dir, '0004_fourth.sql'), "INSERT INTO applied_log (migration) VALUES ('0004')");
    expect((await migrate(ch, { database: db, dir })).applied.map((m) => m.name)).toEqual(['0004_fourth.sql']);
    expect(await appliedLog(ch, db)).toEqual(['0002', '0003', '0004']);
  });

  it('two processes migrating at once both succeed and apply each migration exactly once', async () => {
    const dir = await migrationsDir();
    for (let round = 0; round < 4; round += 1) {
      const db = database(`race${round}`);
      const [a, b] = [client(), client()];
      const results = await Promise.all([migrate(a, { database: db, dir, pollIntervalMs: 20 }), migrate(b, { database: db, dir, pollIntervalMs: 20 })]);
      const applied = results.flatMap((r) => r.applied.map((m) => m.name)).sort();
      expect(applied).toEqual(['0001_first.sql', '0002_second.sql', '0003_third.sql']);
      expect(await appliedLog(a, db)).toEqual(['0002', '0003']);
      expect(await history(a, db)).toHaveLength(3);
      expect(await lockExists(a, db)).toBe(false);
    }
  });

  it('refuses to run when an applied migration was edited, naming the file', async () => {
    const ch = client();
    const db = database('edited');
    const dir = await migrationsDir();
    await migrate(ch, { database: db, dir });
    await appendFile(join(dir, '0002_second.sql'), '\n-- an innocent-looking edit\n');
    await writeFile(join(dir, '0004_fourth.sql'), "INSERT INTO applied_log (migration) VALUES ('0004')");
    const run = migrate(ch, { database: db, dir });
    await expect(run).rejects.toThrow(MigrationError);
    await expect(run).rejects.toThrow(/migration 0002_second\.sql was changed after it was applied/);
    expect(await appliedLog(ch, db)).toEqual(['0002', '0003']);
    expect(await lockExists(ch, db)).toBe(false);
  });

  it('refuses to run when an applied migration has no file any more', async () => {
    const ch = client();
    const db = database('vanished');
    const dir = await migrationsDir();
    await migrate(ch, { database: db, dir });
    await rm(join(dir, '0003_third.sql'));
    await expect(migrate(ch, { database: db, dir })).rejects.toThrow(/migration 0003_third\.sql \(version 3\) was applied to this database but is not in/);
  });

  it('a broken migration fails with an error naming the file and statement, is not recorded, and can be fixed and rerun', async () => {
    const ch = client();
    const db = database('broken');
    const broken = 'CREATE TABLE IF NOT EXISTS fourth (id UInt32) ENGINE = MergeTree ORDER BY id;\nCREATE TABLE fifth (id UInt32) ENGINE = NoSuchEngine';
    const dir = await migrationsDir({ ...FILES, '0004_broken.sql': broken });
    const run = migrate(ch, { database: db, dir });
    await expect(run).rejects.toThrow(/^migration 0004_broken\.sql failed at statement 2 of 2 \(CREATE TABLE fifth\): .*NoSuchEngine/s);
    expect((await history(ch, db)).map((m) => m.name)).toEqual(['0001_first.sql', '0002_second.sql', '0003_third.sql']);
    expect(await lockExists(ch, db)).toBe(false);
    await writeFile(join(dir, '0004_broken.sql'), broken.replace('NoSuchEngine', 'MergeTree ORDER BY id'));
    expect((await migrate(ch, { database: db, dir })).applied.map((m) => m.name)).toEqual(['0004_broken.sql']);
  });

  it('waits for a live lock held by another process and times out naming the holder', async () => {
    const ch = client();
    const db = database('held');
    const dir = await migrationsDir();
    await migrate(ch, { database: db, dir });
    await ch.withDatabase(db).command(bookkeeping.createLock('someoneelse', 'host-b pid 42', Date.now()));
    const run = migrate(ch, { database: db, dir, lockWaitMs: 300, pollIntervalMs: 20 });
    await expect(run).rejects.toThrow(/timed out after 300 ms waiting for the migration lock of .* held by host-b pid 42 since/);
    await ch.withDatabase(db).command(bookkeeping.releaseLock());
  });

  it('breaks a lock left by a dead process once it is stale, then migrates', async () => {
    const ch = client();
    const db = database('stale');
    const dir = await migrationsDir();
    await ch.command(bookkeeping.createDatabase(db));
    await ch.withDatabase(db).command(bookkeeping.createLock('deadprocess', 'host-c pid 7', Date.now() - 60_000));
    const lines: string[] = [];
    const result = await migrate(ch, { database: db, dir, staleLockMs: 30_000, pollIntervalMs: 20, log: (l) => lines.push(l) });
    expect(result.applied).toHaveLength(3);
    expect(lines[0]).toMatch(/^breaking a stale migration lock held by host-c pid 7 for \d+ s$/);
    expect(await lockExists(ch, db)).toBe(false);
  });

  it('a dry run lists what is pending and changes nothing, not even creating the database', async () => {
    const ch = client();
    const db = database('dry');
    const dir = await migrationsDir();
    expect((await migrate(ch, { database: db, dir, dryRun: true })).pending.map((m) => m.name)).toEqual(['0001_first.sql', '0002_second.sql', '0003_third.sql']);
    const [exists] = await ch.query<{ n: string }>(bookkeeping.databaseExists(db));
    expect(exists?.n).toBe('0');
    await migrate(ch, { database: db, dir });
    await writeFile(join(dir, '0004_fourth.sql'), 'SELECT 1');
    expect((await migrate(ch, { database: db, dir, dryRun: true })).pending.map((m) => m.name)).toEqual(['0004_fourth.sql']);
  });
});

describe('faasmeter migrate', () => {
  it('prints the pending list with --dry-run, then what it applied, then that it is up to date', async () => {
    const db = database('cli');
    const dir = await migrationsDir();
    const run = async (...args: string[]) => {
      const lines: string[] = [];
      const code = await runMigrateCommand(['--url', CLICKHOUSE_URL, '--database', db, '--dir', dir, ...args], {}, (l) => lines.push(l));
      return { code, lines };
    };
    expect(await run('--dry-run')).toEqual({ code: 0, lines: [`${db}: pending 0001_first.sql, 0002_second.sql, 0003_third.sql`] });
    const applied = await run();
    expect(applied.code).toBe(0);
    expect(applied.lines.filter((l) => l.includes(': applied '))).toHaveLength(3);
    expect(applied.lines.at(-1)).toMatch(new RegExp(`^${db}: applied 0003_third\\.sql \\(\\d+ ms\\)$`));
    expect(await run()).toEqual({ code: 0, lines: [`${db}: up to date`] });
  });
});
