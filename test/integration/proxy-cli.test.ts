import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import type { InvocationData, LifecycleData } from '../../contract/index.ts';
import { TOPICS } from '../../contract/index.ts';
import { createTestTopics, KAFKA_BROKERS, readTopic, uniquePrefix } from '../helpers/kafka.ts';
import { waitFor } from '../helpers/wait.ts';

const root = join(import.meta.dirname, '..', '..');
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Spawns `node args` from the repository root; `lines` collects its stdout. */
function start(args: string[], env: Record<string, string>): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('faasmeter proxy (the CLI process)', () => {
  it('holds the first call through a cold start, drains on SIGTERM, exits 0 and delivers every event to Kafka', async () => {
    const prefix = uniquePrefix('proxycli');
    await createTestTopics(prefix, 1);
    const spoolDir = await mkdtemp(join(tmpdir(), 'faasmeter-proxy-cli-'));
    dirs.push(spoolDir);
    const fnPort = await freePort();
    const proxy = start(['cli/faasmeter.ts', 'proxy', '--memory-mb', '256', '--stop-reason', 'deploy'], {
      FAASMETER_TENANT: 'cli-tenant',
      FAASMETER_FUNCTION: 'hello',
      K_REVISION: 'hello-00003',
      POD_NAME: 'hello-00003-deployment-xyz',
      FAASMETER_ARCH: 'x86_64',
      FAASMETER_TARGET: `http://127.0.0.1:${fnPort}`,
      FAASMETER_PROXY_HOST: '127.0.0.1',
      FAASMETER_PROXY_PORT: '0',
      FAASMETER_OPS_HOST: '127.0.0.1',
      FAASMETER_OPS_PORT: '0',
      FAASMETER_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
      FAASMETER_TOPIC_PREFIX: prefix,
      FAASMETER_SPOOL_DIR: spoolDir,
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      // The test reads the proxy's start-up log line; npm test silences logs by default.
      FAASMETER_LOG_LEVEL: 'info',
    });
    const running = await waitFor(
      () => proxy.lines.map((l) => JSON.parse(l) as { msg?: string; listen?: string; ops?: string }).find((l) => l.msg === 'proxy running'),
      { what: 'the proxy to listen' },
    );
    const url = `http://${running.listen}`;
    const ops = `http://${running.ops}`;
    // The function starts after its sidecar, as it may in a pod; its start-up takes a while.
    const fn = start(['test/helpers/sample-function.ts'], { PORT: String(fnPort), SAMPLE_INIT_MS: '300' });

    // The function is still starting: not ready, and the first call is held until it is.
    expect((await get(`${ops}/readyz`)).status).toBe(503);
    const first = await get(`${url}/`, { 'x-request-id': `${prefix}first` });
    expect(first.status).toBe(200);
    expect((await get(`${ops}/readyz`)).status).toBe(200);

    const slow = get(`${url}/`, { 'x-sleep-ms': '700', 'x-request-id': `${prefix}slow` });
    await new Promise((resolve) => setTimeout(resolve, 150));
    proxy.child.kill('SIGTERM');
    await waitFor(async () => (await get(`${ops}/readyz`).catch(() => ({ status: 0 }))).status !== 200, {
      intervalMs: 20,
      what: 'readiness to fail while draining',
    });
    expect((await slow).status).toBe(200);
    expect(await proxy.exited).toBe(0);
    await expect(get(`${url}/`)).rejects.toThrow(/ECONNREFUSED/);
    fn.child.kill('SIGTERM');

    const calls = (await readTopic(`${prefix}${TOPICS.invocations}`, { expected: 2 })).map((m) => JSON.parse(m.value) as { id: string; data: InvocationData });
    expect(calls.map((c) => [c.id, c.data.cold]).sort()).toEqual([
      [`${prefix}first`, true],
      [`${prefix}slow`, false],
    ]);
    const cold = calls.find((c) => c.data.cold)!.data;
    expect(cold).toMatchObject({ tenant: 'cli-tenant', function: 'hello', revision: 'hello-00003', instance: 'hello-00003-deployment-xyz', memoryMb: 256 });
    expect(cold.initDurationMs).toBeGreaterThan(100);
    expect(calls.find((c) => !c.data.cold)!.data.durationMs).toBeGreaterThanOrEqual(700);

    const phases = (await readTopic(`${prefix}${TOPICS.lifecycle}`, { expected: 4 })).map((m) => (JSON.parse(m.value) as { data: LifecycleData }).data);
    expect(phases.map((p) => p.phase)).toEqual(['created', 'ready', 'first_request', 'stopped']);
    expect(phases[3]!.stopReason).toBe('deploy');
  });
});
