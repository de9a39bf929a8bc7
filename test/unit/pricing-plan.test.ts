import { fileURLToPath } from 'node:url';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../common/config.ts';
import type { PlanInput, PricingConfigInput } from '../../meter/pricing/index.ts';
import {
  AWS_LAMBDA_US_EAST_1,
  AWS_LAMBDA_US_EAST_1_ID,
  DEFAULT_PRICING_CONFIG,
  loadPricingConfig,
  parsePricingConfig,
  planFor,
  PricingConfigError,
} from '../../meter/pricing/index.ts';

const EXAMPLE = fileURLToPath(new URL('../../deploy/config/plans.example.json', import.meta.url));

function basicPlan(): PlanInput {
  return {
    currency: 'USD',
    requestPrice: '0.0000002',
    computePrices: {
      x86_64: [
        { upToGbSeconds: '1000', pricePerGbSecond: '0.00002' },
        { upToGbSeconds: null, pricePerGbSecond: '0.00001' },
      ],
      arm64: [
        { upToGbSeconds: '1000', pricePerGbSecond: '0.000016' },
        { upToGbSeconds: null, pricePerGbSecond: '0.000008' },
      ],
    },
    provisionedIdlePricePerGbSecond: { x86_64: '0.000004', arm64: '0.000003' },
  };
}

interface LooseConfig {
  plans: Record<string, Record<string, unknown>>;
  tenants: Record<string, unknown>;
  defaultPlan: unknown;
}

function config(mutate: (c: LooseConfig) => void = () => {}): LooseConfig {
  const c: LooseConfig = { plans: { basic: basicPlan() }, tenants: { acme: 'basic' }, defaultPlan: 'basic' };
  mutate(c);
  return c;
}

/** The issues of an invalid config as "field: message" strings. */
function issuesOf(input: unknown): string[] {
  try {
    parsePricingConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(PricingConfigError);
    expect(error).toBeInstanceOf(ConfigError);
    return (error as PricingConfigError).issues.map((i) => `${i.field}: ${i.message}`);
  }
  throw new Error('expected the config to be rejected');
}

const tiers = (c: LooseConfig, arch: 'x86_64' | 'arm64') =>
  (c.plans.basic!.computePrices as Record<string, Array<Record<string, unknown>>>)[arch]!;

describe('the built-in AWS Lambda us-east-1 plan', () => {
  it('has exactly the prices ARCHITECTURE.md lists (plus AWS third Arm tier)', () => {
    const p = AWS_LAMBDA_US_EAST_1;
    expect(p.currency).toBe('USD');
    expect(p.minorUnits).toBe(2);
    // $0.20 per 1M requests → 0.20 / 1,000,000 = 0.0000002 per request.
    expect(p.requestPrice).toBe('0.0000002');
    expect(p.computePrices.x86_64).toEqual([
      { upToGbSeconds: '6000000000', pricePerGbSecond: '0.0000166667' }, // first 6B
      { upToGbSeconds: '15000000000', pricePerGbSecond: '0.000015' }, // next 9B: 6B + 9B = 15B
      { upToGbSeconds: null, pricePerGbSecond: '0.0000133334' }, // beyond
    ]);
    expect(p.computePrices.arm64).toEqual([
      { upToGbSeconds: '7500000000', pricePerGbSecond: '0.0000133334' }, // first 7.5B
      { upToGbSeconds: '18750000000', pricePerGbSecond: '0.0000120001' }, // next 11.25B: 7.5B + 11.25B = 18.75B
      { upToGbSeconds: null, pricePerGbSecond: '0.0000106667' }, // beyond
    ]);
    expect(p.freeAllowance).toEqual({ requests: 1_000_000, gbSeconds: '400000' });
    expect(p.provisionedIdlePricePerGbSecond).toEqual({ x86_64: '0.0000041667', arm64: '0.0000033334' });
    expect(p.granularityMs).toBe(1);
    expect(p.minimumBilledMs).toBe(1);
    expect(p.billInit).toBe(true);
    expect(p.period).toBe('month');
  });

  it('is what loadPricingConfig returns without a path, deeply frozen, for every tenant', () => {
    const c = loadPricingConfig();
    expect(c).toBe(DEFAULT_PRICING_CONFIG);
    expect(c.defaultPlan).toBe(AWS_LAMBDA_US_EAST_1_ID);
    expect(planFor(c, 'anyone')).toEqual({ planId: AWS_LAMBDA_US_EAST_1_ID, plan: AWS_LAMBDA_US_EAST_1, listed: false });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.plans[AWS_LAMBDA_US_EAST_1_ID]!.computePrices.x86_64[0])).toBe(true);
    expect(Object.isFrozen(AWS_LAMBDA_US_EAST_1.freeAllowance)).toBe(true);
  });
});

describe('deploy/config/plans.example.json', () => {
  it('loads, validates and assigns tenants to its two plans; unlisted tenants get the default plan', () => {
    const c = loadPricingConfig(EXAMPLE);
    expect(Object.keys(c.plans).sort()).toEqual(['aws-lambda-us-east-1', 'internal-eu']);
    expect(c.plans['aws-lambda-us-east-1']).toEqual(AWS_LAMBDA_US_EAST_1);
    expect(planFor(c, 'platform-team')).toMatchObject({ planId: 'internal-eu', listed: true });
    expect(planFor(c, 'acme')).toMatchObject({ planId: 'aws-lambda-us-east-1', listed: true });
    expect(planFor(c, 'stranger')).toMatchObject({ planId: 'aws-lambda-us-east-1', listed: false });
    const eu = planFor(c, 'data-science').plan;
    // Fields left out of the file take their defaults.
    expect(eu.minorUnits).toBe(2);
    expect(eu.period).toBe('month');
    expect(eu.granularityMs).toBe(100);
    expect(eu.billInit).toBe(false);
    expect(Object.isFrozen(eu.computePrices.arm64)).toBe(true);
  });
});

describe('pricing config validation names the field', () => {
  it('accepts the minimal valid config and fills defaults matching AWS', () => {
    const c = parsePricingConfig(config());
    const p = c.plans.basic!;
    expect(p.granularityMs).toBe(1);
    expect(p.minimumBilledMs).toBe(1);
    expect(p.billInit).toBe(true);
    expect(p.minorUnits).toBe(2);
    expect(p.freeAllowance).toEqual({ requests: 0, gbSeconds: '0' });
    expect(p.period).toBe('month');
  });

  it('rejects a price that is not a decimal string, naming plans.<id>.computePrices.<arch>[i].pricePerGbSecond', () => {
    for (const bad of ['abc', '1e-5', '-0.1', '.5', '0.', ' 1', 0.00002, null]) {
      const c = config((x) => {
        tiers(x, 'arm64')[1]!.pricePerGbSecond = bad;
      });
      expect(issuesOf(c)).toEqual([
        'plans.basic.computePrices.arm64[1].pricePerGbSecond: must be a decimal string such as "0.0000166667"',
      ]);
    }
  });

  it('rejects tiers that are not strictly ascending', () => {
    const c = config((x) => {
      tiers(x, 'x86_64').splice(1, 0, { upToGbSeconds: '999.5', pricePerGbSecond: '0.00001' });
    });
    expect(issuesOf(c)).toEqual([
      "plans.basic.computePrices.x86_64[1].upToGbSeconds: must be greater than the previous tier's bound (1000): bounds are cumulative and ascending",
    ]);
    const equal = config((x) => {
      tiers(x, 'x86_64').splice(1, 0, { upToGbSeconds: '1000.000', pricePerGbSecond: '0.00001' });
    });
    expect(issuesOf(equal)[0]).toMatch(/^plans\.basic\.computePrices\.x86_64\[1\]\.upToGbSeconds: must be greater/);
  });

  it('allows only the last tier to be unbounded, and requires it to be', () => {
    const middle = config((x) => {
      tiers(x, 'x86_64')[0]!.upToGbSeconds = null;
    });
    expect(issuesOf(middle)).toEqual(['plans.basic.computePrices.x86_64[0].upToGbSeconds: only the last tier may be unbounded (null)']);
    const bounded = config((x) => {
      tiers(x, 'arm64')[1]!.upToGbSeconds = '5000';
    });
    expect(issuesOf(bounded)).toEqual(['plans.basic.computePrices.arm64[1].upToGbSeconds: must be null: the last tier is unbounded']);
    const empty = config((x) => {
      tiers(x, 'arm64').length = 0;
    });
    expect(issuesOf(empty)).toEqual(['plans.basic.computePrices.arm64: must have at least one tier']);
    const zero = config((x) => {
      tiers(x, 'arm64')[0]!.upToGbSeconds = '0.000';
    });
    expect(issuesOf(zero)).toEqual(['plans.basic.computePrices.arm64[0].upToGbSeconds: must be greater than 0']);
  });

  it('requires every tenant plan and the default plan to exist', () => {
    const c = config((x) => {
      x.tenants.globex = 'gold';
      x.defaultPlan = 'silver';
    });
    expect(issuesOf(c)).toEqual([
      'defaultPlan: names plan "silver", which plans does not define',
      'tenants.globex: names plan "gold", which plans does not define',
    ]);
  });

  it('quotes map keys that are not identifiers', () => {
    const c = config((x) => {
      x.tenants['team.a'] = 'nope';
    });
    expect(issuesOf(c)).toEqual(['tenants["team.a"]: names plan "nope", which plans does not define']);
  });

  it('rejects integers out of range, bad currencies, booleans, periods and unknown fields', () => {
    const c = config((x) => {
      const p = x.plans.basic!;
      p.granularityMs = 0;
      p.minimumBilledMs = 1.5;
      p.currency = 'usd';
      p.billInit = 'yes';
      p.period = 'week';
      p.granularityMS = 100;
      p.freeAllowance = { requests: -1, gbSeconds: '400000' };
    });
    expect(issuesOf(c).sort()).toEqual(
      [
        'plans.basic: Unrecognized key: "granularityMS"',
        'plans.basic.billInit: must be true or false',
        'plans.basic.currency: must be an ISO 4217 currency code such as "USD"',
        'plans.basic.freeAllowance.requests: must be at least 0',
        'plans.basic.granularityMs: must be at least 1',
        'plans.basic.minimumBilledMs: must be an integer',
        'plans.basic.period: must be "month"',
      ].sort(),
    );
  });

  it('requires at least one plan, a valid plan id and the idle prices', () => {
    expect(issuesOf({ plans: {}, defaultPlan: 'basic' })).toEqual([
      'plans: must define at least one plan',
      'defaultPlan: names plan "basic", which plans does not define',
    ]);
    const c = config((x) => {
      delete x.plans.basic!.provisionedIdlePricePerGbSecond;
      delete x.plans.basic!.requestPrice;
      x.plans.basic!.freeAllowance = { gbSeconds: '1' };
      x.plans.basic!.computePrices = 5;
    });
    expect(issuesOf(c)).toEqual([
      'plans.basic.requestPrice: is required',
      'plans.basic.computePrices: must be an object',
      'plans.basic.freeAllowance.requests: is required',
      'plans.basic.provisionedIdlePricePerGbSecond: is required',
    ]);
    expect(issuesOf({ plans: { '-bad': basicPlan() }, tenants: { 'a b': 'basic' }, defaultPlan: '-bad' })).toEqual([
      'plans["-bad"]: is not a valid key: must be letters, digits, ".", "_", ":" or "-"',
      'tenants["a b"]: is not a valid key: must be letters, digits, ".", "_", ":" or "-"',
      'defaultPlan: must be letters, digits, ".", "_", ":" or "-"',
    ]);
    expect(issuesOf(null)).toEqual([': must be an object']);
  });

  it('looks tenants up as own properties only (a tenant named "constructor" gets the default plan)', () => {
    const c = parsePricingConfig(config());
    expect(planFor(c, 'constructor')).toMatchObject({ planId: 'basic', listed: false });
    expect(planFor(c, 'acme')).toMatchObject({ planId: 'basic', listed: true });
  });
});

describe('loadPricingConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faasmeter-pricing-'));

  it('reports a missing file, bad JSON and an invalid config with the path', () => {
    expect(() => loadPricingConfig(join(dir, 'absent.json'))).toThrow(/cannot read pricing configuration .*absent\.json/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "plans": ');
    expect(() => loadPricingConfig(bad)).toThrow(ConfigError);
    expect(() => loadPricingConfig(bad)).toThrow(/bad\.json is not valid JSON/);
    const invalid = join(dir, 'invalid.json');
    const c = config((x) => {
      tiers(x, 'arm64')[1]!.pricePerGbSecond = '1,5';
    });
    writeFileSync(invalid, JSON.stringify(c));
    expect(() => loadPricingConfig(invalid)).toThrow(
      /invalid pricing configuration \(.*invalid\.json\): plans\.basic\.computePrices\.arm64\[1\]\.pricePerGbSecond: must be a decimal string/,
    );
  });

  it('reads a file with a byte-order mark', () => {
    const file = join(dir, 'bom.json');
    const c: PricingConfigInput = { plans: { basic: basicPlan() }, defaultPlan: 'basic' };
    writeFileSync(file, `\ufeff${JSON.stringify(c)}`);
    expect(loadPricingConfig(file).tenants).toEqual({});
  });
});
