import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes a cgroup v2-shaped tree of plain files, for the agent's tests and for demos on hosts
 * without cgroup v2 (this includes hybrid-layout CI machines). File formats follow the kernel's.
 */

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

  constructor(root: string) {
    this.root = root;
  }

  async init(controllers = 'cpuset cpu io memory hugetlb pids rdma misc'): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await writeFile(join(this.root, 'cgroup.controllers'), `${controllers}\n`);
  }

  /** Creates (or overwrites the counters of) the cgroup at a path relative to the root. */
  async write(relPath: string, c: FakeCounters): Promise<void> {
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

  async remove(relPath: string): Promise<void> {
    await rm(join(this.root, relPath), { recursive: true, force: true });
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
