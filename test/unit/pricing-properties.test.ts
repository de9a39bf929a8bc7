import { fileURLToPath } from 'node:url';
import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Architecture } from '../../contract/index.ts';
import type { MeteredCall, PeriodUsage, Plan, PlanInput, Statement } from '../../meter/pricing/index.ts';
import {
  addCall,
  addUsage,
  AWS_LAMBDA_US_EAST_1 as AWS,
  emptyUsage,
  loadPricingConfig,
  meterCall,
  parsePlan,
  priceStatement,
} from '../../meter/pricing/index.ts';

// Wide enough that the test's own sums never round.
const D = Decimal.clone({ precision: 200 });
const EXAMPLE = loadPricingConfig(fileURLToPath(new URL('../../deploy/config/plans.example.json', import.meta.url)));
const PLANS: Plan[] = [
  AWS,
  EXAMPLE.plans['internal-eu']!,
  parsePlan({ ...(AWS as PlanInput), currency: 'JPY', minorUnits: 0, requestPrice: '0.03', freeAllowance: { requests: 10, gbSeconds: '0.5' } }),
];
const ARCHS: readonly Architecture[] = ['x86_64', 'arm64'];

const call = fc.record({
  durationMs: fc.double({ min: 0, max: 900_000, noNaN: true }),
  initDurationMs: fc.option(fc.double({ min: 0, max: 10_000, noNaN: true }), { nil: undefined }),
  cold: fc.boolean(),
  memoryMb: fc.integer({ min: 128, max: 10_240 }),
  arch: fc.constantFrom<Architecture>('x86_64', 'arm64'),
});

const callsAndPermutation = fc
  .array(call, { maxLength: 150 })
  .chain((calls) => fc.tuple(fc.constant(calls), fc.shuffledSubarray(calls, { minLength: calls.length, maxLength: calls.length })));

const big = (max: bigint) => fc.bigInt({ min: 0n, max });

const archUsage = (max: bigint) =>
  fc.record({ execMbMs: big(max), initMbMs: big(max), provisionedIdleMbMs: big(max) });

const periodUsage = (max = 10n ** 22n): fc.Arbitrary<PeriodUsage> =>
  fc.record({ requests: big(10n ** 15n), arch: fc.record({ x86_64: archUsage(max), arm64: archUsage(max) }) });

const statementInput = fc.record({
  plan: fc.constantFrom(...PLANS),
  usage: periodUsage(),
  adjustments: fc.uniqueArray(
    fc.record({ period: fc.constantFrom('2025-01', '2025-04', '2025-08'), usage: periodUsage(), priorUsage: periodUsage() }),
    { maxLength: 3, selector: (a) => a.period },
  ),
});

function aggregate(plan: Plan, calls: ReadonlyArray<MeteredCall & { arch: Architecture }>): PeriodUsage {
  const u = emptyUsage();
  for (const c of calls) addCall(u, c.arch, meterCall(plan, c));
  return u;
}

const sumOf = (values: readonly string[]) => values.reduce((s, v) => s.plus(v), new D(0));

describe('pricing properties', () => {
  it('a statement does not depend on the order of calls, and bigint aggregation equals a naive BigInt sum', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PLANS), callsAndPermutation, (plan, [calls, shuffled]) => {
        const a = aggregate(plan, calls);
        const b = aggregate(plan, shuffled);
        expect(b).toEqual(a);
        const metered = calls.map((c) => ({ arch: c.arch, q: meterCall(plan, c) }));
        expect(a.requests).toBe(BigInt(calls.length));
        for (const arch of ARCHS) {
          const mine = metered.filter((m) => m.arch === arch);
          expect(a.arch[arch].execMbMs).toBe(mine.reduce((s, m) => s + BigInt(m.q.mbMs), 0n));
          expect(a.arch[arch].initMbMs).toBe(mine.reduce((s, m) => s + BigInt(m.q.initMbMs), 0n));
        }
        const input = (usage: PeriodUsage) => ({ plan, period: '2025-09', usage, adjustments: [] });
        expect(priceStatement(input(b))).toEqual(priceStatement(input(a)));
      }),
      { numRuns: 200 },
    );
  });

  it('summing usage past 2^53 loses nothing: addUsage equals a naive BigInt sum, in any order', () => {
    fc.assert(
      fc.property(fc.array(periodUsage(2n ** 80n), { minLength: 1, maxLength: 20 }), (parts) => {
        const forward = parts.reduce(addUsage, emptyUsage());
        const backward = [...parts].reverse().reduce(addUsage, emptyUsage());
        expect(backward).toEqual(forward);
        expect(forward.requests).toBe(parts.reduce((s, p) => s + p.requests, 0n));
        for (const arch of ARCHS) {
          for (const field of ['execMbMs', 'initMbMs', 'provisionedIdleMbMs'] as const) {
            expect(forward.arch[arch][field]).toBe(parts.reduce((s, p) => s + p.arch[arch][field], 0n));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the total equals the subtotal equals the sum of the rounded line amounts; each line is its exact amount rounded', () => {
    fc.assert(
      fc.property(statementInput, ({ plan, usage, adjustments }) => {
        const s: Statement = priceStatement({ plan, period: '2025-09', usage, adjustments });
        const minor = plan.minorUnits;
        const amountShape = new RegExp(minor === 0 ? '^-?\\d+$' : `^-?\\d+\\.\\d{${minor}}$`);
        expect(s.total).toBe(s.subtotal);
        expect(sumOf(s.lines.map((l) => l.amount)).toFixed(minor)).toBe(s.total);
        for (const line of s.lines) {
          expect(line.amount).toMatch(amountShape);
          if (line.kind === 'adjustment') continue;
          expect(new D(line.amountExact).toDecimalPlaces(minor, Decimal.ROUND_HALF_UP).toFixed(minor)).toBe(line.amount);
          expect(new D(line.quantity).times(line.unitPrice!).toFixed()).toBe(new D(line.amountExact).toFixed());
        }
        // Prices are never negative and free lines never exceed usage, so no statement is a credit.
        expect(new D(s.total).isNeg() && !new D(s.total).isZero()).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('a closed statement plus its adjustment equals, to the cent, one on-time statement of all the usage', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PLANS), periodUsage(10n ** 18n), periodUsage(10n ** 18n), (plan, prior, late) => {
        const price = (usage: PeriodUsage) => priceStatement({ plan, period: '2025-08', usage, adjustments: [] }).total;
        const s = priceStatement({ plan, period: '2025-09', usage: emptyUsage(), adjustments: [{ period: '2025-08', usage: late, priorUsage: prior }] });
        const adjustment = s.lines.find((l) => l.kind === 'adjustment')!;
        expect(adjustment.quantity).toBe(late.requests.toString());
        expect(new D(price(prior)).plus(adjustment.amount).toFixed(plan.minorUnits)).toBe(price(addUsage(prior, late)));
        expect(new D(adjustment.amount).isNeg()).toBe(false); // more usage never costs less
      }),
      { numRuns: 300 },
    );
  });

  it('free compute credits never exceed the allowance nor the usage they offset', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PLANS), periodUsage(10n ** 12n), (plan, usage) => {
        const s = priceStatement({ plan, period: '2025-09', usage, adjustments: [] });
        const gbs = (kinds: string[]) => sumOf(s.lines.filter((l) => kinds.includes(l.kind)).map((l) => l.quantity));
        const credited = gbs(['free_compute']).neg();
        expect(credited.lte(plan.freeAllowance.gbSeconds)).toBe(true);
        expect(credited.lte(gbs(['compute', 'init']))).toBe(true);
        for (const arch of ARCHS) {
          const archGbs = sumOf(s.lines.filter((l) => l.arch === arch && (l.kind === 'compute' || l.kind === 'init')).map((l) => l.quantity));
          const archFree = sumOf(s.lines.filter((l) => l.arch === arch && l.kind === 'free_compute').map((l) => l.quantity)).neg();
          expect(archFree.lte(archGbs)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
