import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { tenantId } from '../../contract/index.ts';
import type { Architecture } from '../../contract/index.ts';
import { ConfigError } from '../../common/config.ts';
import { Dec } from './money.ts';

/**
 * Pricing configuration: plans, which tenant is on which plan, and the plan for everyone else.
 * Prices and GB-second bounds are decimal strings in the file so no price ever passes through a
 * JavaScript float; they are turned into decimals only where money is computed (statement.ts).
 */

export const ARCHITECTURES: readonly Architecture[] = Object.freeze(['x86_64', 'arm64']);

const DECIMAL_MESSAGE = 'must be a decimal string such as "0.0000166667"';
// Bounded lengths keep products of prices and usage far inside the exact precision money.ts
// works in (which throws rather than round); real prices have a dozen digits at most.
const DECIMAL_RE = /^(0|[1-9]\d{0,19})(\.\d{1,20})?$/;

/** A type error's message: "is required" when the field is missing, else `message`. */
const typeError = (message: string) => (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : message);

const decimalString = z.string({ error: typeError(DECIMAL_MESSAGE) }).regex(DECIMAL_RE, DECIMAL_MESSAGE).meta({ title: 'decimal string' });
const positiveDecimalString = decimalString.refine((s) => /[1-9]/.test(s), 'must be greater than 0');

const integer = (min: number) =>
  z
    .number({ error: typeError('must be an integer') })
    .int('must be an integer')
    .min(min, `must be at least ${min}`)
    .max(Number.MAX_SAFE_INTEGER, 'must be a safe integer');

export const planId = z
  .string({ error: typeError('must be a plan id') })
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'must be letters, digits, ".", "_", ":" or "-"')
  .meta({ title: 'plan id' });

export const Tier = z
  .strictObject({
    upToGbSeconds: positiveDecimalString
      .nullable()
      .describe('Cumulative upper bound of this tier in GB-s over the period, greater than 0; null on the last tier only'),
    pricePerGbSecond: decimalString.describe('Price of one GB-s inside this tier'),
  })
  .meta({ title: 'Tier', description: 'One step of a graduated price ladder.' });

export const TierLadder = z
  .array(Tier, { error: typeError('must be a list of tiers') })
  .min(1, 'must have at least one tier')
  .superRefine((tiers, ctx) => {
    tiers.forEach((tier, i) => {
      const last = i === tiers.length - 1;
      if (last && tier.upToGbSeconds !== null) {
        ctx.addIssue({ code: 'custom', path: [i, 'upToGbSeconds'], message: 'must be null: the last tier is unbounded' });
      }
      if (!last && tier.upToGbSeconds === null) {
        ctx.addIssue({ code: 'custom', path: [i, 'upToGbSeconds'], message: 'only the last tier may be unbounded (null)' });
      }
      const previous = tiers[i - 1]?.upToGbSeconds;
      if (previous != null && tier.upToGbSeconds !== null && new Dec(tier.upToGbSeconds).lte(previous)) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'upToGbSeconds'],
          message: `must be greater than the previous tier's bound (${previous}): bounds are cumulative and ascending`,
        });
      }
    });
  });

const perArch = <T extends z.ZodType>(schema: T) =>
  z.strictObject({ x86_64: schema.describe('For x86_64 functions'), arm64: schema.describe('For arm64 functions') });

export const Plan = z
  .strictObject({
    currency: z
      .string({ error: typeError('must be an ISO 4217 currency code') })
      .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 currency code such as "USD"')
      .describe('ISO 4217 currency code, e.g. `USD`'),
    minorUnits: integer(0).max(6, 'must be at most 6').default(2).describe("Decimal places of the currency's minor unit; amounts are rounded to these"),
    requestPrice: decimalString.describe('Price of one request'),
    computePrices: perArch(TierLadder).describe(
      'Graduated tiers per architecture over its total GB-s in the period: bounds are cumulative and strictly ascending, and only the last tier is unbounded',
    ),
    granularityMs: integer(1).default(1).describe('Billed durations are rounded up to a multiple of this'),
    minimumBilledMs: integer(0).default(1).describe('No billed duration is shorter than this (AWS bills a 0.3 ms call as 1 ms)'),
    billInit: z
      .boolean({ error: typeError('must be true or false') })
      .default(true)
      .describe("Whether a cold call's init duration is billed (AWS: yes for on-demand managed runtimes since 2025-08-01)"),
    freeAllowance: z
      .strictObject({
        requests: integer(0).describe('Free requests per period'),
        gbSeconds: decimalString.describe('Free GB-s per period, credited from x86_64 tier 1 upwards, then arm64'),
      })
      .default({ requests: 0, gbSeconds: '0' })
      .describe('What is free each period; provisioned idle time gets no allowance'),
    provisionedIdlePricePerGbSecond: perArch(decimalString).describe(
      "Price per GB-s of provisioned (min-scale > 0) instances' idle time; no tiers, no free allowance",
    ),
    period: z.literal('month', { error: 'must be "month"' }).default('month').describe('The billing period: a calendar month in UTC, the only one supported'),
  })
  .meta({ title: 'Plan', description: 'What the tenants on one plan pay.' });

/** The pricing file as `faasmeter meter` and `faasmeter api` read it; spread into their schemas. */
export const pricingEnvShape = {
  FAASMETER_PRICING_FILE: z
    .string()
    .optional()
    .describe('Pricing file (JSON, see "Pricing file" below); unset or empty: every tenant on the built-in `aws-lambda-us-east-1` plan'),
};

export const PricingConfigSchema = z
  .strictObject({
    plans: z.record(planId, Plan).describe('Every plan, by id; at least one'),
    tenants: z
      .record(tenantId.meta({ title: 'tenant id' }), planId)
      .default({})
      .describe('The plan of each tenant listed; every plan named must be defined in `plans`'),
    defaultPlan: planId.describe('The plan of every tenant not listed in `tenants`'),
  })
  .superRefine((config, ctx) => {
    if (Object.keys(config.plans).length === 0) ctx.addIssue({ code: 'custom', path: ['plans'], message: 'must define at least one plan' });
    if (!Object.hasOwn(config.plans, config.defaultPlan)) {
      ctx.addIssue({ code: 'custom', path: ['defaultPlan'], message: `names plan "${config.defaultPlan}", which plans does not define` });
    }
    for (const [tenant, plan] of Object.entries(config.tenants)) {
      if (!Object.hasOwn(config.plans, plan)) {
        ctx.addIssue({ code: 'custom', path: ['tenants', tenant], message: `names plan "${plan}", which plans does not define` });
      }
    }
  })
  .describe(
    'Plans, which tenant is on which plan, and the plan for everyone else. Unknown fields are errors (a misspelt `granularityMS` must not silently become the default), and every error names its field.',
  );

type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

export type Tier = DeepReadonly<z.output<typeof Tier>>;
export type Plan = DeepReadonly<z.output<typeof Plan>>;
export type PricingConfig = DeepReadonly<z.output<typeof PricingConfigSchema>>;
/** A plan as written in a file: fields with defaults may be left out. */
export type PlanInput = z.input<typeof Plan>;
export type PricingConfigInput = z.input<typeof PricingConfigSchema>;

export interface PricingIssue {
  /** Path of the offending field, e.g. `plans.basic.computePrices.arm64[1].pricePerGbSecond`. */
  field: string;
  message: string;
}

/** An invalid pricing configuration; `issues` lists every problem, each naming its field. */
export class PricingConfigError extends ConfigError {
  override name = 'PricingConfigError';
  readonly issues: readonly PricingIssue[];

  constructor(issues: readonly PricingIssue[], source: string) {
    super(`invalid pricing configuration (${source}): ${issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join('; ')}`);
    this.issues = issues;
  }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `plans.basic.computePrices.arm64[1].pricePerGbSecond`; keys that are not identifiers are quoted. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && IDENTIFIER.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}

const EXPECTED: Record<string, string> = { object: 'an object', record: 'an object', array: 'a list', string: 'a string', number: 'a number' };

/** One issue as field + message, in words an operator can act on. */
function toIssue(issue: z.core.$ZodIssue): PricingIssue {
  const field = fieldPath(issue.path);
  if (issue.code === 'invalid_key') {
    return { field, message: `is not a valid key: ${issue.issues.map((i) => i.message).join('; ')}` };
  }
  return { field, message: issue.message };
}

/** Words for issues our schema gives no message of its own (missing or wrongly typed objects). */
const parseErrors: z.core.$ZodErrorMap = (issue) => {
  if (issue.code !== 'invalid_type') return undefined;
  if (issue.input === undefined) return 'is required';
  return `must be ${EXPECTED[issue.expected] ?? issue.expected}`;
};

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Validates a decoded pricing configuration and returns it deeply frozen; throws PricingConfigError. */
export function parsePricingConfig(input: unknown, source = 'pricing configuration'): PricingConfig {
  const result = PricingConfigSchema.safeParse(input, { error: parseErrors });
  if (!result.success) throw new PricingConfigError(result.error.issues.map(toIssue), source);
  return deepFreeze(result.data);
}

/** Validates one plan on its own (e.g. a plan built in code); throws PricingConfigError. */
export function parsePlan(input: unknown, source = 'plan'): Plan {
  const result = Plan.safeParse(input, { error: parseErrors });
  if (!result.success) throw new PricingConfigError(result.error.issues.map(toIssue), source);
  return deepFreeze(result.data);
}

export const AWS_LAMBDA_US_EAST_1_ID = 'aws-lambda-us-east-1';

/**
 * AWS Lambda list prices in us-east-1 (see ARCHITECTURE.md, "Metering and money"): $0.20 per 1M
 * requests; x86 $0.0000166667/GB-s for the first 6B GB-s, $0.000015 for the next 9B,
 * $0.0000133334 beyond; Arm $0.0000133334 for the first 7.5B, $0.0000120001 for the next 11.25B,
 * $0.0000106667 beyond; 1M requests and 400,000 GB-s free per month; provisioned concurrency
 * $0.0000041667/GB-s (x86) and $0.0000033334/GB-s (Arm); 1 ms granularity; INIT billed.
 */
export const AWS_LAMBDA_US_EAST_1: Plan = parsePlan(
  {
    currency: 'USD',
    minorUnits: 2,
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
    period: 'month',
  } satisfies PlanInput,
  AWS_LAMBDA_US_EAST_1_ID,
);

/** What runs when no pricing file is configured: every tenant on the AWS us-east-1 plan. */
export const DEFAULT_PRICING_CONFIG: PricingConfig = parsePricingConfig(
  { plans: { [AWS_LAMBDA_US_EAST_1_ID]: AWS_LAMBDA_US_EAST_1 }, tenants: {}, defaultPlan: AWS_LAMBDA_US_EAST_1_ID },
  'built-in default',
);

/**
 * Reads and validates a pricing file (JSON). Without a path, the built-in default. Runs once at
 * start-up: a bad file stops the process with every problem named, rather than mis-billing.
 */
export function loadPricingConfig(path?: string): PricingConfig {
  if (path === undefined || path === '') return DEFAULT_PRICING_CONFIG;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read pricing configuration ${path}: ${(error as Error).message}`);
  }
  let decoded: unknown;
  try {
    decoded = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    throw new ConfigError(`pricing configuration ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parsePricingConfig(decoded, path);
}

export interface AssignedPlan {
  planId: string;
  plan: Plan;
  /** False when the tenant is not listed and gets the default plan. */
  listed: boolean;
}

/** The plan a tenant is billed on: its assigned plan, else the default plan. */
export function planFor(config: PricingConfig, tenant: string): AssignedPlan {
  // Own properties only: a tenant named "constructor" must not find Object.prototype's.
  const listed = Object.hasOwn(config.tenants, tenant);
  const id = listed ? (config.tenants[tenant] as string) : config.defaultPlan;
  const plan = config.plans[id];
  if (plan === undefined || !Object.hasOwn(config.plans, id)) {
    throw new Error(`pricing configuration names plan "${id}" but does not define it (the config was not validated)`);
  }
  return { planId: id, plan, listed };
}
