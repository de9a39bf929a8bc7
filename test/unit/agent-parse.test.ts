import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Hierarchies } from '../../collector/agent/cgroup-fs.ts';
import { nodeCgroupFs, readCgroup, readCgroupV1 } from '../../collector/agent/cgroup-fs.ts';
import {
  CgroupParseError,
  ownCgroupPath,
  parseControllers,
  parseCpuacctUsage,
  parseCpuStat,
  parseFlatKeyed,
  parseMemoryEvents,
  parseOomControl,
  parseSingleValue,
  parseV1CpuStat,
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

// As Linux 6.x writes them in a v1 cgroup (cpu.stat of the cpu controller, not v2's).
const V1_CPU_STAT = 'nr_periods 1520\nnr_throttled 17\nthrottled_time 93012345\nnr_bursts 0\nburst_time 0\n';
const V1_OOM_CONTROL = 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n';

describe('cgroup v1 file parsers', () => {
  it('reads cpuacct.usage nanoseconds as whole microseconds, dropping the sub-microsecond rest', () => {
    expect(parseCpuacctUsage('26169145384560\n')).toBe(26169145384);
    expect(parseCpuacctUsage('999')).toBe(0);
  });

  it('converts nanosecond counts beyond 2^53 exactly, and rejects only microseconds beyond it', () => {
    // 2^53 + 1 ns is not representable as a double; its microseconds are.
    expect(parseCpuacctUsage('9007199254740993\n')).toBe(9007199254740);
    expect(parseCpuacctUsage('9007199254740991999\n')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => parseCpuacctUsage('9007199254740992000\n')).toThrow(/cpuacct\.usage.*too large/);
  });

  it('rejects an empty, negative or non-numeric cpuacct.usage, naming the file', () => {
    expect(() => parseCpuacctUsage('\n')).toThrow(/cpuacct\.usage: is empty/);
    expect(() => parseCpuacctUsage('-5\n')).toThrow(CgroupParseError);
    expect(() => parseCpuacctUsage('12 34\n')).toThrow(/not a non-negative integer/);
  });

  it('reads throttled_time nanoseconds from the v1 cpu.stat as microseconds', () => {
    expect(parseV1CpuStat(V1_CPU_STAT)).toEqual({ throttledUsec: 93012 });
  });

  it('reports zero throttling when the v1 cpu.stat has no throttled_time (no CFS bandwidth control)', () => {
    expect(parseV1CpuStat('nr_periods 0\n')).toEqual({ throttledUsec: 0 });
    expect(() => parseV1CpuStat('throttled_time x\n')).toThrow(/cpu\.stat: "throttled_time" is not a non-negative integer/);
  });

  it('reads oom_kill from memory.oom_control, and 0 before Linux 4.13 where the line does not exist', () => {
    expect(parseOomControl(V1_OOM_CONTROL)).toEqual({ oomKill: 3 });
    expect(parseOomControl('oom_kill_disable 0\nunder_oom 1\n')).toEqual({ oomKill: 0 });
    expect(() => parseOomControl('oom_kill\n')).toThrow(/memory\.oom_control: expected "key value"/);
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

describe('reading one cgroup of v1 hierarchies', () => {
  let dir: string;
  let h: V1Hierarchies;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faasmeter-agent-read-v1-'));
    h = { memory: join(dir, 'memory'), cpuacct: join(dir, 'cpuacct'), cpu: join(dir, 'cpu') };
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const complete = {
    cpuacct: { 'cpuacct.usage': '864161729123\n' },
    cpu: { 'cpu.stat': V1_CPU_STAT },
    memory: { 'memory.usage_in_bytes': '1048576\n', 'memory.max_usage_in_bytes': '4194304\n', 'memory.oom_control': V1_OOM_CONTROL },
  };

  /** Writes the cgroup `name` into each hierarchy given; returns its relative path. */
  async function cgroup(name: string, files: Partial<Record<keyof V1Hierarchies, Record<string, string>>>): Promise<string> {
    for (const [hierarchy, contents] of Object.entries(files)) {
      const path = join(dir, hierarchy, name);
      await mkdir(path, { recursive: true });
      for (const [file, text] of Object.entries(contents)) await writeFile(join(path, file), text);
    }
    return name;
  }

  it('reads the cpuacct, cpu and memory files into the reading v2 gives, in the same units', async () => {
    expect(await readCgroupV1(nodeCgroupFs, h, await cgroup('complete', complete))).toEqual({
      ok: true,
      reading: { usageUsec: 864161729, throttledUsec: 93012, memoryCurrentBytes: 1048576, memoryPeakBytes: 4194304, oomKills: 3 },
    });
  });

  it('reports zero throttling for a cgroup missing from the cpu hierarchy, or without one at all', async () => {
    const rel = await cgroup('no-cpu', { cpuacct: complete.cpuacct, memory: complete.memory });
    expect(await readCgroupV1(nodeCgroupFs, h, rel)).toMatchObject({ ok: true, reading: { throttledUsec: 0, usageUsec: 864161729 } });
    expect(await readCgroupV1(nodeCgroupFs, { ...h, cpu: undefined }, await cgroup('cpu-ignored', complete))).toMatchObject({
      ok: true,
      reading: { throttledUsec: 0 },
    });
  });

  it('classifies a cgroup missing from the cpuacct hierarchy as missing_file, naming the file', async () => {
    const result = await readCgroupV1(nodeCgroupFs, h, await cgroup('no-cpuacct', { cpu: complete.cpu, memory: complete.memory }));
    expect(result).toMatchObject({ ok: false, reason: 'missing_file' });
    expect(!result.ok && result.message).toMatch(/^cpuacct\.usage: ENOENT/);
  });

  it('classifies a cgroup gone from the memory hierarchy as vanished, even if other hierarchies still have it', async () => {
    const rel = await cgroup('leaving', { cpuacct: complete.cpuacct, cpu: complete.cpu });
    expect(await readCgroupV1(nodeCgroupFs, h, rel)).toMatchObject({ ok: false, reason: 'vanished' });
  });

  it('classifies EACCES as permission, ENODEV as vanished and garbage as parse, as for v2', async () => {
    const rel = await cgroup('errors', complete);
    const failing = (code: string) => ({ ...nodeCgroupFs, readFile: () => Promise.reject(Object.assign(new Error(code), { code })) });
    expect(await readCgroupV1(failing('EACCES'), h, rel)).toMatchObject({ ok: false, reason: 'permission' });
    expect(await readCgroupV1(failing('ENODEV'), h, rel)).toMatchObject({ ok: false, reason: 'vanished' });
    const garbage = await cgroup('garbage', { ...complete, memory: { ...complete.memory, 'memory.usage_in_bytes': 'lots\n' } });
    expect(await readCgroupV1(nodeCgroupFs, h, garbage)).toMatchObject({ ok: false, reason: 'parse', message: expect.stringMatching(/memory\.usage_in_bytes/) });
  });
});
