import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { DeliveryConfigInput, DeliveryStats } from '../collector/delivery/index.ts';

/** Drives bench/delivery-emitter.ts in a child process (see its protocol). */
export interface EmitterChild {
  readonly process: ChildProcess;
  /** Highest seq the child reported as emitted (`rate` mode), -1 before any. */
  lastEmitted(): number;
  /** Emits n events, flushes, returns the child's delivery stats. */
  emit(n: number): Promise<DeliveryStats>;
  rate(perSecond: number): void;
  stop(): Promise<DeliveryStats>;
  /** SIGKILL; resolves once the child is gone and its stdout fully read. */
  kill(): Promise<void>;
}

export async function spawnEmitter(config: DeliveryConfigInput & { run: string }): Promise<EmitterChild> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'delivery-emitter.ts'), JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let last = -1;
  const waiting: { prefix: string; resolve: (rest: string) => void }[] = [];
  const closed = new Promise<void>((resolve) => child.stdout.once('close', resolve));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('e ')) {
      last = Number(line.slice(2));
      return;
    }
    const index = waiting.findIndex((w) => line.startsWith(w.prefix));
    if (index >= 0) waiting.splice(index, 1)[0]!.resolve(line);
    // Anything else is the child's own log output.
    else process.stderr.write(`${line}\n`);
  });
  const answer = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      waiting.push({ prefix, resolve: (rest) => resolve(rest.slice(prefix.length).trim()) });
      void exited.then(() => reject(new Error(`emitter exited before answering "${prefix}"`)));
    });
  const stats = async (prefix: string) => JSON.parse(await answer(prefix)) as DeliveryStats;
  await answer('ready');
  return {
    process: child,
    lastEmitted: () => last,
    emit: (n) => {
      const reply = stats('flushed ');
      child.stdin.write(`emit ${n}\n`);
      return reply;
    },
    rate: (perSecond) => child.stdin.write(`rate ${perSecond}\n`),
    stop: async () => {
      const reply = stats('stopped ');
      child.stdin.write('stop\n');
      const result = await reply;
      await exited;
      return result;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
      await closed;
    },
  };
}
