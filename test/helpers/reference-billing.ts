import { Decimal } from 'decimal.js';
import type { Architecture, InvocationEvent } from '../../contract/index.ts';

/**
 * An independent, deliberately naive computation of a statement from the raw calls, used to
 * check the meter end to end. It shares no code with meter/pricing: if both agree to the cent,
 * the storage, dedup, rollups and pricing between them lost and doubled nothing.
 */

const D = Decimal.clone({ precision: 80, rounding: Decimal.ROUND_HALF_UP });
type D = Decimal;

export interface RefTier {
  upTo: string | null;
  price: string;
}

export interface RefPlan {
  requestPrice: string;
  tiers: Record<Architecture, RefTier[]>;
  granularityMs: number;
  minimumMs: number;
  billInit: boolean;
  freeRequests: number;
  freeGbS: string;
}

function billedMs(ms: number, plan: RefPlan): bigint {
  const micros = BigInt(new D(String(ms)).times(1000).toDecimalPlaces(0, Decimal.ROUND_HALF_UP).toFixed(0));
  const step = BigInt(plan.granularityMs) * 1000n;
  const steps = (micros + step - 1n) / step;
  const billed = steps * BigInt(plan.granularityMs);
  return billed < BigInt(plan.minimumMs) ? BigInt(plan.minimumMs) : billed;
}

export interface RefTotals {
  requests: bigint;
  execMbMs: Record<Architecture, bigint>;
  initMbMs: Record<Architecture, bigint>;
}

export function referenceUsage(calls: readonly InvocationEvent[], plan: RefPlan): RefTotals {
  const totals: RefTotals = { requests: 0n, execMbMs: { x86_64: 0n, arm64: 0n }, initMbMs: { x86_64: 0n, arm64: 0n } };
  for (const call of calls) {
    const d = call.data;
    totals.requests += 1n;
    totals.execMbMs[d.arch] += BigInt(d.memoryMb) * billedMs(d.durationMs, plan);
    if (plan.billInit && d.cold && d.initDurationMs !== undefined) {
      totals.initMbMs[d.arch] += BigInt(d.memoryMb) * billedMs(d.initDurationMs, plan);
    }
  }
  return totals;
}

const cents = (x: D) => x.toDecimalPlaces(2, Decimal.ROUND_HALF_UP);
const gbS = (mbMs: bigint) => new D(mbMs.toString()).div(1_024_000);

/** Amount per tier of `quantity` GB-s placed on the ladder starting at `offset` GB-s. */
function onLadder(tiers: RefTier[], offset: D, quantity: D): Array<{ tier: number; qty: D; price: D }> {
  const out: Array<{ tier: number; qty: D; price: D }> = [];
  let position = offset;
  let left = quantity;
  tiers.forEach((t, i) => {
    const upper = t.upTo === null ? null : new D(t.upTo);
    if (left.lte(0)) return;
    if (upper !== null && position.gte(upper)) return;
    const room = upper === null ? left : D.min(left, upper.minus(position));
    if (room.gt(0)) out.push({ tier: i + 1, qty: room, price: new D(t.price) });
    position = position.plus(room);
    left = left.minus(room);
  });
  return out;
}

/** The statement total for one period, with every line rounded to cents before summing. */
export function referenceTotal(totals: RefTotals, plan: RefPlan): string {
  const lines: D[] = [];
  const requestPrice = new D(plan.requestPrice);
  lines.push(cents(new D(totals.requests.toString()).times(requestPrice)));
  const perTierUsage: Record<Architecture, Map<number, { qty: D; price: D; charged: D }>> = { x86_64: new Map(), arm64: new Map() };
  for (const arch of ['x86_64', 'arm64'] as const) {
    const exec = gbS(totals.execMbMs[arch]);
    const init = gbS(totals.initMbMs[arch]);
    // Init GB-s continue up the ladder where exec GB-s stopped.
    for (const [offset, qty] of [
      [new D(0), exec],
      [exec, init],
    ] as const) {
      for (const part of onLadder(plan.tiers[arch], offset, qty)) {
        const charge = cents(part.qty.times(part.price));
        lines.push(charge);
        const seen = perTierUsage[arch].get(part.tier) ?? { qty: new D(0), price: part.price, charged: new D(0) };
        seen.qty = seen.qty.plus(part.qty);
        seen.charged = seen.charged.plus(charge);
        perTierUsage[arch].set(part.tier, seen);
      }
    }
  }
  const freeRequests = D.min(new D(totals.requests.toString()), new D(plan.freeRequests));
  if (freeRequests.gt(0)) lines.push(cents(freeRequests.times(requestPrice)).neg());
  let freeLeft = new D(plan.freeGbS);
  for (const arch of ['x86_64', 'arm64'] as const) {
    const tiers = [...perTierUsage[arch].entries()].sort(([a], [b]) => a - b);
    for (const [, usage] of tiers) {
      if (freeLeft.lte(0)) break;
      const take = D.min(freeLeft, usage.qty);
      lines.push(D.min(cents(take.times(usage.price)), usage.charged).neg());
      freeLeft = freeLeft.minus(take);
    }
  }
  return lines.reduce((a, b) => a.plus(b), new D(0)).toFixed(2);
}
