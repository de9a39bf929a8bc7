import { dirname, join } from 'node:path';
import { ConfigError } from '../../common/config.ts';
import type { CgroupFs, ReadResult, V1Hierarchies } from './cgroup-fs.ts';
import { errorCode, nodeCgroupFs, readCgroup, readCgroupV1 } from './cgroup-fs.ts';
import { parseControllers } from './parse.ts';

/**
 * Which cgroup interface a root offers. Unified v2 hosts have one tree with every controller;
 * v1 hosts, and hybrid ones (v1 controllers beside a controller-less cgroup2 at `unified`, as on
 * Amazon Linux 2, Ubuntu 20.04 and older GKE/EKS images), have a hierarchy per controller, each
 * holding the same cgroup paths.
 */

export const CGROUP_LAYOUT_CHOICES = ['auto', 'v2', 'v1'] as const;
export type CgroupLayoutChoice = (typeof CGROUP_LAYOUT_CHOICES)[number];

export type CgroupLayout =
  | {
      version: 'v2';
      root: string;
      /** Without the cpu controller throttling is not accounted and cpuThrottledUs stays 0. */
      cpu: boolean;
    }
  | { version: 'v1'; root: string; hierarchies: V1Hierarchies };

const CPUACCT_MOUNTS = ['cpuacct', 'cpu,cpuacct', 'cpuacct,cpu'];
const CPU_MOUNTS = ['cpu', 'cpu,cpuacct', 'cpuacct,cpu'];

async function firstWith(fs: CgroupFs, root: string, mounts: readonly string[], file: string): Promise<string | undefined> {
  for (const mount of mounts) {
    // Through the `cpu` and `cpuacct` symlinks to a combined mount too: exists() follows them.
    if (await fs.exists(join(root, mount, file))) return join(root, mount);
  }
  return undefined;
}

/** The v1 hierarchies below root, or what is missing for root to be a v1 root. */
async function findV1(fs: CgroupFs, root: string): Promise<{ ok: true; hierarchies: V1Hierarchies } | { ok: false; missing: string[] }> {
  const memory = (await fs.exists(join(root, 'memory', 'memory.usage_in_bytes'))) ? join(root, 'memory') : undefined;
  const cpuacct = await firstWith(fs, root, CPUACCT_MOUNTS, 'cpuacct.usage');
  if (memory !== undefined && cpuacct !== undefined) {
    return { ok: true, hierarchies: { memory, cpuacct, cpu: await firstWith(fs, root, CPU_MOUNTS, 'cpu.stat') } };
  }
  const missing: string[] = [];
  if (memory === undefined) missing.push('no memory/ hierarchy with memory.usage_in_bytes');
  if (cpuacct === undefined) missing.push('no cpuacct/ or cpu,cpuacct/ hierarchy with cpuacct.usage');
  return { ok: false, missing };
}

async function contents(fs: CgroupFs, root: string): Promise<string> {
  try {
    const dirs = await fs.listDirs(root);
    return dirs.length === 0 ? 'it has no subdirectories' : `it has ${dirs.sort().join(', ')}`;
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? 'it does not exist' : `it cannot be listed: ${(error as Error).message}`;
  }
}

async function checkV2(fs: CgroupFs, root: string): Promise<CgroupLayout> {
  let text: string;
  try {
    text = await fs.readFile(join(root, 'cgroup.controllers'));
  } catch (error) {
    let hint = '';
    if ((await findV1(fs, root)).ok) {
      const hybrid = await fs.exists(join(root, 'unified', 'cgroup.controllers'));
      hint = `; this host runs the ${hybrid ? `hybrid v1/v2 layout (cgroup2 at ${join(root, 'unified')})` : 'legacy cgroup v1 layout'}, which the agent reads with FAASMETER_CGROUP_LAYOUT=auto or v1`;
    }
    const reason = errorCode(error) === 'ENOENT' ? 'has no cgroup.controllers' : (error as Error).message;
    throw new ConfigError(`FAASMETER_CGROUP_ROOT ${root} is not a cgroup v2 hierarchy: it ${reason}${hint}`);
  }
  const controllers = parseControllers(text);
  if (!controllers.has('memory')) {
    // The controller-less cgroup2 mount of a hybrid host is the likeliest way to get here.
    const hint = (await findV1(fs, dirname(root))).ok
      ? `; ${dirname(root)} has the v1 hierarchies, which the agent reads: set FAASMETER_CGROUP_ROOT=${dirname(root)}`
      : '';
    throw new ConfigError(
      `FAASMETER_CGROUP_ROOT ${root}: the memory controller is not available on this cgroup v2 hierarchy (cgroup.controllers: "${text.trim()}")${hint}`,
    );
  }
  return { version: 'v2', root, cpu: controllers.has('cpu') };
}

/**
 * Finds which layout root has and checks that the agent can read it; rejects with a ConfigError
 * that says what root has instead. `auto` takes v2 when root has cgroup.controllers, else v1.
 */
export async function checkCgroupRoot(root: string, choice: CgroupLayoutChoice = 'auto', fs: CgroupFs = nodeCgroupFs): Promise<CgroupLayout> {
  if (choice === 'v2' || (choice === 'auto' && (await fs.exists(join(root, 'cgroup.controllers'))))) return checkV2(fs, root);
  const v1 = await findV1(fs, root);
  if (v1.ok) return { version: 'v1', root, hierarchies: v1.hierarchies };
  const what = choice === 'v1' ? 'is not a cgroup v1 root (FAASMETER_CGROUP_LAYOUT=v1)' : 'is neither a cgroup v2 hierarchy (no cgroup.controllers) nor a cgroup v1 root';
  throw new ConfigError(`FAASMETER_CGROUP_ROOT ${root} ${what}: ${v1.missing.join('; ')}; ${await contents(fs, root)}`);
}

/** Whether cpuThrottledUs is measured, or stays 0. */
export function throttlingAccounted(layout: CgroupLayout): boolean {
  return layout.version === 'v2' ? layout.cpu : layout.hierarchies.cpu !== undefined;
}

/** The tree discovery walks: cgroup paths are relative to it. On v1 that is the memory hierarchy. */
export function walkRoot(layout: CgroupLayout): string {
  return layout.version === 'v2' ? layout.root : layout.hierarchies.memory;
}

/** Reads the cgroup at rel (relative to walkRoot); never rejects. */
export function readCgroupAt(fs: CgroupFs, layout: CgroupLayout, rel: string): Promise<ReadResult> {
  return layout.version === 'v2' ? readCgroup(fs, join(layout.root, rel)) : readCgroupV1(fs, layout.hierarchies, rel);
}
