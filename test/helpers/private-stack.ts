import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../common/net.ts';

const root = join(import.meta.dirname, '..', '..');


export interface PrivateClickHouse {
  url: string;
  start(): void;
  stop(): void;
  /** As start/stop, without blocking the event loop (for callers that keep serving meanwhile). */
  startAsync(): Promise<void>;
  stopAsync(): Promise<void>;
  destroy(): void;
}

/**
 * A ClickHouse server owned by one test, started by the same stack scripts with its own
 * directory and ports, so a test can stop it for a minute without disturbing other suites.
 */
export async function privateClickHouse(): Promise<PrivateClickHouse> {
  const dir = mkdtempSync(join(tmpdir(), 'faasmeter-ch-'));
  const env = {
    ...process.env,
    FAASMETER_STACK_DIR: dir,
    FAASMETER_CLICKHOUSE_HTTP_PORT: String(await freePort()),
    FAASMETER_CLICKHOUSE_TCP_PORT: String(await freePort()),
  };
  const run = (script: string) => {
    const result = spawnSync('bash', [join(root, 'deploy/local-stack', script), 'clickhouse'], { env, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${script} clickhouse failed: ${result.stderr || result.stdout}`);
  };
  const runAsync = (script: string) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn('bash', [join(root, 'deploy/local-stack', script), 'clickhouse'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const keep = (chunk: Buffer) => (output += chunk.toString());
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${script} clickhouse failed: ${output}`))));
    });
  return {
    url: `http://127.0.0.1:${env.FAASMETER_CLICKHOUSE_HTTP_PORT}`,
    start: () => run('up.sh'),
    stop: () => run('down.sh'),
    startAsync: () => runAsync('up.sh'),
    stopAsync: () => runAsync('down.sh'),
    destroy: () => {
      run('down.sh');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
