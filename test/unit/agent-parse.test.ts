import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeCgroupFs, readCgroup } from '../../collector/agent/cgroup-fs.ts';
import {
  CgroupParseError,
  ownCgroupPath,
  parseControllers,
  parseCpuStat,
  parseFlatKeyed,
  parseMemoryEvents,
  parseSingleValue,
} from '../../collector/agent/parse.ts';

// As Linux 6.x writes it for a cgroup with the cpu controller enabled.
const CPU_STAT_FULL = `usage_usec 864161729
user_usec 698100456
system_usec 166061272
nice_usec 0
core_sched.force_idle_usec 0
nr_periods 1520
nr_throttled 17
throttled_usec 93012
nr_bursts 0
burst_usec 0
`;

describe('cgroup file parsers', () => {
  it('reads usage and throttling from cpu.stat and ignores keys it does not know', () => {
    expect(parseCpuStat(CPU_STAT_FULL)).toEqual({ usageUsec: 864161729, throttledUsec: 93012 });
  });

  it('reports zero throttling when the cpu controller is off and cpu.stat has only the core keys', () => {
    expect(parseCpuStat('usage_usec 12\nuser_usec 10\nsystem_usec 2\n')).toEqual({ usageUsec: 12, throttledUsec: 0 });
  });

  it('rejects a cpu.stat without usage_usec, naming the file', () => {
    expect(() => parseCpuStat('user_usec 10\n')).toThrow(CgroupParseError);
    expect(() => parseCpuStat('user_usec 10\n')).toThrow(/cpu\.stat: has no usage_usec/);
  });

  it('rejects negative, fractional, non-numeric and unsafe counter values instead of guessing', () => {
    expect(() => parseCpuStat('usage_usec -1\n')).toThrow(/not a non-negative integer/);
    expect(() => parseCpuStat('usage_usec 1.5\n')).toThrow(/not a non-negative integer/);
    expect(() => parseCpuStat('usage_usec abc\n')).toThrow(/not a non-negative integer/);
    expect(() => parseCpuStat('usage_usec 99999999999999999999\n')).toThrow(/too large/);
  });

  it('rejects lines that are not "key value" (a truncated read)', () => {
    expect(() => parseFlatKeyed('usage_usec\n', 'cpu.stat')).toThrow(/expected "key value"/);
    expect(() => parseFlatKeyed('a 1 2\n', 'cpu.stat')).toThrow(/expected "key value"/);
  });

  it('tolerates missing trailing newlines, blank lines and tab separators', () => {
    expect(parseFlatKeyed('a 1\n\nb\t2', 'x')).toEqual(new Map([['a', 1], ['b', 2]]));
  });

  it('reads oom_kill from memory.events and ignores the other events', () => {
    expect(parseMemoryEvents('low 0\nhigh 4\nmax 9\noom 2\noom_kill 1\noom_group_kill 0\n')).toEqual({ oomKill: 1 });
  });

  it('rejects a memory.events without oom_kill', () => {
    expect(() => parseMemoryEvents('low 0\nhigh 0\nmax 0\noom 0\n')).toThrow(/memory\.events: has no oom_kill/);
  });

  it('reads memory.current and memory.peak as byte counts', () => {
    expect(parseSingleValue('52428800\n', 'memory.current')).toBe(52428800);
    expect(() => parseSingleValue('', 'memory.peak')).toThrow(/memory\.peak: is empty/);
    expect(() => parseSingleValue('max\n', 'memory.current')).toThrow(/memory\.current/);
  });

  it('lists the controllers of cgroup.controllers', () => {
    expect(parseControllers('cpuset cpu io memory pids\n')).toEqual(new Set(['cpuset', 'cpu', 'io', 'memory', 'pids']));
    expect(parseControllers('\n').size).toBe(0);
  });

  it('finds the unified-hierarchy path in /proc/self/cgroup, also on hybrid hosts', () => {
    expect(ownCgroupPath('0::/user.slice/user-1000.slice/session-2.scope\n')).toBe('user.slice/user-1000.slice/session-2.scope');
    expect(ownCgroupPath('9:name=systemd:/\n4:memory:/process_api/29\n0::/\n')).toBe('');
    expect(ownCgroupPath('4:memory:/x\n1:cpu:/\n')).toBeUndefined();
  });
});

describe('reading one cgroup directory', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faasmeter-agent-read-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function cgroup(name: string, files: Record<string, string>): Promise<string> {
    const path = join(dir, name);
    await mkdir(path, { recursive: true });
    for (const [file, text] of Object.entries(files)) await writeFile(join(path, file), text);
    return path;
  }

  const complete = {
    'cpu.stat': CPU_STAT_FULL,
    'memory.current': '1048576\n',
    'memory.peak': '4194304\n',
    'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 2\noom_group_kill 0\n',
  };

  it('reads all four files into one reading', async () => {
    const result = await readCgroup(nodeCgroupFs, await cgroup('complete', complete));
    expect(result).toEqual({
      ok: true,
      reading: { usageUsec: 864161729, throttledUsec: 93012, memoryCurrentBytes: 1048576, memoryPeakBytes: 4194304, oomKills: 2 },
    });
  });

  it('treats a missing memory.peak (Linux before 5.19) as unknown, not as an error', async () => {
    const { 'memory.peak': _, ...old } = complete;
    const result = await readCgroup(nodeCgroupFs, await cgroup('old-kernel', old));
    expect(result).toMatchObject({ ok: true, reading: { memoryPeakBytes: undefined, memoryCurrentBytes: 1048576 } });
  });

  it('classifies a missing memory.current in an existing cgroup as missing_file (memory controller off)', async () => {
    const { 'memory.current': _, ...noMemory } = complete;
    const result = await readCgroup(nodeCgroupFs, await cgroup('no-memory', noMemory));
    expect(result).toMatchObject({ ok: false, reason: 'missing_file' });
    expect(!result.ok && result.message).toMatch(/memory\.current/);
  });

  it('classifies a cgroup directory that no longer exists as vanished', async () => {
    expect(await readCgroup(nodeCgroupFs, join(dir, 'never-there'))).toMatchObject({ ok: false, reason: 'vanished' });
  });

  it('classifies ENODEV (a removed cgroup read through an open file) as vanished', async () => {
    const fs = { ...nodeCgroupFs, readFile: () => Promise.reject(Object.assign(new Error('no such device'), { code: 'ENODEV' })) };
    expect(await readCgroup(fs, await cgroup('enodev', complete))).toMatchObject({ ok: false, reason: 'vanished' });
  });

  it('classifies EACCES as permission and garbage as parse', async () => {
    const denied = { ...nodeCgroupFs, readFile: () => Promise.reject(Object.assign(new Error('denied'), { code: 'EACCES' })) };
    expect(await readCgroup(denied, await cgroup('denied', complete))).toMatchObject({ ok: false, reason: 'permission' });
    const garbage = await cgroup('garbage', { ...complete, 'cpu.stat': 'usage_usec lots\n' });
    expect(await readCgroup(nodeCgroupFs, garbage)).toMatchObject({ ok: false, reason: 'parse' });
  });
});
