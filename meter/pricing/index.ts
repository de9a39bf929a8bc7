export {
  ARCHITECTURES,
  AWS_LAMBDA_US_EAST_1,
  AWS_LAMBDA_US_EAST_1_ID,
  DEFAULT_PRICING_CONFIG,
  fieldPath,
  loadPricingConfig,
  parsePlan,
  parsePricingConfig,
  Plan as PlanSchema,
  PricingConfigError,
  PricingConfigSchema,
  planFor,
} from './plan.ts';
export type { AssignedPlan, Plan, PlanInput, PricingConfig, PricingConfigInput, PricingIssue, Tier } from './plan.ts';
export { billedMsOf, meterCall, toMicros } from './meter-call.ts';
export type { CallQuantities, MeteredCall } from './meter-call.ts';
export { addCall, addUsage, emptyUsage, mbMsToGbSeconds, priceStatement } from './statement.ts';
export type { Adjustment, ArchUsage, Line, LineKind, PeriodUsage, Statement, StatementInput } from './statement.ts';
export { costAtMemory, DEFAULT_MEMORY_SIZES, suggestMemory } from './rightsizing.ts';
export type { BilledDuration, MemoryCost } from './rightsizing.ts';
