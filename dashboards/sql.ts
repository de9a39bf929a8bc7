/**
 * SQL building blocks shared by the ClickHouse panels. Every fragment must run on ClickHouse
 * 18.16 and current servers alike: buckets are intDiv arithmetic ($__timeInterval expands to
 * toStartOfInterval, which 18.16 lacks), no DateTime64, no query parameters.
 */
import { AWS_LAMBDA_US_EAST_1 } from '../meter/pricing/index.ts';
import { DEFAULT_MEMORY_SIZES } from '../meter/pricing/index.ts';
import { matchVar } from './macros.ts';

/** Time bucket of `seconds` (a DateTime column), never finer than `minSeconds` (the table's grain). */
export function bucket(column: string, minSeconds: number): string {
  const width = `greatest($__interval_s, ${minSeconds})`;
  return `toDateTime(intDiv(toUInt32(${column}), ${width}) * ${width})`;
}

/** The bucket width in seconds, for per-second rates. */
export function bucketSeconds(minSeconds: number): string {
  return `greatest($__interval_s, ${minSeconds})`;
}

/** Bucket of an epoch-ms column. */
export function msBucket(column: string, minSeconds: number): string {
  const width = `greatest($__interval_s, ${minSeconds})`;
  return `toDateTime(intDiv(intDiv(${column}, 1000), ${width}) * ${width})`;
}

/** Tenant, function and revision filters (each matches everything when its variable is All). */
export function varFilters(which: ReadonlyArray<'tenant' | 'function' | 'revision'> = ['tenant', 'function', 'revision']): string {
  return which.map((name) => matchVar(name, name)).join('\n  AND ');
}

/**
 * Calls that started in the time range, for tables keyed by hour that keep each call's start_ms
 * (billed_calls, cold_starts): the hour condition lets ClickHouse skip parts by primary key, the
 * start_ms condition is exact to the second like $__timeFilter.
 */
export const CALLS_IN_RANGE =
  'hour >= toStartOfHour($__fromTime) AND hour <= $__toTime AND $__timeFilter(toDateTime(intDiv(start_ms, 1000)))';

/** Days touched by the time range (Date-keyed tables). */
export const DAYS_IN_RANGE = 'day >= toDate($__fromTime) AND day <= toDate($__toTime)';

/** The range length in seconds, to reach back one period. */
export const RANGE_SECONDS = '(toUInt32($__toTime) - toUInt32($__fromTime))';

// --- prices: the AWS Lambda us-east-1 list prices of the default plan ---------------------------

const plan = AWS_LAMBDA_US_EAST_1;
const tier1 = (arch: 'x86_64' | 'arm64'): string => {
  const first = plan.computePrices[arch][0];
  if (first === undefined) throw new Error(`default plan has no ${arch} price`);
  return first.pricePerGbSecond;
};

/**
 * What the Cost and Right-sizing dashboards price with: tier-1 list prices of the default plan
 * (AWS Lambda us-east-1), before free allowance and volume tiers. An estimate for trends and
 * shares; the billing API's statements are exact (plans per tenant, tiers, allowance, decimals).
 */
export const LIST_PRICES = Object.freeze({
  currency: plan.currency,
  requestUsd: plan.requestPrice,
  gbSecondUsd: { x86_64: tier1('x86_64'), arm64: tier1('arm64') },
  freeRequests: plan.freeAllowance.requests,
  freeGbSeconds: plan.freeAllowance.gbSeconds,
});

/** 1 GB-s = 1024 MB × 1000 ms. */
export const MB_MS_PER_GB_S = 1_024_000;

/** Price per GB-s for the row's arch column. */
export const GB_S_PRICE = `if(arch = 'arm64', ${LIST_PRICES.gbSecondUsd.arm64}, ${LIST_PRICES.gbSecondUsd.x86_64})`;

/** Estimated compute spend (exec + init MB·ms, init is billed on the default plan) of summed rows. */
export const COMPUTE_USD = `sum((mb_ms + init_mb_ms) / ${MB_MS_PER_GB_S} * ${GB_S_PRICE})`;
export const REQUESTS_USD = `sum(calls) * ${LIST_PRICES.requestUsd}`;
export const GB_SECONDS = `sum(mb_ms + init_mb_ms) / ${MB_MS_PER_GB_S}`;

/** Memory sizes right-sizing chooses from, and the headroom over peak use (meter/pricing/rightsizing.ts). */
export const MEMORY_SIZES: readonly number[] = DEFAULT_MEMORY_SIZES;
/** Peak × 1.2 must fit; compared as integers (size × 10 ≥ peak × 12), as suggestMemory compares decimals. */
export const HEADROOM = { numerator: 12, denominator: 10 } as const;

/**
 * The suggested size for a peak (MB): the smallest size with 20 % headroom; else the largest
 * size if the peak fits in it; else the configured size (nothing to suggest).
 */
export function suggestedMemorySql(peak: string, configured: string): string {
  const sizes = `[${MEMORY_SIZES.join(', ')}]`;
  const largest = Math.max(...MEMORY_SIZES);
  const fit = `arrayFirst(s -> s * ${HEADROOM.denominator} >= ${peak} * ${HEADROOM.numerator}, ${sizes})`;
  return `if(${fit} = 0, if(${peak} <= ${largest}, ${largest}, ${configured}), ${fit})`;
}
