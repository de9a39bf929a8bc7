import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes a cgroup-shaped tree of plain files, for the agent's tests and for demos on hosts whose
 * cgroups cannot be written. File formats follow the kernel's.
 *
 * Layouts: `v2`, a unified hierarchy; `v1`, a hybrid host as Ubuntu 20.04 mounts it (separate
 * `cpu`, `cpuacct` and `memory` hierarchies beside a controller-less cgroup2 at `unified`);
 * `v1-combined-cpu`, one `cpu,cpuacct` hierarchy with `cpu` and `cpuacct` symlinks to it, as
 * systemd mounts it on most other v1 hosts.
 */

export type FakeLayout = 'v2' | 'v1' | 'v1-combined-cpu';
export type V1Controller = 'memory' | 'cpuacct' | 'cpu';

export interface FakeCounters {
  usageUsec: number;
  throttledUsec?: number;
  memoryCurrentBytes: number;
  /** undefined: no memory.peak file, as on Linux before 5.19. */
  memoryPeakBytes?: number;
  oomKills?: number;
}

export interface FakePod {
  uid: string;
  qos: 'guaranteed' | 'burstable' | 'besteffort';
  driver: 'systemd' | 'cgroupfs';
}

export class FakeCgroupTree {
  readonly root: string;
  readonly layout: FakeLayout;

  constructor(root: string, layout: FakeLayout = 'v2') {
    this.root = root;
    this.layout = layout;
  }

  /** The directory of a cgroup; on v1, its directory in one controller's hierarchy. */
  dir(relPath: string, controller: V1Controller = 'memory'): string {
    if (this.layout === 'v2') return join(this.root, relPath);
    return join(this.root, this.layout === 'v1-combined-cpu' && controller !== 'memory' ? 'cpu,cpuacct' : controller, relPath);
  }

  /** `controllers` is what a v2 root's cgroup.controllers lists. */
  async init(controllers = 'cpuset cpu io memory hugetlb pids rdma misc'): Promise<void> {
    await mkdir(this.root, { recursive: true });
    if (this.layout === 'v2') {
      await writeFile(join(this.root, 'cgroup.controllers'), `${controllers}\n`);
      return;
    }
    await mkdir(join(this.root, 'unified'));
    await writeFile(join(this.root, 'unified', 'cgroup.controllers'), '');
    if (this.layout === 'v1-combined-cpu') {
      await mkdir(join(this.root, 'cpu,cpuacct'));
      await symlink('cpu,cpuacct', join(this.root, 'cpu'));
      await symlink('cpu,cpuacct', join(this.root, 'cpuacct'));
    }
    await this.write('', { usageUsec: 0, memoryCurrentBytes: 0 });
  }

  /** Creates (or overwrites the counters of) the cgroup at a path relative to the root. */
  async write(relPath: string, c: FakeCounters): Promise<void> {
    if (this.layout !== 'v2') {
      await this.writeV1(relPath, c);
      return;
    }
    const dir = join(this.root, relPath);
    await mkdir(dir, { recursive: true });
    const throttled = c.throttledUsec ?? 0;
    await writeFile(
      join(dir, 'cpu.stat'),
      `usage_usec ${c.usageUsec}\nuser_usec ${Math.floor(c.usageUsec * 0.7)}\nsystem_usec ${c.usageUsec - Math.floor(c.usageUsec * 0.7)}\n` +
        `core_sched.force_idle_usec 0\nnr_periods 120\nnr_throttled ${throttled > 0 ? 3 : 0}\nthrottled_usec ${throttled}\nnr_bursts 0\nburst_usec 0\n`,
    );
    await writeFile(join(dir, 'memory.current'), `${c.memoryCurrentBytes}\n`);
    if (c.memoryPeakBytes === undefined) await rm(join(dir, 'memory.peak'), { force: true });
    else await writeFile(join(dir, 'memory.peak'), `${c.memoryPeakBytes}\n`);
    await writeFile(
      join(dir, 'memory.events'),
      `low 0\nhigh 0\nmax ${c.oomKills ?? 0}\noom ${c.oomKills ?? 0}\noom_kill ${c.oomKills ?? 0}\noom_group_kill 0\n`,
    );
  }

  /** v1 counts in the units and files of Documentation/admin-guide/cgroup-v1: CPU times in nanoseconds. */
  private async writeV1(relPath: string, c: FakeCounters): Promise<void> {
    const dirs = { memory: this.dir(relPath, 'memory'), cpuacct: this.dir(relPath, 'cpuacct'), cpu: this.dir(relPath, 'cpu') };
    for (const dir of new Set(Object.values(dirs))) await mkdir(dir, { recursive: true });
    const throttled = c.throttledUsec ?? 0;
    // Nanoseconds below a whole microsecond, which the agent drops.
    await writeFile(join(dirs.cpuacct, 'cpuacct.usage'), `${BigInt(c.usageUsec) * 1000n + 999n}\n`);
    await writeFile(
      join(dirs.cpu, 'cpu.stat'),
      `nr_periods 120\nnr_throttled ${throttled > 0 ? 3 : 0}\nthrottled_time ${BigInt(throttled) * 1000n}\nnr_bursts 0\nburst_time 0\n`,
    );
    await writeFile(join(dirs.memory, 'memory.usage_in_bytes'), `${c.memoryCurrentBytes}\n`);
    // v1 always has the peak; undefined here means the same as current.
    await writeFile(join(dirs.memory, 'memory.max_usage_in_bytes'), `${c.memoryPeakBytes ?? c.memoryCurrentBytes}\n`);
    await writeFile(join(dirs.memory, 'memory.oom_control'), `oom_kill_disable 0\nunder_oom 0\noom_kill ${c.oomKills ?? 0}\n`);
  }

  async remove(relPath: string): Promise<void> {
    const controllers: V1Controller[] = this.layout === 'v2' ? ['memory'] : ['memory', 'cpuacct', 'cpu'];
    for (const controller of controllers) await rm(this.dir(relPath, controller), { recursive: true, force: true });
  }
}

/** The cgroup path the kubelet and runtime give a container, per driver and QoS class. */
export function kubeContainerPath(pod: FakePod, containerId: string, runtime: 'cri-containerd' | 'crio' | 'docker' = 'cri-containerd'): string {
  if (pod.driver === 'systemd') {
    const uid = pod.uid.replaceAll('-', '_');
    const scope = `${runtime}-${containerId}.scope`;
    if (pod.qos === 'guaranteed') return `kubepods.slice/kubepods-pod${uid}.slice/${scope}`;
    return `kubepods.slice/kubepods-${pod.qos}.slice/kubepods-${pod.qos}-pod${uid}.slice/${scope}`;
  }
  const leaf = runtime === 'cri-containerd' ? containerId : `${runtime}-${containerId}`;
  if (pod.qos === 'guaranteed') return `kubepods/pod${pod.uid}/${leaf}`;
  return `kubepods/${pod.qos}/pod${pod.uid}/${leaf}`;
}
