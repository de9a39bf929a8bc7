/**
 * Pure parsers for the cgroup interface files the agent reads: v2 (Documentation/admin-guide/
 * cgroup-v2.rst) and, for v1 and hybrid hosts, the v1 memory, cpuacct and cpu files
 * (Documentation/admin-guide/cgroup-v1/). They take the file's text and never touch the
 * filesystem, so every format quirk is unit tested without a kernel.
 */

/** The text was there but not in the format the kernel documents: a bug or an unexpected kernel. */
export class CgroupParseError extends Error {
  override name = 'CgroupParseError';
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.file = file;
  }
}

export interface CpuStat {
  usageUsec: number;
  /** 0 when the cpu controller is not enabled for the cgroup (the kernel then omits the key). */
  throttledUsec: number;
}

export interface MemoryEvents {
  /** Processes killed by the OOM killer in this cgroup and its descendants. */
  oomKill: number;
}

function counter(file: string, key: string, raw: string): number {
  if (!/^\d+$/.test(raw)) throw new CgroupParseError(file, `"${key}" is not a non-negative integer: "${raw}"`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new CgroupParseError(file, `"${key}" is too large: ${raw}`);
  return value;
}

/**
 * v1 reports CPU time in nanoseconds, which pass 2^53 after about 104 CPU-days (a busy large
 * node's root does): converted exactly through BigInt, so only the microseconds must be safe.
 */
function nanosToMicros(file: string, key: string, raw: string): number {
  if (!/^\d+$/.test(raw)) throw new CgroupParseError(file, `"${key}" is not a non-negative integer: "${raw}"`);
  const micros = BigInt(raw) / 1000n;
  if (micros > BigInt(Number.MAX_SAFE_INTEGER)) throw new CgroupParseError(file, `"${key}" is too large: ${raw}`);
  return Number(micros);
}

/** The `key value` lines of a flat keyed file, values not yet checked. */
function flatKeyedLines(text: string, file: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const parts = trimmed.split(/\s+/);
    const [key, raw] = parts;
    if (parts.length !== 2 || key === undefined || raw === undefined) {
      throw new CgroupParseError(file, `expected "key value" lines, got "${trimmed}"`);
    }
    values.set(key, raw);
  }
  return values;
}

/**
 * "Flat keyed" files: one `key value` pair a line (cpu.stat, memory.events). Keys the kernel adds
 * over time (nr_bursts, core_sched.force_idle_usec, ...) are kept, not rejected.
 */
export function parseFlatKeyed(text: string, file: string): Map<string, number> {
  return new Map([...flatKeyedLines(text, file)].map(([key, raw]) => [key, counter(file, key, raw)]));
}

export function parseCpuStat(text: string): CpuStat {
  const values = parseFlatKeyed(text, 'cpu.stat');
  const usageUsec = values.get('usage_usec');
  if (usageUsec === undefined) throw new CgroupParseError('cpu.stat', 'has no usage_usec');
  return { usageUsec, throttledUsec: values.get('throttled_usec') ?? 0 };
}

/** memory.current and memory.peak: a single byte count (never "max", unlike memory.max). */
export function parseSingleValue(text: string, file: string): number {
  const trimmed = text.trim();
  if (trimmed === '') throw new CgroupParseError(file, 'is empty');
  return counter(file, file, trimmed);
}

export function parseMemoryEvents(text: string): MemoryEvents {
  const values = parseFlatKeyed(text, 'memory.events');
  // oom_kill exists since Linux 4.13; older kernels have no cgroup v2 memory worth reading.
  const oomKill = values.get('oom_kill');
  if (oomKill === undefined) throw new CgroupParseError('memory.events', 'has no oom_kill');
  return { oomKill };
}

/** v1 `cpuacct.usage`: the cgroup's total CPU time in nanoseconds, returned in microseconds as v2 counts it. */
export function parseCpuacctUsage(text: string): number {
  const trimmed = text.trim();
  if (trimmed === '') throw new CgroupParseError('cpuacct.usage', 'is empty');
  return nanosToMicros('cpuacct.usage', 'cpuacct.usage', trimmed);
}

/**
 * v1 `cpu.stat` of the cpu controller: throttled_time in nanoseconds, returned in microseconds.
 * Kernels without CFS bandwidth control write no throttled_time: nothing is throttled then.
 */
export function parseV1CpuStat(text: string): Pick<CpuStat, 'throttledUsec'> {
  const raw = flatKeyedLines(text, 'cpu.stat').get('throttled_time');
  return { throttledUsec: raw === undefined ? 0 : nanosToMicros('cpu.stat', 'throttled_time', raw) };
}

/**
 * v1 `memory.oom_control`. Its oom_kill line arrived in Linux 4.13; before that the kernel does
 * not count OOM kills per cgroup, and 0 is all that can be reported.
 */
export function parseOomControl(text: string): MemoryEvents {
  return { oomKill: parseFlatKeyed(text, 'memory.oom_control').get('oom_kill') ?? 0 };
}

/** `cgroup.controllers`: the space-separated controllers available in this cgroup. */
export function parseControllers(text: string): Set<string> {
  return new Set(text.split(/\s+/).filter((c) => c !== ''));
}

/**
 * The unified-hierarchy line of /proc/<pid>/cgroup (`0::/user.slice/session-1.scope`), as a path
 * relative to the hierarchy's root ('' for the root itself); undefined without a v2 line.
 */
export function ownCgroupPath(procSelfCgroup: string): string | undefined {
  for (const line of procSelfCgroup.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3).trim().replace(/^\/+|\/+$/g, '');
  }
  return undefined;
}
