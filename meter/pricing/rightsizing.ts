import type { Architecture } from '../../contract/index.ts';
import { Dec, format, gbSecondsOf, mul, roundMoney } from './money.ts';
import type { Plan } from './plan.ts';

/**
 * Right-sizing estimates for the API. These are what-ifs, not bills:
 *  - the function is assumed to take the same billed ms at any memory size (more memory also
 *    buys CPU on most platforms, so for CPU-bound code the real cost at a larger size is lower);
 *  - every GB-s is priced at tier 1 of the arch's ladder: tiers are graduated over a tenant's
 *    whole usage, so one function's share of a tier cannot be attributed;
 *  - requests (unchanged by memory), free allowance and provisioned idle time are left out.
 */

export interface BilledDuration {
  arch: Architecture;
  /** Aggregate billed ms of the function over the period: exec + init (as metered, integers). */
  billedMs: bigint;
}

export interface MemoryCost {
  memoryMb: number;
  currency: string;
  /** billedMs × memoryMb / 1,024,000, exact. */
  gbSeconds: string;
  /** The arch's tier-1 price per GB-s. */
  unitPrice: string;
  /** Rounded to the currency's minor units, half up. */
  cost: string;
  costExact: string;
}

/** The compute cost `usage` would have had at `memoryMb`. */
export function costAtMemory(plan: Plan, usage: BilledDuration, memoryMb: number): MemoryCost {
  if (!Number.isSafeInteger(memoryMb) || memoryMb < 1) throw new RangeError(`memoryMb must be a positive integer, got ${memoryMb}`);
  if (typeof usage.billedMs !== 'bigint' || usage.billedMs < 0n) throw new RangeError(`billedMs must be a bigint ≥ 0, got ${String(usage.billedMs)}`);
  const tier1 = plan.computePrices[usage.arch][0];
  if (tier1 === undefined) throw new RangeError(`plan has no compute price for ${usage.arch}`);
  const gbSeconds = gbSecondsOf(usage.billedMs * BigInt(memoryMb));
  const price = new Dec(tier1.pricePerGbSecond);
  const exact = mul(gbSeconds, price);
  return {
    memoryMb,
    currency: plan.currency,
    gbSeconds: format(gbSeconds),
    unitPrice: format(price),
    cost: format(roundMoney(exact, plan.minorUnits), plan.minorUnits),
    costExact: format(exact),
  };
}

/** Lambda's common memory sizes in MB. */
export const DEFAULT_MEMORY_SIZES: readonly number[] = Object.freeze([128, 256, 512, 1024, 1536, 2048, 3008, 4096, 10240]);

/**
 * The smallest size that holds the peak memory used plus headroom (peak × headroom, compared
 * exactly: 100 MB × 1.1 fits 110 MB). When no size has that headroom, the largest size if the
 * peak itself fits in it; when even the peak does not fit, null.
 */
export function suggestMemory(peakUsedMb: number, sizes: readonly number[] = DEFAULT_MEMORY_SIZES, headroom = 1.2): number | null {
  if (!Number.isFinite(peakUsedMb) || peakUsedMb < 0) throw new RangeError(`peakUsedMb must be a finite number ≥ 0, got ${peakUsedMb}`);
  if (!Number.isFinite(headroom) || headroom < 1) throw new RangeError(`headroom must be a finite number ≥ 1, got ${headroom}`);
  if (sizes.length === 0 || sizes.some((s) => !Number.isSafeInteger(s) || s < 1)) {
    throw new RangeError('sizes must be a non-empty list of positive integers (MB)');
  }
  const ascending = [...sizes].sort((a, b) => a - b);
  // Decimal, not float: 100 * 1.1 is 110.00000000000001 in binary floating point.
  const needed = new Dec(peakUsedMb).times(new Dec(headroom));
  const fit = ascending.find((s) => needed.lte(s));
  if (fit !== undefined) return fit;
  const largest = ascending[ascending.length - 1] as number;
  return peakUsedMb <= largest ? largest : null;
}
