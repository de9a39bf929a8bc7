import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FaasEvent, ResourceData } from '../../contract/index.ts';
import { parseEventJson, RESOURCE_TYPE } from '../../contract/index.ts';

/**
 * The agent on a real Linux kernel with a pure unified cgroup v2 hierarchy, which hosts with the
 * hybrid layout (memory on v1) cannot give test/integration/agent-real-cgroup.test.ts. qemu boots
 * Debian's kernel (test/vm/prepare.sh) with cgroup_no_v1=all on this machine's / shared read-only;
 * test/vm/guest-init.sh, as PID 1, runs processes with known use in cgroups of its own and
 * `faasmeter agent --once` over them, and leaves everything on a second share for this file to judge.
 *
 * KVM when it can boot a stock kernel, else qemu's emulator (minutes, not seconds).
 */

const repo = join(import.meta.dirname, '..', '..');
const vmDir = join(process.env.FAASMETER_STACK_DIR ?? join(repo, '.stack'), 'vm');
const kernel = join(vmDir, 'vmlinuz');
const initrd = join(vmDir, 'initrd.img');
/** Kept after the run (replaced by the next) so a failure can be read. */
const results = join(vmDir, 'last-run');
const guestInit = join(repo, 'test', 'vm', 'guest-init.sh');
const MiB = 1024 * 1024;

interface Accel {
  name: 'kvm' | 'tcg';
  args: string[];
  timeoutMs: number;
  why: string;
}

function chooseAccel(): Accel {
  const kvm = { name: 'kvm', args: ['-enable-kvm', '-cpu', 'host'], timeoutMs: 180_000 } as const;
  const tcg = { name: 'tcg', args: ['-accel', 'tcg', '-cpu', 'max'], timeoutMs: 600_000 } as const;
  const forced = process.env.FAASMETER_VM_ACCEL;
  if (forced === 'kvm') return { ...kvm, args: [...kvm.args], why: 'FAASMETER_VM_ACCEL=kvm' };
  if (forced === 'tcg') return { ...tcg, args: [...tcg.args], why: 'FAASMETER_VM_ACCEL=tcg' };
  if (forced !== undefined) throw new Error(`FAASMETER_VM_ACCEL must be kvm or tcg, not "${forced}"`);
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { ...tcg, args: [...tcg.args], why: 'no usable /dev/kvm, so emulating' };
  }
  // PVM serves /dev/kvm inside VMs without VMX, but boots only kernels built as PVM guests.
  if (existsSync('/sys/module/kvm_pvm')) {
    return { ...tcg, args: [...tcg.args], why: "this /dev/kvm is PVM (kvm_pvm), which cannot boot Debian's kernel, so emulating" };
  }
  return { ...kvm, args: [...kvm.args], why: '/dev/kvm' };
}

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  const qemu = spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' });
  if (qemu.error !== undefined || qemu.status !== 0) return 'qemu-system-x86_64 is not installed (npm run test:cgroup-v2-vm installs it)';
  if (!existsSync(kernel) || !existsSync(initrd)) return `no kernel and initramfs in ${vmDir} (npm run test:cgroup-v2-vm builds them with test/vm/prepare.sh)`;
  // The kernel command line splits on spaces, and passes these paths to the guest.
  if (/\s/.test(guestInit + process.execPath)) return `a path with white space cannot go on the kernel command line: ${guestInit} ${process.execPath}`;
  return undefined;
}

const skip = skipReason();
if (skip !== undefined) process.stderr.write(`\n[agent-cgroup-v2-vm] SKIPPING: ${skip}\n\n`);

interface Run {
  accel: Accel;
  exit: number | null;
  timedOut: boolean;
  wallMs: number;
  console: string;
}

async function bootGuest(accel: Accel): Promise<Run> {
  rmSync(results, { recursive: true, force: true });
  mkdirSync(results, { recursive: true });
  const args = [
    ...accel.args,
    ...['-m', '1024', '-smp', '1', '-nographic', '-no-reboot'],
    ...['-kernel', kernel, '-initrd', initrd],
    // panic=-1 with -no-reboot: a guest that dies ends qemu at once instead of hanging to the timeout.
    ...['-append', `console=ttyS0 panic=-1 cgroup_no_v1=all fm_init=${guestInit} fm_node=${process.execPath}`],
    ...['-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap'],
    ...['-virtfs', `local,path=${results},mount_tag=results,security_model=none,multidevs=remap`],
  ];
  const started = performance.now();
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  qemu.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
  qemu.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    qemu.kill('SIGKILL');
  }, accel.timeoutMs);
  const exit = await new Promise<number | null>((resolve, reject) => {
    qemu.once('error', reject);
    qemu.once('exit', resolve);
  }).finally(() => clearTimeout(timer));
  writeFileSync(join(results, 'console.log'), output);
  return { accel, exit, timedOut, wallMs: performance.now() - started, console: output };
}

const result = (name: string) => readFileSync(join(results, name), 'utf8').trim();

function events(name: string): FaasEvent[] {
  return result(`${name}.jsonl`)
    .split('\n')
    .map((line) => {
      const parsed = parseEventJson(line);
      if (!parsed.ok) throw new Error(`${name}.jsonl: not a contract event: ${JSON.stringify(parsed.errors)}: ${line}`);
      return parsed.value;
    });
}

function resource(name: string, instance: string): ResourceData {
  const found = events(name).find((e) => e.type === RESOURCE_TYPE && e.data.instance === instance);
  if (found === undefined) throw new Error(`${name}.jsonl has no resource event for ${instance}`);
  return found.data as ResourceData;
}

/** `== file` sections of the cgroup files the guest read right after the agent. */
function cgroupFiles(name: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const section of result(name).split(/^== /m).filter(Boolean)) {
    const [file, ...body] = section.split('\n');
    files[file!.trim()] = body.join('\n').trim();
  }
  return files;
}

const keyed = (text: string, key: string) => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1]);

describe.skipIf(skip !== undefined)('agent on a real kernel with unified cgroup v2 only (qemu)', () => {
  let run: Run;
  beforeAll(async () => {
    const accel = chooseAccel();
    process.stderr.write(`[agent-cgroup-v2-vm] booting ${kernel} with ${accel.name}: ${accel.why}\n`);
    run = await bootGuest(accel);
    process.stderr.write(`[agent-cgroup-v2-vm] qemu exited ${run.exit} after ${(run.wallMs / 1000).toFixed(1)} s; results in ${results}\n`);
  }, 700_000);

  it('the guest boots, runs its script to the end and powers off', () => {
    const tail = run.console.split('\n').slice(-40).join('\n');
    expect(run.timedOut, `no power-off within ${run.accel.timeoutMs} ms; console:\n${tail}`).toBe(false);
    expect(existsSync(join(results, 'failed')) ? result('failed') : undefined, tail).toBeUndefined();
    expect(existsSync(join(results, 'done')), `the guest script did not finish; console:\n${tail}`).toBe(true);
    expect(run.exit, tail).toBe(0);
    process.stderr.write(
      `[agent-cgroup-v2-vm] ${run.accel.name}: kernel to guest-init ${result('boot-seconds')} s, guest powered off at ${result('done')} s, qemu wall ${(run.wallMs / 1000).toFixed(1)} s\n`,
    );
  });

  it('the agent finds a unified v2 root and samples both cgroups without errors, each time', () => {
    for (const name of ['before', 'after']) {
      expect(result(`${name}.rc`), result(`${name}.err`)).toBe('0');
      expect(JSON.parse(result(`${name}.err`).split('\n').at(-1)!)).toMatchObject({ root: '/sys/fs/cgroup', layout: 'v2', ok: true, resourceEvents: 2, lifecycleEvents: 0, errors: {} });
      expect(events(name).map((e) => [e.type, e.source])).toEqual([
        [RESOURCE_TYPE, 'faasmeter/agent/vm'],
        [RESOURCE_TYPE, 'faasmeter/agent/vm'],
      ]);
    }
  });

  it('reports the memory a process holds and the CPU it burnt in its cgroup, as the kernel counts them', () => {
    const child = JSON.parse(result('work-child.json')) as { heldBytes: number; cpuUs: number };
    const work = resource('before', 'work');
    const files = cgroupFiles('work-cgroup.txt');
    const current = Number(files['memory.current']);
    const peak = Number(files['memory.peak']);
    const usage = keyed(files['cpu.stat']!, 'usage_usec');
    process.stderr.write(
      `[agent-cgroup-v2-vm] work: held ${child.heldBytes} B, burnt ${child.cpuUs} us; agent memoryCurrentBytes ${work.memoryCurrentBytes}, memoryPeakBytes ${work.memoryPeakBytes}, ` +
        `cpuUsageUs ${work.cpuUsageUs}, cpuThrottledUs ${work.cpuThrottledUs}, oomKills ${work.oomKills}; kernel files just after: memory.current ${current}, memory.peak ${peak}, usage_usec ${usage}\n`,
    );
    expect(work).toMatchObject({ tenant: 'vm', function: 'v2-work', revision: 'r1', oomKills: 0, cpuThrottledUs: 0 });
    expect(child.heldBytes).toBe(64 * MiB);
    expect(work.memoryCurrentBytes).toBeGreaterThanOrEqual(child.heldBytes);
    // Node's own heap and code on top of the buffers, well below the guest's 1 GiB.
    expect(work.memoryCurrentBytes).toBeLessThan(child.heldBytes + 256 * MiB);
    expect(Math.abs(work.memoryCurrentBytes - current)).toBeLessThan(8 * MiB);
    expect(work.memoryPeakBytes).toBeGreaterThanOrEqual(work.memoryCurrentBytes);
    expect(work.memoryPeakBytes).toBeLessThanOrEqual(peak);
    // The process joined the cgroup before exec: all the CPU it reports is in the cgroup's count.
    expect(work.cpuUsageUs).toBeGreaterThanOrEqual(child.cpuUs);
    expect(work.cpuUsageUs).toBeLessThanOrEqual(usage);
  });

  it('counts the OOM kill in the limited cgroup only: 0 before, 1 after, with the peak at the limit', () => {
    const before = resource('before', 'oom');
    const after = resource('after', 'oom');
    const killedInKernel = keyed(result('oom-memory.events'), 'oom_kill');
    process.stderr.write(
      `[agent-cgroup-v2-vm] oom (memory.max 32 MiB): dd exit ${result('oom-child.rc')}; agent oomKills ${before.oomKills} -> ${after.oomKills}, ` +
        `memoryPeakBytes ${after.memoryPeakBytes}, memoryCurrentBytes ${after.memoryCurrentBytes}; memory.events oom_kill ${killedInKernel}\n`,
    );
    expect(before).toMatchObject({ function: 'v2-oom', oomKills: 0 });
    expect(result('oom-child.rc')).toBe(String(128 + 9));
    expect(after.oomKills).toBe(killedInKernel);
    expect(after.oomKills).toBeGreaterThanOrEqual(1);
    expect(after.memoryPeakBytes).toBeGreaterThan(24 * MiB);
    expect(after.memoryPeakBytes).toBeLessThanOrEqual(32 * MiB);
    expect(after.memoryCurrentBytes).toBeLessThan(32 * MiB);
    // v2 counts an OOM kill in the cgroup and its ancestors, never in a sibling.
    expect(resource('after', 'work').oomKills).toBe(0);
  });
});
