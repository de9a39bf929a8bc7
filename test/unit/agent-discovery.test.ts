import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentCommandConfig, DEFAULT_SKIP_CONTAINERS } from '../../collector/agent/config.ts';
import type { Mapping } from '../../collector/agent/discovery.ts';
import { classify, discover } from '../../collector/agent/discovery.ts';
import { kubeContainerPath } from '../../collector/agent/fake-cgroup-tree.ts';
import type { PodMetadata } from '../../collector/agent/kubernetes.ts';
import { identityFromPod, normalizeContainerId, parseKubePath, PodIndex, PodMetadataFile } from '../../collector/agent/kubernetes.ts';
import { compileGlob, compileStaticMap, matchStaticMap } from '../../collector/agent/static-map.ts';
import { ConfigError } from '../../common/config.ts';

const UID = '8a3c2f1e-5b7d-4e9a-9c1b-2d3e4f5a6b7c';
const UID_ = UID.replaceAll('-', '_');
const ID = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8);

describe('Kubernetes cgroup paths', () => {
  const cases: Array<[string, string, object]> = [
    ['systemd, burstable, containerd', `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`, { qos: 'burstable', driver: 'systemd' }],
    ['systemd, besteffort, CRI-O', `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope`, { qos: 'besteffort', driver: 'systemd' }],
    ['systemd, guaranteed (no QoS slice), cri-dockerd', `kubepods.slice/kubepods-pod${UID_}.slice/docker-${ID}.scope`, { qos: 'guaranteed', driver: 'systemd' }],
    ['systemd below kind\'s kubelet.slice', `kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`, { qos: 'burstable', driver: 'systemd' }],
    ['cgroupfs, burstable, containerd', `kubepods/burstable/pod${UID}/${ID}`, { qos: 'burstable', driver: 'cgroupfs' }],
    ['cgroupfs, besteffort, CRI-O', `kubepods/besteffort/pod${UID}/crio-${ID}`, { qos: 'besteffort', driver: 'cgroupfs' }],
    ['cgroupfs, guaranteed', `kubepods/pod${UID}/${ID}`, { qos: 'guaranteed', driver: 'cgroupfs' }],
  ];
  for (const [name, path, expected] of cases) {
    it(`maps ${name} to pod UID (with dashes) and container id`, () => {
      expect(parseKubePath(path)).toEqual({ podUid: UID, containerId: ID, ...expected });
    });
  }

  it('agrees with the fake tree writer for every driver and QoS class', () => {
    for (const driver of ['systemd', 'cgroupfs'] as const) {
      for (const qos of ['guaranteed', 'burstable', 'besteffort'] as const) {
        expect(parseKubePath(kubeContainerPath({ uid: UID, qos, driver }, ID))).toEqual({ podUid: UID, containerId: ID, qos, driver });
      }
    }
  });

  it('accepts static pods, whose UID is a 32-hex config hash', () => {
    expect(parseKubePath(`kubepods/burstable/pod0123456789abcdef0123456789abcdef/${ID}`)?.podUid).toBe('0123456789abcdef0123456789abcdef');
  });

  it('is not fooled by the pod cgroup itself, CRI-O conmon, nested cgroups or paths outside kubepods', () => {
    expect(parseKubePath(`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`)).toBeUndefined();
    expect(parseKubePath(`kubepods/burstable/pod${UID}`)).toBeUndefined();
    expect(parseKubePath(`kubepods.slice/kubepods-pod${UID_}.slice/crio-conmon-${ID}.scope`)).toBeUndefined();
    expect(parseKubePath(`kubepods/pod${UID}/${ID}/init.scope`)).toBeUndefined();
    expect(parseKubePath(`system.slice/pod${UID}/${ID}`)).toBeUndefined();
    expect(parseKubePath(`system.slice/docker-${ID}.scope`)).toBeUndefined();
    expect(parseKubePath('')).toBeUndefined();
  });

  it('strips the runtime scheme from container ids as pod status reports them', () => {
    expect(normalizeContainerId(`containerd://${ID.toUpperCase()}`)).toBe(ID);
    expect(normalizeContainerId(`cri-o://${ID}`)).toBe(ID);
    expect(normalizeContainerId(ID)).toBe(ID);
  });
});

describe('labels to function identity', () => {
  const pod = (labels: Record<string, string>) => ({ namespace: 'team-a', name: 'resize-00003-deployment-7d9f-x2x', labels });

  it('reads a Knative service and revision; the tenant is the namespace; the instance the pod', () => {
    expect(identityFromPod(pod({ 'serving.knative.dev/service': 'resize', 'serving.knative.dev/revision': 'resize-00003' }))).toEqual({
      tenant: 'team-a',
      function: 'resize',
      revision: 'resize-00003',
      instance: 'resize-00003-deployment-7d9f-x2x',
    });
  });

  it('reads an OpenFaaS function; without a revision label the revision is "unknown"', () => {
    expect(identityFromPod(pod({ faas_function: 'figlet' }))).toMatchObject({ function: 'figlet', revision: 'unknown', tenant: 'team-a' });
  });

  it('lets faasmeter.dev labels override what the platform set, tenant included', () => {
    const labels = {
      'serving.knative.dev/service': 'resize',
      'serving.knative.dev/revision': 'resize-00003',
      'faasmeter.dev/function': 'thumbnails',
      'faasmeter.dev/revision': 'v3',
      'faasmeter.dev/tenant': 'acme',
    };
    expect(identityFromPod(pod(labels))).toMatchObject({ function: 'thumbnails', revision: 'v3', tenant: 'acme' });
  });

  it('treats a pod without any function label as no function, and ignores empty label values', () => {
    expect(identityFromPod(pod({ app: 'nginx' }))).toBeUndefined();
    expect(identityFromPod(pod({ 'faasmeter.dev/function': '', faas_function: 'figlet' }))?.function).toBe('figlet');
  });
});

describe('pod metadata decisions per container', () => {
  const pods: PodMetadata[] = [
    {
      uid: UID,
      namespace: 'team-a',
      name: 'resize-1',
      labels: { 'serving.knative.dev/service': 'resize' },
      containers: [
        { id: `containerd://${'1'.repeat(64)}`, name: 'user-container' },
        { id: `containerd://${'2'.repeat(64)}`, name: 'queue-proxy' },
        { id: `docker://${'3'.repeat(12)}`, name: 'POD' },
      ],
    },
    { uid: '11111111-2222-3333-4444-555555555555', namespace: 'kube-system', name: 'coredns-1', labels: {}, containers: [{ id: '4'.repeat(64), name: 'coredns' }] },
  ];
  const index = new PodIndex(pods);
  const skip = new Set(DEFAULT_SKIP_CONTAINERS.split(','));
  const at = (uid: string, id: string) => ({ podUid: uid, containerId: id, qos: 'burstable' as const, driver: 'cgroupfs' as const });

  it('maps the function container and skips queue-proxy and the pause container by name', () => {
    expect(index.decide(at(UID, '1'.repeat(64)), skip)).toMatchObject({ kind: 'function', identity: { function: 'resize', instance: 'resize-1' } });
    expect(index.decide(at(UID, '2'.repeat(64)), skip)).toEqual({ kind: 'skipped', why: 'sidecar' });
    expect(index.decide(at(UID, '3'.repeat(64)), skip)).toEqual({ kind: 'skipped', why: 'pause' });
  });

  it('reports unknown pods, unlisted containers (the sandbox) and non-function pods as unmapped', () => {
    expect(index.decide(at('99999999-2222-3333-4444-555555555555', '1'.repeat(64)), skip)).toEqual({ kind: 'unmapped', reason: 'unknown_pod' });
    expect(index.decide(at(UID, '9'.repeat(64)), skip)).toEqual({ kind: 'unmapped', reason: 'unlisted_container' });
    expect(index.decide(at('11111111-2222-3333-4444-555555555555', '4'.repeat(64)), skip)).toEqual({ kind: 'unmapped', reason: 'not_a_function' });
  });
});

describe('static map', () => {
  it('matches * within one path segment only', () => {
    expect(compileGlob('system.slice/fn-*.service').test('system.slice/fn-resize.service')).toBe(true);
    expect(compileGlob('system.slice/*.service').test('system.slice/a/b.service')).toBe(false);
    expect(compileGlob('/machine.slice/x+y(1).scope/').test('machine.slice/x+y(1).scope')).toBe(true);
    expect(compileGlob('/').test('')).toBe(true);
  });

  it('takes the first matching entry, substitutes $n captures, and defaults revision and instance', () => {
    const rules = compileStaticMap([
      { path: 'system.slice/billing.service', tenant: 'finance', function: 'billing', revision: 'r7', instance: 'billing-a' },
      { path: 'system.slice/fn-*-*.service', tenant: '$1', function: '$2' },
    ]);
    expect(matchStaticMap(rules, 'system.slice/billing.service', 'node-1')).toEqual({
      kind: 'function',
      identity: { tenant: 'finance', function: 'billing', revision: 'r7', instance: 'billing-a' },
    });
    expect(matchStaticMap(rules, 'system.slice/fn-acme-resize.service', 'node-1')).toEqual({
      kind: 'function',
      identity: { tenant: 'acme', function: 'resize', revision: 'unknown', instance: 'node-1:system.slice/fn-acme-resize.service' },
    });
    expect(matchStaticMap(rules, 'system.slice/sshd.service', 'node-1')).toBeUndefined();
  });

  it('rejects an invalid map at start-up, naming the entry and field', () => {
    expect(() => compileStaticMap([{ path: 'a', tenant: 'has space', function: 'f' }])).toThrow(ConfigError);
    expect(() => compileStaticMap([{ path: 'a', tenant: 'has space', function: 'f' }])).toThrow(/0\.tenant/);
    expect(() => compileStaticMap([{ path: 'a', tenant: 't' }])).toThrow(/0\.function/);
    expect(() => compileStaticMap([{ path: 'a', tenant: 't', function: 'f', extra: 1 }])).toThrow(/extra/);
    expect(() => compileStaticMap({ path: 'a' })).toThrow(/expected array/);
  });

  it('reports a substituted identity the contract would reject as invalid rather than emitting it', () => {
    const rules = compileStaticMap([{ path: 'user.slice/*', tenant: '$1', function: 'f' }]);
    expect(matchStaticMap(rules, 'user.slice/-bad', 'n')).toMatchObject({ kind: 'invalid', message: expect.stringMatching(/^tenant "-bad"/) });
  });
});

describe('discovery', () => {
  const index = new PodIndex([
    {
      uid: UID,
      namespace: 'team-a',
      name: 'resize-1',
      labels: { 'serving.knative.dev/service': 'resize' },
      containers: [
        { id: '1'.repeat(64), name: 'user-container' },
        { id: '5'.repeat(64), name: 'helper' },
        { id: '2'.repeat(64), name: 'queue-proxy' },
      ],
    },
  ]);
  const mapping: Mapping = {
    staticRules: compileStaticMap([
      { path: 'system.slice/billing.service', tenant: 'finance', function: 'billing', instance: 'billing' },
      { path: 'system.slice/billing.service/*', tenant: 'finance', function: 'billing', instance: 'billing' },
      { path: `kubepods/burstable/pod${UID}/${'2'.repeat(64)}`, tenant: 'ops', function: 'proxy-itself' },
    ]),
    pods: index,
    skipContainers: new Set(['queue-proxy']),
    node: 'node-1',
  };

  it('sums a pod\'s function containers into one instance and leaves its sidecar out', () => {
    const pod = `kubepods/burstable/pod${UID}`;
    const d = discover([`${pod}/${'1'.repeat(64)}`, `${pod}/${'5'.repeat(64)}`, pod, 'kubepods', ''], { ...mapping, staticRules: [] });
    expect([...d.instances.values()]).toEqual([
      { key: expect.any(String), identity: { tenant: 'team-a', function: 'resize', revision: 'unknown', instance: 'resize-1' }, paths: [`${pod}/${'1'.repeat(64)}`, `${pod}/${'5'.repeat(64)}`] },
    ]);
  });

  it('drops a mapped cgroup below another cgroup of the same instance (counters are hierarchical)', () => {
    const d = discover(['system.slice', 'system.slice/billing.service', 'system.slice/billing.service/worker.scope'], mapping);
    expect([...d.instances.values()].map((i) => i.paths)).toEqual([['system.slice/billing.service']]);
  });

  it('lets a static entry win over pod labels', () => {
    expect(classify(`kubepods/burstable/pod${UID}/${'2'.repeat(64)}`, mapping)).toMatchObject({ kind: 'function', identity: { function: 'proxy-itself' } });
  });

  it('counts unmapped container cgroups by reason but never plain cgroups', () => {
    const d = discover(
      ['', 'system.slice', 'system.slice/sshd.service', `kubepods/besteffort/pod99999999-2222-3333-4444-555555555555/${'7'.repeat(64)}`, `kubepods/burstable/pod${UID}/${'8'.repeat(64)}`],
      mapping,
    );
    expect(d.unmapped).toEqual({ unknown_pod: 1, unlisted_container: 1, not_a_function: 0, invalid_identity: 0 });
    expect(d.instances.size).toBe(0);
  });
});

describe('pod metadata file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faasmeter-agent-meta-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the last good copy when the file turns invalid or disappears', async () => {
    const file = join(dir, 'pods.json');
    await writeFile(file, JSON.stringify([{ uid: UID, namespace: 'a', name: 'p', labels: { faas_function: 'f' }, containers: [] }]));
    const meta = new PodMetadataFile(file);
    expect(await meta.load()).toMatchObject({ ok: true, changed: true });
    expect(await meta.load()).toMatchObject({ ok: true, changed: false });
    await writeFile(file, '[{"uid": 1}]');
    const invalid = await meta.load();
    expect(invalid).toMatchObject({ ok: false, reason: 'metadata_invalid', message: expect.stringMatching(/0\.uid/) });
    expect(invalid.index.size).toBe(1);
    await rm(file);
    expect(await meta.load()).toMatchObject({ ok: false, reason: 'metadata_unreadable' });
  });
});

describe('agent configuration', () => {
  it('applies defaults and requires a way to map cgroups', () => {
    const config = agentCommandConfig([], { FAASMETER_POD_METADATA_FILE: '/run/faasmeter/pods.json', NODE_NAME: 'node-7' })!;
    expect(config.agent).toMatchObject({
      cgroupRoot: '/sys/fs/cgroup',
      sampleIntervalMs: 10_000,
      podMetadataFile: '/run/faasmeter/pods.json',
      staticMap: [],
      skipContainers: ['queue-proxy', 'faasmeter', 'faasmeter-proxy', 'faasmeter-agent'],
      node: 'node-7',
    });
    expect(config.ops).toEqual({ host: '0.0.0.0', port: 9092 });
    expect(config.once).toBe(false);
    expect(() => agentCommandConfig([], {})).toThrow(/FAASMETER_POD_METADATA_FILE: set FAASMETER_POD_METADATA_FILE .* or FAASMETER_CGROUP_MAP_FILE/);
  });

  it('names the variable that is wrong', () => {
    const base = { FAASMETER_POD_METADATA_FILE: '/x' };
    expect(() => agentCommandConfig([], { ...base, FAASMETER_SAMPLE_INTERVAL_MS: '10' })).toThrow(/FAASMETER_SAMPLE_INTERVAL_MS: must be at least 100/);
    expect(() => agentCommandConfig([], { ...base, FAASMETER_OPS_PORT: '70000' })).toThrow(/FAASMETER_OPS_PORT/);
    expect(() => agentCommandConfig([], { FAASMETER_CGROUP_MAP_FILE: '/does/not/exist.json' })).toThrow(/FAASMETER_CGROUP_MAP_FILE: cannot read/);
    expect(() => agentCommandConfig(['--bogus'], base)).toThrow(ConfigError);
  });

  it('returns undefined for --help', () => {
    expect(agentCommandConfig(['--help'], {})).toBeUndefined();
  });
});
