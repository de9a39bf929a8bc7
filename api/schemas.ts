import { z } from 'zod';
import type { ApiLimits } from './config.ts';
import { PERIOD_PATTERN, TIMESTAMP_PATTERN } from './time.ts';

/**
 * The zod schemas that validate every request and check every response. /openapi.json is
 * generated from these same objects (openapi.ts), so the document cannot drift from the code.
 * Page sizes come from the configured limits, so the document states the limits in force.
 *
 * Conventions: integer quantities (calls, ms) are decimal strings, because 64-bit counters can
 * pass 2^53; money and GB-s are decimal strings, never floats. Ratios and latencies are numbers.
 */

const TENANT_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]*$';
// A function or revision name is any text without control characters (the event contract's rule).
const NAME_PATTERN = '^[^\\u0000-\\u001f\\u007f-\\u009f]*$';

export const IntegerString = z.string().regex(/^(0|[1-9][0-9]*)$/);
export const DecimalString = z.string().regex(/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/);
const Iso = z.string().regex(/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/);
const Period = z.string().regex(new RegExp(PERIOD_PATTERN), 'must be a month as YYYY-MM (2000-01 to 2099-12)');
const Arch = z.enum(['x86_64', 'arm64']);

const tenantParam = z
  .string()
  .min(1)
  .max(128)
  .regex(new RegExp(TENANT_PATTERN), 'must be letters, digits, ".", "_", ":" or "-"')
  .describe(
    'Admin keys: the tenant to read (required). Tenant keys: optional, and if given it must be the key’s own tenant (403 otherwise).',
  );
const timestamp = (what: string, example: string) =>
  z
    .string()
    .regex(new RegExp(TIMESTAMP_PATTERN), 'must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC, years 2000–2099)')
    .meta({ description: `${what}: YYYY-MM-DD (UTC midnight) or YYYY-MM-DDTHH:MM:SSZ.`, examples: [example] });
const nameFilter = (what: string) =>
  z
    .string()
    .min(1)
    .max(256)
    .regex(new RegExp(NAME_PATTERN, 'u'), 'must not contain control characters')
    .describe(`Only this ${what} (exact match).`);

export function apiSchemas(limits: ApiLimits) {
  const page = (max: number, dflt: number) => ({
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(max, `must be at most ${max} (the page size limit)`)
      .optional()
      .describe(`Rows per page, at most ${max}; default ${dflt}.`),
    offset: z.coerce
      .number()
      .int()
      .min(0)
      .max(1_000_000_000)
      .optional()
      .describe('Rows to skip; use the previous page’s nextOffset.'),
  });
  const jsonPage = page(limits.maxPageSize, Math.min(100, limits.maxPageSize));
  const csvPage = page(limits.maxCsvRows, limits.maxCsvRows);

  const usageFields = {
    from: timestamp('Start of the range, inclusive; on a window boundary', '2026-10-01'),
    to: timestamp('End of the range, exclusive; on a window boundary', '2026-11-01'),
    window: z.enum(['hour', 'day', 'month']).optional().describe('Bucket size (default day). hour reads usage_hour, day and month usage_day.'),
    groupBy: z
      .enum(['function', 'revision', 'arch'])
      .optional()
      .describe('Split each window by function, by function and revision, or by architecture; default: one row per window.'),
    function: nameFilter('function').optional(),
    revision: nameFilter('revision').optional(),
    tenant: tenantParam.optional(),
  };
  const UsageQuery = z.strictObject({ ...usageFields, ...jsonPage });
  const UsageCsvQuery = z.strictObject({ ...usageFields, ...csvPage });

  const ColdStartsQuery = z.strictObject({
    from: timestamp('Start of the range, inclusive; a whole hour', '2026-10-01T00:00:00Z'),
    to: timestamp('End of the range, exclusive; a whole hour', '2026-10-08T00:00:00Z'),
    groupBy: z.enum(['function', 'revision']).optional().describe('Split by function, or by function and revision; default: one total row.'),
    function: nameFilter('function').optional(),
    tenant: tenantParam.optional(),
    ...jsonPage,
  });

  const RightsizingQuery = z.strictObject({
    period: Period.meta({ description: 'Calendar month (UTC) whose calls are analysed, YYYY-MM.', examples: ['2026-10'] }),
    tenant: tenantParam.optional(),
    ...jsonPage,
  });

  const StatementsQuery = z.strictObject({ tenant: tenantParam.optional(), ...jsonPage });
  const TenantOnlyQuery = z.strictObject({ tenant: tenantParam.optional() });
  const PeriodParams = z.strictObject({ period: Period.meta({ description: 'Billing period, YYYY-MM.', examples: ['2026-10'] }) });

  return { UsageQuery, UsageCsvQuery, ColdStartsQuery, RightsizingQuery, StatementsQuery, TenantOnlyQuery, PeriodParams };
}

export type ApiSchemas = ReturnType<typeof apiSchemas>;

const nextOffset = z.int().min(0).nullable().describe('Offset of the next page; null on the last page.');

export const UsageRow = z.strictObject({
  start: Iso.describe('Window start, UTC.'),
  end: Iso.describe('Window end (exclusive), UTC.'),
  function: z.string().optional(),
  revision: z.string().optional(),
  arch: Arch.optional(),
  calls: IntegerString,
  errors: IntegerString.describe('Calls that ended in error or timeout.'),
  timeouts: IntegerString,
  coldStarts: IntegerString,
  billedMs: IntegerString.describe('Billed execution time (rounded per the plan).'),
  initBilledMs: IntegerString.describe('Billed init time of cold starts (0 when the plan does not bill init).'),
  gbSeconds: DecimalString.describe('(exec + init) MB·ms / 1,024,000, exact.'),
  cost: DecimalString.describe('Estimate at list prices (see the response’s costRule); exact, unrounded.'),
});

export const UsageResponse = z.strictObject({
  tenant: z.string(),
  window: z.enum(['hour', 'day', 'month']),
  from: Iso,
  to: Iso,
  groupBy: z.enum(['function', 'revision', 'arch']).nullable(),
  plan: z.string(),
  currency: z.string(),
  costRule: z.string(),
  rows: z.array(UsageRow),
  nextOffset,
});

export const Quantiles = z.strictObject({ p50: z.number(), p95: z.number(), p99: z.number() });

export const ColdStartRow = z.strictObject({
  function: z.string().optional(),
  revision: z.string().optional(),
  calls: IntegerString,
  coldStarts: IntegerString,
  rate: z.number().min(0).max(1).describe('coldStarts / calls; 0 when there were no calls.'),
  initDurationMs: Quantiles.nullable().describe('Exact quantiles of the init duration; null without cold starts.'),
  waitMs: Quantiles.nullable().describe('Exact quantiles of how long the first request waited; null without cold starts.'),
});

export const ColdStartsResponse = z.strictObject({
  tenant: z.string(),
  from: Iso,
  to: Iso,
  groupBy: z.enum(['function', 'revision']).nullable(),
  rows: z.array(ColdStartRow),
  nextOffset,
});

export const RightsizingRow = z.strictObject({
  function: z.string(),
  arch: Arch,
  memoryMb: z.int().describe('Configured memory.'),
  calls: IntegerString,
  billedMs: IntegerString.describe('Billed exec + init ms over the period.'),
  peakUsedMb: z.int().nullable().describe('Highest memory used by any call; null when no call reported it.'),
  suggestedMemoryMb: z.int().nullable(),
  action: z.enum(['decrease', 'keep', 'increase', 'unknown']),
  currentCost: DecimalString.describe('Compute cost at the configured size, tier-1 price, rounded to the currency’s minor units.'),
  suggestedCost: DecimalString.nullable(),
  saving: DecimalString.nullable().describe('currentCost − suggestedCost (negative when more memory is suggested).'),
});

export const RightsizingResponse = z.strictObject({
  tenant: z.string(),
  period: z.string(),
  currency: z.string(),
  rule: z.string(),
  rows: z.array(RightsizingRow),
  nextOffset,
});

export const StatementLine = z.strictObject({
  kind: z.enum(['requests', 'compute', 'init', 'provisioned_idle', 'free_requests', 'free_compute', 'adjustment']),
  arch: Arch.optional(),
  tier: z.int().min(1).optional(),
  period: z.string().optional().describe('Usage period of an adjustment.'),
  quantity: DecimalString,
  unit: z.enum(['requests', 'GB-s']),
  unitPrice: DecimalString.nullable(),
  amount: DecimalString,
  amountExact: DecimalString,
});

export const StatementResponse = z.strictObject({
  tenant: z.string(),
  period: z.string(),
  status: z.enum(['draft', 'final']).describe('draft while the period is open (figures may still change); final once closed.'),
  currency: z.string(),
  lines: z.array(StatementLine),
  subtotal: DecimalString,
  total: DecimalString,
});

export const StatementListResponse = z.strictObject({
  tenant: z.string(),
  periods: z.array(
    z.strictObject({
      period: z.string(),
      status: z.enum(['draft', 'final']),
      total: DecimalString.nullable().describe('The final statement’s total; null for a draft (read the statement).'),
      currency: z.string().nullable(),
    }),
  ),
  nextOffset,
});

export const HealthResponse = z.object({ status: z.enum(['ok', 'error']) });
export const ReadyResponse = z.object({
  status: z.enum(['ok', 'degraded', 'error']),
  components: z.record(z.string(), z.object({ status: z.enum(['ok', 'degraded', 'error']), detail: z.string().optional() })),
  ready: z.boolean(),
  starting: z.boolean().optional(),
  stopping: z.boolean().optional(),
});
