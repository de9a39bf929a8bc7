/**
 * Billing API latency over 10,000,000 stored calls (not a test: prints figures).
 *
 *   npx node bench/api.ts [--calls 10000000] [--requests 300] [--keep]
 *
 * 1. A fresh migrated database gets N billed calls for 5 tenants over one month, generated
 *    server-side (INSERT … SELECT from numbers(), 1M rows a statement) so that every rollup the
 *    meter's materialized views feed is filled as in production; the hours are then marked
 *    written and sealed with the meter's own sealer, as a running meter would have done.
 * 2. `faasmeter api` runs as its own process; this process sends sequential requests for one
 *    tenant (2M calls): a month's statement, a month's daily usage, and the same usage split by
 *    function. p50/p99/max per request kind, after a warm-up.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KeyHasher, KeyStore } from '../api/keys.ts';
import { createClickHouse } from '../clickhouse/client.ts';
import { migrate } from '../clickhouse/migrate.ts';
import { sql, v } from '../clickhouse/sql.ts';
import { DEFAULT_CLICKHOUSE_URL } from '../common/config.ts';
import { freePort } from '../common/net.ts';
import { sealHours } from '../meter/sealer.ts';
import { recordResults } from './results.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '10000000' },
    requests: { type: 'string', default: '300' },
    keep: { type: 'boolean', default: false },
  },
});
const CALLS = Number(values.calls);
const REQUESTS = Number(values.requests);
const TENANTS = 5;
const FUNCTIONS = 50;
const CHUNK = 1_000_000;
const url = process.env.FAASMETER_CLICKHOUSE_URL ?? DEFAULT_CLICKHOUSE_URL;
const root = join(import.meta.dirname, '..');

// The month before the current one: complete, in the past, so every hour can be sealed.
const now = new Date();
const startMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
const endMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
const period = new Date(startMs).toISOString().slice(0, 7);
const database = `bench_api_${Date.now().toString(36)}`;

const admin = createClickHouse({ url, database: 'default', requestTimeoutMs: 600_000 });
const ch = admin.withDatabase(database);

function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

async function seed(): Promise<void> {
  await migrate(ch, { database });
  const started = performance.now();
  for (let offset = 0; offset < CALLS; offset += CHUNK) {
    const n = Math.min(CHUNK, CALLS - offset);
    // Row i starts at startMs + i × span / CALLS: calls spread evenly over the month.
    await ch.command(
      sql`INSERT INTO billed_calls
          SELECT
            concat('bench-', toString(number)) AS event_id,
            concat('tenant-', toString(number % ${v.uint64(TENANTS)})) AS tenant,
            concat('fn-', toString(intDiv(number, ${v.uint64(TENANTS)}) % ${v.uint64(FUNCTIONS)})) AS function,
            concat('rev-', toString(intDiv(number, 1000000))) AS revision,
            concat('inst-', toString(intDiv(number, 997) % 5000)) AS instance,
            if(number % 3 = 0, 'arm64', 'x86_64') AS arch,
            'aws-lambda-us-east-1' AS plan,
            toDateTime(intDiv(sms, 3600000) * 3600) AS hour,
            sms AS start_ms,
            ${v.string(period)} AS usage_period,
            ${v.string(period)} AS billing_period,
            mem AS memory_mb,
            dus AS duration_us,
            bms AS billed_ms,
            mem * bms AS mb_ms,
            toUInt8(number % 100 = 0) AS cold,
            if(number % 100 = 0, toUInt64(150000 + number % 700000), toUInt64(0)) AS init_duration_us,
            if(number % 100 = 0, intDiv(toUInt64(150000 + number % 700000) + 999, 1000), toUInt64(0)) AS init_billed_ms,
            mem * if(number % 100 = 0, intDiv(toUInt64(150000 + number % 700000) + 999, 1000), toUInt64(0)) AS init_mb_ms,
            if(number % 100 = 0, toUInt64(number % 50000), toUInt64(0)) AS wait_us,
            toUInt8(number % 50 = 0) AS error,
            toUInt8(number % 500 = 0) AS timeout,
            toUInt32(intDiv(mem * (20 + number % 60), 100)) AS max_memory_used_mb,
            sms AS written_ms
          FROM (
            SELECT number,
                   ${v.uint64(startMs)} + intDiv(number * ${v.uint64(endMs - startMs)}, ${v.uint64(CALLS)}) AS sms,
                   toUInt32(arrayElement([128, 256, 512, 1024], toUInt32(number % 4 + 1))) AS mem,
                   toUInt64(1000 + (number * 7919) % 400000) AS dus,
                   intDiv(toUInt64(1000 + (number * 7919) % 400000) + 999, 1000) AS bms
            FROM numbers(${v.uint64(offset)}, ${v.uint64(n)})
          )`,
    );
    log(`  inserted ${(offset + n).toLocaleString('en')} calls (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  await ch.command(
    sql`INSERT INTO written_hours SELECT hour, toUInt64(${v.uint64(Date.now() - 3_600_000)}) AS written_ms FROM billed_calls GROUP BY hour`,
  );
  const sealStarted = performance.now();
  const hours = await sealHours(ch);
  log(`  sealed ${hours.length} hours with the meter's sealer in ${((performance.now() - sealStarted) / 1000).toFixed(0)} s`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

async function measure(name: string, base: string, path: string, key: string): Promise<string> {
  const headers = { authorization: `Bearer ${key}` };
  let bytes = 0;
  for (let i = 0; i < 20; i += 1) {
    const r = await fetch(`${base}${path}`, { headers });
    if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
    bytes = (await r.arrayBuffer()).byteLength;
  }
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i += 1) {
    const t = performance.now();
    const r = await fetch(`${base}${path}`, { headers });
    await r.arrayBuffer();
    times.push(performance.now() - t);
    if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status}`);
  }
  times.sort((a, b) => a - b);
  const f = (x: number) => `${x.toFixed(1)} ms`;
  log(`${name.padEnd(34)} n=${REQUESTS}  p50 ${f(percentile(times, 0.5)).padStart(9)}  p99 ${f(percentile(times, 0.99)).padStart(9)}  max ${f(times.at(-1)!).padStart(9)}  (${bytes} B)`);
  return `| ${name} | ${f(percentile(times, 0.5))} | ${f(percentile(times, 0.99))} | ${f(times.at(-1)!)} | ${bytes} |`;
}

async function main(): Promise<void> {
  log(`bench/api: ${CALLS.toLocaleString('en')} calls, ${TENANTS} tenants, ${FUNCTIONS} functions each, period ${period}, database ${database}`);
  const started = performance.now();
  await seed();
  log(`seeded in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const key = (await new KeyStore(ch, new KeyHasher()).create({ tenant: 'tenant-0', name: 'bench' })).key;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const api = spawn(process.execPath, [join(root, 'cli', 'faasmeter.ts'), 'api'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      FAASMETER_API_PORT: String(port),
      FAASMETER_CLICKHOUSE_URL: url,
      FAASMETER_CLICKHOUSE_DATABASE: database,
      FAASMETER_API_RATE_PER_SECOND: '100000',
      FAASMETER_API_RATE_BURST: '100000',
      FAASMETER_LOG_LEVEL: 'warn',
    },
  });
  try {
    const deadline = Date.now() + 60_000;
    while ((await fetch(`${base}/readyz`).catch(() => undefined))?.status !== 200) {
      if (Date.now() > deadline) throw new Error('faasmeter api did not become ready');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const next = new Date(endMs).toISOString().slice(0, 10);
    const rows = [
      await measure(`statement ${period} (draft)`, base, `/v1/statements/${period}`, key),
      await measure('usage, month by day', base, `/v1/usage?from=${period}-01&to=${next}&window=day`, key),
      await measure('usage, month by day and function', base, `/v1/usage?from=${period}-01&to=${next}&window=day&groupBy=function&limit=1000`, key),
      await measure('cold starts, month by function', base, `/v1/cold-starts?from=${period}-01T00:00:00Z&to=${next}T00:00:00Z&groupBy=function`, key),
    ];
    recordResults({
      title: 'Read path: billing API over stored calls',
      body: `${CALLS.toLocaleString('en')} stored calls (${TENANTS} tenants, one month, every hour sealed by the meter's sealer); requests for one tenant (${(CALLS / TENANTS).toLocaleString('en')} calls), sequential, ${REQUESTS} each after 20 warm-up requests, against \`faasmeter api\` in its own process. Goal: statement p99 under 100 ms.

| request | p50 | p99 | max | response bytes |
| --- | --- | --- | --- | --- |
${rows.join('\n')}`,
    });
  } finally {
    api.kill('SIGTERM');
    await new Promise((resolve) => api.once('exit', resolve));
    if (!values.keep) await admin.command(sql`DROP DATABASE IF EXISTS ${v.ident(database)}`);
    await admin.close();
  }
}

await main();
