import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyHasher, KeyStore } from '../../api/keys.ts';
import type { ClickHouse } from '../../clickhouse/client.ts';
import { sql, v } from '../../clickhouse/sql.ts';
import { sealHours } from '../../meter/sealer.ts';
import { generateCalls, provisionedInstance, seedPlan, writeThroughMeter } from '../api/seed.ts';
import { runSchemathesis } from '../api/schemathesis.ts';
import { CLICKHOUSE_URL, migratedDatabase } from '../helpers/clickhouse.ts';
import { TEST_PRICING } from '../helpers/meter-fixtures.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Fuzzes the live API (the real `faasmeter api` process) from its own /openapi.json with
 * schemathesis: every check (no 5xx, status codes, content types and bodies that match the
 * document, headers, auth actually enforced, invalid input refused, valid input accepted),
 * a bounded number of examples per operation, with a tenant key on a seeded database.
 */

const root = join(import.meta.dirname, '..', '..');
let ch: ClickHouse;
let database: string;
let api: ChildProcess | undefined;
let baseUrl: string;
let key: string;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  ({ ch, database } = await migratedDatabase('api_fuzz'));
  const plan = seedPlan();
  const prov = provisionedInstance(plan);
  await writeThroughMeter(ch, [...generateCalls({ fromMs: plan.p1Start, toMs: plan.p2End, perFunction: 150, seed: 5, idPrefix: 'fz', hourStride: 97 }), ...prov.events, ...prov.calls]);
  await sealHours(ch);
  key = (await new KeyStore(ch, new KeyHasher()).create({ tenant: 'acme', name: 'schemathesis' })).key;

  const dir = mkdtempSync(join(tmpdir(), 'faasmeter-api-fuzz-'));
  writeFileSync(join(dir, 'plans.json'), JSON.stringify(TEST_PRICING));
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  // Node itself, not npx: npx does not pass SIGTERM on, and the API would outlive the test.
  api = spawn(process.execPath, [join(root, 'cli', 'faasmeter.ts'), 'api'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      FAASMETER_API_HOST: '127.0.0.1',
      FAASMETER_API_PORT: String(port),
      FAASMETER_CLICKHOUSE_URL: CLICKHOUSE_URL,
      FAASMETER_CLICKHOUSE_DATABASE: database,
      FAASMETER_PRICING_FILE: join(dir, 'plans.json'),
      FAASMETER_API_RATE_PER_SECOND: '100000',
      FAASMETER_API_RATE_BURST: '100000',
      FAASMETER_API_CLOSE_SETTLE_MS: '0',
      FAASMETER_LOG_LEVEL: process.env.FAASMETER_LOG_LEVEL ?? 'warn',
    },
  });
  api.stderr?.pipe(process.stderr);
  await waitFor(async () => (await fetch(`${baseUrl}/readyz`).catch(() => undefined))?.status === 200, { timeoutMs: 60_000, what: 'faasmeter api ready' });
}, 180_000);

afterAll(async () => {
  if (api && api.exitCode === null) {
    const exited = new Promise((resolve) => api!.once('exit', resolve));
    api.kill('SIGTERM');
    await exited;
  }
  await ch.command(sql`DROP DATABASE IF EXISTS ${v.ident(database)}`);
  await ch.close();
});

describe('faasmeter api under schemathesis', () => {
  it('serves /healthz, /readyz and /metrics on the API port', async () => {
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${baseUrl}/readyz`)).json()).toMatchObject({ ready: true, components: { clickhouse: { status: 'ok' }, http: { status: 'ok' } } });
    await fetch(`${baseUrl}/v1/statements`, { headers: { authorization: `Bearer ${key}` } });
    expect(await (await fetch(`${baseUrl}/metrics`)).text()).toMatch(/faasmeter_api_requests_total\{[^}]*route="\/v1\/statements"[^}]*\} [1-9]/);
  });

  it('all checks pass over 30 examples per operation: no 5xx, every response matches the document', async () => {
    const started = Date.now();
    const result = await runSchemathesis({ baseUrl, key, maxExamples: 30, seed: 20261123 });
    const summary = result.output.trim().split('\n').slice(-40).join('\n');
    console.log(`schemathesis finished in ${((Date.now() - started) / 1000).toFixed(0)} s\n${summary}`);
    expect(result.code, result.output.slice(-8000)).toBe(0);
    expect(result.output).not.toMatch(/Server error|5\d\d Internal/);
  }, 300_000);
});
