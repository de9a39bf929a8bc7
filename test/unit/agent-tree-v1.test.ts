import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../collector/agent/agent.ts';
import { createAgent } from '../../collector/agent/agent.ts';
import type { CgroupFs } from '../../collector/agent/cgroup-fs.ts';
import { nodeCgroupFs } from '../../collector/agent/cgroup-fs.ts';
import { DEFAULT_SKIP_CONTAINERS } from '../../collector/agent/config.ts';
import type { FakeCounters, FakeLayout, FakePod } from '../../collector/agent/fake-cgroup-tree.ts';
import { FakeCgroupTree, kubeContainerPath } from '../../collector/agent/fake-cgroup-tree.ts';
import { compileStaticMap } from '../../collector/agent/static-map.ts';
import { MemorySink } from '../../collector/delivery/sink.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import type { FaasEvent, LifecycleData } from '../../contract/index.ts';
import { LIFECYCLE_TYPE, parseEvent, RESOURCE_TYPE } from '../../contract/index.ts';
import { LogCapture } from '../helpers/log-capture.ts';

/**
 * The agent on v1 and hybrid hosts: the same tree as v2 hosts, but one hierarchy per controller,
 * and counters in v1 files and units. Whatever the layout, the events must be the same.
 */

const T0 = Date.UTC(2026, 2, 1, 12);
const id = (c: string) => c.repeat(64);
// v1 nodes mostly run the cgroupfs driver, so the pods here use it; one keeps systemd's paths.
const POD_A: FakePod = { uid: '0f6c1a52-8d3e-4b7a-9e21-5c4d3b2a1f00', qos: 'burstable', driver: 'cgroupfs' };
const POD_B: FakePod = { uid: '1e2d3c4b-5a69-4788-9fab-cdef01234567', qos: 'guaranteed', driver: 'systemd' };
const PODS = [
  {
    uid: POD_A.uid,
    namespace: 'team-a',
    name: 'resize-1',
    labels: { 'serving.knative.dev/service': 'resize', 'serving.knative.dev/revision': 'resize-00003' },
    containers: [
      { id: `docker://${id('a')}`, name: 'user-container' },
      { id: `docker://${id('b')}`, name: 'queue-proxy' },
    ],
  },
  { uid: POD_B.uid, namespace: 'openfaas-fn', name: 'figlet-1', labels: { faas_function: 'figlet' }, containers: [{ id: id('d'), name: 'figlet' }] },
];
const BILLING = 'system.slice/fn-billing.service';

const instanceOf = (e: FaasEvent): string => (e.data as { instance: string }).instance;
/** In instance order: the walk's order is the directory listing's, which no filesystem promises. */
const sorted = (events: FaasEvent[]): FaasEvent[] => [...events].sort((x, y) => instanceOf(x).localeCompare(instanceOf(y)));
const lifecycles = (events: FaasEvent[]): LifecycleData[] =>
  events.filter((e): e is Extract<FaasEvent, { type: typeof LIFECYCLE_TYPE }> => e.type === LIFECYCLE_TYPE).map((e) => e.data);

describe('agent over v1 and hybrid cgroup trees', () => {
  let dir: string;
  let metadataFile: string;
  let logs: LogCapture;
  const agents: Agent[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faasmeter-agent-v1-'));
    metadataFile = join(dir, 'pods.json');
    await writeFile(metadataFile, JSON.stringify(PODS));
    logs = new LogCapture();
  });

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  async function nodeTree(layout: FakeLayout, counters: { a: FakeCounters; b: FakeCounters; d: FakeCounters; billing: FakeCounters }): Promise<FakeCgroupTree> {
    const tree = new FakeCgroupTree(join(dir, layout), layout);
    await tree.init();
    await tree.write('system.slice/containerd.service', { usageUsec: 5, memoryCurrentBytes: 5 });
    await tree.write(kubeContainerPath(POD_A, id('a'), 'docker'), counters.a);
    await tree.write(kubeContainerPath(POD_A, id('b'), 'docker'), counters.b);
    await tree.write(kubeContainerPath(POD_B, id('d')), counters.d);
    await tree.write(BILLING, counters.billing);
    return tree;
  }

  function makeAgent(tree: FakeCgroupTree, sink: MemorySink, clock: { now: number }, fs: CgroupFs = nodeCgroupFs): Agent {
    const agent = createAgent(
      {
        cgroupRoot: tree.root,
        sampleIntervalMs: 3_600_000,
        podMetadataFile: metadataFile,
        staticMap: compileStaticMap([{ path: 'system.slice/fn-*.service', tenant: 'finance', function: '$1', revision: 'v1' }]),
        skipContainers: DEFAULT_SKIP_CONTAINERS.split(','),
        node: 'node-1',
      },
      { sink, meter: createTelemetry('agent-v1-test').meter, log: logs.logger, fs, now: () => clock.now },
    );
    agents.push(agent);
    return agent;
  }

  /** One sample ten seconds after the last; returns the events it emitted, each valid by the contract. */
  async function tick(agent: Agent, sink: MemorySink, clock: { now: number }): Promise<FaasEvent[]> {
    clock.now += 10_000;
    const before = sink.events.length;
    await agent.sampleOnce();
    const events = sink.events.slice(before);
    for (const e of events) expect(parseEvent(JSON.parse(JSON.stringify(e)), { nowMs: clock.now })).toMatchObject({ ok: true });
    return events;
  }

  const counters = {
    a: { usageUsec: 1_500_000, throttledUsec: 2_000, memoryCurrentBytes: 50 << 20, memoryPeakBytes: 80 << 20, oomKills: 1 },
    b: { usageUsec: 900_000, memoryCurrentBytes: 20 << 20, memoryPeakBytes: 25 << 20 },
    d: { usageUsec: 250_000, memoryCurrentBytes: 12 << 20, memoryPeakBytes: 16 << 20 },
    billing: { usageUsec: 42, throttledUsec: 7, memoryCurrentBytes: 4096, memoryPeakBytes: 8192 },
  };

  it.each<FakeLayout>(['v1', 'v1-combined-cpu'])('emits exactly the events a v2 host with the same counters emits (%s)', async (layout) => {
    const v2 = await nodeTree('v2', counters);
    const v1 = await nodeTree(layout, counters);
    const sinks = { v2: new MemorySink(), v1: new MemorySink() };
    const clocks = { v2: { now: T0 }, v1: { now: T0 } };
    const agentV2 = makeAgent(v2, sinks.v2, clocks.v2);
    const agentV1 = makeAgent(v1, sinks.v1, clocks.v1);
    const events = sorted(await tick(agentV1, sinks.v1, clocks.v1));
    expect(events).toEqual(sorted(await tick(agentV2, sinks.v2, clocks.v2)));
    expect(events.map((e) => e.data)).toEqual([
      expect.objectContaining({ function: 'figlet', instance: 'figlet-1', cpuUsageUs: 250_000, cpuThrottledUs: 0 }),
      expect.objectContaining({ function: 'billing', instance: `node-1:${BILLING}`, cpuUsageUs: 42, cpuThrottledUs: 7, memoryPeakBytes: 8192 }),
      expect.objectContaining({ function: 'resize', instance: 'resize-1', cpuUsageUs: 1_500_000, cpuThrottledUs: 2_000, memoryCurrentBytes: 50 << 20, memoryPeakBytes: 80 << 20, oomKills: 1 }),
    ]);
    expect(events.every((e) => e.type === RESOURCE_TYPE)).toBe(true);
  });

  it('tracks lifecycle on v1: created on appearance, stopped with reason oom after an OOM kill, scale_to_zero otherwise', async () => {
    const tree = await nodeTree('v1', counters);
    const sink = new MemorySink();
    const clock = { now: T0 };
    const agent = makeAgent(tree, sink, clock);
    await tick(agent, sink, clock);

    await tree.write('system.slice/fn-report.service', { usageUsec: 10, memoryCurrentBytes: 1 << 20 });
    expect(lifecycles(await tick(agent, sink, clock))).toEqual([
      { tenant: 'finance', function: 'report', revision: 'v1', instance: 'node-1:system.slice/fn-report.service', phase: 'created', timeMs: T0 + 20_000 },
    ]);

    await tree.write(BILLING, { ...counters.billing, oomKills: 1 });
    expect(lifecycles(await tick(agent, sink, clock))).toEqual([]);
    expect(logs.lines.find((l) => l.msg === 'OOM kill in a running instance; it survived')).toMatchObject({ function: 'billing', newOomKills: 1 });

    await tree.remove(BILLING);
    await tree.remove('system.slice/fn-report.service');
    expect(lifecycles(sorted(await tick(agent, sink, clock)))).toEqual([
      expect.objectContaining({ function: 'billing', phase: 'stopped', stopReason: 'oom' }),
      expect.objectContaining({ function: 'report', phase: 'stopped', stopReason: 'scale_to_zero' }),
    ]);
  });

  it('without a cpu hierarchy, warns once at start and reports zero throttling', async () => {
    const tree = await nodeTree('v1', counters);
    await rm(join(tree.root, 'cpu'), { recursive: true });
    const sink = new MemorySink();
    const agent = makeAgent(tree, sink, { now: T0 });
    await agent.start();
    const warnings = logs.lines.filter((l) => l.msg === 'cpu controller not available: CPU throttling is not accounted (cpuThrottledUs stays 0)');
    expect(warnings).toEqual([expect.objectContaining({ layout: 'v1', level: 40 })]);
    expect(logs.lines.find((l) => l.msg === 'cgroup layout')).toMatchObject({ layout: 'v1', hierarchies: { memory: join(tree.root, 'memory') } });
    expect(logs.lines.find((l) => l.msg === 'cgroup layout')).not.toHaveProperty('hierarchies.cpu');
    expect(sink.events.map((e) => (e.data as { cpuThrottledUs: number }).cpuThrottledUs)).toEqual([0, 0, 0]);
  });

  it('skips an instance missing from the cpuacct hierarchy as missing_file, neither stopping nor re-creating it', async () => {
    const tree = await nodeTree('v1', counters);
    const sink = new MemorySink();
    const clock = { now: T0 };
    const agent = makeAgent(tree, sink, clock);
    await tick(agent, sink, clock);
    await rm(tree.dir(BILLING, 'cpuacct'), { recursive: true });
    clock.now += 10_000;
    expect(await agent.sampleOnce()).toMatchObject({ ok: true, tracked: 3, resourceEvents: 2, lifecycleEvents: 0, errors: { missing_file: 1 } });
    expect(logs.lines.find((l) => String(l.msg).startsWith('cannot read a cgroup'))).toMatchObject({ path: BILLING, reason: 'missing_file' });
    await tree.write(BILLING, counters.billing);
    const events = await tick(agent, sink, clock);
    expect(lifecycles(events)).toEqual([]);
    expect(events).toHaveLength(3);
  });

  it('discovers cgroups in the memory hierarchy only, and counts one removed mid-sample as vanished', async () => {
    const tree = await nodeTree('v1', counters);
    // Only in cpuacct: not a cgroup the agent can meter memory of, so never discovered.
    await new FakeCgroupTree(join(tree.root, 'cpuacct'), 'v2').write('system.slice/fn-ghost.service', { usageUsec: 1, memoryCurrentBytes: 1 });
    const victim = tree.dir(BILLING, 'memory');
    let armed = false;
    const racing: CgroupFs = {
      ...nodeCgroupFs,
      readFile: async (path) => {
        if (armed && path.startsWith(victim)) await tree.remove(BILLING);
        return nodeCgroupFs.readFile(path);
      },
    };
    const sink = new MemorySink();
    const clock = { now: T0 };
    const agent = makeAgent(tree, sink, clock, racing);
    expect(sorted(await tick(agent, sink, clock)).map(instanceOf)).toEqual(['figlet-1', `node-1:${BILLING}`, 'resize-1']);
    armed = true;
    clock.now += 10_000;
    const before = sink.events.length;
    const report = await agent.sampleOnce();
    expect(report).toMatchObject({ ok: true, resourceEvents: 2, errors: { vanished: 1 } });
    expect(lifecycles(sink.events.slice(before))).toEqual([expect.objectContaining({ function: 'billing', phase: 'stopped', stopReason: 'scale_to_zero' })]);
  });
});
