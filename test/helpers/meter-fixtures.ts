import type { PricingConfigInput } from '../../meter/pricing/index.ts';
import type { RefPlan } from './reference-billing.ts';

/**
 * Three plans that exercise every pricing rule on a test-sized workload: small tiers that the
 * workload crosses, a free allowance it exceeds, coarse granularity with a minimum and unbilled
 * init, and the AWS default (where a small tenant's usage is all free).
 */
export const TEST_TENANTS = ['acme', 'globex', 'initech'];

export const TEST_PRICING: PricingConfigInput = {
  defaultPlan: 'aws',
  tenants: { acme: 'small-tiers', globex: 'coarse', initech: 'aws' },
  plans: {
    'small-tiers': {
      currency: 'USD',
      requestPrice: '0.0000213',
      computePrices: {
        x86_64: [
          { upToGbSeconds: '2000', pricePerGbSecond: '0.00166667' },
          { upToGbSeconds: '5000', pricePerGbSecond: '0.0015' },
          { upToGbSeconds: null, pricePerGbSecond: '0.00133334' },
        ],
        arm64: [
          { upToGbSeconds: '1500', pricePerGbSecond: '0.00133334' },
          { upToGbSeconds: null, pricePerGbSecond: '0.00120001' },
        ],
      },
      granularityMs: 1,
      minimumBilledMs: 1,
      billInit: true,
      freeAllowance: { requests: 1000, gbSeconds: '100' },
      provisionedIdlePricePerGbSecond: { x86_64: '0.0000041667', arm64: '0.0000033334' },
    },
    coarse: {
      currency: 'USD',
      requestPrice: '0.0000317',
      computePrices: {
        x86_64: [{ upToGbSeconds: null, pricePerGbSecond: '0.0021' }],
        arm64: [{ upToGbSeconds: null, pricePerGbSecond: '0.0017' }],
      },
      granularityMs: 100,
      minimumBilledMs: 100,
      billInit: false,
      provisionedIdlePricePerGbSecond: { x86_64: '0.0000041667', arm64: '0.0000033334' },
    },
    aws: {
      currency: 'USD',
      requestPrice: '0.0000002',
      computePrices: {
        x86_64: [
          { upToGbSeconds: '6000000000', pricePerGbSecond: '0.0000166667' },
          { upToGbSeconds: '15000000000', pricePerGbSecond: '0.000015' },
          { upToGbSeconds: null, pricePerGbSecond: '0.0000133334' },
        ],
        arm64: [
          { upToGbSeconds: '7500000000', pricePerGbSecond: '0.0000133334' },
          { upToGbSeconds: '18750000000', pricePerGbSecond: '0.0000120001' },
          { upToGbSeconds: null, pricePerGbSecond: '0.0000106667' },
        ],
      },
      granularityMs: 1,
      minimumBilledMs: 1,
      billInit: true,
      freeAllowance: { requests: 1_000_000, gbSeconds: '400000' },
      provisionedIdlePricePerGbSecond: { x86_64: '0.0000041667', arm64: '0.0000033334' },
    },
  },
};

/** The same plans, written out again by hand for the reference computation. */
export const REFERENCE_PLANS: Record<string, RefPlan> = {
  acme: {
    requestPrice: '0.0000213',
    tiers: {
      x86_64: [
        { upTo: '2000', price: '0.00166667' },
        { upTo: '5000', price: '0.0015' },
        { upTo: null, price: '0.00133334' },
      ],
      arm64: [
        { upTo: '1500', price: '0.00133334' },
        { upTo: null, price: '0.00120001' },
      ],
    },
    granularityMs: 1,
    minimumMs: 1,
    billInit: true,
    freeRequests: 1000,
    freeGbS: '100',
  },
  globex: {
    requestPrice: '0.0000317',
    tiers: { x86_64: [{ upTo: null, price: '0.0021' }], arm64: [{ upTo: null, price: '0.0017' }] },
    granularityMs: 100,
    minimumMs: 100,
    billInit: false,
    freeRequests: 0,
    freeGbS: '0',
  },
  initech: {
    requestPrice: '0.0000002',
    tiers: {
      x86_64: [
        { upTo: '6000000000', price: '0.0000166667' },
        { upTo: '15000000000', price: '0.000015' },
        { upTo: null, price: '0.0000133334' },
      ],
      arm64: [
        { upTo: '7500000000', price: '0.0000133334' },
        { upTo: '18750000000', price: '0.0000120001' },
        { upTo: null, price: '0.0000106667' },
      ],
    },
    granularityMs: 1,
    minimumMs: 1,
    billInit: true,
    freeRequests: 1_000_000,
    freeGbS: '400000',
  },
};
