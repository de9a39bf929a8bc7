import { z } from 'zod';
import { DEFAULT_CLICKHOUSE_URL, parseConfig } from '../common/config.ts';

const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);

/**
 * `faasmeter api` and `faasmeter keys` configuration, from FAASMETER_* variables. The limits are
 * what a client can ask for in one request; each refusal is a 4xx that names the limit.
 */
export const ApiConfigSchema = z.object({
  FAASMETER_API_HOST: z.string().min(1).default('127.0.0.1'),
  FAASMETER_API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  FAASMETER_CLICKHOUSE_URL: z.url().default(DEFAULT_CLICKHOUSE_URL),
  FAASMETER_CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier')
    .default('faasmeter'),
  FAASMETER_CLICKHOUSE_USER: z.string().default('default'),
  FAASMETER_CLICKHOUSE_PASSWORD: z.string().default(''),
  FAASMETER_PRICING_FILE: z.string().optional(),
  /** When set, keys are stored as HMAC-SHA-256(pepper, key) instead of SHA-256(key). */
  FAASMETER_API_KEY_PEPPER: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Token bucket per API key: sustained requests per second and burst size. */
  FAASMETER_API_RATE_PER_SECOND: z.coerce.number().positive().max(1_000_000).default(20),
  FAASMETER_API_RATE_BURST: positiveInt(1_000_000).default(40),
  /** Longest from–to range per window, in days. */
  FAASMETER_API_MAX_HOUR_RANGE_DAYS: positiveInt(3_660).default(31),
  FAASMETER_API_MAX_DAY_RANGE_DAYS: positiveInt(36_600).default(400),
  FAASMETER_API_MAX_MONTH_RANGE_DAYS: positiveInt(36_600).default(1_100),
  FAASMETER_API_MAX_COLD_START_RANGE_DAYS: positiveInt(36_600).default(93),
  /** Largest `limit` a JSON page may ask for, and a CSV export's. */
  FAASMETER_API_MAX_PAGE_SIZE: positiveInt(100_000).default(1_000),
  FAASMETER_API_MAX_CSV_ROWS: positiveInt(10_000_000).default(100_000),
  /** How long closing a period waits between recording the close and pricing the final statement. */
  FAASMETER_API_CLOSE_SETTLE_MS: z.coerce.number().int().min(0).max(600_000).default(5_000),
  FAASMETER_API_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
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
