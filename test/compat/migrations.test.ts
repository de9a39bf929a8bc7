/**
 * Every migration file, and every statement of the migration machinery itself, on current
 * ClickHouse through chdb: the same DDL that the integration suite runs on 18.16.
 */
import { describe, expect, it } from 'vitest';
import { bookkeeping, listMigrations } from '../../clickhouse/migrate.ts';
import type { ChdbResult, ChdbStatement } from '../helpers/chdb.ts';
import { runInChdb } from '../helpers/chdb.ts';

const database = 'faasmeter_compat';

function failures(statements: readonly ChdbStatement[], results: readonly ChdbResult[]): string[] {
  return results.flatMap((r, i) => {
    if (r.ok) return [];
    const s = statements[i]!;
    return [`#${i + 1} ${s.kind === 'insert' ? `INSERT into ${s.table}` : s.text}\n  → ${r.error ?? 'failed'}`];
  });
}

describe('migrations on current ClickHouse (chdb)', () => {
  it('the machinery’s own statements and every migration file run, twice over (idempotent DDL)', async () => {
    const migrations = listMigrations();
    const now = Date.now();
    const statements: ChdbStatement[] = [];
    const add = (text: string, kind: 'query' | 'command' = 'command', db = database) => statements.push({ kind, text, database: db });

    add(bookkeeping.createDatabase(database).text, 'command', 'default');
    add(bookkeeping.databaseExists(database).text, 'query', 'default');
    add(bookkeeping.historyExists(database).text, 'query', 'default');
    for (const pass of [1, 2]) {
      add(bookkeeping.createLock(`owner${pass}`, 'compat pid 1', now).text);
      add(bookkeeping.readLock().text, 'query');
      add(bookkeeping.createHistory().text);
      add(bookkeeping.readHistory().text, 'query');
      for (const m of migrations) {
        for (const text of m.statements) add(text);
        if (pass === 1) add(bookkeeping.recordApplied(m, new Date(now), 12).text);
      }
      add(bookkeeping.releaseLock().text);
    }
    add(bookkeeping.createLock('stale', 'dead pid 2', now - 3_600_000).text);
    add(bookkeeping.breakLock('breaker').text);
    add(bookkeeping.dropBrokenLock('breaker').text);
    const historyAt = statements.length;
    add(bookkeeping.readHistory().text, 'query');

    const results = await runInChdb(statements);
    expect(failures(statements, results), 'statements that failed on current ClickHouse').toEqual([]);
    expect(results[historyAt]?.rows?.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
  });

  it('a second lock cannot be created while one exists, on current ClickHouse too', async () => {
    const statements: ChdbStatement[] = [
      { kind: 'command', text: bookkeeping.createLock('first', 'a', 1).text },
      { kind: 'command', text: bookkeeping.createLock('second', 'b', 2).text },
      { kind: 'query', text: bookkeeping.readLock().text },
    ];
    const [first, second, read] = await runInChdb(statements);
    expect(first?.ok).toBe(true);
    expect(second?.ok).toBe(false);
    expect(second?.error).toMatch(/already exists/);
    expect(read?.rows).toEqual([{ owner: 'first', holder: 'a', acquired_ms: '1' }]);
  });
});
