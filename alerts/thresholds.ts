/**
 * Alert thresholds: one JSON values file (alerts/thresholds.json) the rule files are generated
 * from, parsed once with errors that name the field. A deployment overrides any subset with a
 * file of its own (the Helm chart's values map onto the same shape).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** A Prometheus duration: 30s, 5m, 1h30m, … (0s allowed for `for`). */
const duration = z.string().regex(/^(\d+(ms|s|m|h|d|w|y))+$/, 'must be a Prometheus duration such as 30s, 5m or 1h');
const severity = z.enum(['info', 'warning', 'critical']);
const nonNegative = z.number().finite().nonnegative();
const ratio = z.number().finite().gt(0).lte(1);

export const ThresholdsSchema = z.strictObject({
  /** Base URL of docs/runbooks; each alert links to <base>/<AlertName>.md. */
  runbookBaseUrl: z.url(),
  coldStartLatency: z.strictObject({ p95Seconds: z.number().finite().positive(), window: duration, for: duration, severity }),
  coldStartRatio: z.strictObject({ ratio, minCallsPerSecond: nonNegative, window: duration, for: duration, severity }),
  errorRatio: z.strictObject({ ratio, minCallsPerSecond: nonNegative, window: duration, for: duration, severity }),
  meterLag: z.strictObject({ records: nonNegative, for: duration, severity }),
  deadLetters: z.strictObject({ perSecond: nonNegative, window: duration, for: duration, severity }),
  collectorSpool: z.strictObject({ minBytes: nonNegative, window: duration, for: duration, severity }),
  collectorDrops: z.strictObject({ window: duration, for: duration, severity }),
  insertFailures: z.strictObject({ perSecond: nonNegative, window: duration, for: duration, severity }),
  targetDown: z.strictObject({ jobRegex: z.string().min(1), for: duration, severity }),
});

export type Thresholds = z.infer<typeof ThresholdsSchema>;

export const THRESHOLDS_FILE = join(import.meta.dirname, 'thresholds.json');

export class ThresholdsError extends Error {
  override name = 'ThresholdsError';
}

export function parseThresholds(input: unknown, source: string): Thresholds {
  const result = ThresholdsSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new ThresholdsError(`invalid alert thresholds in ${source}: ${problems.join('; ')}`);
  }
  return result.data;
}

export function loadThresholds(path = THRESHOLDS_FILE): Thresholds {
  let decoded: unknown;
  try {
    decoded = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ThresholdsError(`cannot read alert thresholds ${path}: ${(error as Error).message}`);
  }
  return parseThresholds(decoded, path);
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
export type ThresholdOverrides = DeepPartial<Thresholds>;

/** The thresholds with some values replaced (per alert, per field); the result is validated again. */
export function withOverrides(base: Thresholds, overrides: ThresholdOverrides): Thresholds {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    const current = merged[key];
    merged[key] = typeof value === 'object' && value !== null && typeof current === 'object' ? { ...current, ...value } : value;
  }
  return parseThresholds(merged, 'overrides');
}

/**
 * Every evaluation window and `for` set to the given values: the same rules, fast enough to fire
 * within seconds in an end-to-end test.
 */
export function withTiming(base: Thresholds, timing: { window: string; for: string }): Thresholds {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(base)) {
    if (typeof value !== 'object') continue;
    const next: Record<string, unknown> = { ...value, for: timing.for };
    if ('window' in value) next.window = timing.window;
    out[key] = next;
  }
  return parseThresholds(out, 'timing overrides');
}
