import { z } from 'zod';
import { clickhouseEnvShape } from '../clickhouse/config.ts';
import { parseConfig } from '../common/config.ts';
import { pricingEnvShape } from '../meter/pricing/plan.ts';

const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);

/**
 * `faasmeter api` and `faasmeter keys` configuration, from FAASMETER_* variables. The limits are
 * what a client can ask for in one request; each refusal is a 4xx that names the limit.
 */
export const ApiConfigSchema = z.object({
  FAASMETER_API_HOST: z.string().min(1).default('127.0.0.1').describe('Address the API (and its `/metrics`, `/healthz`, `/readyz`) listens on'),
  FAASMETER_API_PORT: z.coerce.number().int().min(0).max(65535).default(8080).describe('Port the API listens on; 0 picks a free one'),
  ...clickhouseEnvShape,
  ...pricingEnvShape,
  FAASMETER_API_KEY_PEPPER: z
    .string()
    .min(16, 'must be at least 16 characters')
    .optional()
    .describe('Secret mixed into stored key hashes (HMAC-SHA-256 instead of SHA-256), so a leaked key table alone verifies nothing; `faasmeter keys` needs the same value'),
  FAASMETER_API_RATE_PER_SECOND: z.coerce.number().positive().max(1_000_000).default(20).describe('Sustained requests per second per API key and process (token bucket); beyond it: 429 `rate_limited`'),
  FAASMETER_API_RATE_BURST: positiveInt(1_000_000).default(40).describe('Burst size of that token bucket'),
  FAASMETER_API_MAX_HOUR_RANGE_DAYS: positiveInt(3_660).default(31).describe('Longest from–to range, in days, of usage by hour; longer: 422 `range_too_long`'),
  FAASMETER_API_MAX_DAY_RANGE_DAYS: positiveInt(36_600).default(400).describe('Longest from–to range, in days, of usage by day; longer: 422 `range_too_long`'),
  FAASMETER_API_MAX_MONTH_RANGE_DAYS: positiveInt(36_600).default(1_100).describe('Longest from–to range, in days, of usage by month; longer: 422 `range_too_long`'),
  FAASMETER_API_MAX_COLD_START_RANGE_DAYS: positiveInt(36_600).default(93).describe('Longest from–to range, in days, of a cold-start query; longer: 422 `range_too_long`'),
  FAASMETER_API_MAX_PAGE_SIZE: positiveInt(100_000).default(1_000).describe('Largest `limit` of a JSON page; larger: 400 `invalid_parameter`'),
  FAASMETER_API_MAX_CSV_ROWS: positiveInt(10_000_000).default(100_000).describe('Largest `limit` (rows per request) of a CSV export; larger: 400 `invalid_parameter`'),
  FAASMETER_API_CLOSE_SETTLE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(600_000)
    .default(5_000)
    .describe('How long closing a period waits between recording the close and pricing the final statement, so a meter batch that read the period as open just before has landed'),
  FAASMETER_API_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000).describe('Timeout of each ClickHouse request the API makes'),
});

export type ApiConfig = z.infer<typeof ApiConfigSchema>;

export function apiConfigFromEnv(env: NodeJS.ProcessEnv): Readonly<ApiConfig> {
  return parseConfig(ApiConfigSchema, env, 'api configuration');
}

/** The request limits the HTTP layer enforces, separate from where they came from. */
export interface ApiLimits {
  ratePerSecond: number;
  rateBurst: number;
  maxRangeDays: { hour: number; day: number; month: number; coldStarts: number };
  maxPageSize: number;
  maxCsvRows: number;
  closeSettleMs: number;
}

export function limitsFromConfig(c: Readonly<ApiConfig>): ApiLimits {
  return {
    ratePerSecond: c.FAASMETER_API_RATE_PER_SECOND,
    rateBurst: c.FAASMETER_API_RATE_BURST,
    maxRangeDays: {
      hour: c.FAASMETER_API_MAX_HOUR_RANGE_DAYS,
      day: c.FAASMETER_API_MAX_DAY_RANGE_DAYS,
      month: c.FAASMETER_API_MAX_MONTH_RANGE_DAYS,
      coldStarts: c.FAASMETER_API_MAX_COLD_START_RANGE_DAYS,
    },
    maxPageSize: c.FAASMETER_API_MAX_PAGE_SIZE,
    maxCsvRows: c.FAASMETER_API_MAX_CSV_ROWS,
    closeSettleMs: c.FAASMETER_API_CLOSE_SETTLE_MS,
  };
}

export const DEFAULT_LIMITS: ApiLimits = limitsFromConfig(ApiConfigSchema.parse({}));
