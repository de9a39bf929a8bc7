import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { seededRandom } from '../../common/random.ts';

/**
 * A small function server to put behind faasmeter proxies, in tests, benches and the demo.
 *
 * In-process: `const fn = await startSampleFunction({ initDelayMs: 300 }); ... await fn.close()`.
 * The port is reserved at once and listened on after the init delay (`fn.ready` resolves then),
 * so a proxy can be pointed at a function that is still starting.
 *
 * As a child process: `npx node test/helpers/sample-function.ts` with PORT (default 8080),
 * SAMPLE_HOST, SAMPLE_INIT_MS, SAMPLE_WORK_MS, SAMPLE_CPU_MS, SAMPLE_RESPONSE_BYTES,
 * SAMPLE_ERROR_RATE, SAMPLE_SEED, SAMPLE_BALLAST_MB; it prints `{"listening":<port>}` once it
 * listens and exits on SIGTERM.
 *
 * Every call can override the defaults with headers: `x-sleep-ms` (wait), `x-cpu-ms` (busy
 * loop), `x-read-delay-ms` (wait before reading the body), `x-response-bytes`, `x-chunk-bytes`
 * (stream the body in chunks, no Content-Length), `x-status` (answer with this status). Paths with their own behaviour:
 *   /healthz  200 "ok", not counted as a call      /count  read the body, answer {"bytes":n}
 *   /echo     stream the body back                 /close  drop the connection without answering
 *   /headers  answer the request's raw headers as JSON
 * An `Upgrade` request is switched (101) and echoes what it receives; on /decline it gets 426.
 */

export interface SampleFunctionOptions {
  /** 0 (default) reserves a free port. */
  port?: number;
  host?: string;
  /** Delay before the server listens: the function's start-up. */
  initDelayMs?: number;
  /** Per-call wait before answering. */
  workMs?: number;
  /** Per-call busy CPU time before answering. */
  cpuMs?: number;
  responseBytes?: number;
  /** Fraction of calls answered 500, drawn from `seed` in arrival order (deterministic). */
  errorRate?: number;
  seed?: number;
  /** Memory held for the process's lifetime, touched so it is resident. */
  ballastMb?: number;
}

export interface SampleFunctionStats {
  /** Calls (not /healthz) received. */
  calls: number;
  inFlight: number;
  maxInFlight: number;
  /** Body bytes read from all calls. */
  requestBytes: number;
  /** Generated response body bytes handed to the sockets (not /echo). */
  responseBytes: number;
  upgrades: number;
}

export interface SampleFunction {
  port: number;
  url: string;
  /** Resolves once the server listens (after the init delay). */
  ready: Promise<void>;
  stats: SampleFunctionStats;
  /** The memory ballast, referenced here so it lives as long as the function. */
  ballast: Buffer | undefined;
  close(): Promise<void>;
}

const MiB = 1024 * 1024;
const FILL = Buffer.alloc(64 * 1024, 'x');

function headerNumber(req: IncomingMessage, name: string, fallback: number): number {
  const value = req.headers[name];
  if (typeof value !== 'string') return fallback;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** Waits at least `ms` by the high-resolution clock (a bare timer may fire a fraction of a ms early). */
async function holdFor(ms: number, signal?: AbortSignal): Promise<void> {
  const end = performance.now() + ms;
  for (let left = ms; left > 0; left = end - performance.now()) await sleep(Math.ceil(left), undefined, { signal });
}

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** Writes `total` bytes in `chunk`-sized writes, honouring back-pressure. */
async function writeBody(res: ServerResponse, total: number, chunk: number, stats: SampleFunctionStats): Promise<void> {
  let left = total;
  while (left > 0) {
    const n = Math.min(left, chunk, FILL.length);
    left -= n;
    stats.responseBytes += n;
    if (!res.write(FILL.subarray(0, n))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
      if (res.destroyed) return;
    }
  }
}

async function reservePort(host: string): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, host, resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export async function startSampleFunction(options: SampleFunctionOptions = {}): Promise<SampleFunction> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port || (await reservePort(host));
  const ballast = options.ballastMb ? Buffer.alloc(options.ballastMb * MiB, 1) : undefined;
  const random = seededRandom(options.seed ?? 1);
  const errorRate = options.errorRate ?? 0;
  const stats: SampleFunctionStats = { calls: 0, inFlight: 0, maxInFlight: 0, requestBytes: 0, responseBytes: 0, upgrades: 0 };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.end('ok');
      return;
    }
    stats.calls += 1;
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    try {
      if (path === '/close') {
        req.socket.destroy();
        return;
      }
      if (path === '/headers') {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(req.rawHeaders));
        return;
      }
      if (path === '/echo') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        req.on('data', (chunk: Buffer) => {
          stats.requestBytes += chunk.length;
        });
        req.pipe(res);
        await new Promise<void>((resolve) => res.once('close', resolve));
        return;
      }
      const readDelayMs = headerNumber(req, 'x-read-delay-ms', 0);
      if (readDelayMs > 0) await sleep(readDelayMs);
      let bytes = 0;
      for await (const chunk of req) bytes += (chunk as Buffer).length;
      stats.requestBytes += bytes;
      if (path === '/count') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ bytes }));
        return;
      }
      const failed = errorRate > 0 && random() < errorRate;
      const sleepMs = headerNumber(req, 'x-sleep-ms', options.workMs ?? 0);
      if (sleepMs > 0) await holdFor(sleepMs);
      busy(headerNumber(req, 'x-cpu-ms', options.cpuMs ?? 0));
      if (res.destroyed) return;
      const status = failed ? 500 : headerNumber(req, 'x-status', 200);
      const size = headerNumber(req, 'x-response-bytes', options.responseBytes ?? 2);
      const chunk = headerNumber(req, 'x-chunk-bytes', 0);
      if (chunk > 0) {
        res.writeHead(status, { 'content-type': 'application/octet-stream' });
        await writeBody(res, size, chunk, stats);
        res.end();
      } else {
        res.writeHead(status, { 'content-type': 'text/plain', 'content-length': size });
        await writeBody(res, size, FILL.length, stats);
        res.end();
      }
    } finally {
      stats.inFlight -= 1;
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    if ((req.url ?? '').startsWith('/decline')) {
      socket.end('HTTP/1.1 426 Upgrade Required\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno');
      return;
    }
    stats.upgrades += 1;
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade}\r\nConnection: Upgrade\r\n\r\n`);
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });

  const starting = new AbortController();
  const ready = (async () => {
    if (options.initDelayMs) await holdFor(options.initDelayMs, starting.signal);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  })();
  ready.catch(() => {});

  return {
    port,
    url: `http://${host}:${port}`,
    ready,
    stats,
    ballast,
    async close() {
      starting.abort();
      await ready.catch(() => {});
      if (!server.listening) return;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${value}"`);
  return n;
}

if (import.meta.main) {
  const env = process.env;
  const fn = await startSampleFunction({
    port: envNumber(env, 'PORT') ?? 8080,
    host: env.SAMPLE_HOST ?? '127.0.0.1',
    initDelayMs: envNumber(env, 'SAMPLE_INIT_MS'),
    workMs: envNumber(env, 'SAMPLE_WORK_MS'),
    cpuMs: envNumber(env, 'SAMPLE_CPU_MS'),
    responseBytes: envNumber(env, 'SAMPLE_RESPONSE_BYTES'),
    errorRate: envNumber(env, 'SAMPLE_ERROR_RATE'),
    seed: envNumber(env, 'SAMPLE_SEED'),
    ballastMb: envNumber(env, 'SAMPLE_BALLAST_MB'),
  });
  await fn.ready;
  process.stdout.write(`${JSON.stringify({ listening: fn.port })}\n`);
  const stop = () => void fn.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
