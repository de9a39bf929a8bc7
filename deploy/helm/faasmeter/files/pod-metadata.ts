/**
 * The node agent's pod list: every `intervalSeconds` it asks the Kubernetes API for the pods on
 * this node and writes what `faasmeter agent` reads from FAASMETER_POD_METADATA_FILE (uid,
 * namespace, name, labels, container ids; collector/agent/kubernetes.ts). The Helm chart mounts
 * this file from a ConfigMap and runs it with the faasmeter image's Node in a sidecar of the agent.
 *
 * It needs only `list pods` (the chart's ClusterRole), asks only for pods on its own node
 * (field selector spec.nodeName), and writes atomically (temporary file, then rename), so the
 * agent never reads half a list. On an API error it keeps the last good file and tries again.
 *
 * Environment: NODE_NAME (Downward API), OUTPUT (the file), INTERVAL_SECONDS; the in-cluster
 * service-account token, CA and KUBERNETES_SERVICE_HOST/PORT that every pod gets.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

// Where every pod gets its service-account token and the cluster CA; overridable to test against a fake API.
const SA = process.env.SERVICEACCOUNT_DIR ?? '/var/run/secrets/kubernetes.io/serviceaccount';

interface ContainerStatus {
  name: string;
  containerID?: string;
}

interface Pod {
  metadata: { uid: string; namespace: string; name: string; labels?: Record<string, string> };
  status?: { containerStatuses?: ContainerStatus[]; initContainerStatuses?: ContainerStatus[] };
}

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} must be set`);
  return value;
}

function log(level: 'info' | 'error', msg: string, extra: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ level, time: Date.now(), name: 'pod-metadata', msg, ...extra })}\n`);
}

function listPods(host: string, port: string, node: string): Promise<Pod[]> {
  // The token is re-read every time: the kubelet rotates projected tokens.
  const token = readFileSync(`${SA}/token`, 'utf8').trim();
  const path = `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`;
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path, method: 'GET', ca: readFileSync(`${SA}/ca.crt`), headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new Error(`GET ${path}: HTTP ${res.statusCode}: ${body.slice(0, 300)}`));
            return;
          }
          try {
            resolve((JSON.parse(body) as { items: Pod[] }).items);
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The agent's PodMetadataSchema: containers with an id only (a waiting container has none). */
export function toMetadata(pods: readonly Pod[]) {
  return pods.map((pod) => ({
    uid: pod.metadata.uid,
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    labels: pod.metadata.labels ?? {},
    containers: [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
      .filter((c) => c.containerID !== undefined && c.containerID !== '')
      .map((c) => ({ id: c.containerID!, name: c.name })),
  }));
}

async function main(): Promise<void> {
  const node = required('NODE_NAME');
  const output = required('OUTPUT');
  const host = required('KUBERNETES_SERVICE_HOST');
  const port = required('KUBERNETES_SERVICE_PORT');
  const intervalMs = Number(process.env.INTERVAL_SECONDS ?? '15') * 1000;
  if (!Number.isFinite(intervalMs) || intervalMs < 1000) throw new Error('INTERVAL_SECONDS must be at least 1');
  let stopping = false;
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stopping = true;
      stop.abort();
    });
  }
  let lastCount = -1;
  while (!stopping) {
    try {
      const pods = toMetadata(await listPods(host, port, node));
      writeFileSync(`${output}.tmp`, JSON.stringify(pods));
      renameSync(`${output}.tmp`, output);
      if (pods.length !== lastCount) log('info', 'pod list written', { node, pods: pods.length, output });
      lastCount = pods.length;
    } catch (error) {
      log('error', 'listing pods failed; keeping the last list', { error: (error as Error).message });
    }
    await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => {});
  }
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    log('error', (error as Error).message);
    process.exitCode = 1;
  });
}
