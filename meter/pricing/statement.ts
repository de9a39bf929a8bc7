import type { Architecture } from '../../contract/index.ts';
import type { CallQuantities } from './meter-call.ts';
import { add, Dec, format, gbSecondsOf, max, min, mul, roundMoney, sub, sum, ZERO } from './money.ts';
import type { Plan, Tier } from './plan.ts';
import { ARCHITECTURES } from './plan.ts';

/**
 * Prices a period's aggregated usage into a statement. The billing policy (also in README.md):
 *
 * 1. Units. GB-s = MB·ms / 1024 / 1000, exactly (a terminating decimal: 1,024,000 = 2^13·5^3).
 *    All arithmetic is exact decimal; nothing passes through a float.
 * 2. Requests: every request at the plan's request price (`requests` line, always present).
 * 3. Compute tiers are graduated per architecture over the period's total GB-s of that
 *    architecture: exec GB-s fill the ladder from the bottom, then init GB-s continue on the same
 *    ladder. One `compute` line per tier touched by exec, one `init` line per tier touched by init.
 * 4. Free allowance. Requests: min(requests, free requests) as a negative `free_requests` line at
 *    the request price. GB-s: the period's first free GB-s are taken from x86_64 starting at its
 *    tier 1 and climbing, then from arm64 starting at its tier 1, never more than the usage, each
 *    credited at the price of the tier it is taken from (one negative `free_compute` line per
 *    arch and tier). A fixed order keeps the rule explainable; x86_64 goes first because on AWS
 *    prices it is the dearer arch, so the customer gets the larger credit. Free GB-s do not move
 *    tier boundaries (tiers count all usage). The allowance never applies to provisioned idle.
 *    A credit's rounded amount never exceeds the rounded charges of its arch and tier (compute
 *    plus init lines, each rounded on its own), so usage inside the allowance totals exactly
 *    zero, never a negative cent.
 * 5. Provisioned idle: GB-s of idle provisioned instances at the plan's idle price per
 *    architecture; no tiers, no allowance (`provisioned_idle` line).
 * 6. Adjustments: late usage for an earlier, closed period is priced as an increment on what that
 *    period's final statement billed: amount = subtotal(prior + late) − subtotal(prior), both
 *    priced in full under this statement's plan (tiers and free allowance included). One
 *    `adjustment` line per period, quantity = late requests, no unit price (a lump sum). Using
 *    the rounded subtotals makes the two statements add up to the cent to what one on-time
 *    statement would have charged; `amountExact` is the difference of the exact sums.
 * 7. Rounding. Each line's exact amount (`amountExact`) is rounded to the currency's minor units,
 *    half away from zero (0.005 → 0.01, −0.005 → −0.01, so a credit mirrors its charge);
 *    subtotal = sum of the rounded line amounts; total = subtotal (taxes are out of scope).
 *    Amounts carry exactly the minor-unit decimals ("12.30"); quantities are minimal decimals.
 * 8. Lines with a zero quantity are left out, except `requests` and `adjustment`.
 */

export interface ArchUsage {
  execMbMs: bigint;
  initMbMs: bigint;
  provisionedIdleMbMs: bigint;
}

export interface PeriodUsage {
  requests: bigint;
  arch: { x86_64: ArchUsage; arm64: ArchUsage };
}

export interface Adjustment {
  /** The earlier, closed period the late usage ran in ('YYYY-MM'). */
  period: string;
  /** The late usage. */
  usage: PeriodUsage;
  /** What that period's final statement already billed. */
  priorUsage: PeriodUsage;
}

export interface StatementInput {
  plan: Plan;
  /** 'YYYY-MM'. */
  period: string;
  usage: PeriodUsage;
  adjustments: readonly Adjustment[];
}

export type LineKind = 'requests' | 'compute' | 'init' | 'provisioned_idle' | 'free_requests' | 'free_compute' | 'adjustment';

export interface Line {
  kind: LineKind;
  arch?: Architecture;
  /** 1-based tier of the plan's ladder for this arch. */
  tier?: number;
  /** The usage period of an adjustment. */
  period?: string;
  /** Negative on free_* lines. */
  quantity: string;
  unit: 'requests' | 'GB-s';
  /** Null on adjustment lines: they are lump sums. */
  unitPrice: string | null;
  /** Rounded to the currency's minor units, with exactly that many decimals. */
  amount: string;
  /** The unrounded amount, for audits. */
  amountExact: string;
}

export interface Statement {
  currency: string;
  period: string;
  lines: Line[];
  subtotal: string;
  total: string;
}

export function emptyUsage(): PeriodUsage {
  const arch = (): ArchUsage => ({ execMbMs: 0n, initMbMs: 0n, provisionedIdleMbMs: 0n });
  return { requests: 0n, arch: { x86_64: arch(), arm64: arch() } };
}

/** a + b, as a new value. */
export function addUsage(a: PeriodUsage, b: PeriodUsage): PeriodUsage {
  const out = emptyUsage();
  out.requests = a.requests + b.requests;
  for (const arch of ARCHITECTURES) {
    out.arch[arch].execMbMs = a.arch[arch].execMbMs + b.arch[arch].execMbMs;
    out.arch[arch].initMbMs = a.arch[arch].initMbMs + b.arch[arch].initMbMs;
    out.arch[arch].provisionedIdleMbMs = a.arch[arch].provisionedIdleMbMs + b.arch[arch].provisionedIdleMbMs;
  }
  return out;
}

/** Adds one metered call to `usage` in place (bigint sums: exact however many calls). */
export function addCall(usage: PeriodUsage, arch: Architecture, q: CallQuantities): void {
  usage.requests += BigInt(q.requests);
  usage.arch[arch].execMbMs += BigInt(q.mbMs);
  usage.arch[arch].initMbMs += BigInt(q.initMbMs);
}

/** MB·ms to GB-s as an exact decimal string. */
export const mbMsToGbSeconds = (mbMs: bigint): string => format(gbSecondsOf(mbMs));

const PERIOD_RE = /^\d{4}-(0[1-9]|1[0-2])$/;

function checkPeriod(period: string, field: string): void {
  if (typeof period !== 'string' || !PERIOD_RE.test(period)) throw new RangeError(`${field} must be 'YYYY-MM', got ${String(period)}`);
}

function checkUsage(usage: PeriodUsage, field: string): void {
  const check = (value: unknown, name: string) => {
    if (typeof value !== 'bigint' || value < 0n) throw new RangeError(`${field}.${name} must be a bigint ≥ 0, got ${String(value)}`);
  };
  check(usage.requests, 'requests');
  for (const arch of ARCHITECTURES) {
    const a = usage.arch?.[arch];
    if (a === undefined) throw new RangeError(`${field}.arch.${arch} is missing`);
    check(a.execMbMs, `arch.${arch}.execMbMs`);
    check(a.initMbMs, `arch.${arch}.initMbMs`);
    check(a.provisionedIdleMbMs, `arch.${arch}.provisionedIdleMbMs`);
  }
}

interface Band {
  tier: number;
  lower: Dec;
  upper: Dec | null;
  price: Dec;
}

function bandsOf(tiers: readonly Tier[]): Band[] {
  let lower = ZERO;
  return tiers.map((t, i) => {
    const upper = t.upToGbSeconds === null ? null : new Dec(t.upToGbSeconds);
    const band = { tier: i + 1, lower, upper, price: new Dec(t.pricePerGbSecond) };
    if (upper !== null) lower = upper;
    return band;
  });
}

/** How much of the usage range [from, from + quantity) falls in each band (non-empty parts only). */
function spread(bands: readonly Band[], from: Dec, quantity: Dec): Array<{ band: Band; quantity: Dec }> {
  const to = add(from, quantity);
  const parts: Array<{ band: Band; quantity: Dec }> = [];
  for (const band of bands) {
    const lo = max(from, band.lower);
    const hi = band.upper === null ? to : min(to, band.upper);
    if (hi.gt(lo)) parts.push({ band, quantity: sub(hi, lo) });
  }
  return parts;
}

interface Priced {
  lines: Line[];
  /** Sum of exact line amounts. */
  exact: Dec;
  /** Sum of rounded line amounts. */
  rounded: Dec;
}

function pricePeriod(plan: Plan, usage: PeriodUsage): Priced {
  const minor = plan.minorUnits;
  const lines: Line[] = [];
  const exacts: Dec[] = [];
  const roundeds: Dec[] = [];
  // Rounded charges per arch and tier, so a free credit never rounds to more than it offsets.
  const charged = new Map<string, Dec>();
  const push = (
    base: Pick<Line, 'kind' | 'arch' | 'tier'>,
    quantity: Dec,
    unit: Line['unit'],
    unitPrice: Dec,
    creditCap?: Dec,
  ): void => {
    const exact = mul(quantity, unitPrice);
    const rounded = creditCap === undefined ? roundMoney(exact, minor) : max(roundMoney(exact, minor), creditCap.neg());
    if (base.kind === 'compute' || base.kind === 'init') {
      const key = `${base.arch}:${base.tier}`;
      charged.set(key, add(charged.get(key) ?? ZERO, rounded));
    }
    exacts.push(exact);
    roundeds.push(rounded);
    lines.push({
      kind: base.kind,
      ...(base.arch === undefined ? {} : { arch: base.arch }),
      ...(base.tier === undefined ? {} : { tier: base.tier }),
      quantity: format(quantity),
      unit,
      unitPrice: format(unitPrice),
      amount: format(rounded, minor),
      amountExact: format(exact),
    });
  };

  const requestPrice = new Dec(plan.requestPrice);
  const requests = new Dec(usage.requests.toString());
  push({ kind: 'requests' }, requests, 'requests', requestPrice);
  const freeRequests = min(requests, new Dec(plan.freeAllowance.requests));
  if (!freeRequests.isZero()) push({ kind: 'free_requests' }, freeRequests.neg(), 'requests', requestPrice);

  let freeGbS = new Dec(plan.freeAllowance.gbSeconds);
  for (const arch of ARCHITECTURES) {
    const bands = bandsOf(plan.computePrices[arch]);
    const exec = gbSecondsOf(usage.arch[arch].execMbMs);
    const init = gbSecondsOf(usage.arch[arch].initMbMs);
    for (const part of spread(bands, ZERO, exec)) push({ kind: 'compute', arch, tier: part.band.tier }, part.quantity, 'GB-s', part.band.price);
    for (const part of spread(bands, exec, init)) push({ kind: 'init', arch, tier: part.band.tier }, part.quantity, 'GB-s', part.band.price);
    const free = min(freeGbS, add(exec, init));
    for (const part of spread(bands, ZERO, free)) {
      const cap = charged.get(`${arch}:${part.band.tier}`) ?? ZERO;
      push({ kind: 'free_compute', arch, tier: part.band.tier }, part.quantity.neg(), 'GB-s', part.band.price, cap);
    }
    freeGbS = sub(freeGbS, free);
  }

  for (const arch of ARCHITECTURES) {
    const idle = gbSecondsOf(usage.arch[arch].provisionedIdleMbMs);
    if (!idle.isZero()) push({ kind: 'provisioned_idle', arch }, idle, 'GB-s', new Dec(plan.provisionedIdlePricePerGbSecond[arch]));
  }

  return { lines, exact: sum(exacts), rounded: sum(roundeds) };
}

/** Prices one statement; see the policy at the top of this file. Pure; throws RangeError on bad input. */
export function priceStatement(input: StatementInput): Statement {
  const { plan, period, usage } = input;
  checkPeriod(period, 'period');
  checkUsage(usage, 'usage');
  const seen = new Set<string>();
  input.adjustments.forEach((adj, i) => {
    checkPeriod(adj.period, `adjustments[${i}].period`);
    if (adj.period >= period) throw new RangeError(`adjustments[${i}].period ${adj.period} must be earlier than the statement's period ${period}`);
    if (seen.has(adj.period)) throw new RangeError(`adjustments[${i}].period ${adj.period} appears twice: give one adjustment per period`);
    seen.add(adj.period);
    checkUsage(adj.usage, `adjustments[${i}].usage`);
    checkUsage(adj.priorUsage, `adjustments[${i}].priorUsage`);
  });

  const current = pricePeriod(plan, usage);
  const lines = [...current.lines];
  let subtotal = current.rounded;
  const adjustments = [...input.adjustments].sort((a, b) => (a.period < b.period ? -1 : 1));
  for (const adj of adjustments) {
    const before = pricePeriod(plan, adj.priorUsage);
    const after = pricePeriod(plan, addUsage(adj.priorUsage, adj.usage));
    const amount = sub(after.rounded, before.rounded);
    lines.push({
      kind: 'adjustment',
      period: adj.period,
      quantity: adj.usage.requests.toString(),
      unit: 'requests',
      unitPrice: null,
      amount: format(amount, plan.minorUnits),
      amountExact: format(sub(after.exact, before.exact)),
    });
    subtotal = add(subtotal, amount);
  }

  const total = format(subtotal, plan.minorUnits);
  return { currency: plan.currency, period, lines, subtotal: total, total };
}
