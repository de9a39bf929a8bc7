import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../../common/config.ts';
import { functionName, instanceId, revisionName, tenantId } from '../../contract/index.ts';
import type { Identity } from './kubernetes.ts';
import { UNKNOWN_REVISION } from './kubernetes.ts';

/**
 * Plain hosts (systemd services, Docker without Kubernetes): a static map from cgroup paths to
 * identities. `*` in a path matches within one path segment; `$1`…`$9` in the other fields are
 * replaced by what the first…ninth `*` matched, so one entry can cover many services.
 */
export const StaticMapEntrySchema = z.strictObject({
  /** Relative to FAASMETER_CGROUP_ROOT; a leading "/" is ignored and "/" alone is the root itself. */
  path: z.string().min(1),
  tenant: z.string().min(1),
  function: z.string().min(1),
  revision: z.string().min(1).optional(),
  /** Default: `<node>:<cgroup path>`, unique across a fleet of hosts. */
  instance: z.string().min(1).optional(),
});
export const StaticMapSchema = z.array(StaticMapEntrySchema);
export type StaticMapEntry = z.output<typeof StaticMapEntrySchema>;

export interface StaticRule {
  entry: StaticMapEntry;
  pattern: RegExp;
}

export type StaticMatch = { kind: 'function'; identity: Identity } | { kind: 'invalid'; message: string };

const FIELDS = { tenant: tenantId, function: functionName, revision: revisionName, instance: instanceId } as const;

export function normalizeCgroupPath(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}

export function compileGlob(path: string): RegExp {
  const body = normalizeCgroupPath(path)
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('([^/]*)');
  return new RegExp(`^${body}$`);
}

function substitute(template: string, captures: readonly string[]): string {
  return template.replace(/\$([1-9])/g, (_, n: string) => captures[Number(n) - 1] ?? '');
}

/** Validates entries (fields without `$n` against the contract now, the rest once substituted). */
export function compileStaticMap(input: unknown, what = 'FAASMETER_CGROUP_MAP_FILE'): StaticRule[] {
  const parsed = StaticMapSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid agent configuration: ${what}: ${problems.join('; ')}`);
  }
  return parsed.data.map((entry, index) => {
    for (const [field, schema] of Object.entries(FIELDS)) {
      const value = entry[field as keyof typeof FIELDS];
      if (value === undefined || /\$[1-9]/.test(value)) continue;
      const check = schema.safeParse(value);
      if (!check.success) {
        throw new ConfigError(`invalid agent configuration: ${what}: ${index}.${field}: ${check.error.issues[0]?.message ?? 'invalid'}`);
      }
    }
    return { entry, pattern: compileGlob(entry.path) };
  });
}

export function loadStaticMap(file: string): StaticRule[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`invalid agent configuration: FAASMETER_CGROUP_MAP_FILE: cannot read ${file} as JSON (${(error as Error).message})`);
  }
  return compileStaticMap(json, `FAASMETER_CGROUP_MAP_FILE (${file})`);
}

/** The first rule whose path matches wins; undefined when none does. */
export function matchStaticMap(rules: readonly StaticRule[], relPath: string, node: string): StaticMatch | undefined {
  for (const { entry, pattern } of rules) {
    const match = pattern.exec(relPath);
    if (match === null) continue;
    const captures = match.slice(1);
    const identity: Identity = {
      tenant: substitute(entry.tenant, captures),
      function: substitute(entry.function, captures),
      revision: entry.revision === undefined ? UNKNOWN_REVISION : substitute(entry.revision, captures),
      instance: entry.instance === undefined ? `${node}:${relPath === '' ? '/' : relPath}` : substitute(entry.instance, captures),
    };
    for (const [field, schema] of Object.entries(FIELDS)) {
      const check = schema.safeParse(identity[field as keyof Identity]);
      if (!check.success) {
        return { kind: 'invalid', message: `${field} "${identity[field as keyof Identity]}": ${check.error.issues[0]?.message ?? 'invalid'}` };
      }
    }
    return { kind: 'function', identity };
  }
  return undefined;
}
