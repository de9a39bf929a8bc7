import { parseArgs } from 'node:util';
import { DEFAULT_CLICKHOUSE_URL } from '../common/config.ts';
import { createClickHouse } from './client.ts';
import { DEFAULT_MIGRATIONS_DIR, migrate } from './migrate.ts';

/**
 * `faasmeter migrate [--url URL] [--database NAME] [--dry-run]`: applies the pending migrations
 * (or, with --dry-run, lists them). Defaults come from FAASMETER_CLICKHOUSE_URL,
 * FAASMETER_CLICKHOUSE_DATABASE, FAASMETER_CLICKHOUSE_USER and FAASMETER_CLICKHOUSE_PASSWORD.
 */
export async function runMigrateCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string', default: env.FAASMETER_CLICKHOUSE_URL ?? DEFAULT_CLICKHOUSE_URL },
      database: { type: 'string', default: env.FAASMETER_CLICKHOUSE_DATABASE ?? 'faasmeter' },
      dir: { type: 'string', default: DEFAULT_MIGRATIONS_DIR },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  const ch = createClickHouse({
    url: values.url,
    username: env.FAASMETER_CLICKHOUSE_USER ?? 'default',
    password: env.FAASMETER_CLICKHOUSE_PASSWORD ?? '',
    application: 'faasmeter-migrate',
  });
  try {
    const result = await migrate(ch, { database: values.database, dir: values.dir, dryRun: values['dry-run'], log: out });
    if (values['dry-run']) {
      out(result.pending.length === 0 ? `${result.database}: nothing pending` : `${result.database}: pending ${result.pending.map((m) => m.name).join(', ')}`);
    } else if (result.applied.length === 0) {
      out(`${result.database}: up to date`);
    } else {
      for (const m of result.applied) out(`${result.database}: applied ${m.name} (${m.durationMs} ms)`);
    }
    return 0;
  } finally {
    await ch.close();
  }
}
