/**
 * Pure parsers for the cgroup v2 interface files the agent reads (Documentation/admin-guide/
 * cgroup-v2.rst). They take the file's text and never touch the filesystem, so every format
 * quirk is unit tested without a kernel.
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
 * "Flat keyed" files: one `key value` pair a line (cpu.stat, memory.events). Keys the kernel adds
 * over time (nr_bursts, core_sched.force_idle_usec, ...) are kept, not rejected.
 */
export function parseFlatKeyed(text: string, file: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const parts = trimmed.split(/\s+/);
    const [key, raw] = parts;
    if (parts.length !== 2 || key === undefined || raw === undefined) {
      throw new CgroupParseError(file, `expected "key value" lines, got "${trimmed}"`);
    }
    values.set(key, counter(file, key, raw));
  }
  return values;
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
