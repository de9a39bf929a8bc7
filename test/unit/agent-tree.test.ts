import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../collector/agent/agent.ts';
import { createAgent } from '../../collector/agent/agent.ts';
import type { CgroupFs } from '../../collector/agent/cgroup-fs.ts';
import { nodeCgroupFs } from '../../collector/agent/cgroup-fs.ts';
import { DEFAULT_SKIP_CONTAINERS } from '../../collector/agent/config.ts';
import type { FakeCounters, FakePod } from '../../collector/agent/fake-cgroup-tree.ts';
import { FakeCgroupTree, kubeContainerPath } from '../../collector/agent/fake-cgroup-tree.ts';
import type { PodMetadata } from '../../collector/agent/kubernetes.ts';
import { checkCgroupRoot } from '../../collector/agent/layout.ts';
import { compileStaticMap } from '../../collector/agent/static-map.ts';
import { MemorySink } from '../../collector/delivery/sink.ts';
import { ConfigError } from '../../common/config.ts';
import { startOpsServer } from '../../common/ops-server.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import type { FaasEvent, LifecycleData, ResourceData } from '../../contract/index.ts';
import { LIFECYCLE_TYPE, parseEvent, RESOURCE_TYPE } from '../../contract/index.ts';
import { waitFor } from '../helpers/wait.ts';
import { LogCapture } from '../helpers/log-capture.ts';

const T0 = Date.UTC(2026, 2, 1, 12);
const id = (c: string) => c.repeat(64);

interface PodSpec {
  pod: FakePod;
  meta: Omit<PodMetadata, 'uid'>;
  /** container id → counters; containers not in meta.containers are the sandbox. */
  cgroups: Record<string, FakeCounters>;
}

/** A Kubernetes node's tree: Knative pod A (function + queue-proxy + sandbox), OpenFaaS pod B, CoreDNS. */
function nodePods(): Record<string, PodSpec> {
  return {
    a: {
      pod: { uid: '0f6c1a52-8d3e-4b7a-9e21-5c4d3b2a1f00', qos: 'burstable', driver: 'systemd' },
      meta: {
        namespace: 'team-a',
        name: 'resize-00003-deployment-5d8f7-abcde',
        labels: { 'serving.knative.dev/service': 'resize', 'serving.knative.dev/revision': 'resize-00003', 'faasmeter.dev/tenant': 'acme' },
        containers: [
          { id: `containerd://${id('a')}`, name: 'user-container' },
          { id: `containerd://${id('b')}`, name: 'queue-proxy' },
        ],
      },
      cgroups: {
        [id('a')]: { usageUsec: 1_500_000, throttledUsec: 2_000, memoryCurrentBytes: 50 << 20, memoryPeakBytes: 80 << 20 },
        [id('b')]: { usageUsec: 900_000, memoryCurrentBytes: 20 << 20, memoryPeakBytes: 25 << 20 },
        [id('c')]: { usageUsec: 1_000, memoryCurrentBytes: 300 << 10, memoryPeakBytes: 400 << 10 },
      },
    },
    b: {
      pod: { uid: '1e2d3c4b-5a69-4788-9fab-cdef01234567', qos: 'guaranteed', driver: 'systemd' },
      meta: {
        namespace: 'openfaas-fn',
        name: 'figlet-7c9b8d-xyz12',
        labels: { faas_function: 'figlet' },
        containers: [{ id: `containerd://${id('d')}`, name: 'figlet' }],
      },
      cgroups: { [id('d')]: { usageUsec: 250_000, memoryCurrentBytes: 12 << 20, memoryPeakBytes: 16 << 20 } },
    },
    dns: {
      pod: { uid: '2a2a2a2a-5a69-4788-9fab-cdef01234567', qos: 'burstable', driver: 'systemd' },
      meta: { namespace: 'kube-system', name: 'coredns-1', labels: { 'k8s-app': 'kube-dns' }, containers: [{ id: id('e'), name: 'coredns' }] },
      cgroups: { [id('e')]: { usageUsec: 77, memoryCurrentBytes: 1 << 20, memoryPeakBytes: 1 << 20 } },
    },
  };
}

const isResource = (e: FaasEvent): e is Extract<FaasEvent, { type: typeof RESOURCE_TYPE }> => e.type === RESOURCE_TYPE;
const isLifecycle = (e: FaasEvent): e is Extract<FaasEvent, { type: typeof LIFECYCLE_TYPE }> => e.type === LIFECYCLE_TYPE;

describe('agent over a cgroup tree', () => {
  let dir: string;
  let tree: FakeCgroupTree;
  let metadataFile: string;
  let pods: Record<string, PodSpec>;
  let sink: MemorySink;
  let clock: number;
  let logs: LogCapture;
  let agent: Agent;

  async function writePod(spec: PodSpec): Promise<void> {
    for (const [cid, counters] of Object.entries(spec.cgroups)) await tree.write(kubeContainerPath(spec.pod, cid), counters);
  }

  async function writeMetadata(): Promise<void> {
    const list = Object.values(pods).map((p) => ({ uid: p.pod.uid, ...p.meta }));
    // Written aside and renamed, as the metadata sidecar does, so the agent never reads half a file.
    await writeFile(`${metadataFile}.tmp`, JSON.stringify(list));
    await rename(`${metadataFile}.tmp`, metadataFile);
  }

  function makeAgent(fs: CgroupFs = nodeCgroupFs, extra: Partial<Parameters<typeof createAgent>[0]> = {}): Agent {
    return createAgent(
      {
        cgroupRoot: tree.root,
        sampleIntervalMs: 10_000,
        podMetadataFile: metadataFile,
        staticMap: [],
        skipContainers: DEFAULT_SKIP_CONTAINERS.split(','),
        node: 'node-1',
        ...extra,
      },
      { sink, meter: createTelemetry('agent-test').meter, log: logs.logger, fs, now: () => clock },
    );
  }

  /** One sample ten seconds after the last; returns only the events it emitted, each validated by the contract. */
  async function tick(a: Agent = agent): Promise<FaasEvent[]> {
    clock += 10_000;
    const before = sink.events.length;
    await a.sampleOnce();
    const events = sink.events.slice(before);
    for (const e of events) {
      const parsed = parseEvent(JSON.parse(JSON.stringify(e)), { nowMs: clock });
      expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
    }
    return events;
  }

  const resources = (events: FaasEvent[]): Record<string, ResourceData> =>
    Object.fromEntries(events.filter(isResource).map((e) => [e.data.instance, e.data]));
  const lifecycles = (events: FaasEvent[]): LifecycleData[] => events.filter(isLifecycle).map((e) => e.data);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faasmeter-agent-tree-'));
    tree = new FakeCgroupTree(join(dir, 'cgroup'));
    await tree.init();
    // What else lives on a node: system services, the kubelet's own slices, the pod cgroups themselves.
    await tree.write('system.slice/containerd.service', { usageUsec: 5, memoryCurrentBytes: 5 });
    await tree.write('kubepods.slice/kubepods-burstable.slice', { usageUsec: 5, memoryCurrentBytes: 5 });
    metadataFile = join(dir, 'pods.json');
    pods = nodePods();
    for (const spec of Object.values(pods)) await writePod(spec);
    await writeMetadata();
    sink = new MemorySink();
    clock = T0;
    logs = new LogCapture();
    agent = makeAgent();
  });

  afterEach(async () => {
    await agent.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('emits one resource event per function pod with the function container\'s counters, leaving out sidecar, sandbox and non-functions', async () => {
    const events = await tick();
    expect(lifecycles(events)).toEqual([]);
    expect(resources(events)).toEqual({
      'resize-00003-deployment-5d8f7-abcde': {
        tenant: 'acme',
        function: 'resize',
        revision: 'resize-00003',
        instance: 'resize-00003-deployment-5d8f7-abcde',
        timeMs: T0 + 10_000,
        cpuUsageUs: 1_500_000,
        cpuThrottledUs: 2_000,
        memoryCurrentBytes: 50 << 20,
        memoryPeakBytes: 80 << 20,
        oomKills: 0,
      },
      'figlet-7c9b8d-xyz12': {
        tenant: 'openfaas-fn',
        function: 'figlet',
        revision: 'unknown',
        instance: 'figlet-7c9b8d-xyz12',
        timeMs: T0 + 10_000,
        cpuUsageUs: 250_000,
        cpuThrottledUs: 0,
        memoryCurrentBytes: 12 << 20,
        memoryPeakBytes: 16 << 20,
        oomKills: 0,
      },
    });
    const first = events.find(isResource)!;
    expect(first.source).toBe('faasmeter/agent/node-1');
    expect(first.id).toBe(`${first.data.instance}:r:${T0 + 10_000}`);
    const report = await agent.sampleOnce();
    expect(report.unmapped).toEqual({ unknown_pod: 0, unlisted_container: 1, not_a_function: 1, invalid_identity: 0 });
    expect(report.tracked).toBe(2);
  });

  it('emits the counters as read each time (cumulative), without lifecycle events while nothing changes', async () => {
    await tick();
    pods.a!.cgroups[id('a')] = { usageUsec: 2_600_000, throttledUsec: 2_500, memoryCurrentBytes: 60 << 20, memoryPeakBytes: 90 << 20 };
    await writePod(pods.a!);
    const events = await tick();
    expect(lifecycles(events)).toEqual([]);
    expect(resources(events)['resize-00003-deployment-5d8f7-abcde']).toMatchObject({ cpuUsageUs: 2_600_000, cpuThrottledUs: 2_500, memoryPeakBytes: 90 << 20 });
  });

  it('emits created for a pod that appears after the first sample, then its resource event', async () => {
    await tick();
    pods.c = {
      pod: { uid: '3b3b3b3b-5a69-4788-9fab-cdef01234567', qos: 'besteffort', driver: 'systemd' },
      meta: {
        namespace: 'team-b',
        name: 'hello-00001-deployment-1',
        labels: { 'serving.knative.dev/service': 'hello', 'serving.knative.dev/revision': 'hello-00001' },
        containers: [{ id: id('f'), name: 'user-container' }],
      },
      cgroups: { [id('f')]: { usageUsec: 10, memoryCurrentBytes: 1 << 20, memoryPeakBytes: 1 << 20 } },
    };
    await writePod(pods.c);
    await writeMetadata();
    const events = await tick();
    expect(lifecycles(events)).toEqual([
      { tenant: 'team-b', function: 'hello', revision: 'hello-00001', instance: 'hello-00001-deployment-1', phase: 'created', timeMs: T0 + 20_000 },
    ]);
    const createdAt = events.findIndex(isLifecycle);
    const resourceAt = events.findIndex((e) => isResource(e) && e.data.instance === 'hello-00001-deployment-1');
    expect(createdAt).toBeLessThan(resourceAt);
    expect(Object.keys(resources(events))).toHaveLength(3);
  });

  it('waits for the metadata file to list a new pod: until then it is counted unmapped, not guessed', async () => {
    await tick();
    const uid = '4c4c4c4c-5a69-4788-9fab-cdef01234567';
    await tree.write(kubeContainerPath({ uid, qos: 'burstable', driver: 'systemd' }, id('9')), { usageUsec: 1, memoryCurrentBytes: 1 });
    const report = await agent.sampleOnce();
    expect(report.unmapped.unknown_pod).toBe(1);
    expect(report.lifecycleEvents).toBe(0);
  });

  it('logs and reports an OOM kill the instance survived, then stops it with reason oom when it disappears', async () => {
    await tick();
    pods.a!.cgroups[id('a')] = { usageUsec: 1_700_000, memoryCurrentBytes: 10 << 20, memoryPeakBytes: 128 << 20, oomKills: 1 };
    await writePod(pods.a!);
    const survived = await tick();
    expect(lifecycles(survived)).toEqual([]);
    expect(resources(survived)['resize-00003-deployment-5d8f7-abcde']).toMatchObject({ oomKills: 1, memoryPeakBytes: 128 << 20 });
    const oomLog = logs.lines.find((l) => l.msg === 'OOM kill in a running instance; it survived');
    expect(oomLog).toMatchObject({ level: 40, instance: 'resize-00003-deployment-5d8f7-abcde', newOomKills: 1 });

    // The OOM killed the pod before the next sample: the oom_kill rise was its last sign of life.
    await tree.remove(kubeContainerPath(pods.a!.pod, id('a')).split('/').slice(0, -1).join('/'));
    const gone = await tick();
    expect(lifecycles(gone)).toEqual([
      { tenant: 'acme', function: 'resize', revision: 'resize-00003', instance: 'resize-00003-deployment-5d8f7-abcde', phase: 'stopped', timeMs: T0 + 30_000, stopReason: 'oom' },
    ]);
    expect(resources(gone)['resize-00003-deployment-5d8f7-abcde']).toBeUndefined();
  });

  it('stops a pod that disappears without an OOM kill with reason scale_to_zero, once', async () => {
    await tick();
    pods.b!.cgroups[id('d')] = { usageUsec: 300_000, memoryCurrentBytes: 12 << 20, memoryPeakBytes: 16 << 20, oomKills: 0 };
    await writePod(pods.b!);
    await tick();
    await tree.remove(kubeContainerPath(pods.b!.pod, id('d')));
    expect(lifecycles(await tick())).toEqual([expect.objectContaining({ instance: 'figlet-7c9b8d-xyz12', phase: 'stopped', stopReason: 'scale_to_zero' })]);
    expect(lifecycles(await tick())).toEqual([]);
  });

  it('an OOM kill long before the pod goes away does not make the stop an OOM stop', async () => {
    await tick();
    pods.b!.cgroups[id('d')] = { usageUsec: 300_000, memoryCurrentBytes: 12 << 20, memoryPeakBytes: 16 << 20, oomKills: 1 };
    await writePod(pods.b!);
    await tick();
    await tick();
    await tree.remove(kubeContainerPath(pods.b!.pod, id('d')));
    expect(lifecycles(await tick())).toEqual([expect.objectContaining({ phase: 'stopped', stopReason: 'scale_to_zero' })]);
  });

  it('emits created again when usage_usec goes backwards (a container restarted under the same path)', async () => {
    await tick();
    pods.b!.cgroups[id('d')] = { usageUsec: 4_000, memoryCurrentBytes: 3 << 20, memoryPeakBytes: 3 << 20 };
    await writePod(pods.b!);
    const events = await tick();
    expect(lifecycles(events)).toEqual([expect.objectContaining({ instance: 'figlet-7c9b8d-xyz12', phase: 'created', timeMs: T0 + 20_000 })]);
    expect(resources(events)['figlet-7c9b8d-xyz12']).toMatchObject({ cpuUsageUs: 4_000, memoryPeakBytes: 3 << 20 });
    // The new series continues normally.
    pods.b!.cgroups[id('d')] = { usageUsec: 9_000, memoryCurrentBytes: 3 << 20, memoryPeakBytes: 3 << 20 };
    await writePod(pods.b!);
    expect(lifecycles(await tick())).toEqual([]);
  });

  it('starts a new series when a pod\'s container is replaced by one with a new id (Kubernetes restart)', async () => {
    await tick();
    await tree.remove(kubeContainerPath(pods.b!.pod, id('d')));
    pods.b!.meta.containers = [{ id: id('7'), name: 'figlet' }];
    pods.b!.cgroups = { [id('7')]: { usageUsec: 100, memoryCurrentBytes: 1 << 20, memoryPeakBytes: 1 << 20 } };
    await writePod(pods.b!);
    await writeMetadata();
    const events = await tick();
    expect(lifecycles(events)).toEqual([expect.objectContaining({ instance: 'figlet-7c9b8d-xyz12', phase: 'created' })]);
    expect(resources(events)['figlet-7c9b8d-xyz12']).toMatchObject({ cpuUsageUs: 100 });
  });

  it('tolerates a file vanishing: the instance is skipped that sample, neither stopped nor re-created', async () => {
    await tick();
    const dirA = join(tree.root, kubeContainerPath(pods.a!.pod, id('a')));
    await rm(join(dirA, 'memory.current'));
    clock += 10_000;
    const report = await agent.sampleOnce();
    expect(report).toMatchObject({ ok: true, tracked: 2, resourceEvents: 1, lifecycleEvents: 0, errors: { missing_file: 1 } });
    clock += 10_000;
    expect(await agent.sampleOnce()).toMatchObject({ resourceEvents: 1, lifecycleEvents: 0, errors: { missing_file: 1 } });
    // A persistent failure is logged once, not every sample.
    expect(logs.messages().filter((m) => m.startsWith('cannot read a cgroup'))).toHaveLength(1);
    await writePod(pods.a!);
    const events = await tick();
    expect(lifecycles(events)).toEqual([]);
    expect(Object.keys(resources(events))).toHaveLength(2);
  });

  it('tolerates a cgroup removed between listing and reading: counted as vanished, the instance stopped', async () => {
    await tick();
    const victim = join(tree.root, kubeContainerPath(pods.b!.pod, id('d')));
    let armed = false;
    const racing: CgroupFs = {
      ...nodeCgroupFs,
      readFile: async (path) => {
        // The container is removed after the walk listed it and before its files are read.
        if (armed && path.startsWith(victim)) await rm(victim, { recursive: true, force: true });
        return nodeCgroupFs.readFile(path);
      },
    };
    const raced = makeAgent(racing);
    await tick(raced);
    armed = true;
    clock += 10_000;
    const before = sink.events.length;
    const report = await raced.sampleOnce();
    expect(report).toMatchObject({ ok: true, resourceEvents: 1 });
    expect(report.errors.vanished).toBe(1);
    expect(lifecycles(sink.events.slice(before))).toEqual([expect.objectContaining({ instance: 'figlet-7c9b8d-xyz12', phase: 'stopped', stopReason: 'scale_to_zero' })]);
  });

  it('neither stops nor re-creates instances inside a subtree that cannot be listed for a while', async () => {
    const podDir = join(tree.root, kubeContainerPath(pods.b!.pod, id('d')).split('/').slice(0, -1).join('/'));
    let deny = false;
    const flaky: CgroupFs = {
      ...nodeCgroupFs,
      listDirs: (path) => (deny && path === podDir ? Promise.reject(Object.assign(new Error('permission denied'), { code: 'EACCES' })) : nodeCgroupFs.listDirs(path)),
    };
    const a = makeAgent(flaky);
    await tick(a);
    deny = true;
    clock += 10_000;
    const before = sink.events.length;
    expect(await a.sampleOnce()).toMatchObject({ ok: true, resourceEvents: 1, lifecycleEvents: 0, tracked: 2, errors: { permission: 1 } });
    deny = false;
    const events = await tick(a);
    expect(lifecycles(sink.events.slice(before))).toEqual([]);
    expect(Object.keys(resources(events))).toHaveLength(2);
  });

  it('falls back to the largest memory.current sampled when memory.peak does not exist (Linux before 5.19)', async () => {
    pods.b!.cgroups[id('d')] = { usageUsec: 1, memoryCurrentBytes: 30 << 20 };
    await writePod(pods.b!);
    expect(resources(await tick())['figlet-7c9b8d-xyz12']).toMatchObject({ memoryCurrentBytes: 30 << 20, memoryPeakBytes: 30 << 20 });
    pods.b!.cgroups[id('d')] = { usageUsec: 2, memoryCurrentBytes: 10 << 20 };
    await writePod(pods.b!);
    expect(resources(await tick())['figlet-7c9b8d-xyz12']).toMatchObject({ memoryCurrentBytes: 10 << 20, memoryPeakBytes: 30 << 20 });
    expect(logs.messages().filter((m) => m.startsWith('memory.peak is not available'))).toHaveLength(1);
  });

  it('sums several function containers of one pod into the instance', async () => {
    pods.b!.meta.containers.push({ id: id('8'), name: 'helper' });
    pods.b!.cgroups[id('8')] = { usageUsec: 50_000, throttledUsec: 7, memoryCurrentBytes: 1 << 20, memoryPeakBytes: 2 << 20, oomKills: 1 };
    await writePod(pods.b!);
    await writeMetadata();
    expect(resources(await tick())['figlet-7c9b8d-xyz12']).toMatchObject({
      cpuUsageUs: 300_000,
      cpuThrottledUs: 7,
      memoryCurrentBytes: 13 << 20,
      memoryPeakBytes: 18 << 20,
      oomKills: 1,
    });
  });

  it('keeps instances and the last good metadata when the metadata file breaks, and reports degraded health', async () => {
    await tick();
    await writeFile(metadataFile, '{ not json');
    const events = await tick();
    expect(lifecycles(events)).toEqual([]);
    expect(Object.keys(resources(events))).toHaveLength(2);
    expect(agent.health()).toMatchObject({ status: 'degraded', detail: expect.stringMatching(/pod metadata: not JSON/) });
    await writeMetadata();
    await tick();
    expect(agent.health()).toEqual({ status: 'ok' });
  });

  it('stops nothing when the root itself cannot be listed, and reports error health', async () => {
    await tick();
    await rm(tree.root, { recursive: true, force: true });
    clock += 10_000;
    const report = await agent.sampleOnce();
    expect(report).toMatchObject({ ok: false, lifecycleEvents: 0, resourceEvents: 0 });
    expect(agent.health()).toMatchObject({ status: 'error', detail: expect.stringMatching(/cannot list/) });
  });

  it('maps plain-host cgroups through a static map, next to Kubernetes pods', async () => {
    await tree.write('system.slice/fn-billing.service', { usageUsec: 42, memoryCurrentBytes: 4096, memoryPeakBytes: 8192 });
    const mapped = makeAgent(nodeCgroupFs, {
      staticMap: compileStaticMap([{ path: 'system.slice/fn-*.service', tenant: 'finance', function: '$1', revision: 'v1' }]),
    });
    expect(resources(await tick(mapped))['node-1:system.slice/fn-billing.service']).toEqual({
      tenant: 'finance',
      function: 'billing',
      revision: 'v1',
      instance: 'node-1:system.slice/fn-billing.service',
      timeMs: T0 + 10_000,
      cpuUsageUs: 42,
      cpuThrottledUs: 0,
      memoryCurrentBytes: 4096,
      memoryPeakBytes: 8192,
      oomKills: 0,
    });
  });

  it('samples on its interval once started, and stop() ends the loop', async () => {
    const fast = createAgent(
      { cgroupRoot: tree.root, sampleIntervalMs: 100, podMetadataFile: metadataFile, staticMap: [], skipContainers: ['queue-proxy'], node: 'node-1' },
      { sink, meter: createTelemetry('agent-loop').meter, log: logs.logger },
    );
    await fast.start();
    expect(sink.events.filter(isResource)).toHaveLength(2);
    await waitFor(() => sink.events.filter(isResource).length >= 6, { timeoutMs: 5_000, what: 'three samples' });
    expect(fast.health()).toEqual({ status: 'ok' });
    await fast.stop();
    const count = sink.events.length;
    // Proving that nothing happens needs waiting: three intervals without a sample.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sink.events.length).toBe(count);
  });

  it('starts on the layout its command already checked, without probing the root again', async () => {
    const rootProbes: string[] = [];
    const counting: CgroupFs = {
      ...nodeCgroupFs,
      readFile: (path) => {
        if (path === join(tree.root, 'cgroup.controllers')) rootProbes.push(path);
        return nodeCgroupFs.readFile(path);
      },
    };
    const layout = await checkCgroupRoot(tree.root, 'auto', counting);
    expect(rootProbes).toHaveLength(1);
    const given = createAgent(
      { cgroupRoot: tree.root, sampleIntervalMs: 10_000, podMetadataFile: metadataFile, staticMap: [], skipContainers: ['queue-proxy'], node: 'node-1' },
      { sink, meter: createTelemetry('agent-layout').meter, log: logs.logger, fs: counting, layout },
    );
    await given.start();
    await given.stop();
    expect(rootProbes).toHaveLength(1);
    expect(sink.events.filter(isResource)).toHaveLength(2);
  });

  it('serves the agent metrics and readiness on the ops server', async () => {
    const telemetry = createTelemetry('agent-ops');
    const withOps = createAgent(
      { cgroupRoot: tree.root, sampleIntervalMs: 10_000, podMetadataFile: metadataFile, staticMap: [], skipContainers: ['queue-proxy'], node: 'node-1' },
      { sink, meter: telemetry.meter, log: logs.logger, now: () => clock },
    );
    await withOps.sampleOnce();
    await rm(join(tree.root, kubeContainerPath(pods.b!.pod, id('d')), 'cpu.stat'));
    await withOps.sampleOnce();
    const ops = await startOpsServer({ telemetry, components: () => [withOps], stopping: () => false }, '127.0.0.1', 0);
    try {
      const metrics = await (await fetch(`http://127.0.0.1:${ops.port}/metrics`)).text();
      expect(metrics).toMatch(/^faasmeter_agent_samples_total\{outcome="ok"\} 2$/m);
      expect(metrics).toMatch(/^faasmeter_agent_sample_duration_seconds_count 2$/m);
      expect(metrics).toMatch(/^faasmeter_agent_instances 2$/m);
      expect(metrics).toMatch(/^faasmeter_agent_unmapped_cgroups\{reason="unlisted_container"\} 1$/m);
      expect(metrics).toMatch(/^faasmeter_agent_read_errors_total\{reason="missing_file"\} 1$/m);
      const ready = await fetch(`http://127.0.0.1:${ops.port}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await ops.close();
      await telemetry.shutdown();
    }
  });
});

describe('cgroup root check', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faasmeter-agent-root-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts a v2 root with the memory controller and says whether cpu is there', async () => {
    await writeFile(join(dir, 'cgroup.controllers'), 'memory pids\n');
    expect(await checkCgroupRoot(dir)).toEqual({ version: 'v2', root: dir, cpu: false });
  });

  it('reads a hybrid host as v1, finding its separate cpu, cpuacct and memory hierarchies', async () => {
    await new FakeCgroupTree(dir, 'v1').init();
    expect(await checkCgroupRoot(dir)).toEqual({
      version: 'v1',
      root: dir,
      hierarchies: { memory: join(dir, 'memory'), cpuacct: join(dir, 'cpuacct'), cpu: join(dir, 'cpu') },
    });
  });

  it('finds a combined cpu,cpuacct hierarchy through its cpu and cpuacct symlinks, or without them', async () => {
    await new FakeCgroupTree(dir, 'v1-combined-cpu').init();
    expect(await checkCgroupRoot(dir)).toMatchObject({ version: 'v1', hierarchies: { cpuacct: join(dir, 'cpuacct'), cpu: join(dir, 'cpu') } });
    await rm(join(dir, 'cpu'));
    await rm(join(dir, 'cpuacct'));
    expect(await checkCgroupRoot(dir)).toMatchObject({ version: 'v1', hierarchies: { cpuacct: join(dir, 'cpu,cpuacct'), cpu: join(dir, 'cpu,cpuacct') } });
  });

  it('accepts a v1 root without a cpu hierarchy, with throttling unaccounted', async () => {
    await new FakeCgroupTree(dir, 'v1').init();
    await rm(join(dir, 'cpu'), { recursive: true });
    expect(await checkCgroupRoot(dir)).toMatchObject({ version: 'v1', hierarchies: { cpu: undefined } });
  });

  it('refuses a root that is neither v2 nor v1, naming what is missing and what it has', async () => {
    await mkdir(join(dir, 'memory'));
    await mkdir(join(dir, 'pids'));
    await expect(checkCgroupRoot(dir)).rejects.toThrow(ConfigError);
    await expect(checkCgroupRoot(dir)).rejects.toThrow(
      /neither a cgroup v2 hierarchy \(no cgroup.controllers\) nor a cgroup v1 root: no memory\/ hierarchy with memory.usage_in_bytes; no cpuacct\/ or cpu,cpuacct\/ hierarchy with cpuacct.usage; it has memory, pids$/,
    );
    await expect(checkCgroupRoot(join(dir, 'nowhere'))).rejects.toThrow(/it does not exist$/);
  });

  it('refuses a v2 root without the memory controller, pointing a hybrid host\'s unified mount at its parent', async () => {
    await new FakeCgroupTree(dir, 'v1').init();
    await expect(checkCgroupRoot(join(dir, 'unified'))).rejects.toThrow(
      new RegExp(`memory controller is not available on this cgroup v2 hierarchy \\(cgroup.controllers: ""\\); ${dir} has the v1 hierarchies, which the agent reads: set FAASMETER_CGROUP_ROOT=${dir}$`),
    );
    await writeFile(join(dir, 'unified', 'cgroup.controllers'), 'hugetlb\n');
    await rm(join(dir, 'memory'), { recursive: true });
    await expect(checkCgroupRoot(join(dir, 'unified'))).rejects.toThrow(/memory controller is not available .*"hugetlb"\)$/);
  });

  it('follows FAASMETER_CGROUP_LAYOUT when forced, saying what the root is instead', async () => {
    await new FakeCgroupTree(dir, 'v1').init();
    await expect(checkCgroupRoot(dir, 'v2')).rejects.toThrow(/not a cgroup v2 hierarchy: it has no cgroup.controllers; this host runs the hybrid v1\/v2 layout .*FAASMETER_CGROUP_LAYOUT=auto or v1/);
    await rm(join(dir, 'unified'), { recursive: true });
    await expect(checkCgroupRoot(dir, 'v2')).rejects.toThrow(/legacy cgroup v1 layout/);
    const v2 = join(dir, 'v2');
    await new FakeCgroupTree(v2).init();
    await expect(checkCgroupRoot(v2, 'v1')).rejects.toThrow(/is not a cgroup v1 root \(FAASMETER_CGROUP_LAYOUT=v1\): no memory\/ hierarchy/);
    expect(await checkCgroupRoot(v2, 'v2')).toMatchObject({ version: 'v2', cpu: true });
  });
});
