import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CpuStat } from './parse.ts';
import { CgroupParseError, parseCpuacctUsage, parseCpuStat, parseMemoryEvents, parseOomControl, parseSingleValue, parseV1CpuStat } from './parse.ts';

/**
 * The agent's only contact with the filesystem, as an interface so tests can make a cgroup vanish
 * between listing and reading. Methods reject with Node's errors (`code` set).
 */
export interface CgroupFs {
  readFile(path: string): Promise<string>;
  /** Names of the subdirectories (child cgroups) of a directory. */
  listDirs(path: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
}

export const nodeCgroupFs: CgroupFs = {
  readFile: (path) => readFile(path, 'utf8'),
  listDirs: async (path) => (await readdir(path, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name),
  exists: (path) =>
    access(path).then(
      () => true,
      () => false,
    ),
};

/** Why one cgroup could not be read; each is a label of faasmeter_agent_read_errors_total. */
export type ReadErrorReason =
  /** The cgroup was removed (its container stopped) between listing and reading: normal. */
  | 'vanished'
  /**
   * The directory is there but a required file is not: on v2 the memory controller is not enabled
   * for it; on v1 the cgroup is missing from the cpuacct hierarchy.
   */
  | 'missing_file'
  | 'permission'
  | 'parse'
  | 'io';

export interface CgroupReading extends CpuStat {
  memoryCurrentBytes: number;
  /** undefined on v2 kernels before 5.19, which have no memory.peak. */
  memoryPeakBytes: number | undefined;
  oomKills: number;
}

export type ReadResult =
  | { ok: true; reading: CgroupReading }
  | { ok: false; reason: ReadErrorReason; message: string };

export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

/** Where the v1 hierarchies of one root are (collector/agent/layout.ts finds them). */
export interface V1Hierarchies {
  memory: string;
  /** `cpuacct`, or the combined `cpu,cpuacct` mount. */
  cpuacct: string;
  /** undefined without a cpu hierarchy that has cpu.stat: throttling is not accounted then. */
  cpu: string | undefined;
}

interface CgroupFile {
  /** The interface file's name, in error messages. */
  name: string;
  path: string;
  /** Reads as undefined when the file does not exist, instead of failing the cgroup. */
  optional?: boolean;
}

type Texts = Array<string | undefined>;

/**
 * Reads the files of one cgroup and classifies any failure. `dir` is the cgroup directory whose
 * absence means the cgroup is gone (removed between listing and reading) rather than incomplete.
 */
async function readCgroupFiles(fs: CgroupFs, dir: string, files: readonly CgroupFile[], parse: (texts: Texts) => CgroupReading): Promise<ReadResult> {
  const results = await Promise.allSettled(files.map((f) => fs.readFile(f.path)));
  const failures: Array<{ file: string; error: unknown }> = [];
  results.forEach((r, i) => {
    const file = files[i];
    if (r.status === 'rejected' && !(file?.optional === true && errorCode(r.reason) === 'ENOENT')) failures.push({ file: file?.name ?? '', error: r.reason });
  });
  if (failures.length > 0) {
    const codes = failures.map((f) => errorCode(f.error));
    const message = failures.map((f) => `${f.file}: ${(f.error as Error).message}`).join('; ');
    // A file of a removed cgroup that was already open reads as ENODEV.
    if (codes.includes('ENODEV')) return { ok: false, reason: 'vanished', message };
    if (codes.includes('ENOENT')) {
      return { ok: false, reason: (await fs.exists(dir)) ? 'missing_file' : 'vanished', message };
    }
    if (codes.includes('EACCES') || codes.includes('EPERM')) return { ok: false, reason: 'permission', message };
    return { ok: false, reason: 'io', message };
  }
  try {
    return { ok: true, reading: parse(results.map((r) => (r.status === 'fulfilled' ? r.value : undefined))) };
  } catch (error) {
    if (error instanceof CgroupParseError) {
      // A file truncated by removal mid-read parses as garbage; that is a vanished cgroup, not a bug.
      return { ok: false, reason: (await fs.exists(dir)) ? 'parse' : 'vanished', message: error.message };
    }
    throw error;
  }
}

/** Reads one cgroup v2 directory; never rejects. */
export function readCgroup(fs: CgroupFs, dir: string): Promise<ReadResult> {
  const file = (name: string, optional?: boolean): CgroupFile => ({ name, path: join(dir, name), optional });
  // memory.peak arrived in Linux 5.19; without it the peak is the largest memory.current sampled.
  const files = [file('cpu.stat'), file('memory.current'), file('memory.peak', true), file('memory.events')];
  return readCgroupFiles(fs, dir, files, ([cpuStat = '', current = '', peak, events = '']) => ({
    ...parseCpuStat(cpuStat),
    memoryCurrentBytes: parseSingleValue(current, 'memory.current'),
    memoryPeakBytes: peak === undefined ? undefined : parseSingleValue(peak, 'memory.peak'),
    oomKills: parseMemoryEvents(events).oomKill,
  }));
}

/**
 * Reads one cgroup of a v1 (or hybrid) host: `rel` below each hierarchy, which is where kubelet,
 * container runtimes and systemd create it. The memory hierarchy is the one discovery walks, so a
 * cgroup whose memory directory is gone has vanished; one missing from cpuacct is missing_file.
 * Never rejects.
 */
export function readCgroupV1(fs: CgroupFs, hierarchies: V1Hierarchies, rel: string): Promise<ReadResult> {
  const memory = join(hierarchies.memory, rel);
  const files: CgroupFile[] = [
    { name: 'cpuacct.usage', path: join(hierarchies.cpuacct, rel, 'cpuacct.usage') },
    { name: 'memory.usage_in_bytes', path: join(memory, 'memory.usage_in_bytes') },
    { name: 'memory.max_usage_in_bytes', path: join(memory, 'memory.max_usage_in_bytes') },
    { name: 'memory.oom_control', path: join(memory, 'memory.oom_control') },
  ];
  // A cgroup the runtime did not create in the cpu hierarchy has no quota, so nothing throttled it.
  if (hierarchies.cpu !== undefined) files.push({ name: 'cpu.stat', path: join(hierarchies.cpu, rel, 'cpu.stat'), optional: true });
  return readCgroupFiles(fs, memory, files, ([usage = '', current = '', peak = '', oomControl = '', cpuStat]) => ({
    usageUsec: parseCpuacctUsage(usage),
    throttledUsec: cpuStat === undefined ? 0 : parseV1CpuStat(cpuStat).throttledUsec,
    memoryCurrentBytes: parseSingleValue(current, 'memory.usage_in_bytes'),
    memoryPeakBytes: parseSingleValue(peak, 'memory.max_usage_in_bytes'),
    oomKills: parseOomControl(oomControl).oomKill,
  }));
}
