import { z } from 'zod';

/** A configuration error names the variable or field, so an operator can fix it without our code. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses configuration once at start-up into a typed, frozen object. Environment variables are
 * strings; schemas use z.coerce for numbers and `envBool` for flags.
 */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, what = 'configuration'): Readonly<z.infer<S>> {
  const result = schema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid ${what}: ${problems.join('; ')}`);
  }
  return Object.freeze(result.data);
}

export const envBool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const brokersList = z
  .string()
  .min(1)
  .transform((s) => s.split(',').map((b) => b.trim()).filter((b) => b.length > 0));

/** Defaults match the local stack (deploy/local-stack), so a newcomer needs no variables at all. */
export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:19092';
export const DEFAULT_CLICKHOUSE_URL = 'http://127.0.0.1:18123';

/**
 * Where a variable's value comes from when it is unset: the first of `variables` that is set and
 * not empty, else `otherwise`, which is computed on the machine and so is documented in words.
 */
export interface EnvFallback {
  variables: readonly string[];
  otherwise?: { what: string; value: () => string | undefined };
}

export function fallbackValue(fallback: EnvFallback, env: NodeJS.ProcessEnv): string | undefined {
  return fallback.variables.map((v) => env[v]).find((v) => v !== undefined && v !== '') ?? fallback.otherwise?.value();
}
