import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../collector/agent/agent.ts';
import { createAgent } from '../../collector/agent/agent.ts';
import { agentCommandConfig } from '../../collector/agent/config.ts';
import { checkCgroupRoot } from '../../collector/agent/layout.ts';
import { ownCgroupPath, parseCpuStat } from '../../collector/agent/parse.ts';
import { MemorySink } from '../../collector/delivery/sink.ts';
import { createLogger } from '../../common/log.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import type { FaasEvent, LifecycleData, ResourceData } from '../../contract/index.ts';
import { LIFECYCLE_TYPE, parseEvent, RESOURCE_TYPE } from '../../contract/index.ts';

/**
 * The agent over this machine's real /sys/fs/cgroup, in the layout the machine has. On a unified
 * v2 host it meters this test process's own cgroup. On a v1 or hybrid host it creates cgroups of
 * its own in the real v1 hierarchies, moves child processes with known memory and CPU use into
 * them, and checks what the agent reports, OOM kills included. What a host cannot run is skipped
 * with the reason printed.
 */

const ROOT = '/sys/fs/cgroup';
const repo = join(import.meta.dirname, '..', '..');
const MiB = 1024 * 1024;
/** Separate hierarchies here, or symlinks into a combined cpu,cpuacct one: writing both is right for either. */
const V1_HIERARCHIES = ['memory', 'cpuacct', 'cpu'] as const;

interface Host {
  layout: 'unified' | 'hybrid' | 'legacy' | 'none';
  /** This process's cgroup relative to the v2 root; undefined without a v2 line. */
  own: string | undefined;
  /** Why the unified v2 checks cannot run here; undefined when they can. */
  v2Skip: string | undefined;
  /** Why the v1 checks (creating cgroups in the v1 hierarchies) cannot run here. */
  v1Skip: string | undefined;
}

function inspectHost(): Host {
  const own = existsSync('/proc/self/cgroup') ? ownCgroupPath(readFileSync('/proc/self/cgroup', 'utf8')) : undefined;
  if (!existsSync(ROOT)) {
    const skip = `${ROOT} does not exist: no cgroups on this host`;
    return { layout: 'none', own, v2Skip: skip, v1Skip: skip };
  }
  if (existsSync(join(ROOT, 'cgroup.controllers'))) {
    const v1Skip = `${ROOT} is unified cgroup v2: there are no v1 hierarchies to create cgroups in`;
    if (own === undefined) return { layout: 'unified', own, v2Skip: '/proc/self/cgroup has no unified (0::) line', v1Skip };
    if (!existsSync(join(ROOT, own, 'memory.current'))) {
      return {
        layout: 'unified',
        own,
        v2Skip: `this process's cgroup "/${own}" has no memory.current (the hierarchy root, or the memory controller is not enabled for it)`,
        v1Skip,
      };
    }
    return { layout: 'unified', own, v2Skip: undefined, v1Skip };
  }
  const layout = existsSync(join(ROOT, 'unified', 'cgroup.controllers')) ? 'hybrid' : 'legacy';
  const v2Skip = `${ROOT} is not unified cgroup v2 (no ${ROOT}/cgroup.controllers): this host runs the ${layout} layout`;
  let v1Skip: string | undefined;
  const missing = V1_HIERARCHIES.filter((h) => !existsSync(join(ROOT, h, 'cgroup.procs')));
  if (missing.length > 0) v1Skip = `no v1 ${missing.join(', ')} hierarchy under ${ROOT}`;
  else if (process.getuid?.() !== 0) v1Skip = 'not running as root: cannot create cgroups or move processes into them';
  return { layout, own, v2Skip, v1Skip };
}

const host = inspectHost();
for (const [what, reason] of [
  ['the unified cgroup v2 sampling tests', host.v2Skip],
  ['the cgroup v1 tests with real cgroups', host.v1Skip],
] as const) {
  if (reason !== undefined) process.stderr.write(`\n[agent-real-cgroup] SKIPPING ${what}: ${reason}\n\n`);
}

/** Keeps a core busy for a while so the cgroup's usage_usec visibly moves. */
function burnCpu(ms: number): number {
  const until = performance.now() + ms;
  let x = 0;
  while (performance.now() < until) x = (x * 31 + 7) % 1_000_003;
  return x;
}

const isResource = (e: FaasEvent): e is Extract<FaasEvent, { type: typeof RESOURCE_TYPE }> => e.type === RESOURCE_TYPE;
const isLifecycle = (e: FaasEvent): e is Extract<FaasEvent, { type: typeof LIFECYCLE_TYPE }> => e.type === LIFECYCLE_TYPE;

describe(`agent on this machine's ${ROOT} (layout: ${host.layout})`, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faasmeter-agent-real-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(host.v2Skip !== undefined)(
    `maps this test process's own cgroup through a static map and emits plausible counters${host.v2Skip === undefined ? '' : ` — SKIPPED: ${host.v2Skip}`}`,
    async () => {
      const own = host.own!;
      const mapFile = join(dir, 'map.json');
      await writeFile(mapFile, JSON.stringify([{ path: own === '' ? '/' : own, tenant: 'it', function: 'agent-self-test', revision: 'r1', instance: 'test-process' }]));
      const config = agentCommandConfig([], { FAASMETER_CGROUP_MAP_FILE: mapFile, FAASMETER_CGROUP_ROOT: ROOT, FAASMETER_NODE_NAME: 'it-node' })!;
      expect(await checkCgroupRoot(ROOT)).toMatchObject({ version: 'v2' });
      const sink = new MemorySink();
      const agent = createAgent(config.agent, { sink, meter: createTelemetry('agent-real').meter, log: createLogger('agent-real', 'warn') });

      burnCpu(200);
      const first = await agent.sampleOnce();
      expect(first).toMatchObject({ ok: true, resourceEvents: 1, errors: {} });
      burnCpu(300);
      await agent.sampleOnce();

      const samples = sink.events.filter(isResource);
      expect(samples).toHaveLength(2);
      for (const e of samples) expect(parseEvent(JSON.parse(JSON.stringify(e)))).toMatchObject({ ok: true });
      const [a, b] = samples.map((e) => e.data) as [ResourceData, ResourceData];
      expect(a).toMatchObject({ tenant: 'it', function: 'agent-self-test', revision: 'r1', instance: 'test-process', oomKills: 0 });
      // This process alone burnt 200 ms of CPU and holds tens of MB (Node, vitest), so the cgroup has at least that.
      expect(a.cpuUsageUs).toBeGreaterThan(200_000);
      expect(a.memoryCurrentBytes).toBeGreaterThan(10 * MiB);
      expect(a.memoryCurrentBytes).toBeLessThan(1024 ** 4);
      expect(a.memoryPeakBytes).toBeGreaterThan(0);
      expect(b.cpuUsageUs - a.cpuUsageUs).toBeGreaterThanOrEqual(250_000);
      expect(sink.events.filter((e) => e.type !== RESOURCE_TYPE)).toEqual([]);
    },
  );

  it.skipIf(host.v2Skip !== undefined)('`faasmeter agent --once` prints the same sample as JSON lines', () => {
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

  it.runIf(host.layout === 'hybrid')("parses the real cpu.stat of the hybrid host's cgroup2 mount, and refuses that mount as a root, naming its parent", async () => {
    const stat = parseCpuStat(readFileSync(join(ROOT, 'unified', 'cpu.stat'), 'utf8'));
    expect(stat.usageUsec).toBeGreaterThan(0);
    expect(stat.throttledUsec).toBeGreaterThanOrEqual(0);
    await expect(checkCgroupRoot(join(ROOT, 'unified'))).rejects.toThrow(/memory controller is not available.*set FAASMETER_CGROUP_ROOT=\/sys\/fs\/cgroup$/);
  });

  it.runIf(host.layout === 'unified')("parses this kernel's real cpu.stat", () => {
    const stat = parseCpuStat(readFileSync(join(ROOT, 'cpu.stat'), 'utf8'));
    expect(stat.usageUsec).toBeGreaterThan(0);
    expect(stat.throttledUsec).toBeGreaterThanOrEqual(0);
  });

  describe.skipIf(host.v1Skip !== undefined)(`cgroup v1 hierarchies with cgroups of our own${host.v1Skip === undefined ? '' : ` — SKIPPED: ${host.v1Skip}`}`, () => {
    const prefix = `faasmeter-it-${randomBytes(4).toString('hex')}`;
    const WORK = `${prefix}-work`;
    const OOM = `${prefix}-oom`;
    /** Every cgroup directory this suite made, removed in afterAll whatever happened. */
    const created: string[] = [];
    const children = new Set<ChildProcessWithoutNullStreams>();
    const agents: Agent[] = [];
    let mapFile: string;

    beforeAll(async () => {
      mapFile = join(dir, 'map-v1.json');
      await writeFile(
        mapFile,
        JSON.stringify([
          { path: WORK, tenant: 'it', function: 'v1-work', revision: 'r1', instance: 'work' },
          { path: OOM, tenant: 'it', function: 'v1-oom', revision: 'r1', instance: 'oom' },
        ]),
      );
    });

    afterAll(async () => {
      await Promise.all(agents.map((a) => a.stop()));
      for (const child of children) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
      // rmdir, never a recursive rm: a cgroup's files cannot be unlinked, and nothing else is ours.
      for (const path of created.reverse()) await rmdir(path).catch((error: unknown) => process.stderr.write(`[agent-real-cgroup] could not remove ${path}: ${String(error)}\n`));
    });

    async function makeCgroup(name: string): Promise<void> {
      for (const h of V1_HIERARCHIES) {
        const path = join(ROOT, h, name);
        if (existsSync(path)) continue;
        await mkdir(path);
        created.push(path);
      }
    }

    async function removeCgroup(name: string): Promise<void> {
      for (const h of V1_HIERARCHIES) {
        const path = join(ROOT, h, name);
        if (!existsSync(path)) continue;
        await rmdir(path);
        created.splice(created.indexOf(path), 1);
      }
    }

    /**
     * A Node child that does what it is told on stdin (JSON lines) and answers on stdout: allocate
     * and touch MiB, or burn CPU until its own CPU time grew by `us`. It exits when stdin closes.
     */
    function startChild(): { child: ChildProcessWithoutNullStreams; ready: Promise<Record<string, number>>; ask: (command: object) => Promise<Record<string, number>> } {
      const script = `
        const held = [];
        const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
        require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
          const cmd = JSON.parse(line);
          if (cmd.op === 'alloc') {
            for (let i = 0; i < cmd.mib; i += 8) held.push(Buffer.allocUnsafeSlow(8 << 20).fill(1));
            send({ op: 'alloc', mib: held.length * 8 });
          } else if (cmd.op === 'burn') {
            const start = process.cpuUsage();
            const used = () => { const u = process.cpuUsage(start); return u.user + u.system; };
            let x = 0;
            while (used() < cmd.us) for (let i = 0; i < 100000; i++) x = (x * 31 + 7) % 1000003;
            send({ op: 'burn', us: used(), x });
          }
        });
        send({ op: 'ready', pid: process.pid });
      `;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
      children.add(child);
      child.once('exit', () => children.delete(child));
      const replies: Array<Record<string, number>> = [];
      const waiting: Array<(reply: Record<string, number>) => void> = [];
      createInterface({ input: child.stdout }).on('line', (line) => {
        const reply = JSON.parse(line) as Record<string, number>;
        const resolve = waiting.shift();
        if (resolve === undefined) replies.push(reply);
        else resolve(reply);
      });
      const next = () => new Promise<Record<string, number>>((resolve) => (replies.length > 0 ? resolve(replies.shift()!) : waiting.push(resolve)));
      const ready = next();
      const ask = (command: object) => {
        child.stdin.write(`${JSON.stringify(command)}\n`);
        return next();
      };
      return { child, ready, ask };
    }

    /** Moves the whole process (all its threads) into the cgroup in every hierarchy. */
    async function moveInto(name: string, pid: number): Promise<void> {
      for (const h of V1_HIERARCHIES) await writeFile(join(ROOT, h, name, 'cgroup.procs'), String(pid));
    }

    async function startAgent(sink: MemorySink): Promise<Agent> {
      const config = agentCommandConfig([], { FAASMETER_CGROUP_MAP_FILE: mapFile, FAASMETER_CGROUP_ROOT: ROOT, FAASMETER_NODE_NAME: 'it-node', FAASMETER_SAMPLE_INTERVAL_MS: '3600000' })!;
      const agent = createAgent(config.agent, { sink, meter: createTelemetry('agent-real-v1').meter, log: createLogger('agent-real-v1', 'warn') });
      agents.push(agent);
      await agent.start();
      return agent;
    }

    /** One sample; returns the events it emitted for `instance`, each valid by the contract. */
    async function sample(agent: Agent, sink: MemorySink, instance: string): Promise<{ resource: ResourceData | undefined; lifecycle: LifecycleData[] }> {
      const before = sink.events.length;
      const report = await agent.sampleOnce();
      expect(report).toMatchObject({ ok: true, errors: {} });
      const events = sink.events.slice(before).filter((e) => (e.data as { instance: string }).instance === instance);
      for (const e of events) expect(parseEvent(JSON.parse(JSON.stringify(e)))).toMatchObject({ ok: true });
      return { resource: events.filter(isResource)[0]?.data, lifecycle: events.filter(isLifecycle).map((e) => e.data) };
    }

    it(`reads ${ROOT} as v1, with this host's hierarchies`, async () => {
      expect(await checkCgroupRoot(ROOT)).toMatchObject({
        version: 'v1',
        hierarchies: { memory: join(ROOT, 'memory'), cpuacct: expect.stringMatching(/\/cpu(acct|,cpuacct)$/), cpu: expect.stringMatching(/\/cpu(,cpuacct)?$/) },
      });
    });

    it('meters a process moved into a fresh cgroup: created when it appears, its CPU and memory, --once, stopped after rmdir', async () => {
      const sink = new MemorySink();
      const agent = await startAgent(sink);
      expect(sink.events).toEqual([]);

      await makeCgroup(WORK);
      const { child, ready, ask } = startChild();
      const { pid } = await ready;
      await moveInto(WORK, pid!);
      // Allocated after the move: v1 charges memory to the cgroup a page is first touched in.
      expect(await ask({ op: 'alloc', mib: 64 })).toMatchObject({ mib: 64 });

      const first = await sample(agent, sink, 'work');
      expect(first.lifecycle).toEqual([{ tenant: 'it', function: 'v1-work', revision: 'r1', instance: 'work', phase: 'created', timeMs: expect.any(Number) }]);
      const a = first.resource!;
      expect(a).toMatchObject({ tenant: 'it', function: 'v1-work', revision: 'r1', instance: 'work', oomKills: 0 });
      expect(a.memoryCurrentBytes).toBeGreaterThanOrEqual(64 * MiB);
      expect(a.memoryCurrentBytes).toBeLessThan(128 * MiB);
      expect(a.memoryPeakBytes).toBeGreaterThanOrEqual(a.memoryCurrentBytes);

      const burnt = (await ask({ op: 'burn', us: 300_000 })).us!;
      const b = (await sample(agent, sink, 'work')).resource!;
      process.stderr.write(
        `[agent-real-cgroup] v1 work cgroup: child burnt ${burnt} us, agent saw cpuUsageUs ${a.cpuUsageUs} -> ${b.cpuUsageUs} (+${b.cpuUsageUs - a.cpuUsageUs}), ` +
          `memoryCurrentBytes ${a.memoryCurrentBytes} -> ${b.memoryCurrentBytes}, memoryPeakBytes ${b.memoryPeakBytes}, cpuThrottledUs ${b.cpuThrottledUs}\n`,
      );
      expect(burnt).toBeGreaterThanOrEqual(300_000);
      // Everything the child ran after the move is charged to the cgroup; the margin covers clock granularity.
      expect(b.cpuUsageUs - a.cpuUsageUs).toBeGreaterThanOrEqual(burnt * 0.9);
      expect(b.cpuUsageUs - a.cpuUsageUs).toBeLessThan(burnt + 1_000_000);
      expect(b.memoryCurrentBytes).toBeGreaterThanOrEqual(64 * MiB);
      expect(b.memoryPeakBytes).toBeGreaterThanOrEqual(b.memoryCurrentBytes);
      expect(b).toMatchObject({ oomKills: 0, cpuThrottledUs: 0 });

      // The CLI over the same root, as an operator checks a node.
      const once = spawnSync(process.execPath, [join(repo, 'cli/faasmeter.ts'), 'agent', '--once'], {
        env: { ...process.env, FAASMETER_CGROUP_ROOT: ROOT, FAASMETER_CGROUP_MAP_FILE: mapFile, FAASMETER_NODE_NAME: 'it-node' },
        encoding: 'utf8',
      });
      expect(once.status, once.stderr).toBe(0);
      expect(JSON.parse(once.stderr.trim().split('\n').at(-1)!)).toMatchObject({ root: ROOT, layout: 'v1', ok: true, resourceEvents: 1, errors: {} });
      const printed = once.stdout.trim().split('\n').map((l) => JSON.parse(l) as FaasEvent);
      expect(printed).toEqual([expect.objectContaining({ type: RESOURCE_TYPE, source: 'faasmeter/agent/it-node', data: expect.objectContaining({ instance: 'work', oomKills: 0 }) })]);
      expect((printed[0]!.data as ResourceData).memoryCurrentBytes).toBeGreaterThanOrEqual(64 * MiB);
      expect((printed[0]!.data as ResourceData).cpuUsageUs).toBeGreaterThanOrEqual(b.cpuUsageUs);

      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.stdin.end();
      expect(await exited).toBe(0);
      await removeCgroup(WORK);
      const gone = await sample(agent, sink, 'work');
      expect(gone.resource).toBeUndefined();
      expect(gone.lifecycle).toEqual([expect.objectContaining({ instance: 'work', phase: 'stopped', stopReason: 'scale_to_zero' })]);
    });

    it('reports the kernel OOM-killing a process over memory.limit_in_bytes, and stops the instance with reason oom', async () => {
      const sink = new MemorySink();
      const agent = await startAgent(sink);
      await makeCgroup(OOM);
      await writeFile(join(ROOT, 'memory', OOM, 'memory.limit_in_bytes'), String(32 * MiB));
      const { child, ready } = startChild();
      const { pid } = await ready;
      await moveInto(OOM, pid!);
      const before = await sample(agent, sink, 'oom');
      expect(before.lifecycle).toEqual([expect.objectContaining({ instance: 'oom', phase: 'created' })]);
      expect(before.resource).toMatchObject({ oomKills: 0 });

      const killed = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
      child.stdin.write(`${JSON.stringify({ op: 'alloc', mib: 256 })}\n`);
      expect(await killed).toBe('SIGKILL');

      const after = await sample(agent, sink, 'oom');
      process.stderr.write(`[agent-real-cgroup] v1 oom cgroup: oomKills ${after.resource?.oomKills}, memoryPeakBytes ${after.resource?.memoryPeakBytes} (limit ${32 * MiB})\n`);
      expect(after.lifecycle).toEqual([]);
      expect(after.resource!.oomKills).toBeGreaterThanOrEqual(1);
      // The kernel kept usage at the limit until it killed the child.
      expect(after.resource!.memoryPeakBytes).toBeGreaterThan(24 * MiB);
      expect(after.resource!.memoryPeakBytes).toBeLessThanOrEqual(32 * MiB);

      await removeCgroup(OOM);
      const gone = await sample(agent, sink, 'oom');
      expect(gone.lifecycle).toEqual([expect.objectContaining({ instance: 'oom', phase: 'stopped', stopReason: 'oom' })]);
    });
  });
});
