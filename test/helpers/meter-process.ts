import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../common/net.ts';

const root = join(import.meta.dirname, '..', '..');

export interface MeterProcess {
  child: ChildProcess;
  opsUrl: string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  output(): string;
}

/** Runs `faasmeter meter` as its own process, as production does, so a test can SIGKILL it. */
export async function startMeterProcess(env: Record<string, string>): Promise<MeterProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'cli/faasmeter.ts'), 'meter'], {
    cwd: root,
    env: { ...process.env, FAASMETER_LOG_LEVEL: process.env.FAASMETER_METER_LOG_LEVEL ?? 'warn', FAASMETER_OPS_PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    opsUrl: `http://127.0.0.1:${port}`,
    exited,
    output: () => output,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export function writeJson(dir: string, name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value, null, 2));
  return path;
}
