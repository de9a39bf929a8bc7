import { spawn } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeCgroupTree, kubeContainerPath } from '../../collector/agent/fake-cgroup-tree.ts';
import type { FaasEvent } from '../../contract/index.ts';
import { LIFECYCLE_TYPE, parseEventJson, TOPICS } from '../../contract/index.ts';
import { createTestTopics, KAFKA_BROKERS, readTopic, uniquePrefix } from '../helpers/kafka.ts';
import { freePort } from '../../common/net.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * `faasmeter agent` as its own process, as a DaemonSet runs it: a Kubernetes-shaped cgroup tree
 * (this suite's hosts need not have cgroup v2), the metadata file, real Kafka.
 */

const repo = join(import.meta.dirname, '..', '..');
const POD_A = { uid: '5d5d5d5d-1111-4222-8333-944444444444', qos: 'burstable', driver: 'cgroupfs' } as const;
const POD_B = { uid: '6e6e6e6e-1111-4222-8333-944444444444', qos: 'guaranteed', driver: 'cgroupfs' } as const;

describe('faasmeter agent process → Kafka', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faasmeter-agent-cmd-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes resource samples and a created event for a new pod, serves ops endpoints, and exits 0 on SIGTERM', async () => {
    const prefix = uniquePrefix('agent');
    await createTestTopics(prefix, 3);
    const tree = new FakeCgroupTree(join(dir, 'cgroup'));
    await tree.init();
    await tree.write(kubeContainerPath(POD_A, 'a'.repeat(64)), { usageUsec: 1_000_000, memoryCurrentBytes: 64 << 20, memoryPeakBytes: 70 << 20 });
    const metadata = join(dir, 'pods.json');
    const pods = [
      { uid: POD_A.uid, namespace: 'team-a', name: 'resize-1', labels: { 'serving.knative.dev/service': 'resize' }, containers: [{ id: `containerd://${'a'.repeat(64)}`, name: 'user-container' }] },
    ];
    await writeFile(metadata, JSON.stringify(pods));

    const opsPort = await freePort();
    const child = spawn(process.execPath, [join(repo, 'cli/faasmeter.ts'), 'agent'], {
      cwd: repo,
      env: {
        ...process.env,
        FAASMETER_LOG_LEVEL: 'info',
        FAASMETER_CGROUP_ROOT: tree.root,
        FAASMETER_POD_METADATA_FILE: metadata,
        FAASMETER_SAMPLE_INTERVAL_MS: '200',
        FAASMETER_NODE_NAME: 'it-node',
        FAASMETER_OPS_HOST: '127.0.0.1',
        FAASMETER_OPS_PORT: String(opsPort),
        FAASMETER_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
        FAASMETER_TOPIC_PREFIX: prefix,
        FAASMETER_SPOOL_DIR: join(dir, 'spool'),
        FAASMETER_SPOOL_FSYNC: 'none',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const ops = `http://127.0.0.1:${opsPort}`;
      await waitFor(async () => (await fetch(`${ops}/readyz`).catch(() => undefined))?.status === 200, { what: `agent ready; output: ${output}` });

      // Pod B appears (cgroup first, then the metadata sidecar catches up).
      await tree.write(kubeContainerPath(POD_B, 'b'.repeat(64)), { usageUsec: 5_000, memoryCurrentBytes: 8 << 20, memoryPeakBytes: 8 << 20 });
      const withB = [...pods, { uid: POD_B.uid, namespace: 'team-b', name: 'hello-1', labels: { faas_function: 'hello' }, containers: [{ id: 'b'.repeat(64), name: 'hello' }] }];
      await writeFile(`${metadata}.tmp`, JSON.stringify(withB));
      await rename(`${metadata}.tmp`, metadata);

      const metrics = await waitFor(
        async () => {
          const text = await (await fetch(`${ops}/metrics`)).text();
          return /^faasmeter_agent_instances 2$/m.test(text) && text;
        },
        { what: 'two instances tracked' },
      );
      expect(metrics).toMatch(/^faasmeter_agent_samples_total\{outcome="ok"\} \d+$/m);
      expect(metrics).toMatch(/^faasmeter_agent_sample_duration_seconds_count \d+$/m);
      // Every command exports Node's runtime health, so a stalled event loop is visible.
      expect(metrics).toMatch(/^nodejs_eventloop_delay_p99 0\.\d+$/m);
      expect(metrics).toMatch(/^nodejs_eventloop_utilization (0|1|0\.\d+(e-\d+)?)$/m);

      const lifecycle = await readTopic(`${prefix}${TOPICS.lifecycle}`, { expected: 1, timeoutMs: 30_000 });
      const lifecycleEvents = lifecycle.map((m) => parseEventJson(m.value)).map((r) => (r.ok ? r.value : undefined));
      expect(lifecycleEvents).toEqual([
        expect.objectContaining({ type: LIFECYCLE_TYPE, source: 'faasmeter/agent/it-node', data: expect.objectContaining({ instance: 'hello-1', phase: 'created', tenant: 'team-b' }) }),
      ]);
      expect(lifecycle[0]!.key).toBe('team-b/hello-1');

      const resources = await readTopic(`${prefix}${TOPICS.resources}`, { expected: 4, timeoutMs: 30_000, settleMs: 200 });
      const byInstance = new Map<string, FaasEvent[]>();
      for (const m of resources) {
        const parsed = parseEventJson(m.value);
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) continue;
        const instance = (parsed.value.data as { instance: string }).instance;
        byInstance.set(instance, [...(byInstance.get(instance) ?? []), parsed.value]);
      }
      expect(byInstance.get('resize-1')?.[0]).toMatchObject({ data: { function: 'resize', cpuUsageUs: 1_000_000, memoryCurrentBytes: 64 << 20, memoryPeakBytes: 70 << 20 } });
      expect(byInstance.get('hello-1')?.[0]).toMatchObject({ data: { function: 'hello', tenant: 'team-b', cpuUsageUs: 5_000 } });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, output).toBe(0);
    expect(output).toMatch(/"msg":"stopped"/);
  });
});
