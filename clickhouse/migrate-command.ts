import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_CLICKHOUSE_URL, parseConfig } from '../common/config.ts';
import { createClickHouse } from './client.ts';
import { DEFAULT_MIGRATIONS_DIR, migrate } from './migrate.ts';

/**
 * The variables `faasmeter migrate` reads. Plain strings: each is the default of a flag or goes
 * straight to the client, and the client and `migrate` check what they are finally given.
 */
export const MigrateEnvSchema = z.object({
  FAASMETER_CLICKHOUSE_URL: z.string().default(DEFAULT_CLICKHOUSE_URL).describe('ClickHouse HTTP interface; `--url` overrides it'),
  FAASMETER_CLICKHOUSE_DATABASE: z.string().default('faasmeter').describe('Database to create and migrate; `--database` overrides it'),
  FAASMETER_CLICKHOUSE_USER: z.string().default('default').describe('ClickHouse user, allowed to create databases and tables'),
  FAASMETER_CLICKHOUSE_PASSWORD: z.string().default('').describe("That user's password"),
});

/**
 * `faasmeter migrate [--url URL] [--database NAME] [--dry-run]`: applies the pending migrations
 * (or, with --dry-run, lists them). Defaults come from MigrateEnvSchema's variables.
 */
export async function runMigrateCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<number> {
  const config = parseConfig(MigrateEnvSchema, env, 'migrate configuration');
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string', default: config.FAASMETER_CLICKHOUSE_URL },
      database: { type: 'string', default: config.FAASMETER_CLICKHOUSE_DATABASE },
      dir: { type: 'string', default: DEFAULT_MIGRATIONS_DIR },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  const ch = createClickHouse({
    url: values.url,
    username: config.FAASMETER_CLICKHOUSE_USER,
    password: config.FAASMETER_CLICKHOUSE_PASSWORD,
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
