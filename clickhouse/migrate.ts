/**
 * Versioned migrations: `migrations/NNNN_snake_name.sql`, applied in order and recorded in
 * `schema_migrations` (version, name, checksum, applied_at) in the target database.
 *
 * ClickHouse has no transactions, so two things make concurrent runs safe. A mutex: creating a
 * table without IF NOT EXISTS succeeds for exactly one caller, so the lock is a view created
 * that way, whose query returns the holder's token and start time (a view keeps both in its
 * definition, so they survive a server restart and are read in one statement). Others poll until
 * it is gone, and break it when it is older than the stale timeout. And idempotent DDL (IF NOT
 * EXISTS everywhere), so a migration cut short by a crash can run again.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { ClickHouse } from './client.ts';
import { ClickHouseError, describeStatement } from './client.ts';
import { isIdentifier, sql, unsafeRawSql, v } from './sql.ts';
import type { Statement } from './sql.ts';
import { tokenize } from './sql-lexer.ts';

export const DEFAULT_MIGRATIONS_DIR = join(import.meta.dirname, 'migrations');
const FILE_NAME = /^([0-9]{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  /** File name, e.g. "0001_raw_events.sql". */
  name: string;
  path: string;
  /** sha256 of the file's bytes, hex. */
  checksum: string;
  statements: string[];
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Cuts a migration file into statements at `;` tokens (a `;` inside a string or comment does
 * not count). Comments before a statement are dropped; a file may end without a final `;`.
 */
export function splitStatements(text: string): string[] {
  const statements: string[] = [];
  let start: number | undefined;
  let end = 0;
  for (const token of tokenize(text, { trivia: true })) {
    if (token.kind === 'operator' && token.text === ';') {
      if (start !== undefined) statements.push(text.slice(start, end));
      start = undefined;
    } else if (token.kind !== 'whitespace' && token.kind !== 'comment') {
      start ??= token.start;
      end = token.start + token.text.length;
    }
  }
  if (start !== undefined) statements.push(text.slice(start, end));
  return statements;
}

/** The migrations in `dir`, in version order. Throws on a misnamed .sql file or a repeated version. */
export function listMigrations(dir = DEFAULT_MIGRATIONS_DIR): Migration[] {
  const migrations: Migration[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.sql')) continue;
    const m = FILE_NAME.exec(name);
    if (!m) throw new MigrationError(`migration file ${name} is not named NNNN_snake_name.sql`);
    const path = join(dir, name);
    const bytes = readFileSync(path);
    let statements: string[];
    try {
      statements = splitStatements(bytes.toString('utf8'));
    } catch (error) {
      throw new MigrationError(`migration ${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const version = Number(m[1]);
    const twin = migrations.find((x) => x.version === version);
    if (twin) throw new MigrationError(`migrations ${twin.name} and ${name} share version ${version}`);
    migrations.push({ version, name, path, checksum: createHash('sha256').update(bytes).digest('hex'), statements });
  }
  return migrations;
}

/** The statements of the machinery itself; migrate() uses these and nothing else. */
export const bookkeeping = {
  createDatabase: (database: string): Statement => sql`CREATE DATABASE IF NOT EXISTS ${v.ident(database)}`,
  databaseExists: (database: string): Statement => sql`SELECT count() AS n FROM system.databases WHERE name = ${v.string(database)}`,
  historyExists: (database: string): Statement =>
    sql`SELECT count() AS n FROM system.tables WHERE database = ${v.string(database)} AND name = 'schema_migrations'`,
  createHistory: (): Statement => sql`CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime,
    duration_ms UInt64
) ENGINE = MergeTree ORDER BY version`,
  readHistory: (): Statement => sql`SELECT version, name, checksum FROM schema_migrations ORDER BY version`,
  recordApplied: (m: Pick<Migration, 'version' | 'name' | 'checksum'>, appliedAt: Date, durationMs: number): Statement =>
    sql`INSERT INTO schema_migrations (version, name, checksum, applied_at, duration_ms)
SELECT ${v.uint32(m.version)}, ${v.string(m.name)}, ${v.string(m.checksum)}, ${v.dateTime(appliedAt)}, ${v.uint64(durationMs)}`,
  createLock: (owner: string, holder: string, acquiredMs: number): Statement =>
    sql`CREATE VIEW schema_migrations_lock AS SELECT ${v.string(owner)} AS owner, ${v.string(holder)} AS holder, ${v.uint64(acquiredMs)} AS acquired_ms`,
  readLock: (): Statement => sql`SELECT owner, holder, acquired_ms FROM schema_migrations_lock`,
  /** Renaming is atomic: of several processes breaking the same stale lock, one wins. */
  breakLock: (owner: string): Statement => sql`RENAME TABLE schema_migrations_lock TO ${v.ident(`schema_migrations_lock_broken_${owner}`)}`,
  dropBrokenLock: (owner: string): Statement => sql`DROP TABLE IF EXISTS ${v.ident(`schema_migrations_lock_broken_${owner}`)}`,
  releaseLock: (): Statement => sql`DROP TABLE IF EXISTS schema_migrations_lock`,
};

export interface MigrateOptions {
  database: string;
  dir?: string;
  /** List what would be applied; change nothing (not even create the database). */
  dryRun?: boolean;
  /** A lock older than this is taken to belong to a dead process and is broken. Default 15 min. */
  staleLockMs?: number;
  /** Give up waiting for another process's lock after this long. Default: staleLockMs + 1 min. */
  lockWaitMs?: number;
  pollIntervalMs?: number;
  /** Progress lines ("applying 0002_billing.sql"). */
  log?: (line: string) => void;
}

export interface AppliedMigration {
  version: number;
  name: string;
  durationMs: number;
}

export interface MigrateResult {
  database: string;
  /** Migrations this call applied (always empty for a dry run). */
  applied: AppliedMigration[];
  /** Migrations not yet applied: for a dry run, what a real run would apply; otherwise empty. */
  pending: Migration[];
}

interface LockRow {
  owner: string;
  holder: string;
  acquired_ms: string;
}

// TABLE_ALREADY_EXISTS; 18.16 also refuses a create that races another with DDL_GUARD, "… is creating or attaching right now".
const LOCK_TAKEN = /already exists|creating or attaching right now/i;
const DATABASE_ALREADY_EXISTS = 82;

function isLockTaken(error: unknown): boolean {
  return error instanceof ClickHouseError && (error.code === 57 || LOCK_TAKEN.test(error.message));
}

/** Applied history must match the files: an edited or vanished applied migration stops everything. */
function pendingAfterCheck(migrations: Migration[], history: Array<{ version: number; name: string; checksum: string }>, dir: string): Migration[] {
  const applied = new Map<number, { name: string; checksum: string }>();
  for (const row of history) applied.set(Number(row.version), row);
  for (const [version, row] of applied) {
    const file = migrations.find((m) => m.version === version);
    if (!file) {
      throw new MigrationError(`migration ${row.name} (version ${version}) was applied to this database but is not in ${dir}; is this an older faasmeter?`);
    }
    if (file.checksum !== row.checksum) {
      throw new MigrationError(
        `migration ${file.name} was changed after it was applied (checksum then ${row.checksum.slice(0, 12)}…, now ${file.checksum.slice(0, 12)}…); add a new migration instead of editing an applied one`,
      );
    }
  }
  return migrations.filter((m) => !applied.has(m.version));
}

async function createDatabase(admin: ClickHouse, database: string): Promise<void> {
  try {
    await admin.command(bookkeeping.createDatabase(database));
  } catch (error) {
    // Two IF NOT EXISTS creates racing on 18.16: the loser is told the database exists, which is what it wanted.
    if (!(error instanceof ClickHouseError && error.code === DATABASE_ALREADY_EXISTS)) throw error;
  }
}

async function acquireLock(ch: ClickHouse, options: Required<Pick<MigrateOptions, 'staleLockMs' | 'lockWaitMs' | 'pollIntervalMs'>>, log: (line: string) => void): Promise<string> {
  const owner = randomUUID().replaceAll('-', '');
  const holder = `${hostname()} pid ${process.pid}`;
  const deadline = Date.now() + options.lockWaitMs;
  let reported = false;
  for (;;) {
    try {
      await ch.command(bookkeeping.createLock(owner, holder, Date.now()));
      return owner;
    } catch (error) {
      if (!isLockTaken(error)) throw error;
    }
    let lock: LockRow | undefined;
    try {
      [lock] = await ch.query<LockRow>(bookkeeping.readLock());
    } catch (error) {
      // Released between our create and our read: try again at once.
      if (!(error instanceof ClickHouseError && error.code === 60)) throw error;
    }
    if (lock) {
      const ageMs = Date.now() - Number(lock.acquired_ms);
      if (ageMs > options.staleLockMs) {
        log(`breaking a stale migration lock held by ${lock.holder} for ${Math.round(ageMs / 1000)} s`);
        try {
          await ch.command(bookkeeping.breakLock(owner));
          await ch.command(bookkeeping.dropBrokenLock(owner));
        } catch (error) {
          if (!(error instanceof ClickHouseError && error.code === 60)) throw error;
        }
        continue;
      }
      if (!reported) {
        log(`waiting for the migration lock held by ${lock.holder}`);
        reported = true;
      }
      if (Date.now() > deadline) {
        throw new MigrationError(`timed out after ${options.lockWaitMs} ms waiting for the migration lock of ${ch.database}, held by ${lock.holder} since ${new Date(Number(lock.acquired_ms)).toISOString()}`);
      }
      await delay(options.pollIntervalMs);
    }
  }
}

async function assertLockHeld(ch: ClickHouse, owner: string): Promise<void> {
  let rows: LockRow[] = [];
  try {
    rows = await ch.query<LockRow>(bookkeeping.readLock());
  } catch (error) {
    if (!(error instanceof ClickHouseError && error.code === 60)) throw error;
  }
  if (rows[0]?.owner !== owner) {
    throw new MigrationError(`lost the migration lock of ${ch.database} (it was broken as stale); run migrate again`);
  }
}

async function runMigration(ch: ClickHouse, m: Migration): Promise<number> {
  const started = Date.now();
  for (const [i, text] of m.statements.entries()) {
    try {
      await ch.command(unsafeRawSql(text));
    } catch (error) {
      const reason = error instanceof ClickHouseError ? error.message.replace(/^ClickHouse .*? failed: /, '') : String(error);
      throw new MigrationError(`migration ${m.name} failed at statement ${i + 1} of ${m.statements.length} (${describeStatement(text)}): ${reason}`, { cause: error });
    }
  }
  const durationMs = Date.now() - started;
  await ch.command(bookkeeping.recordApplied(m, new Date(), durationMs));
  return durationMs;
}

/**
 * Brings `options.database` up to date with the migration files. `client` may point at any
 * database; the work happens through client.withDatabase(), so the target need not exist yet.
 */
export async function migrate(client: ClickHouse, options: MigrateOptions): Promise<MigrateResult> {
  const { database } = options;
  if (!isIdentifier(database)) throw new MigrationError(`database "${database}" is not a plain identifier`);
  const dir = options.dir ?? DEFAULT_MIGRATIONS_DIR;
  const log = options.log ?? (() => {});
  const migrations = listMigrations(dir);
  const admin = client.withDatabase('default');
  const ch = client.withDatabase(database);

  if (options.dryRun) {
    const [db] = await admin.query<{ n: string }>(bookkeeping.databaseExists(database));
    const [table] = Number(db?.n) > 0 ? await admin.query<{ n: string }>(bookkeeping.historyExists(database)) : [];
    const history = Number(table?.n) > 0 ? await ch.query<{ version: number; name: string; checksum: string }>(bookkeeping.readHistory()) : [];
    return { database, applied: [], pending: pendingAfterCheck(migrations, history, dir) };
  }

  await createDatabase(admin, database);
  const staleLockMs = options.staleLockMs ?? 15 * 60_000;
  const owner = await acquireLock(ch, { staleLockMs, lockWaitMs: options.lockWaitMs ?? staleLockMs + 60_000, pollIntervalMs: options.pollIntervalMs ?? 200 }, log);
  const applied: AppliedMigration[] = [];
  try {
    await ch.command(bookkeeping.createHistory());
    const history = await ch.query<{ version: number; name: string; checksum: string }>(bookkeeping.readHistory());
    for (const m of pendingAfterCheck(migrations, history, dir)) {
      await assertLockHeld(ch, owner);
      log(`applying ${m.name}`);
      applied.push({ version: m.version, name: m.name, durationMs: await runMigration(ch, m) });
    }
  } catch (error) {
    // The migration's own error matters more than a failure to release; a stale lock is broken later.
    await releaseLock(ch, owner).catch(() => {});
    throw error;
  }
  await releaseLock(ch, owner);
  return { database, applied, pending: [] };
}

async function releaseLock(ch: ClickHouse, owner: string): Promise<void> {
  const rows = await ch.query<LockRow>(bookkeeping.readLock()).catch((error: unknown) => {
    if (error instanceof ClickHouseError && error.code === 60) return [];
    throw error;
  });
  if (rows[0]?.owner === owner) await ch.command(bookkeeping.releaseLock());
}
