import { randomBytes } from 'node:crypto';
import type { ClickHouse } from '../../clickhouse/client.ts';
import { createClickHouse } from '../../clickhouse/client.ts';
import { migrate } from '../../clickhouse/migrate.ts';
import { DEFAULT_CLICKHOUSE_URL } from '../../common/config.ts';

export const CLICKHOUSE_URL = process.env.FAASMETER_CLICKHOUSE_URL ?? DEFAULT_CLICKHOUSE_URL;

export function uniqueDatabase(name: string): string {
  return `t_${name.replace(/[^A-Za-z0-9_]/g, '_')}_${randomBytes(4).toString('hex')}`;
}

/** A fresh database with every migration applied, as production gets it. */
export async function migratedDatabase(name: string, url = CLICKHOUSE_URL): Promise<{ database: string; ch: ClickHouse }> {
  const database = uniqueDatabase(name);
  const ch = createClickHouse({ url, database });
  await migrate(ch, { database });
  return { database, ch };
}
