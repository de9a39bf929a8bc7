import { describe, expect, it } from 'vitest';
import { runInChdb } from '../helpers/chdb.ts';

/**
 * The cold-start endpoint reports quantilesExact(0.5, 0.95, 0.99). The integration suite checks
 * its figures on 18.16 against nearest rank (the element at floor(level × n)); this checks that
 * current ClickHouse computes the same, so the API's numbers do not change with the server.
 */
function nearestRank(sorted: number[], level: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(level * sorted.length))]!;
}

describe('quantilesExact on current ClickHouse (chdb)', () => {
  it('is nearest rank, floor(level × n), as on 18.16, for group sizes 1 to 40', async () => {
    const rows: Array<{ g: number; us: number }> = [];
    for (let g = 1; g <= 40; g += 1) for (let i = 0; i < g; i += 1) rows.push({ g, us: (i * 7919 + g * 104729) % 100_003 });
    const [, , result] = await runInChdb([
      { kind: 'command', text: 'CREATE TABLE q (g UInt32, us UInt64) ENGINE = MergeTree ORDER BY g' },
      { kind: 'insert', table: 'q', rows },
      { kind: 'query', text: 'SELECT g, quantilesExact(0.5, 0.95, 0.99)(us) AS qs FROM q GROUP BY g ORDER BY g FORMAT JSONEachRow' },
    ]);
    expect(result?.ok, result?.error).toBe(true);
    for (const row of result!.rows!) {
      const g = Number(row.g);
      const sorted = rows.filter((r) => r.g === g).map((r) => r.us).sort((a, b) => a - b);
      expect((row.qs as Array<string | number>).map(Number), `group of ${g}`).toEqual([0.5, 0.95, 0.99].map((l) => nearestRank(sorted, l)));
    }
  });
});
