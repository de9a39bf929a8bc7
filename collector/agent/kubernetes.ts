import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';

/**
 * Kubernetes discovery: container cgroup paths → pod UID and container id, and pod metadata
 * (labels) → the function identity. Everything here is pure except `PodMetadataFile`.
 */

export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';
export type CgroupDriver = 'systemd' | 'cgroupfs';

export interface KubeContainerPath {
  /** Lower case with dashes, as in the pod's metadata.uid (the systemd driver writes underscores). */
  podUid: string;
  containerId: string;
  qos: QosClass;
  driver: CgroupDriver;
}

// A pod UID is a UUID; static (mirror) pods use a 32-hex config hash instead.
const UID = '[0-9a-f]{8}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{12}';
/** systemd: `kubepods-burstable-pod<uid>.slice`, `kubepods-pod<uid>.slice`, kind's `kubelet-kubepods-…`. */
const SYSTEMD_POD = new RegExp(`^(?:[a-z0-9_.]+-)*pod(${UID})\\.slice$`);
/** cgroupfs: `pod<uid>` below `kubepods[/burstable|/besteffort]`. */
const CGROUPFS_POD = new RegExp(`^pod(${UID})$`);
/** containerd, CRI-O and cri-dockerd scopes. CRI-O's `crio-conmon-<id>.scope` is its monitor, not the container. */
const SYSTEMD_CONTAINER = /^(?:cri-containerd|crio|docker)-([0-9a-f]{12,64})\.scope$/;
const CGROUPFS_CONTAINER = /^(?:(?:cri-containerd|crio|docker)-)?([0-9a-f]{12,64})$/;

function normalizeUid(uid: string): string {
  return uid.toLowerCase().replaceAll('_', '-');
}

/** `containerd://abc…` (as in pod status) or a bare id → the bare id, lower case. */
export function normalizeContainerId(id: string): string {
  return id.replace(/^[a-z0-9-]+:\/\//i, '').toLowerCase();
}

/**
 * Parses a cgroup path relative to the cgroup root. Returns undefined for anything that is not a
 * container directly below a pod under a `kubepods` cgroup (the pod cgroup itself, conmon, cgroups
 * nested inside a container, everything outside Kubernetes).
 */
export function parseKubePath(relPath: string): KubeContainerPath | undefined {
  const segments = relPath.split('/').filter((s) => s !== '');
  const container = segments.at(-1);
  const pod = segments.at(-2);
  if (container === undefined || pod === undefined) return undefined;
  const above = segments.slice(0, -2);
  if (!above.some((s) => s.includes('kubepods'))) return undefined;
  const systemd = SYSTEMD_POD.exec(pod);
  const cgroupfs = systemd ? null : CGROUPFS_POD.exec(pod);
  const uid = systemd?.[1] ?? cgroupfs?.[1];
  if (uid === undefined) return undefined;
  const id = (systemd ? SYSTEMD_CONTAINER : CGROUPFS_CONTAINER).exec(container)?.[1];
  if (id === undefined) return undefined;
  const qosText = [...above, pod].join('/');
  const qos: QosClass = /besteffort/.test(qosText) ? 'besteffort' : /burstable/.test(qosText) ? 'burstable' : 'guaranteed';
  return { podUid: normalizeUid(uid), containerId: id, qos, driver: systemd ? 'systemd' : 'cgroupfs' };
}

/** What the kubelet-side tooling writes (collector/agent/README.md shows a sidecar that does). */
export const PodMetadataSchema = z.array(
  z.object({
    uid: z.string().min(1),
    namespace: z.string().min(1),
    name: z.string().min(1),
    labels: z.record(z.string(), z.string()).default({}),
    /** Pod status' containerStatuses: `id` as there (`containerd://…`) or bare. */
    containers: z.array(z.object({ id: z.string().min(1), name: z.string().min(1) })).default([]),
  }),
);
export type PodMetadata = z.output<typeof PodMetadataSchema>[number];

export const LABELS = {
  function: ['faasmeter.dev/function', 'serving.knative.dev/service', 'faas_function'],
  revision: ['faasmeter.dev/revision', 'serving.knative.dev/revision'],
  tenant: ['faasmeter.dev/tenant'],
} as const;

export const UNKNOWN_REVISION = 'unknown';

export interface Identity {
  tenant: string;
  function: string;
  revision: string;
  instance: string;
}

function firstLabel(labels: Readonly<Record<string, string>>, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = labels[key];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/**
 * A pod's function identity, or undefined for a pod that runs no function. Our own
 * `faasmeter.dev/*` labels come first: they are how an operator overrides what the platform set.
 */
export function identityFromPod(pod: Pick<PodMetadata, 'namespace' | 'name' | 'labels'>): Identity | undefined {
  const fn = firstLabel(pod.labels, LABELS.function);
  if (fn === undefined) return undefined;
  return {
    tenant: firstLabel(pod.labels, LABELS.tenant) ?? pod.namespace,
    function: fn,
    revision: firstLabel(pod.labels, LABELS.revision) ?? UNKNOWN_REVISION,
    instance: pod.name,
  };
}

/** Docker's shim named the sandbox container POD; other runtimes have no name for it at all. */
const PAUSE_NAMES = new Set(['POD', 'pause']);

export type ContainerDecision =
  | { kind: 'function'; identity: Identity }
  /** Deliberately not metered: a sidecar by name, or the pod sandbox. */
  | { kind: 'skipped'; why: 'sidecar' | 'pause' }
  | { kind: 'unmapped'; reason: 'unknown_pod' | 'unlisted_container' | 'not_a_function' };

interface IndexedPod {
  pod: PodMetadata;
  identity: Identity | undefined;
  containers: Map<string, string>;
}

/** Pod metadata indexed by UID for lookups from cgroup paths. */
export class PodIndex {
  readonly size: number;
  private readonly pods = new Map<string, IndexedPod>();

  constructor(pods: readonly PodMetadata[]) {
    for (const pod of pods) {
      const containers = new Map(pod.containers.map((c) => [normalizeContainerId(c.id), c.name]));
      this.pods.set(normalizeUid(pod.uid), { pod, identity: identityFromPod(pod), containers });
    }
    this.size = this.pods.size;
  }

  /** `skip`: container names that are never the function (queue-proxy, our own sidecar). */
  decide(path: KubeContainerPath, skip: ReadonlySet<string>): ContainerDecision {
    const entry = this.pods.get(path.podUid);
    if (entry === undefined) return { kind: 'unmapped', reason: 'unknown_pod' };
    const name = containerName(entry.containers, path.containerId);
    if (name !== undefined && skip.has(name)) return { kind: 'skipped', why: 'sidecar' };
    if (name !== undefined && PAUSE_NAMES.has(name)) return { kind: 'skipped', why: 'pause' };
    if (entry.identity === undefined) return { kind: 'unmapped', reason: 'not_a_function' };
    // containerd and CRI-O give the sandbox (pause) its own scope, which pod status never lists;
    // a container started after the metadata file was written looks the same until it is rewritten.
    if (name === undefined) return { kind: 'unmapped', reason: 'unlisted_container' };
    return { kind: 'function', identity: entry.identity };
  }
}

function containerName(containers: ReadonlyMap<string, string>, id: string): string | undefined {
  const exact = containers.get(id);
  if (exact !== undefined) return exact;
  // Docker-era tooling often lists 12-character short ids.
  for (const [listed, name] of containers) {
    if (listed.length >= 12 && (id.startsWith(listed) || listed.startsWith(id))) return name;
  }
  return undefined;
}

export type MetadataLoad =
  | { ok: true; changed: boolean; index: PodIndex }
  | { ok: false; reason: 'metadata_unreadable' | 'metadata_invalid'; message: string; index: PodIndex };

/**
 * The metadata file, re-read when its mtime or size changes. On a read or parse failure the last
 * good index stays in use: losing it would make every pod look stopped.
 */
export class PodMetadataFile {
  private index = new PodIndex([]);
  private version = '';
  private readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  async load(): Promise<MetadataLoad> {
    let text: string;
    let version: string;
    try {
      const info = await stat(this.file);
      version = `${info.mtimeMs}:${info.size}:${info.ino}`;
      if (version === this.version) return { ok: true, changed: false, index: this.index };
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      return { ok: false, reason: 'metadata_unreadable', message: (error as Error).message, index: this.index };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      return { ok: false, reason: 'metadata_invalid', message: `not JSON: ${(error as Error).message}`, index: this.index };
    }
    const parsed = PodMetadataSchema.safeParse(json);
    if (!parsed.success) {
      const problems = parsed.error.issues.slice(0, 5).map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
      return { ok: false, reason: 'metadata_invalid', message: problems.join('; '), index: this.index };
    }
    this.index = new PodIndex(parsed.data);
    this.version = version;
    return { ok: true, changed: true, index: this.index };
  }
}
