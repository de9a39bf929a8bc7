import { Decimal } from 'decimal.js';
import type { Plan } from './plan.ts';

/**
 * Per-call quantities, all integers: what the meter stores on every billed line. Prices are
 * applied later, to a period's aggregates (statement.ts).
 *
 * Duration rule (one rule, used for exec and init alike):
 *  1. A duration is the decimal number the producer sent: the shortest decimal that reads back
 *     as the same float (what JSON.stringify prints). `4.0005` means 4.0005, not the binary
 *     float 4.000499999… it is stored as.
 *  2. It is rounded to whole microseconds, half up: 4.0005 ms → 4001 µs; 2.0000000000000004 ms
 *     → 2000 µs (float noise from µs arithmetic below half a microsecond disappears).
 *  3. billed ms = ceil(µs / (granularityMs · 1000)) · granularityMs, in integer arithmetic, and
 *     never less than minimumBilledMs: 1.001 ms → 2 ms, 3.000 ms → 3 ms, 1.0005 ms → 2 ms.
 * `Math.round(ms * 1000)` is not used: the float product can land just below .5 (4.0005 * 1000
 * is 4000.4999999999995) and bill the same input differently depending on its magnitude.
 */

const Exact = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_HALF_UP });

export interface MeteredCall {
  /** Duration in ms (float, µs precision). */
  durationMs: number;
  /** Init duration in ms; only cold calls carry one. */
  initDurationMs?: number | undefined;
  cold: boolean;
  /** Configured memory in MB (integer). */
  memoryMb: number;
}

export interface CallQuantities {
  billedMs: number;
  initBilledMs: number;
  /** memoryMb × billedMs. */
  mbMs: number;
  /** memoryMb × initBilledMs. */
  initMbMs: number;
  requests: 1;
}

/** Rule steps 1–2: a duration in ms to integer microseconds, half up. */
export function toMicros(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`duration must be a finite number of ms ≥ 0, got ${ms}`);
  if (ms === 0) return 0; // also turns -0 into 0
  const r = ms * 1000;
  const below = Math.floor(r);
  // Fast path. The float product r differs from 1000 × (the decimal ms stands for) by less than
  // 2^-50 · r, so when r is farther than 1e-12 · max(r, 1) from the .5 point both round the same way.
  if (r < 2 ** 52 && Math.abs(r - below - 0.5) > Math.max(r, 1) * 1e-12) return r - below > 0.5 ? below + 1 : below;
  const us = new Exact(ms).times(1000).toDecimalPlaces(0, Decimal.ROUND_HALF_UP).toNumber();
  if (!Number.isSafeInteger(us)) throw new RangeError(`duration ${ms} ms is too large to meter exactly`);
  return us;
}

/** Rule step 3: billed ms for a duration in integer microseconds. */
export function billedMsOf(plan: Pick<Plan, 'granularityMs' | 'minimumBilledMs'>, micros: number): number {
  const stepUs = plan.granularityMs * 1000;
  const steps = Math.floor(micros / stepUs) + (micros % stepUs === 0 ? 0 : 1);
  return Math.max(plan.minimumBilledMs, steps * plan.granularityMs);
}

function product(memoryMb: number, ms: number): number {
  const mbMs = memoryMb * ms;
  if (!Number.isSafeInteger(mbMs)) throw new RangeError(`${memoryMb} MB × ${ms} ms exceeds the exact integer range`);
  return mbMs;
}

/**
 * Meters one call. Init time is billed (at the same granularity and minimum) only for cold calls
 * that report it, and only when the plan bills init.
 */
export function meterCall(plan: Plan, call: MeteredCall): CallQuantities {
  if (!Number.isSafeInteger(call.memoryMb) || call.memoryMb < 1) {
    throw new RangeError(`memoryMb must be a positive integer, got ${call.memoryMb}`);
  }
  const billedMs = billedMsOf(plan, toMicros(call.durationMs));
  const initBilledMs =
    plan.billInit && call.cold && call.initDurationMs !== undefined ? billedMsOf(plan, toMicros(call.initDurationMs)) : 0;
  return {
    billedMs,
    initBilledMs,
    mbMs: product(call.memoryMb, billedMs),
    initMbMs: product(call.memoryMb, initBilledMs),
    requests: 1,
  };
}
