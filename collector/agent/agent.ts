import { performance } from 'node:perf_hooks';
import type { Meter } from '@opentelemetry/api';
import type { Component, Health } from '../../common/component.ts';
import type { Logger } from '../../common/log.ts';
import type { StopReason } from '../../contract/index.ts';
import { lifecycleEvent, resourceEvent } from '../../contract/index.ts';
import type { EventSink } from '../delivery/sink.ts';
import type { CgroupFs, CgroupReading, ReadErrorReason, ReadResult } from './cgroup-fs.ts';
import { nodeCgroupFs } from './cgroup-fs.ts';
import type { Discovery, InstanceMembers, Mapping, UnmappedReason } from './discovery.ts';
import { discover, walkCgroups } from './discovery.ts';
import type { Identity, PodIndex } from './kubernetes.ts';
import { PodMetadataFile } from './kubernetes.ts';
import type { CgroupLayout, CgroupLayoutChoice } from './layout.ts';
import { checkCgroupRoot, readCgroupAt, throttlingAccounted, walkRoot } from './layout.ts';
import type { AgentMetrics } from './metrics.ts';
import { agentMetrics } from './metrics.ts';
import type { StaticRule } from './static-map.ts';

export interface AgentConfig {
  /** The cgroup mount to walk: /sys/fs/cgroup, or the host's mounted into the agent's pod. */
  cgroupRoot: string;
  /** Which layout to read the root as; `auto` (the default) detects it (collector/agent/layout.ts). */
  cgroupLayout?: CgroupLayoutChoice;
  sampleIntervalMs: number;
  /** Pod UID → labels (collector/agent/README.md); undefined on plain hosts. */
  podMetadataFile: string | undefined;
  staticMap: readonly StaticRule[];
  /** Container names never metered: queue-proxy and our own sidecars. */
  skipContainers: readonly string[];
  /** This node's name: in event sources and default static-map instance names. */
  node: string;
}

export interface AgentDeps {
  sink: EventSink;
  meter: Meter;
  log: Logger;
  fs?: CgroupFs;
  now?: () => number;
  /** The root's layout when the caller already checked it (the command does, before anything starts). */
  layout?: CgroupLayout;
}

export interface SampleReport {
  timeMs: number;
  /** False when the root could not be listed: nothing was emitted and no instance was stopped. */
  ok: boolean;
  tracked: number;
  resourceEvents: number;
  lifecycleEvents: number;
  unmapped: Record<UnmappedReason, number>;
  errors: Partial<Record<ReadErrorReason, number>>;
}

export interface Agent extends Component {
  /** One pass over the tree. Never overlaps another pass; never rejects for a cgroup's sake. */
  sampleOnce(): Promise<SampleReport>;
}

interface MemberState {
  usageUsec: number;
  /** Largest memory.current sampled: the peak where the kernel has no memory.peak. */
  peakSeenBytes: number;
}

interface Tracked {
  identity: Identity;
  members: Map<string, MemberState>;
  oomKills: number;
  /** oom_kill rose in the latest sample: if the instance is gone by the next one, the OOM killed it. */
  oomRoseLast: boolean;
}

const READ_CONCURRENCY = 64;

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * The node agent: samples the cgroup counters (v2, or v1 on v1 and hybrid hosts) of every mapped
 * container and turns what it sees into resource events (cumulative counters, as read) and
 * lifecycle events.
 *
 * Counters are cumulative, so the meter bills differences between consecutive samples of an
 * instance. A `created` event starts a new series: it is emitted when an instance appears and
 * again whenever its counters went backwards (a container restarted under the same path), so a
 * difference is never taken across a reset. Instances already running in the agent's first pass
 * are adopted without `created`: an agent restart is no instance start, and a `created` then
 * would make the meter count their usage since start a second time.
 */
export function createAgent(config: AgentConfig, deps: AgentDeps): Agent {
  const fs = deps.fs ?? nodeCgroupFs;
  const now = deps.now ?? Date.now;
  const { log, sink } = deps;
  const source = `faasmeter/agent/${config.node}`;
  const metadata = config.podMetadataFile === undefined ? undefined : new PodMetadataFile(config.podMetadataFile);
  const skipContainers = new Set(config.skipContainers);
  const tracked = new Map<string, Tracked>();
  let lastUnmapped: Record<UnmappedReason, number> = { unknown_pod: 0, unlisted_container: 0, not_a_function: 0, invalid_identity: 0 };
  const metrics: AgentMetrics = agentMetrics(deps.meter, { instances: () => tracked.size, unmapped: () => lastUnmapped });

  let adopted = false;
  let running: Promise<SampleReport> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let started = false;
  let lastOkAt: number | undefined;
  let rootError: string | undefined;
  let metadataError: string | undefined;
  let fatal: string | undefined;
  let unmappedLogged = '';
  /** Path → reason of cgroups failing to read or list: a persistent failure is logged once, not every sample. */
  let failing = new Map<string, string>();
  let peakFallbackLogged = false;
  /** Given by the caller, or found by start() or by the first sample when sampleOnce() is called without start(). */
  let layout: CgroupLayout | undefined = deps.layout;

  async function detectLayout(): Promise<CgroupLayout> {
    layout = await checkCgroupRoot(config.cgroupRoot, config.cgroupLayout, fs);
    return layout;
  }

  async function podIndex(): Promise<PodIndex | undefined> {
    if (metadata === undefined) return undefined;
    const load = await metadata.load();
    if (load.ok) {
      if (metadataError !== undefined || load.changed) log.info({ pods: load.index.size }, 'pod metadata loaded');
      metadataError = undefined;
    } else {
      metrics.readError(load.reason);
      if (metadataError !== load.message) {
        log.warn({ file: config.podMetadataFile, reason: load.reason, err: load.message, pods: load.index.size }, 'pod metadata not usable; keeping the last good copy');
      }
      metadataError = load.message;
    }
    return load.index;
  }

  function logUnmapped(discovery: Discovery): void {
    const summary = JSON.stringify(discovery.unmapped);
    if (summary === unmappedLogged) return;
    unmappedLogged = summary;
    if (Object.values(discovery.unmapped).some((n) => n > 0)) {
      log.info({ unmapped: discovery.unmapped, examples: discovery.examples }, 'container cgroups not mapped to a function');
    }
  }

  function emitLifecycle(identity: Identity, phase: 'created' | 'stopped', timeMs: number, stopReason?: StopReason): void {
    sink.emit(lifecycleEvent({ ...identity, phase, timeMs, ...(stopReason === undefined ? {} : { stopReason }) }, { source }));
  }

  /** Applies one instance's readings; returns the number of lifecycle events emitted. */
  function observe(instance: InstanceMembers, readings: ReadonlyMap<string, CgroupReading>, timeMs: number): number {
    let lifecycle = 0;
    let state = tracked.get(instance.key);
    let fresh = false;
    if (state === undefined) {
      state = { identity: instance.identity, members: new Map(), oomKills: 0, oomRoseLast: false };
      tracked.set(instance.key, state);
      fresh = true;
      if (adopted) {
        emitLifecycle(instance.identity, 'created', timeMs);
        lifecycle++;
        log.info({ ...instance.identity, cgroups: instance.paths }, 'instance appeared');
      } else {
        log.info({ ...instance.identity, cgroups: instance.paths }, 'instance adopted (already running when the agent started)');
      }
    } else {
      const wentBack = [...readings].filter(([path, r]) => r.usageUsec < (state?.members.get(path)?.usageUsec ?? 0)).map(([p]) => p);
      const gone = [...state.members.keys()].filter((path) => !readings.has(path));
      if (wentBack.length > 0 || gone.length > 0) {
        // The sum of cumulative counters would drop: start a new series rather than let the meter see a negative difference.
        emitLifecycle(instance.identity, 'created', timeMs);
        lifecycle++;
        log.info({ ...instance.identity, countersWentBack: wentBack, cgroupsGone: gone, oomKilledBefore: state.oomRoseLast }, 'counters reset (container restarted): new series');
        state.members.clear();
        fresh = true;
      }
    }

    let cpuUsageUs = 0;
    let cpuThrottledUs = 0;
    let memoryCurrentBytes = 0;
    let memoryPeakBytes = 0;
    let oomKills = 0;
    for (const [path, r] of readings) {
      const member: MemberState = { usageUsec: r.usageUsec, peakSeenBytes: Math.max(state.members.get(path)?.peakSeenBytes ?? 0, r.memoryCurrentBytes) };
      state.members.set(path, member);
      if (r.memoryPeakBytes === undefined && !peakFallbackLogged) {
        peakFallbackLogged = true;
        log.info('memory.peak is not available (Linux before 5.19): memoryPeakBytes is the largest memory.current sampled');
      }
      cpuUsageUs += r.usageUsec;
      cpuThrottledUs += r.throttledUsec;
      memoryCurrentBytes += r.memoryCurrentBytes;
      // Summing members' peaks over-states a pod's peak when they peaked at different times; it never under-states it.
      memoryPeakBytes += Math.max(r.memoryPeakBytes ?? member.peakSeenBytes, r.memoryCurrentBytes);
      oomKills += r.oomKills;
    }
    const oomRise = fresh ? 0 : oomKills - state.oomKills;
    state.oomRoseLast = oomRise > 0;
    if (oomRise > 0) {
      metrics.oomKills(oomRise);
      log.warn({ ...instance.identity, oomKills, newOomKills: oomRise }, 'OOM kill in a running instance; it survived');
    }
    state.oomKills = oomKills;
    sink.emit(
      resourceEvent(
        { ...instance.identity, timeMs, cpuUsageUs, cpuThrottledUs, memoryCurrentBytes, memoryPeakBytes, oomKills },
        { source },
      ),
    );
    return lifecycle;
  }

  async function sample(): Promise<SampleReport> {
    const startedAt = performance.now();
    const timeMs = now();
    const report: SampleReport = {
      timeMs,
      ok: false,
      tracked: tracked.size,
      resourceEvents: 0,
      lifecycleEvents: 0,
      unmapped: lastUnmapped,
      errors: {},
    };
    const countError = (reason: ReadErrorReason) => {
      report.errors[reason] = (report.errors[reason] ?? 0) + 1;
      metrics.readError(reason);
    };

    let walk;
    let current: CgroupLayout;
    try {
      current = layout ?? (await detectLayout());
      walk = await walkCgroups(fs, walkRoot(current));
    } catch (error) {
      // Without a listing every instance would look stopped; stop nothing and say why instead.
      const message = (error as Error).message;
      if (rootError !== message) log.error({ root: config.cgroupRoot, err: message }, 'cannot list the cgroup root');
      rootError = message;
      metrics.readError('root_unreadable');
      metrics.sample('failed', (performance.now() - startedAt) / 1000);
      return report;
    }
    rootError = undefined;
    const stillFailing = new Map<string, string>();
    const logFailure = (path: string, reason: string, fields: object, msg: string) => {
      stillFailing.set(path, reason);
      if (failing.get(path) !== reason) log.warn({ path, reason, ...fields }, msg);
    };
    for (const e of walk.errors) {
      countError(e.reason);
      logFailure(e.path, e.reason, { err: e.message }, 'cannot list a cgroup; its subtree is skipped');
    }

    const mapping: Mapping = { staticRules: config.staticMap, pods: await podIndex(), skipContainers, node: config.node };
    const discovery = discover(walk.paths, mapping);
    lastUnmapped = discovery.unmapped;
    report.unmapped = discovery.unmapped;
    logUnmapped(discovery);

    const members = [...discovery.instances.values()].flatMap((i) => i.paths);
    const results = new Map<string, ReadResult>();
    const read = await mapLimit(members, READ_CONCURRENCY, (path) => readCgroupAt(fs, current, path));
    members.forEach((path, i) => results.set(path, read[i] as ReadResult));

    const present = new Set<string>();
    for (const instance of discovery.instances.values()) {
      const readings = new Map<string, CgroupReading>();
      let unreadable = false;
      for (const path of instance.paths) {
        const result = results.get(path);
        if (result === undefined) continue;
        if (result.ok) {
          readings.set(path, result.reading);
          continue;
        }
        countError(result.reason);
        if (result.reason !== 'vanished') {
          unreadable = true;
          logFailure(path, result.reason, { err: result.message, instance: instance.identity.instance }, 'cannot read a cgroup; instance skipped until it can');
        }
      }
      if (unreadable) {
        // A partial sum would look like a counter reset; keep the instance as it was and try again next time.
        if (tracked.has(instance.key)) present.add(instance.key);
        continue;
      }
      if (readings.size === 0) continue;
      present.add(instance.key);
      report.lifecycleEvents += observe(instance, readings, timeMs);
      report.resourceEvents++;
    }

    // An instance inside a subtree that could not be listed was not seen, but it is not gone either.
    const unlisted = walk.errors.map((e) => e.path);
    const hidden = (state: Tracked) => [...state.members.keys()].some((m) => unlisted.some((u) => m === u || m.startsWith(`${u}/`)));
    for (const [key, state] of tracked) {
      if (present.has(key) || hidden(state)) continue;
      const stopReason: StopReason = state.oomRoseLast ? 'oom' : 'scale_to_zero';
      emitLifecycle(state.identity, 'stopped', timeMs, stopReason);
      report.lifecycleEvents++;
      tracked.delete(key);
      log.info({ ...state.identity, stopReason }, 'instance stopped');
    }

    for (const path of failing.keys()) {
      if (!stillFailing.has(path)) log.info({ path }, 'cgroup no longer failing (readable again, or gone)');
    }
    failing = stillFailing;
    adopted = true;
    lastOkAt = now();
    report.ok = true;
    report.tracked = tracked.size;
    metrics.sample('ok', (performance.now() - startedAt) / 1000);
    return report;
  }

  function sampleOnce(): Promise<SampleReport> {
    // Chained, so a caller's sample and the timer's never interleave their state changes.
    const next = (running ?? Promise.resolve()).catch(() => undefined).then(() => sample());
    running = next;
    return next;
  }

  function schedule(lastStart: number): void {
    if (stopped) return;
    const delay = Math.max(0, lastStart + config.sampleIntervalMs - now());
    timer = setTimeout(() => {
      const at = now();
      sampleOnce().then(
        () => schedule(at),
        (error: unknown) => {
          // Per-cgroup failures are handled inside; reaching here is a bug. Fail liveness so it restarts.
          fatal = (error as Error).message;
          log.error({ err: error }, 'sampling failed unexpectedly; the agent needs a restart');
        },
      );
    }, delay);
  }

  return {
    name: 'agent',
    sampleOnce,
    async start() {
      const found = layout ?? (await detectLayout());
      log.info({ root: config.cgroupRoot, layout: found.version, ...(found.version === 'v1' ? { hierarchies: found.hierarchies } : {}) }, 'cgroup layout');
      if (!throttlingAccounted(found)) {
        log.warn({ root: config.cgroupRoot, layout: found.version }, 'cpu controller not available: CPU throttling is not accounted (cpuThrottledUs stays 0)');
      }
      started = true;
      const at = now();
      await sampleOnce();
      schedule(at);
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
    health(): Health {
      if (fatal !== undefined) return { status: 'error', detail: 'fatal' };
      if (rootError !== undefined) return { status: 'error', detail: `cannot list ${config.cgroupRoot}: ${rootError}` };
      if (started && lastOkAt === undefined) return { status: 'degraded', detail: 'no sample yet' };
      if (started && lastOkAt !== undefined && now() - lastOkAt > 3 * config.sampleIntervalMs + 30_000) {
        return { status: 'error', detail: `no sample since ${new Date(lastOkAt).toISOString()}` };
      }
      if (metadataError !== undefined) return { status: 'degraded', detail: `pod metadata: ${metadataError}` };
      return { status: 'ok' };
    },
  };
}
