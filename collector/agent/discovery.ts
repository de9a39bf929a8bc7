import { join } from 'node:path';
import type { CgroupFs } from './cgroup-fs.ts';
import { errorCode } from './cgroup-fs.ts';
import type { Identity, PodIndex } from './kubernetes.ts';
import { parseKubePath } from './kubernetes.ts';
import type { StaticRule } from './static-map.ts';
import { matchStaticMap } from './static-map.ts';

/** Why a container cgroup was not metered; labels of the faasmeter_agent_unmapped_cgroups gauge. */
export type UnmappedReason = 'unknown_pod' | 'unlisted_container' | 'not_a_function' | 'invalid_identity';
export const UNMAPPED_REASONS: readonly UnmappedReason[] = ['unknown_pod', 'unlisted_container', 'not_a_function', 'invalid_identity'];

export interface Mapping {
  staticRules: readonly StaticRule[];
  /** undefined when no pod metadata file is configured. */
  pods: PodIndex | undefined;
  /** Container names that are never the function (sidecars). */
  skipContainers: ReadonlySet<string>;
  node: string;
}

export type Classification =
  | { kind: 'function'; identity: Identity }
  | { kind: 'unmapped'; reason: UnmappedReason; detail?: string }
  /** A sidecar or pause container, or a cgroup that is no container at all: not counted anywhere. */
  | { kind: 'ignored' };

/** Explicit static entries win over what pod labels imply. */
export function classify(relPath: string, mapping: Mapping): Classification {
  const fromMap = matchStaticMap(mapping.staticRules, relPath, mapping.node);
  if (fromMap?.kind === 'function') return fromMap;
  if (fromMap?.kind === 'invalid') return { kind: 'unmapped', reason: 'invalid_identity', detail: fromMap.message };
  if (mapping.pods === undefined) return { kind: 'ignored' };
  const kube = parseKubePath(relPath);
  if (kube === undefined) return { kind: 'ignored' };
  const decision = mapping.pods.decide(kube, mapping.skipContainers);
  if (decision.kind === 'function') return decision;
  if (decision.kind === 'unmapped') return decision;
  return { kind: 'ignored' };
}

export interface WalkResult {
  /** Cgroup paths relative to the root, '' for the root itself, parents before children. */
  paths: string[];
  /** Subtrees that could not be listed for a reason other than having just been removed. */
  errors: Array<{ path: string; reason: 'permission' | 'io'; message: string }>;
}

/** Cgroup trees are shallow (Kubernetes containers sit at depth 4-5); the cap guards against loops. */
const MAX_DEPTH = 32;

/** Lists every cgroup under root. Rejects only when the root itself cannot be listed. */
export async function walkCgroups(fs: CgroupFs, root: string): Promise<WalkResult> {
  const result: WalkResult = { paths: [''], errors: [] };
  let level: string[] = [''];
  for (let depth = 0; depth < MAX_DEPTH && level.length > 0; depth++) {
    const next: string[] = [];
    const listings = await Promise.allSettled(level.map((rel) => fs.listDirs(join(root, rel))));
    listings.forEach((listing, i) => {
      const rel = level[i] ?? '';
      if (listing.status === 'fulfilled') {
        for (const name of listing.value) next.push(rel === '' ? name : `${rel}/${name}`);
        return;
      }
      if (rel === '') throw listing.reason;
      const code = errorCode(listing.reason);
      if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENOTDIR') return;
      result.errors.push({
        path: rel,
        reason: code === 'EACCES' || code === 'EPERM' ? 'permission' : 'io',
        message: (listing.reason as Error).message,
      });
    });
    result.paths.push(...next);
    level = next;
  }
  return result;
}

export interface InstanceMembers {
  key: string;
  identity: Identity;
  /** The cgroups whose counters are summed into this instance's samples. */
  paths: string[];
}

export interface Discovery {
  instances: Map<string, InstanceMembers>;
  unmapped: Record<UnmappedReason, number>;
  /** First unmapped example per reason, for the log. */
  examples: Partial<Record<UnmappedReason, string>>;
}

export function instanceKey(identity: Identity): string {
  return JSON.stringify([identity.tenant, identity.function, identity.revision, identity.instance]);
}

function isBelow(path: string, ancestor: string): boolean {
  return ancestor === '' ? path !== '' : path.startsWith(`${ancestor}/`);
}

/**
 * Groups mapped cgroups into instances. A pod's function containers are summed into one instance
 * (instance = pod). A cgroup below another cgroup of the same instance is dropped: cgroup v2
 * counters are hierarchical, so the ancestor already includes it.
 */
export function discover(paths: readonly string[], mapping: Mapping): Discovery {
  const instances = new Map<string, InstanceMembers>();
  const unmapped: Record<UnmappedReason, number> = { unknown_pod: 0, unlisted_container: 0, not_a_function: 0, invalid_identity: 0 };
  const examples: Partial<Record<UnmappedReason, string>> = {};
  for (const path of paths) {
    const c = classify(path, mapping);
    if (c.kind === 'unmapped') {
      unmapped[c.reason]++;
      examples[c.reason] ??= c.detail === undefined ? path : `${path} (${c.detail})`;
      continue;
    }
    if (c.kind !== 'function') continue;
    const key = instanceKey(c.identity);
    const existing = instances.get(key);
    if (existing === undefined) instances.set(key, { key, identity: c.identity, paths: [path] });
    else existing.paths.push(path);
  }
  for (const instance of instances.values()) {
    if (instance.paths.length > 1) instance.paths = instance.paths.filter((p) => !instance.paths.some((a) => a !== p && isBelow(p, a)));
  }
  return { instances, unmapped, examples };
}
