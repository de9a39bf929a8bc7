import { z } from 'zod';
import { DEFAULT_CLICKHOUSE_URL } from '../common/config.ts';
import type { ClickHouseConfig } from './client.ts';

/** The ClickHouse connection as `faasmeter meter`, `api` and `keys` read it; spread into their schemas. */
export const clickhouseEnvShape = {
  FAASMETER_CLICKHOUSE_URL: z.url().default(DEFAULT_CLICKHOUSE_URL).describe('ClickHouse HTTP interface'),
  FAASMETER_CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier')
    .default('faasmeter')
    .describe("Database holding faasmeter's tables, as created by `faasmeter migrate`"),
  FAASMETER_CLICKHOUSE_USER: z.string().default('default').describe('ClickHouse user'),
  FAASMETER_CLICKHOUSE_PASSWORD: z.string().default('').describe("That user's password"),
};

export type ClickHouseEnv = { [K in keyof typeof clickhouseEnvShape]: z.infer<(typeof clickhouseEnvShape)[K]> };

/** The client settings those variables give; callers add their own (application, timeouts). */
export function clickhouseConnection(env: ClickHouseEnv): Pick<ClickHouseConfig, 'url' | 'database' | 'username' | 'password'> {
  return {
    url: env.FAASMETER_CLICKHOUSE_URL,
    database: env.FAASMETER_CLICKHOUSE_DATABASE,
    username: env.FAASMETER_CLICKHOUSE_USER,
    password: env.FAASMETER_CLICKHOUSE_PASSWORD,
  };
}

/** Read by every ClickHouse client this process creates (`createClickHouse`), whichever command runs it. */
export const SqlRecordEnvSchema = z.object({
  FAASMETER_SQL_RECORD: z
    .string()
    .optional()
    .describe('Append every statement that succeeds to this JSON-lines file (the compatibility suite replays them on current ClickHouse); unset or empty: off'),
});
