import { describe, expect, it } from 'vitest';
import { AWS_LAMBDA_US_EAST_1 as AWS, costAtMemory, DEFAULT_MEMORY_SIZES, suggestMemory } from '../../meter/pricing/index.ts';

describe('costAtMemory', () => {
  it('prices the same billed ms at another memory size, at the tier-1 price', () => {
    // 1,000,000,000 billed ms × 1024 MB = 1.024e12 MB·ms = 1,000,000 GB-s × 0.0000166667 = 16.6667 → 16.67
    expect(costAtMemory(AWS, { arch: 'x86_64', billedMs: 1_000_000_000n }, 1024)).toEqual({
      memoryMb: 1024,
      currency: 'USD',
      gbSeconds: '1000000',
      unitPrice: '0.0000166667',
      cost: '16.67',
      costExact: '16.6667',
    });
    // half the memory: 500,000 GB-s × 0.0000166667 = 8.33335 → 8.33
    expect(costAtMemory(AWS, { arch: 'x86_64', billedMs: 1_000_000_000n }, 512)).toMatchObject({ cost: '8.33', costExact: '8.33335' });
    // arm64 at 2048 MB: 2,000,000 GB-s × 0.0000133334 = 26.6668 → 26.67
    expect(costAtMemory(AWS, { arch: 'arm64', billedMs: 1_000_000_000n }, 2048)).toMatchObject({ gbSeconds: '2000000', cost: '26.67' });
  });

  it('ignores tiers: usage past the 6B GB-s boundary is still priced at tier 1', () => {
    // 10^13 ms × 1024 MB = 10^10 GB-s × 0.0000166667 = 166,667
    expect(costAtMemory(AWS, { arch: 'x86_64', billedMs: 10_000_000_000_000n }, 1024)).toMatchObject({ cost: '166667.00' });
  });

  it('keeps fractional GB-s exact: 1 ms at 128 MB = 0.125 GB-s / 1000 = 0.000125 GB-s', () => {
    expect(costAtMemory(AWS, { arch: 'x86_64', billedMs: 1n }, 128)).toMatchObject({
      gbSeconds: '0.000125',
      costExact: '0.0000000020833375', // 0.000125 × 0.0000166667
      cost: '0.00',
    });
  });

  it('rejects a non-integer memory size and negative billed ms', () => {
    expect(() => costAtMemory(AWS, { arch: 'x86_64', billedMs: 1n }, 0)).toThrow(RangeError);
    expect(() => costAtMemory(AWS, { arch: 'x86_64', billedMs: 1n }, 1.5)).toThrow(RangeError);
    expect(() => costAtMemory(AWS, { arch: 'x86_64', billedMs: -1n }, 128)).toThrow(RangeError);
  });
});

describe('suggestMemory', () => {
  it('picks the smallest size holding the peak plus 20% headroom', () => {
    expect(suggestMemory(100)).toBe(128); // 120 ≤ 128
    expect(suggestMemory(213)).toBe(256); // 255.6 ≤ 256
    expect(suggestMemory(214)).toBe(512); // 256.8 > 256
    expect(suggestMemory(0)).toBe(128);
    expect(DEFAULT_MEMORY_SIZES).toEqual([128, 256, 512, 1024, 1536, 2048, 3008, 4096, 10240]);
  });

  it('compares peak × headroom exactly (100 × 1.1 is 110, not the float 110.00000000000001)', () => {
    expect(100 * 1.1).toBeGreaterThan(110);
    expect(suggestMemory(100, [110, 128], 1.1)).toBe(110);
    expect(suggestMemory(1024, [1280, 1536], 1.25)).toBe(1280);
  });

  it('caps at the largest size when the headroom cannot be met, and gives null when even the peak does not fit', () => {
    expect(suggestMemory(9000)).toBe(10240); // 10,800 > 10,240 but 9,000 fits
    expect(suggestMemory(11_000)).toBeNull();
  });

  it('accepts sizes in any order and validates its inputs', () => {
    expect(suggestMemory(300, [1024, 512, 256])).toBe(512);
    expect(() => suggestMemory(100, [], 1.2)).toThrow(RangeError);
    expect(() => suggestMemory(100, [128], 0.9)).toThrow(RangeError);
    expect(() => suggestMemory(-1)).toThrow(RangeError);
  });
});
