import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CpuStat } from './parse.ts';
import { CgroupParseError, parseCpuStat, parseMemoryEvents, parseSingleValue } from './parse.ts';

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
  /** The directory is there but a required file is not: the memory controller is not enabled for it. */
  | 'missing_file'
  | 'permission'
  | 'parse'
  | 'io';

export interface CgroupReading extends CpuStat {
  memoryCurrentBytes: number;
  /** undefined on kernels before 5.19, which have no memory.peak. */
  memoryPeakBytes: number | undefined;
  oomKills: number;
}

export type ReadResult =
  | { ok: true; reading: CgroupReading }
  | { ok: false; reason: ReadErrorReason; message: string };

export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

/** Reads one cgroup's files and classifies any failure; never rejects. */
export async function readCgroup(fs: CgroupFs, dir: string): Promise<ReadResult> {
  const files = ['cpu.stat', 'memory.current', 'memory.peak', 'memory.events'] as const;
  const results = await Promise.allSettled(files.map((f) => fs.readFile(join(dir, f))));
  const failures: Array<{ file: string; error: unknown }> = [];
  results.forEach((r, i) => {
    const file = files[i] ?? '';
    // memory.peak arrived in Linux 5.19; without it the peak is the largest memory.current sampled.
    if (r.status === 'rejected' && !(file === 'memory.peak' && errorCode(r.reason) === 'ENOENT')) failures.push({ file, error: r.reason });
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
  const text = (i: number): string => {
    const r = results[i];
    return r?.status === 'fulfilled' ? r.value : '';
  };
  try {
    const cpu = parseCpuStat(text(0));
    const peak = results[2]?.status === 'fulfilled' ? parseSingleValue(text(2), 'memory.peak') : undefined;
    return {
      ok: true,
      reading: {
        ...cpu,
        memoryCurrentBytes: parseSingleValue(text(1), 'memory.current'),
        memoryPeakBytes: peak,
        oomKills: parseMemoryEvents(text(3)).oomKill,
      },
    };
  } catch (error) {
    if (error instanceof CgroupParseError) {
      // A file truncated by removal mid-read parses as garbage; that is a vanished cgroup, not a bug.
      return { ok: false, reason: (await fs.exists(dir)) ? 'parse' : 'vanished', message: error.message };
    }
    throw error;
  }
}
