import { Decimal } from 'decimal.js';

/**
 * Exact decimal arithmetic for money. A private Decimal constructor (the global one is never
 * configured), and operations that refuse to round: every price and quantity here is a
 * terminating decimal, so sums and products are exact as long as they fit the precision, and a
 * result that would not fit throws instead of being silently rounded.
 */
export const PRECISION = 60;
export const Dec = Decimal.clone({ precision: PRECISION, rounding: Decimal.ROUND_HALF_UP, toExpNeg: -9e15, toExpPos: 9e15 });
export type Dec = Decimal;

export const ZERO: Dec = new Dec(0);

/** 1 GB-s = 1024 MB × 1000 ms; 1/1,024,000 = 0.0000009765625 exactly (1,024,000 = 2^13·5^3). */
const GB_S_PER_MB_MS = new Dec('0.0000009765625');

function tooWide(what: string): never {
  throw new RangeError(`${what} would need more than ${PRECISION} significant digits; refusing to round money silently`);
}

/** Exponent of the least significant digit, e.g. 12.34 → -2. */
const lowestExponent = (x: Dec): number => x.e - x.sd() + 1;

export function add(a: Dec, b: Dec): Dec {
  if (!a.isZero() && !b.isZero()) {
    const digits = Math.max(a.e, b.e) + 1 - Math.min(lowestExponent(a), lowestExponent(b)) + 1;
    if (digits > PRECISION) tooWide(`${a.toFixed()} + ${b.toFixed()}`);
  }
  return a.plus(b);
}

export function sub(a: Dec, b: Dec): Dec {
  return add(a, b.neg());
}

export function mul(a: Dec, b: Dec): Dec {
  if (!a.isZero() && !b.isZero() && a.sd() + b.sd() > PRECISION) tooWide(`${a.toFixed()} × ${b.toFixed()}`);
  return a.times(b);
}

export function sum(values: Iterable<Dec>): Dec {
  let total = ZERO;
  for (const v of values) total = add(total, v);
  return total;
}

export const min = (a: Dec, b: Dec): Dec => (a.lte(b) ? a : b);
export const max = (a: Dec, b: Dec): Dec => (a.gte(b) ? a : b);

export const fromBigInt = (n: bigint): Dec => new Dec(n.toString());

/** MB·ms (an integer) to GB-s, exactly. */
export const gbSecondsOf = (mbMs: bigint): Dec => mul(fromBigInt(mbMs), GB_S_PER_MB_MS);

/** Rounds to the currency's minor units, half away from zero, so a credit mirrors its charge. */
export const roundMoney = (amount: Dec, minorUnits: number): Dec => amount.toDecimalPlaces(minorUnits, Decimal.ROUND_HALF_UP);

/** A decimal as a plain string: no exponent, no negative zero, minimal digits unless `places`. */
export function format(value: Dec, places?: number): string {
  const v = value.isZero() ? ZERO : value;
  return places === undefined ? v.toFixed() : v.toFixed(places);
}
