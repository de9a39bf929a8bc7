import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCgroupRoot, createAgent } from '../../collector/agent/agent.ts';
import { agentCommandConfig } from '../../collector/agent/config.ts';
import { ownCgroupPath, parseCpuStat } from '../../collector/agent/parse.ts';
import { MemorySink } from '../../collector/delivery/sink.ts';
import { createLogger } from '../../common/log.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import type { FaasEvent, ResourceData } from '../../contract/index.ts';
import { parseEvent, RESOURCE_TYPE } from '../../contract/index.ts';

/**
 * The agent over this machine's real /sys/fs/cgroup. Only a unified cgroup v2 host (memory
 * controller on v2) can run the full check; on any other layout the full check is skipped with
 * the reason printed, and what can be checked on that layout is checked instead.
 */

const ROOT = '/sys/fs/cgroup';
const repo = join(import.meta.dirname, '..', '..');

interface Host {
  layout: 'unified' | 'hybrid' | 'legacy' | 'none';
  /** This process's cgroup relative to the v2 root; undefined without a v2 line. */
  own: string | undefined;
  /** Why the full check cannot run here; undefined when it can. */
  skip: string | undefined;
}

function inspectHost(): Host {
  const own = existsSync('/proc/self/cgroup') ? ownCgroupPath(readFileSync('/proc/self/cgroup', 'utf8')) : undefined;
  if (!existsSync(ROOT)) return { layout: 'none', own, skip: `${ROOT} does not exist: no cgroups on this host` };
  if (!existsSync(join(ROOT, 'cgroup.controllers'))) {
    const hybrid = existsSync(join(ROOT, 'unified', 'cgroup.controllers'));
    const layout = hybrid ? 'hybrid' : 'legacy';
    return {
      layout,
      own,
      skip: `${ROOT} is not cgroup v2 (no ${ROOT}/cgroup.controllers): this host runs the ${layout} ${hybrid ? 'v1/v2 layout (cgroup2 at /sys/fs/cgroup/unified, memory controller on v1)' : 'cgroup v1 layout'}, which the agent does not support`,
    };
  }
  if (own === undefined) return { layout: 'unified', own, skip: '/proc/self/cgroup has no unified (0::) line' };
  if (!existsSync(join(ROOT, own, 'memory.current'))) {
    return { layout: 'unified', own, skip: `this process's cgroup "/${own}" has no memory.current (the hierarchy root, or the memory controller is not enabled for it)` };
  }
  return { layout: 'unified', own, skip: undefined };
}

const host = inspectHost();
if (host.skip !== undefined) {
  process.stderr.write(`\n[agent-real-cgroup] SKIPPING the real cgroup v2 sampling test: ${host.skip}\n\n`);
}

/** Keeps a core busy for a while so the cgroup's usage_usec visibly moves. */
function burnCpu(ms: number): number {
  const until = performance.now() + ms;
  let x = 0;
  while (performance.now() < until) x = (x * 31 + 7) % 1_000_003;
  return x;
}

describe(`agent on this machine's ${ROOT} (layout: ${host.layout})`, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faasmeter-agent-real-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(host.skip !== undefined)(
    `maps this test process's own cgroup through a static map and emits plausible counters${host.skip === undefined ? '' : ` — SKIPPED: ${host.skip}`}`,
    async () => {
      const own = host.own!;
      const mapFile = join(dir, 'map.json');
      await writeFile(mapFile, JSON.stringify([{ path: own === '' ? '/' : own, tenant: 'it', function: 'agent-self-test', revision: 'r1', instance: 'test-process' }]));
      const config = agentCommandConfig([], { FAASMETER_CGROUP_MAP_FILE: mapFile, FAASMETER_CGROUP_ROOT: ROOT, FAASMETER_NODE_NAME: 'it-node' })!;
      await checkCgroupRoot(ROOT);
      const sink = new MemorySink();
      const agent = createAgent(config.agent, { sink, meter: createTelemetry('agent-real').meter, log: createLogger('agent-real', 'warn') });

      burnCpu(200);
      const first = await agent.sampleOnce();
      expect(first).toMatchObject({ ok: true, resourceEvents: 1, errors: {} });
      burnCpu(300);
      await agent.sampleOnce();

      const samples = sink.events.filter((e): e is Extract<FaasEvent, { type: typeof RESOURCE_TYPE }> => e.type === RESOURCE_TYPE);
      expect(samples).toHaveLength(2);
      for (const e of samples) expect(parseEvent(JSON.parse(JSON.stringify(e)))).toMatchObject({ ok: true });
      const [a, b] = samples.map((e) => e.data) as [ResourceData, ResourceData];
      expect(a).toMatchObject({ tenant: 'it', function: 'agent-self-test', revision: 'r1', instance: 'test-process', oomKills: 0 });
      // This process alone burnt 200 ms of CPU and holds tens of MB (Node, vitest), so the cgroup has at least that.
      expect(a.cpuUsageUs).toBeGreaterThan(200_000);
      expect(a.memoryCurrentBytes).toBeGreaterThan(10 * 1024 * 1024);
      expect(a.memoryCurrentBytes).toBeLessThan(1024 ** 4);
      expect(a.memoryPeakBytes).toBeGreaterThan(0);
      expect(b.cpuUsageUs - a.cpuUsageUs).toBeGreaterThanOrEqual(250_000);
      expect(sink.events.filter((e) => e.type !== RESOURCE_TYPE)).toEqual([]);
    },
  );

  it.skipIf(host.skip !== undefined)('`faasmeter agent --once` prints the same sample as JSON lines', () => {
    const mapFile = join(dir, 'map-once.json');
    const own = host.own!;
    // The child runs in the test process's cgroup, so mapping that cgroup finds it.
    writeFileSync(mapFile, JSON.stringify([{ path: own === '' ? '/' : own, tenant: 'it', function: 'agent-once' }]));
    const result = spawnSync(process.execPath, [join(repo, 'cli/faasmeter.ts'), 'agent', '--once'], {
      env: { ...process.env, FAASMETER_CGROUP_MAP_FILE: mapFile, FAASMETER_NODE_NAME: 'it-node' },
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
    const events = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as FaasEvent);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: RESOURCE_TYPE, data: { function: 'agent-once', instance: `it-node:${own === '' ? '/' : own}` } });
  });

  it.runIf(host.layout === 'hybrid' || host.layout === 'legacy')(
    `refuses ${ROOT} on this ${host.layout} host with an error naming the layout, instead of sampling nothing`,
    async () => {
      await expect(checkCgroupRoot(ROOT)).rejects.toThrow(host.layout === 'hybrid' ? /not a cgroup v2 hierarchy.*hybrid v1\/v2 layout/ : /legacy cgroup v1/);
      const mapFile = join(dir, 'map-refused.json');
      await writeFile(mapFile, JSON.stringify([{ path: '/', tenant: 'it', function: 'x' }]));
      const result = spawnSync(process.execPath, [join(repo, 'cli/faasmeter.ts'), 'agent', '--once'], {
        env: { ...process.env, FAASMETER_CGROUP_MAP_FILE: mapFile },
        encoding: 'utf8',
      });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/faasmeter: FAASMETER_CGROUP_ROOT \/sys\/fs\/cgroup is not a cgroup v2 hierarchy/);
    },
  );

  it.runIf(host.layout === 'hybrid')('refuses the hybrid cgroup2 mount too, since the memory controller is not on it', async () => {
    await expect(checkCgroupRoot(join(ROOT, 'unified'))).rejects.toThrow(/memory controller is not available/);
  });

  it.runIf(host.layout !== 'none' && existsSync(join(ROOT, host.layout === 'unified' ? '' : 'unified', 'cpu.stat')))(
    "parses this kernel's real cpu.stat",
    () => {
      const text = readFileSync(join(ROOT, host.layout === 'unified' ? '' : 'unified', 'cpu.stat'), 'utf8');
      const stat = parseCpuStat(text);
      expect(stat.usageUsec).toBeGreaterThan(0);
      expect(stat.throttledUsec).toBeGreaterThanOrEqual(0);
    },
  );
});
