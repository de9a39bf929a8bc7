import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PlanInput } from '../../meter/pricing/index.ts';
import { AWS_LAMBDA_US_EAST_1 as AWS, meterCall, parsePlan, toMicros } from '../../meter/pricing/index.ts';

const plan = (overrides: Partial<PlanInput>) => parsePlan({ ...(AWS as PlanInput), ...overrides });
const warm = (durationMs: number, memoryMb = 128) => ({ durationMs, cold: false, memoryMb });
const billed = (p: typeof AWS, durationMs: number) => meterCall(p, warm(durationMs)).billedMs;

describe('meterCall: billed duration (1 ms granularity, 1 ms minimum, as AWS)', () => {
  it('rounds a duration up to the next whole ms: 1.001 → 2, 1.0005 → 2, 3.000 → 3', () => {
    expect(billed(AWS, 1.001)).toBe(2); // 1001 µs → ceil(1001 / 1000) = 2
    expect(billed(AWS, 1.0005)).toBe(2); // 1000.5 µs → 1001 µs (half up) → 2
    expect(billed(AWS, 3.0)).toBe(3); // 3000 µs → exactly 3
    expect(billed(AWS, 120)).toBe(120);
    expect(billed(AWS, 120.000001)).toBe(120); // 120000.001 µs → 120000 µs: below a microsecond is noise
  });

  it('rounds to whole microseconds from the decimal the producer sent, not the binary float', () => {
    // 4.0005 * 1000 is 4000.4999999999995 in floating point; Math.round would say 4000 µs → 4 ms.
    expect(4.0005 * 1000).toBeLessThan(4000.5);
    expect(toMicros(4.0005)).toBe(4001);
    expect(billed(AWS, 4.0005)).toBe(5);
    expect(toMicros(16.0005)).toBe(16001);
    // Float noise from µs arithmetic (2 + 4e-16) is far below half a microsecond: 2000 µs → 2 ms.
    expect(toMicros(2.0000000000000004)).toBe(2000);
    expect(billed(AWS, 2.0000000000000004)).toBe(2);
    // 0.1 + 0.2 = 0.30000000000000004 → 300 µs → 1 ms.
    expect(billed(AWS, 0.1 + 0.2)).toBe(1);
  });

  it('never bills below the minimum: a 0 ms or 0.3 ms call bills 1 ms', () => {
    expect(billed(AWS, 0)).toBe(1);
    expect(billed(AWS, 0.3)).toBe(1);
    expect(billed(AWS, 0.0004)).toBe(1); // 0.4 µs → 0 µs → 0 ms → minimum 1
  });

  it('honours a 100 ms granularity with a 100 ms minimum', () => {
    const p = plan({ granularityMs: 100, minimumBilledMs: 100 });
    expect(billed(p, 1)).toBe(100);
    expect(billed(p, 100)).toBe(100);
    expect(billed(p, 100.001)).toBe(200); // 100001 µs / 100000 µs → ceil = 2 steps → 200 ms
    expect(billed(p, 250)).toBe(300);
    expect(billed(p, 299.9995)).toBe(300); // 299999.5 µs → 300000 µs → exactly 3 steps
  });

  it('honours a minimum above the granularity, and a zero minimum', () => {
    const p = plan({ granularityMs: 1, minimumBilledMs: 50 });
    expect(billed(p, 10.2)).toBe(50);
    expect(billed(p, 60.2)).toBe(61);
    expect(billed(plan({ granularityMs: 100, minimumBilledMs: 0 }), 0)).toBe(0);
  });

  it('multiplies memory by billed ms, as integers', () => {
    // 512 MB × ceil(120.4) = 512 × 121 = 61,952 MB·ms
    expect(meterCall(AWS, warm(120.4, 512))).toEqual({ billedMs: 121, initBilledMs: 0, mbMs: 61_952, initMbMs: 0, requests: 1 });
    // The contract's largest call still fits: 1,048,576 MB × 86,400,000 ms < 2^53.
    const huge = meterCall(AWS, warm(86_400_000, 1_048_576));
    expect(huge.mbMs).toBe(1_048_576 * 86_400_000);
    expect(Number.isSafeInteger(huge.mbMs)).toBe(true);
  });
});

describe('meterCall: init duration', () => {
  const cold = { durationMs: 50, initDurationMs: 250.2, cold: true, memoryMb: 512 };

  it('bills a cold call’s init time when the plan bills init (AWS default)', () => {
    // init 250.2 ms → 251 ms; 512 × 251 = 128,512 MB·ms. exec 50 ms → 512 × 50 = 25,600.
    expect(meterCall(AWS, cold)).toEqual({ billedMs: 50, initBilledMs: 251, mbMs: 25_600, initMbMs: 128_512, requests: 1 });
  });

  it('bills no init when the plan does not, for warm calls, or when no init duration is reported', () => {
    expect(meterCall(plan({ billInit: false }), cold)).toMatchObject({ initBilledMs: 0, initMbMs: 0, mbMs: 25_600 });
    expect(meterCall(AWS, { ...cold, cold: false })).toMatchObject({ initBilledMs: 0, initMbMs: 0 });
    expect(meterCall(AWS, { durationMs: 50, cold: true, memoryMb: 512 })).toMatchObject({ initBilledMs: 0, initMbMs: 0 });
  });

  it('applies the granularity and minimum to init as well', () => {
    const p = plan({ granularityMs: 100, minimumBilledMs: 100 });
    expect(meterCall(p, { ...cold, initDurationMs: 0.5 }).initBilledMs).toBe(100);
    expect(meterCall(p, cold).initBilledMs).toBe(300);
  });
});

describe('meterCall: bad input is a bug, not a bill', () => {
  it('throws on non-integer or non-positive memory and on negative or non-finite durations', () => {
    expect(() => meterCall(AWS, warm(1, 0))).toThrow(RangeError);
    expect(() => meterCall(AWS, warm(1, 1.5))).toThrow(RangeError);
    expect(() => meterCall(AWS, warm(-1))).toThrow(RangeError);
    expect(() => meterCall(AWS, warm(Number.NaN))).toThrow(RangeError);
    expect(() => meterCall(AWS, warm(Number.POSITIVE_INFINITY))).toThrow(RangeError);
  });
});

describe('toMicros: the float fast path agrees with exact decimal rounding', () => {
  const Exact = Decimal.clone({ precision: 60 });
  const reference = (ms: number) => new Exact(ms).times(1000).toDecimalPlaces(0, Decimal.ROUND_HALF_UP).toNumber();

  it('for any duration the contract allows', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 86_400_000, noNaN: true }), (ms) => toMicros(ms) === reference(ms)),
      { numRuns: 5_000 },
    );
  });

  it('for durations exactly half a microsecond off a whole one (the ties)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 86_400_000_000 }), (us) => {
        const ms = Number(`${us}.5e-3`); // (us + 0.5) µs written as decimal ms
        return toMicros(ms) === reference(ms) && toMicros(ms) === us + 1;
      }),
      { numRuns: 5_000 },
    );
  });

  it('for durations with at most three decimals (whole microseconds)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 86_400_000_000 }), (us) => toMicros(Number(`${us}e-3`)) === us),
      { numRuns: 5_000 },
    );
  });
});
