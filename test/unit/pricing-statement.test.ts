import { describe, expect, it } from 'vitest';
import type { Line, PeriodUsage, Plan, PlanInput, Statement } from '../../meter/pricing/index.ts';
import {
  addCall,
  AWS_LAMBDA_US_EAST_1 as AWS,
  emptyUsage,
  mbMsToGbSeconds,
  meterCall,
  parsePlan,
  priceStatement,
} from '../../meter/pricing/index.ts';

/** 1 GB-s = 1024 MB × 1000 ms. */
const MB_MS_PER_GB_S = 1_024_000n;

interface ArchSpec {
  execGbS?: bigint;
  initGbS?: bigint;
  idleGbS?: bigint;
  execMbMs?: bigint;
}

function usage(spec: { requests?: bigint; x86?: ArchSpec; arm?: ArchSpec } = {}): PeriodUsage {
  const u = emptyUsage();
  u.requests = spec.requests ?? 0n;
  for (const [arch, s] of [['x86_64', spec.x86], ['arm64', spec.arm]] as const) {
    if (!s) continue;
    u.arch[arch].execMbMs = s.execMbMs ?? (s.execGbS ?? 0n) * MB_MS_PER_GB_S;
    u.arch[arch].initMbMs = (s.initGbS ?? 0n) * MB_MS_PER_GB_S;
    u.arch[arch].provisionedIdleMbMs = (s.idleGbS ?? 0n) * MB_MS_PER_GB_S;
  }
  return u;
}

const price = (plan: Plan, u: PeriodUsage, period = '2025-09') => priceStatement({ plan, period, usage: u, adjustments: [] });

/** The lines as compact "kind arch tier: quantity × unitPrice = amount" rows, for whole-statement checks. */
const rows = (s: Statement) =>
  s.lines.map((l: Line) => `${[l.kind, l.arch, l.tier, l.period].filter((x) => x !== undefined).join(' ')}: ${l.quantity} × ${l.unitPrice} = ${l.amount}`);

const AWS_NO_FREE = parsePlan({ ...(AWS as PlanInput), freeAllowance: { requests: 0, gbSeconds: '0' } });

describe('priceStatement: the AWS default plan, worked by hand', () => {
  it('3M requests at 512 MB × 120 ms on x86 cost $0.40: the free allowance covers all compute', () => {
    // Each call: 512 MB × 120 ms = 61,440 MB·ms; 3,000,000 calls → 184,320,000,000 MB·ms.
    const u = emptyUsage();
    const q = meterCall(AWS, { durationMs: 120, cold: false, memoryMb: 512 });
    for (let i = 0; i < 3; i += 1) {
      // 1M identical calls at a time keep the test fast; addCall is checked call by call in the properties.
      u.requests += 1_000_000n;
      u.arch.x86_64.execMbMs += BigInt(q.mbMs) * 1_000_000n;
    }
    const s = price(AWS, u);
    // requests: 3,000,000 × 0.0000002 = 0.60; free: −1,000,000 × 0.0000002 = −0.20
    // GB-s: 184,320,000,000 / 1,024,000 = 180,000 (= 3e6 × 0.5 GB × 0.12 s) × 0.0000166667 = 3.000006 → 3.00
    // free GB-s: 400,000 allowed, 180,000 used → −180,000 × 0.0000166667 = −3.000006 → −3.00
    // total: 0.60 − 0.20 + 3.00 − 3.00 = 0.40
    expect(s).toEqual({
      currency: 'USD',
      period: '2025-09',
      lines: [
        { kind: 'requests', quantity: '3000000', unit: 'requests', unitPrice: '0.0000002', amount: '0.60', amountExact: '0.6' },
        { kind: 'free_requests', quantity: '-1000000', unit: 'requests', unitPrice: '0.0000002', amount: '-0.20', amountExact: '-0.2' },
        { kind: 'compute', arch: 'x86_64', tier: 1, quantity: '180000', unit: 'GB-s', unitPrice: '0.0000166667', amount: '3.00', amountExact: '3.000006' },
        { kind: 'free_compute', arch: 'x86_64', tier: 1, quantity: '-180000', unit: 'GB-s', unitPrice: '0.0000166667', amount: '-3.00', amountExact: '-3.000006' },
      ],
      subtotal: '0.40',
      total: '0.40',
    });
  });

  it('a large tenant crossing the 6B GB-s x86 tier boundary pays tier 2 on the excess, exactly (bigint MB·ms)', () => {
    // 9,001,000,000 GB-s plus one MB·ms: 9,001,000,000 × 1,024,000 + 1 = 9,217,024,000,000,001 MB·ms (> 2^53).
    const execMbMs = 9_001_000_000n * MB_MS_PER_GB_S + 1n;
    expect(execMbMs).toBe(9_217_024_000_000_001n);
    expect(execMbMs > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(BigInt(Number(execMbMs))).not.toBe(execMbMs); // a float would already have lost the 1
    const s = price(AWS, usage({ requests: 10_000_000_000n, x86: { execMbMs } }));
    // 1 MB·ms = 1/1,024,000 GB-s = 0.0000009765625 GB-s, so GB-s = 9,001,000,000.0000009765625
    expect(mbMsToGbSeconds(execMbMs)).toBe('9001000000.0000009765625');
    expect(rows(s)).toEqual([
      'requests: 10000000000 × 0.0000002 = 2000.00', // 10B × 0.0000002 = 2,000
      'free_requests: -1000000 × 0.0000002 = -0.20',
      'compute x86_64 1: 6000000000 × 0.0000166667 = 100000.20', // 6e9 × 0.0000166667 = 100,000.2
      'compute x86_64 2: 3001000000.0000009765625 × 0.000015 = 45015.00', // the excess over 6B at tier 2
      'free_compute x86_64 1: -400000 × 0.0000166667 = -6.67', // 400,000 × 0.0000166667 = 6.66668
    ]);
    // 3,001,000,000.0000009765625 × 0.000015 = 45,015 + 0.0000000000146484375: exact, not a float.
    expect(s.lines[3]!.amountExact).toBe('45015.0000000000146484375');
    // 2000.00 − 0.20 + 100000.20 + 45015.00 − 6.67 = 147,008.33
    expect(s.total).toBe('147008.33');
  });

  it('arm64 climbs its own three tiers (7.5B, next 11.25B, beyond), rounding x.xx5 half up', () => {
    const s = price(AWS, usage({ arm: { execGbS: 20_000_000_000n } }));
    expect(rows(s)).toEqual([
      'requests: 0 × 0.0000002 = 0.00',
      'compute arm64 1: 7500000000 × 0.0000133334 = 100000.50', // 7.5e9 × 0.0000133334 = 100,000.5
      'compute arm64 2: 11250000000 × 0.0000120001 = 135001.13', // 11.25e9 × 0.0000120001 = 135,001.125 → .13
      'compute arm64 3: 1250000000 × 0.0000106667 = 13333.38', // 1.25e9 × 0.0000106667 = 13,333.375 → .38
      // no x86 usage: the free 400,000 GB-s come from arm64 tier 1: 400,000 × 0.0000133334 = 5.33336
      'free_compute arm64 1: -400000 × 0.0000133334 = -5.33',
    ]);
    expect(s.lines[2]!.amountExact).toBe('135001.125');
    expect(s.lines[3]!.amountExact).toBe('13333.375');
    // 100000.50 + 135001.13 + 13333.38 − 5.33 = 248,329.68
    expect(s.total).toBe('248329.68');
  });
});

describe('priceStatement: init', () => {
  it('init GB-s continue on the exec ladder, as separate init lines', () => {
    const p = parsePlan({
      ...(AWS_NO_FREE as PlanInput),
      computePrices: {
        x86_64: [
          { upToGbSeconds: '1000000', pricePerGbSecond: '0.00002' },
          { upToGbSeconds: null, pricePerGbSecond: '0.00001' },
        ],
        arm64: [{ upToGbSeconds: null, pricePerGbSecond: '0.00001' }],
      },
    });
    const s = price(p, usage({ x86: { execGbS: 800_000n, initGbS: 500_000n } }));
    expect(rows(s)).toEqual([
      'requests: 0 × 0.0000002 = 0.00',
      'compute x86_64 1: 800000 × 0.00002 = 16.00', // exec fills tier 1 up to 800,000
      'init x86_64 1: 200000 × 0.00002 = 4.00', // init takes the rest of tier 1 (to 1,000,000)…
      'init x86_64 2: 300000 × 0.00001 = 3.00', // …and the remaining 300,000 go to tier 2
    ]);
    expect(s.total).toBe('23.00');
  });

  it('billed vs not billed: 1M cold calls of 256 MB, 50 ms exec and 400.4 ms init', () => {
    const call = { durationMs: 50, initDurationMs: 400.4, cold: true, memoryMb: 256 };
    const statementFor = (plan: Plan) => {
      const q = meterCall(plan, call);
      const u = emptyUsage();
      u.requests = 1_000_000n;
      u.arch.x86_64.execMbMs = BigInt(q.mbMs) * 1_000_000n;
      u.arch.x86_64.initMbMs = BigInt(q.initMbMs) * 1_000_000n;
      return price(plan, u);
    };
    // exec: 256 × 50 = 12,800 MB·ms × 1M = 12,800,000,000 / 1,024,000 = 12,500 GB-s × 0.0000166667 = 0.20833375 → 0.21
    // init: 400.4 → 401 ms; 256 × 401 = 102,656 MB·ms × 1M = 102,656,000,000 / 1,024,000 = 100,250 GB-s
    //       × 0.0000166667 = 1.670836675 → 1.67
    // requests: 1,000,000 × 0.0000002 = 0.20
    const billed = statementFor(AWS_NO_FREE);
    expect(rows(billed)).toEqual([
      'requests: 1000000 × 0.0000002 = 0.20',
      'compute x86_64 1: 12500 × 0.0000166667 = 0.21',
      'init x86_64 1: 100250 × 0.0000166667 = 1.67',
    ]);
    expect(billed.total).toBe('2.08'); // 0.20 + 0.21 + 1.67
    const notBilled = statementFor(parsePlan({ ...(AWS_NO_FREE as PlanInput), billInit: false }));
    expect(rows(notBilled)).toEqual(['requests: 1000000 × 0.0000002 = 0.20', 'compute x86_64 1: 12500 × 0.0000166667 = 0.21']);
    expect(notBilled.total).toBe('0.41');
  });
});

describe('priceStatement: free allowance', () => {
  it('free GB-s go to x86_64 first, then arm64, at tier-1 prices, never more than the usage', () => {
    const s = price(AWS, usage({ x86: { execGbS: 100_000n }, arm: { execGbS: 500_000n } }));
    expect(rows(s)).toEqual([
      'requests: 0 × 0.0000002 = 0.00',
      'compute x86_64 1: 100000 × 0.0000166667 = 1.67', // 1.66667
      'free_compute x86_64 1: -100000 × 0.0000166667 = -1.67', // all 100,000 x86 GB-s are free…
      'compute arm64 1: 500000 × 0.0000133334 = 6.67', // 6.6667
      'free_compute arm64 1: -300000 × 0.0000133334 = -4.00', // …and the other 300,000 of 400,000 come off arm64 (4.00002)
    ]);
    expect(s.total).toBe('2.67'); // 1.67 − 1.67 + 6.67 − 4.00
  });

  it('usage inside the allowance totals exactly 0.00, never a negative cent from separate rounding', () => {
    // exec 240 GB-s × 0.0000166667 = 0.004000008 → 0.00; init the same → 0.00; one credit for
    // 480 GB-s would be 0.008000016 → 0.01, which would leave the tenant owed −0.01.
    const s = price(AWS, usage({ x86: { execGbS: 240n, initGbS: 240n } }));
    expect(rows(s)).toContain('free_compute x86_64 1: -480 × 0.0000166667 = 0.00');
    expect(s.total).toBe('0.00');
  });

  it('free requests are capped at the requests made', () => {
    const s = price(AWS, usage({ requests: 250_000n }));
    expect(rows(s)).toEqual(['requests: 250000 × 0.0000002 = 0.05', 'free_requests: -250000 × 0.0000002 = -0.05']);
    expect(s.total).toBe('0.00');
  });

  it('free GB-s climb the ladder when tier 1 is smaller than the allowance', () => {
    const p = parsePlan({
      ...(AWS as PlanInput),
      computePrices: {
        x86_64: [
          { upToGbSeconds: '100000', pricePerGbSecond: '0.00002' },
          { upToGbSeconds: null, pricePerGbSecond: '0.00001' },
        ],
        arm64: [{ upToGbSeconds: null, pricePerGbSecond: '0.00001' }],
      },
    });
    const s = price(p, usage({ x86: { execGbS: 250_000n } }));
    expect(rows(s)).toEqual([
      'requests: 0 × 0.0000002 = 0.00',
      'compute x86_64 1: 100000 × 0.00002 = 2.00',
      'compute x86_64 2: 150000 × 0.00001 = 1.50',
      'free_compute x86_64 1: -100000 × 0.00002 = -2.00',
      'free_compute x86_64 2: -150000 × 0.00001 = -1.50',
    ]);
    expect(s.total).toBe('0.00');
  });

  it('provisioned idle time is priced at the idle price, with no tiers and no free allowance', () => {
    // x86: 2 instances × 1024 MB idle for 1,000,000 s = 2,048,000,000,000 MB·ms = 2,000,000 GB-s
    //      × 0.0000041667 = 8.3334 → 8.33
    // arm: 512 MB idle for 1 hour = 1,843,200,000 MB·ms = 1,800 GB-s × 0.0000033334 = 0.00600012 → 0.01
    const u = emptyUsage();
    u.arch.x86_64.provisionedIdleMbMs = 2n * 1024n * 1_000_000_000n;
    u.arch.arm64.provisionedIdleMbMs = 512n * 3_600_000n;
    const s = price(AWS, u);
    expect(rows(s)).toEqual([
      'requests: 0 × 0.0000002 = 0.00',
      'provisioned_idle x86_64: 2000000 × 0.0000041667 = 8.33',
      'provisioned_idle arm64: 1800 × 0.0000033334 = 0.01',
    ]);
    expect(s.total).toBe('8.34');
  });
});

describe('priceStatement: adjustments for late usage', () => {
  // August was closed having billed 2,000,000 requests and 5,999,900,000 x86 GB-s: 100,000 GB-s
  // below the 6B tier boundary. 200,000 GB-s and 10,000 requests of August arrive in September.
  const prior = usage({ requests: 2_000_000n, x86: { execGbS: 5_999_900_000n } });
  const late = usage({ requests: 10_000n, x86: { execGbS: 200_000n } });

  it('prices late usage as an increment on the closed period, crossing its tier boundary', () => {
    const s = priceStatement({ plan: AWS, period: '2025-09', usage: emptyUsage(), adjustments: [{ period: '2025-08', usage: late, priorUsage: prior }] });
    // August as billed: requests 2,000,000 × 0.0000002 = 0.40; free −0.20;
    //   compute 5,999,900,000 × 0.0000166667 = 99,998.53333 → 99,998.53; free −6.66668 → −6.67
    //   subtotal 0.40 − 0.20 + 99,998.53 − 6.67 = 99,992.06
    // August with the late usage: requests 2,010,000 × 0.0000002 = 0.402 → 0.40; free −0.20;
    //   tier 1 6,000,000,000 × 0.0000166667 = 100,000.20; tier 2 100,000 × 0.000015 = 1.50; free −6.67
    //   subtotal 0.40 − 0.20 + 100,000.20 + 1.50 − 6.67 = 99,995.23
    // adjustment = 99,995.23 − 99,992.06 = 3.17
    // exact: 10,000 × 0.0000002 + 100,000 × 0.0000166667 + 100,000 × 0.000015 = 0.002 + 1.66667 + 1.5 = 3.16867
    expect(s.lines).toEqual([
      { kind: 'requests', quantity: '0', unit: 'requests', unitPrice: '0.0000002', amount: '0.00', amountExact: '0' },
      { kind: 'adjustment', period: '2025-08', quantity: '10000', unit: 'requests', unitPrice: null, amount: '3.17', amountExact: '3.16867' },
    ]);
    expect(s.total).toBe('3.17');
    expect(price(AWS, prior, '2025-08').total).toBe('99992.06');
    // Priced on its own, the late usage would have been free (inside the allowance): 0.00.
    expect(price(AWS, late, '2025-08').total).toBe('0.00');
  });

  it('adds one line per period, oldest first, after the current period’s lines', () => {
    const s = priceStatement({
      plan: AWS,
      period: '2025-09',
      usage: usage({ requests: 2_000_000n }),
      adjustments: [
        { period: '2025-08', usage: late, priorUsage: prior },
        { period: '2025-06', usage: usage({ requests: 5_000_000n }), priorUsage: usage({ requests: 1_000_000n }) },
      ],
    });
    // June: 1M requests already billed (all free); 5M more × 0.0000002 = 1.00 (no allowance left)
    expect(rows(s)).toEqual([
      'requests: 2000000 × 0.0000002 = 0.40',
      'free_requests: -1000000 × 0.0000002 = -0.20',
      'adjustment 2025-06: 5000000 × null = 1.00',
      'adjustment 2025-08: 10000 × null = 3.17',
    ]);
    expect(s.total).toBe('4.37'); // 0.40 − 0.20 + 1.00 + 3.17
  });

  it('rejects adjustments for the same or a later period, and two for one period', () => {
    const adj = { period: '2025-09', usage: late, priorUsage: prior };
    expect(() => priceStatement({ plan: AWS, period: '2025-09', usage: emptyUsage(), adjustments: [adj] })).toThrow(/must be earlier/);
    const aug = { ...adj, period: '2025-08' };
    expect(() => priceStatement({ plan: AWS, period: '2025-09', usage: emptyUsage(), adjustments: [aug, aug] })).toThrow(/appears twice/);
  });
});

describe('priceStatement: rounding and exactness', () => {
  const noFree = (overrides: Partial<PlanInput> = {}) => parsePlan({ ...(AWS_NO_FREE as PlanInput), ...overrides });

  it('rounds an exact x.xx5 half up, and a credit of x.xx5 half away from zero', () => {
    // 25,000 × 0.0000002 = 0.005 exactly → 0.01; 24,995 × 0.0000002 = 0.004999 → 0.00
    expect(price(noFree(), usage({ requests: 25_000n })).lines[0]).toMatchObject({ amount: '0.01', amountExact: '0.005' });
    expect(price(noFree(), usage({ requests: 24_995n })).lines[0]).toMatchObject({ amount: '0.00', amountExact: '0.004999' });
    // With the AWS allowance the credit mirrors the charge: 0.01 − 0.01 = 0.00
    const s = price(AWS, usage({ requests: 25_000n }));
    expect(rows(s)).toEqual(['requests: 25000 × 0.0000002 = 0.01', 'free_requests: -25000 × 0.0000002 = -0.01']);
    expect(s.total).toBe('0.00');
  });

  it('rounds line by line: the subtotal is the sum of rounded lines, not the rounded exact sum', () => {
    // two lines of exactly 0.005 each: 0.01 + 0.01 = 0.02 (the exact sum 0.01 would round to 0.01)
    const p = noFree({ provisionedIdlePricePerGbSecond: { x86_64: '0.000005', arm64: '0.000005' } });
    const s = price(p, usage({ x86: { idleGbS: 1000n }, arm: { idleGbS: 1000n } }));
    expect(s.lines.slice(1).map((l) => [l.amount, l.amountExact])).toEqual([
      ['0.01', '0.005'],
      ['0.01', '0.005'],
    ]);
    expect(s.total).toBe('0.02');
  });

  it('writes amounts with the currency’s minor units: 2 for USD, 0 when configured so', () => {
    const jpy = noFree({ currency: 'JPY', minorUnits: 0, requestPrice: '0.00003' });
    const s = price(jpy, usage({ requests: 50_000n })); // 50,000 × 0.00003 = 1.5 → 2
    expect(s).toMatchObject({ currency: 'JPY', total: '2', lines: [{ amount: '2', amountExact: '1.5' }] });
    expect(price(AWS, usage({ requests: 61_500_000n })).total).toBe('12.10'); // 61.5M × 0.0000002 = 12.3; − 0.20 free
  });

  it('refuses to round silently when a figure would exceed 60 significant digits', () => {
    // 10^50 + 1 MB·ms has 51 digits; × 0.0000009765625 (7) = 58; × 0.0000166667 (6) = 64 > 60
    const huge = usage({ x86: { execMbMs: 10n ** 50n + 1n } });
    expect(() => price(AWS, huge)).toThrow(/more than 60 significant digits/);
  });

  it('rejects malformed usage and periods', () => {
    const negative = usage({ requests: -1n });
    expect(() => price(AWS, negative)).toThrow(/usage\.requests must be a bigint ≥ 0/);
    const floaty = emptyUsage() as unknown as { arch: { arm64: { initMbMs: unknown } } };
    floaty.arch.arm64.initMbMs = 1.5;
    expect(() => price(AWS, floaty as unknown as PeriodUsage)).toThrow(/usage\.arch\.arm64\.initMbMs must be a bigint/);
    expect(() => price(AWS, emptyUsage(), '2025-13')).toThrow(/period must be 'YYYY-MM'/);
  });

  it('an empty period bills only a zero requests line', () => {
    expect(price(AWS, emptyUsage())).toEqual({
      currency: 'USD',
      period: '2025-09',
      lines: [{ kind: 'requests', quantity: '0', unit: 'requests', unitPrice: '0.0000002', amount: '0.00', amountExact: '0' }],
      subtotal: '0.00',
      total: '0.00',
    });
  });
});

describe('addCall', () => {
  it('adds one metered call to the usage of its architecture', () => {
    const u = emptyUsage();
    addCall(u, 'arm64', meterCall(AWS, { durationMs: 10, initDurationMs: 5, cold: true, memoryMb: 128 }));
    addCall(u, 'x86_64', meterCall(AWS, { durationMs: 1, cold: false, memoryMb: 1024 }));
    expect(u).toEqual({
      requests: 2n,
      arch: {
        x86_64: { execMbMs: 1024n, initMbMs: 0n, provisionedIdleMbMs: 0n },
        arm64: { execMbMs: 1280n, initMbMs: 640n, provisionedIdleMbMs: 0n },
      },
    });
  });
});
