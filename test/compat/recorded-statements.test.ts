/**
 * Everything the integration suite sent to ClickHouse 18.16 (and that 18.16 accepted) must run
 * on current ClickHouse too. The client's recorder wrote it to a JSON-lines file while the
 * integration suite ran (FAASMETER_SQL_RECORD); here each database's statements replay in order
 * in a fresh chdb session.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RecordedStatement } from '../../clickhouse/client.ts';
import type { ChdbStatement } from '../helpers/chdb.ts';
import { parseRecordLine, runGroupsInChdb } from '../helpers/chdb.ts';

const recordFile = process.env.FAASMETER_SQL_RECORD ?? join(import.meta.dirname, '..', '..', '.stack', 'sql-record.jsonl');

function toChdb(s: RecordedStatement): ChdbStatement {
  return s.kind === 'insert' ? { kind: 'insert', table: s.table, rows: s.rows, database: s.database } : { kind: s.kind, text: s.text, database: s.database };
}

describe('statements recorded on 18.16 replay on current ClickHouse (chdb)', () => {
  // The replay grows with the integration suite: 24k statements took over 5 minutes on two cores.
  it('every recorded statement succeeds', async () => {
    if (!existsSync(recordFile)) {
      expect.fail(
        `no recorded statements at ${recordFile}: run the integration suite first with FAASMETER_SQL_RECORD=${recordFile} (npm test does this)`,
      );
    }
    const lines = readFileSync(recordFile, 'utf8').split('\n').filter((l) => l.trim().length > 0);
    expect(lines.length, `${recordFile} is empty: the integration suite recorded nothing`).toBeGreaterThan(0);
    const byDatabase = new Map<string, RecordedStatement[]>();
    for (const line of lines) {
      const statement = parseRecordLine(line);
      const group = byDatabase.get(statement.database) ?? [];
      group.push(statement);
      byDatabase.set(statement.database, group);
    }
    const groups = [...byDatabase.values()];
    const results = await runGroupsInChdb(groups.map((g) => g.map(toChdb)));
    const failed = groups.flatMap((group, g) =>
      group.flatMap((s, i) => {
        const r = results[g]?.[i];
        if (r?.ok) return [];
        const what = s.kind === 'insert' ? `INSERT into ${s.table} (${s.rows.length} rows)` : s.text.slice(0, 600);
        return [`[${s.database} #${i + 1}] ${what}\n  → ${r?.error?.slice(0, 600) ?? 'no result'}`];
      }),
    );
    expect(failed.length, `${failed.length} of ${lines.length} recorded statements failed on current ClickHouse:\n\n${failed.slice(0, 25).join('\n\n')}`).toBe(0);
  }, 900_000);
});
