import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import type { Telemetry } from '../../common/telemetry.ts';
import type { InvocationEvent, LifecycleEvent } from '../../contract/index.ts';
import { INVOCATION_TYPE, LIFECYCLE_TYPE, parseEvent } from '../../contract/index.ts';
import { MemorySink } from '../../collector/delivery/sink.ts';
import type { ProxyConfig } from '../../collector/proxy/config.ts';
import { proxyConfig } from '../../collector/proxy/config.ts';
import type { FunctionProxy } from '../../collector/proxy/proxy.ts';
import { createProxy } from '../../collector/proxy/proxy.ts';
import type { SampleFunction, SampleFunctionOptions } from '../helpers/sample-function.ts';
import { startSampleFunction } from '../helpers/sample-function.ts';
import { waitFor } from '../helpers/wait.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const MiB = 1024 * 1024;

interface Harness {
  fn: SampleFunction;
  proxy: FunctionProxy;
  sink: MemorySink;
  telemetry: Telemetry;
  url: string;
  invocations(): InvocationEvent[];
  lifecycle(): LifecycleEvent[];
}

const open: Harness[] = [];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts the proxy first, then the function on a port reserved for it, as containers of a pod may. */
async function setup(fnOptions: SampleFunctionOptions = {}, overrides: Partial<ProxyConfig> = {}): Promise<Harness> {
  const port = await freePort();
  const sink = new MemorySink();
  const telemetry = createTelemetry('proxy-test');
  const proxy = createProxy(
    proxyConfig({
      tenant: 'acme',
      function: 'thumbnail',
      revision: 'thumbnail-00001',
      instance: 'thumbnail-00001-deployment-7d9f-abcde',
      memoryMb: 256,
      arch: 'x86_64',
      target: { host: '127.0.0.1', port },
      ...overrides,
    }),
    { sink, meter: telemetry.meter, log: createLogger('proxy-test', 'silent') },
  );
  await proxy.start();
  const fn = await startSampleFunction({ ...fnOptions, port });
  const h: Harness = {
    fn,
    proxy,
    sink,
    telemetry,
    url: `http://127.0.0.1:${proxy.port}`,
    invocations: () => sink.events.filter((e): e is InvocationEvent => e.type === INVOCATION_TYPE),
    lifecycle: () => sink.events.filter((e): e is LifecycleEvent => e.type === LIFECYCLE_TYPE),
  };
  open.push(h);
  return h;
}

afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.proxy.stop();
    await h.fn.close();
    // Whatever a test did, every event the proxy emitted must satisfy the contract.
    for (const event of h.sink.events) {
      const parsed = parseEvent(event);
      expect(parsed.ok ? 'valid' : parsed.errors, `event ${event.id}`).toBe('valid');
    }
    await h.telemetry.shutdown();
  }
});

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One call on its own connection (no pooling surprises); the body may be a generator of chunks. */
function call(
  url: string,
  { method = 'GET', headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: Buffer | Iterable<Buffer> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else
      void (async () => {
        for (const chunk of body) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        req.end();
      })();
  });
}

function* chunks(total: number, size = 64 * 1024): Generator<Buffer> {
  const chunk = Buffer.alloc(size, 'a');
  for (let sent = 0; sent < total; sent += size) yield chunk.subarray(0, Math.min(size, total - sent));
}

const json = (r: Reply) => JSON.parse(r.body.toString()) as { error: { code: string; message: string } };

describe('proxy: cold starts and lifecycle', () => {
  it('marks the first call cold with the function start-up as initDurationMs, later calls warm', async () => {
    const h = await setup({ initDelayMs: 300 });
    const first = await call(`${h.url}/`);
    expect(first.status).toBe(200);
    await call(`${h.url}/`);
    await call(`${h.url}/`);
    await waitFor(() => h.invocations().length === 3, { what: 'three invocation events' });
    const [cold, ...warm] = h.invocations().map((e) => e.data);
    expect(cold!.cold).toBe(true);
    // The proxy started first: its start-up measure covers the function's 300 ms, plus at most a
    // probe interval and whatever the loaded test machine adds.
    expect(cold!.initDurationMs).toBeGreaterThanOrEqual(300);
    expect(cold!.initDurationMs).toBeLessThan(300 + 250);
    expect(cold!.waitMs).toBeGreaterThan(200);
    for (const w of warm) {
      expect(w.cold).toBe(false);
      expect(w.initDurationMs).toBeUndefined();
      expect(w.waitMs).toBeLessThan(50);
    }
    const ready = h.lifecycle().find((e) => e.data.phase === 'ready')!;
    expect(ready.data.timings?.appInitMs).toBe(cold!.initDurationMs);
    const firstRequest = h.lifecycle().find((e) => e.data.phase === 'first_request')!;
    expect(firstRequest.data.timings?.firstRequestWaitMs).toBe(cold!.waitMs);
  });

  it('holds requests that arrive during start-up and serves them all once the function is ready', async () => {
    const h = await setup({ initDelayMs: 200 });
    expect(h.proxy.stats().ready).toBe(false);
    const pending = Array.from({ length: 5 }, () => call(`${h.url}/`));
    await waitFor(() => h.proxy.stats().queued === 5, { intervalMs: 5, what: 'five held requests' });
    expect(h.fn.stats.calls).toBe(0);
    const replies = await Promise.all(pending);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    await waitFor(() => h.invocations().length === 5, { what: 'five events' });
    const events = h.invocations().map((e) => e.data);
    expect(events.filter((e) => e.cold)).toHaveLength(1);
    for (const e of events) expect(e.waitMs).toBeGreaterThan(100);
  });

  it('answers 503 queue_full at once when the start-up queue is full', async () => {
    const h = await setup({ initDelayMs: 400 }, { queueDepth: 2 });
    const held = [call(`${h.url}/`), call(`${h.url}/`)];
    await waitFor(() => h.proxy.stats().queued === 2, { intervalMs: 5, what: 'two held requests' });
    const started = performance.now();
    const rejected = await call(`${h.url}/`);
    expect(performance.now() - started).toBeLessThan(200);
    expect(rejected.status).toBe(503);
    expect(rejected.headers['content-type']).toBe('application/json');
    expect(json(rejected).error.code).toBe('queue_full');
    expect(json(rejected).error.message).toMatch(/2 requests are already waiting/);
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
  });

  it('answers 503 ready_timeout to a request held longer than FAASMETER_READY_TIMEOUT_MS', async () => {
    const h = await setup({ initDelayMs: 5_000 }, { readyTimeoutMs: 150 });
    const started = performance.now();
    const reply = await call(`${h.url}/`);
    const waited = performance.now() - started;
    expect(reply.status).toBe(503);
    expect(json(reply).error.code).toBe('ready_timeout');
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(1_000);
    // The function never saw it, so nothing is billed.
    expect(h.invocations()).toHaveLength(0);
  });

  it('probes readiness over HTTP when a readiness path is configured', async () => {
    const h = await setup({ initDelayMs: 100 }, { readinessPath: '/healthz' });
    await waitFor(() => h.proxy.stats().ready, { intervalMs: 5, what: 'ready' });
    expect(h.lifecycle().map((e) => e.data.phase)).toEqual(['created', 'ready']);
    expect(h.lifecycle()[1]!.data.timings?.appInitMs).toBeGreaterThanOrEqual(50);
  });

  it('emits created → ready → first_request → stopped, and drains a call in flight on stop', async () => {
    const h = await setup({}, { stopReason: 'deploy', provisioned: true });
    await waitFor(() => h.proxy.stats().ready, { intervalMs: 5, what: 'ready' });
    await call(`${h.url}/`);
    const slow = call(`${h.url}/`, { headers: { 'x-sleep-ms': '300' } });
    await waitFor(() => h.fn.stats.inFlight === 1, { intervalMs: 5, what: 'slow call in flight' });
    const stopping = h.proxy.stop();
    expect(h.proxy.health().status).toBe('error');
    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(reply.headers.connection).toBe('close');
    await stopping;
    await expect(call(`${h.url}/`)).rejects.toThrow(/ECONNREFUSED/);
    const lifecycle = h.lifecycle();
    expect(lifecycle.map((e) => e.data.phase)).toEqual(['created', 'ready', 'first_request', 'stopped']);
    expect(lifecycle[3]!.data.stopReason).toBe('deploy');
    expect(lifecycle.every((e) => e.data.provisioned === true && e.data.memoryMb === 256 && e.data.arch === 'x86_64')).toBe(true);
    // The drained call's event comes before `stopped`.
    const types = h.sink.events.map((e) => (e.type === LIFECYCLE_TYPE ? e.data.phase : 'call'));
    expect(types.slice(-2)).toEqual(['call', 'stopped']);
  });

  it('cuts calls still open at the drain timeout, reports them as errors, then emits stopped', async () => {
    const h = await setup({}, { drainTimeoutMs: 100 });
    await waitFor(() => h.proxy.stats().ready, { intervalMs: 5, what: 'ready' });
    const slow = call(`${h.url}/`, { headers: { 'x-sleep-ms': '5000' } }).then(
      () => 'answered',
      (error: Error) => error.message,
    );
    await waitFor(() => h.fn.stats.inFlight === 1, { intervalMs: 5, what: 'slow call in flight' });
    const started = performance.now();
    await h.proxy.stop();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await slow).toMatch(/socket hang up|ECONNRESET/);
    const types = h.sink.events.map((e) => (e.type === LIFECYCLE_TYPE ? e.data.phase : (e as InvocationEvent).data.status));
    expect(types).toEqual(['created', 'ready', 'first_request', 'error', 'stopped']);
  });

  it('answers 503 stopping to requests held for a function that never became ready', async () => {
    const h = await setup({ initDelayMs: 5_000 });
    const held = call(`${h.url}/`);
    await waitFor(() => h.proxy.stats().queued === 1, { intervalMs: 5, what: 'held request' });
    await h.proxy.stop();
    const reply = await held;
    expect(reply.status).toBe(503);
    expect(json(reply).error.code).toBe('stopping');
    expect(h.lifecycle().map((e) => [e.data.phase, e.data.stopReason])).toEqual([
      ['created', undefined],
      ['stopped', 'scale_to_zero'],
    ]);
  });
});

describe('proxy: invocation events', () => {
  it('uses a valid platform request id as the event id and a UUIDv7 otherwise', async () => {
    const h = await setup();
    await call(`${h.url}/`, { headers: { 'x-request-id': 'req-0001' } });
    await call(`${h.url}/`, { headers: { 'ce-id': 'ce-42', 'x-faas-invocation-id': 'ignored-lower-preference' } });
    await call(`${h.url}/`, { headers: { 'x-request-id': 'has space' } });
    await call(`${h.url}/`, { headers: { 'x-request-id': 'x'.repeat(129) } });
    await call(`${h.url}/`);
    await waitFor(() => h.invocations().length === 5, { what: 'five events' });
    const ids = h.invocations().map((e) => e.id);
    expect(ids.slice(0, 2)).toEqual(['req-0001', 'ce-42']);
    for (const id of ids.slice(2)) expect(id).toMatch(UUID_V7);
  });

  it('never reuses a platform request id: a repeated header value gets a fresh UUIDv7', async () => {
    const h = await setup();
    for (let i = 0; i < 3; i += 1) await call(`${h.url}/`, { headers: { 'x-request-id': 'same-id' } });
    await waitFor(() => h.invocations().length === 3, { what: 'three events' });
    const ids = h.invocations().map((e) => e.id);
    expect(ids[0]).toBe('same-id');
    expect(ids[1]).toMatch(UUID_V7);
    expect(new Set(ids).size).toBe(3);
  });

  it('maps statuses: 2xx/4xx success, 5xx error', async () => {
    const h = await setup();
    for (const status of ['200', '204', '404', '500', '503']) await call(`${h.url}/`, { headers: { 'x-status': status } });
    await waitFor(() => h.invocations().length === 5, { what: 'five events' });
    expect(h.invocations().map((e) => [e.data.httpStatus, e.data.status])).toEqual([
      [200, 'success'],
      [204, 'success'],
      [404, 'success'],
      [500, 'error'],
      [503, 'error'],
    ]);
  });

  it('answers 502 with a reason and emits an error event when the function is unreachable', async () => {
    const h = await setup();
    await waitFor(() => h.proxy.stats().ready, { intervalMs: 5, what: 'ready' });
    await h.fn.close();
    const reply = await call(`${h.url}/`);
    expect(reply.status).toBe(502);
    expect(json(reply).error.code).toBe('upstream_unreachable');
    expect(json(reply).error.message).toMatch(/ECONNREFUSED/);
    await waitFor(() => h.invocations().length === 1, { what: 'event' });
    expect(h.invocations()[0]!.data).toMatchObject({ status: 'error', httpStatus: 502, responseBytes: 0 });
  });

  it('answers 502 when the function drops the connection without answering', async () => {
    const h = await setup();
    const reply = await call(`${h.url}/close`);
    expect(reply.status).toBe(502);
    await waitFor(() => h.invocations().length === 1, { what: 'event' });
    expect(h.invocations()[0]!.data).toMatchObject({ status: 'error', httpStatus: 502 });
  });

  it('answers 504 and emits a timeout event when the call exceeds the call timeout', async () => {
    const h = await setup({}, { callTimeoutMs: 200 });
    const reply = await call(`${h.url}/`, { headers: { 'x-sleep-ms': '2000' } });
    expect(reply.status).toBe(504);
    expect(json(reply).error.code).toBe('call_timeout');
    await waitFor(() => h.invocations().length === 1, { what: 'event' });
    const { data } = h.invocations()[0]!;
    expect(data).toMatchObject({ status: 'timeout', httpStatus: 504 });
    expect(data.durationMs).toBeGreaterThanOrEqual(199);
    expect(data.durationMs).toBeLessThan(400);
  });

  it('records durations with microsecond precision that cover the function work', async () => {
    const h = await setup();
    await call(`${h.url}/`, { headers: { 'x-sleep-ms': '50' } });
    await waitFor(() => h.invocations().length === 1, { what: 'event' });
    const { data } = h.invocations()[0]!;
    expect(data.durationMs).toBeGreaterThanOrEqual(50);
    expect(data.durationMs).toBeLessThan(150);
    expect(Math.round(data.durationMs * 1000)).toBeCloseTo(data.durationMs * 1000, 6);
    expect(Number.isInteger(data.durationMs)).toBe(false);
    expect(data).toMatchObject({ tenant: 'acme', function: 'thumbnail', revision: 'thumbnail-00001', memoryMb: 256, arch: 'x86_64' });
    expect(Math.abs(data.startMs - Date.now())).toBeLessThan(5_000);
  });

  it('derives the trigger: CloudEvents are pubsub, Knative ping events are timer, the rest http', async () => {
    const h = await setup();
    await call(`${h.url}/`);
    await call(`${h.url}/`, { method: 'POST', headers: { 'ce-type': 'com.example.order.created', 'ce-id': 'e1' }, body: Buffer.from('{}') });
    await call(`${h.url}/`, { method: 'POST', headers: { 'ce-type': 'dev.knative.sources.ping', 'ce-id': 'e2' }, body: Buffer.from('{}') });
    await call(`${h.url}/`, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: Buffer.from('{}') });
    await waitFor(() => h.invocations().length === 4, { what: 'four events' });
    expect(h.invocations().map((e) => e.data.trigger)).toEqual(['http', 'pubsub', 'timer', 'pubsub']);
  });
});

/** What the telemetry's Prometheus exporter serves on /metrics. */
async function metricsText(telemetry: Telemetry): Promise<string> {
  const server = createServer((req, res) => telemetry.metricsHandler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return (await call(`http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`)).body.toString();
  } finally {
    server.close();
  }
}

/** A proxy in front of a hand-made function (for behaviours the sample function does not have). */
async function proxyTo(port: number, overrides: Partial<ProxyConfig> = {}) {
  const sink = new MemorySink();
  const telemetry = createTelemetry('proxy-test');
  const proxy = createProxy(
    proxyConfig({ tenant: 'acme', function: 'f', revision: 'f-1', instance: 'f-1-a', memoryMb: 128, arch: 'x86_64', target: { host: '127.0.0.1', port }, ...overrides }),
    { sink, meter: telemetry.meter, log: createLogger('proxy-test', 'silent') },
  );
  await proxy.start();
  await waitFor(() => proxy.stats().ready, { intervalMs: 5, what: 'ready' });
  return {
    proxy,
    sink,
    url: `http://127.0.0.1:${proxy.port}`,
    metrics: () => metricsText(telemetry),
    close: async () => (await proxy.stop(), await telemetry.shutdown()),
  };
}

describe('proxy: idle client connections', () => {
  /** Sends one keep-alive request on a raw socket, then resolves with how long the idle socket stayed open (capped). */
  async function idleLifetime(url: string, capMs: number): Promise<number> {
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1');
    let answered = '';
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => (answered += chunk.toString()));
    socket.write('GET / HTTP/1.1\r\nHost: fn\r\n\r\n');
    await waitFor(() => /\r\n\r\n/.test(answered), { what: 'the response' });
    expect(answered).toMatch(/^HTTP\/1\.1 200 /);
    const idleFrom = Date.now();
    const stillOpen = await Promise.race([closed.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), capMs))]);
    socket.destroy();
    return stillOpen ? capMs : Date.now() - idleFrom;
  }

  it('keeps an idle client connection well past Node\'s 5 s default, so pools in front close first', async () => {
    expect(proxyConfig({ tenant: 'a', function: 'f', revision: 'r', instance: 'i', memoryMb: 128, target: { host: '127.0.0.1', port: 1 } }).idleTimeoutMs).toBe(620_000);
    const h = await setup({}, { idleTimeoutMs: 620_000 });
    await waitFor(() => h.proxy.stats().ready, { what: 'ready' });
    expect(await idleLifetime(h.url, 6_000)).toBe(6_000);
  }, 15_000);

  it('closes an idle client connection after the configured idle timeout', async () => {
    const h = await setup({}, { idleTimeoutMs: 300 });
    await waitFor(() => h.proxy.stats().ready, { what: 'ready' });
    const lifetime = await idleLifetime(h.url, 5_000);
    expect(lifetime).toBeGreaterThanOrEqual(250);
    expect(lifetime).toBeLessThan(2_000);
  });
});

describe('proxy: keep-alive to the function', () => {
  /**
   * A function whose idle keep-alive connections die just as the proxy reuses them: the second
   * request on each of the first `stale` connections is answered by a reset, later connections
   * work normally. The first answers wait until `stale` connections are open, so a wave of that
   * many concurrent calls leaves that many connections in the proxy's pool.
   */
  async function flakyKeepAliveFunction(
    stale = 1,
    keepAliveHint?: string,
  ): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
    let connections = 0;
    const sockets = new Set<Socket>();
    const waiting: Socket[] = [];
    const hint = keepAliveHint === undefined ? '' : `Keep-Alive: ${keepAliveHint}\r\n`;
    const answer = (socket: Socket) => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n${hint}\r\nok`);
    const server = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      let requests = 0;
      let number = 0;
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        while (buffered.includes('\r\n\r\n')) {
          buffered = buffered.slice(buffered.indexOf('\r\n\r\n') + 4);
          requests += 1;
          if (requests === 1) number = connections += 1;
          if (requests === 2 && number <= stale) {
            socket.resetAndDestroy();
            return;
          }
          if (number > stale || requests > 1) answer(socket);
          else if (waiting.push(socket) === stale) waiting.splice(0).forEach(answer);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as { port: number }).port,
      connections: () => connections,
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    };
  }

  it('resends a bodiless idempotent request once when a reused connection turns out dead', async () => {
    const fn = await flakyKeepAliveFunction();
    const p = await proxyTo(fn.port);
    try {
      expect((await call(`${p.url}/`)).status).toBe(200);
      const second = await call(`${p.url}/`);
      expect(second.status).toBe(200);
      expect(second.body.toString()).toBe('ok');
      expect(fn.connections()).toBe(2);
      await waitFor(() => p.sink.events.filter((e) => e.type === INVOCATION_TYPE).length === 2, { what: 'two events' });
    } finally {
      await p.close();
      await fn.close();
    }
  });

  it('resends on a new connection when every pooled connection went stale at once, and counts the failure', async () => {
    const fn = await flakyKeepAliveFunction(3);
    const p = await proxyTo(fn.port);
    try {
      const wave = await Promise.all([1, 2, 3].map(() => call(`${p.url}/`)));
      expect(wave.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(fn.connections()).toBe(3);
      // Reused and dead; the resend must not take the next dead connection from the pool.
      const next = await call(`${p.url}/`);
      expect(next.status).toBe(200);
      expect(fn.connections()).toBe(4);
      expect(await p.metrics()).toMatch(/^faasmeter_proxy_upstream_failures_total\{code="ECONNRESET",outcome="resent"\} 1$/m);
    } finally {
      await p.close();
      await fn.close();
    }
  });

  /** Two calls through a proxy, idleMs apart: how many connections the function saw. */
  async function connectionsAcrossIdle(idleMs: number, overrides: Partial<ProxyConfig>, keepAliveHint?: string): Promise<number> {
    const fn = await flakyKeepAliveFunction(0, keepAliveHint);
    const p = await proxyTo(fn.port, overrides);
    try {
      expect((await call(`${p.url}/`)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, idleMs));
      expect((await call(`${p.url}/`)).status).toBe(200);
      return fn.connections();
    } finally {
      await p.close();
      await fn.close();
    }
  }

  it('closes a pooled connection idle for FAASMETER_UPSTREAM_IDLE_TIMEOUT_MS, before the function would', async () => {
    expect(await connectionsAcrossIdle(20, { upstreamIdleTimeoutMs: 300 })).toBe(1);
    expect(await connectionsAcrossIdle(600, { upstreamIdleTimeoutMs: 300 })).toBe(2);
  });

  it("takes the function's shorter Keep-Alive timeout, less 1 s", async () => {
    expect(await connectionsAcrossIdle(1_300, { upstreamIdleTimeoutMs: 60_000 }, 'timeout=2')).toBe(2);
  });

  it('lets a call in flight run past the idle timeout', async () => {
    const h = await setup({}, { upstreamIdleTimeoutMs: 100 });
    const slow = await call(`${h.url}/`, { headers: { 'x-sleep-ms': '600' } });
    expect(slow.status).toBe(200);
    await waitFor(() => h.invocations().length === 1, { what: 'event' });
    expect(h.invocations()[0]!.data).toMatchObject({ status: 'success', httpStatus: 200 });
    expect(h.invocations()[0]!.data.durationMs).toBeGreaterThanOrEqual(600);
  });

  it('never resends a request with a body: a dead reused connection is a 502', async () => {
    const fn = await flakyKeepAliveFunction();
    const p = await proxyTo(fn.port);
    try {
      expect((await call(`${p.url}/`)).status).toBe(200);
      const second = await call(`${p.url}/`, { method: 'POST', body: Buffer.from('payload') });
      expect(second.status).toBe(502);
      expect(fn.connections()).toBe(1);
    } finally {
      await p.close();
      await fn.close();
    }
  });
});

describe('proxy: streaming', () => {
  /**
   * A proxy that buffered bodies would take all of one while the other side is not reading. One
   * that streams passes the back-pressure on: while the reader stalls, the writer can only fill
   * the sockets' buffers (a few MB on loopback), far from the 128 MB body.
   */
  const STALLED_LIMIT = 40 * MiB;
  const TOTAL = 128 * MiB;

  it('streams a chunked upload with back-pressure and counts every byte', async () => {
    const h = await setup();
    let flushed = 0;
    let stalled = -1;
    const reply = new Promise<Reply>((resolve, reject) => {
      const req = request(`${h.url}/count`, { method: 'POST', agent: false, headers: { 'x-read-delay-ms': '500' } }, (res) => {
        const body: Buffer[] = [];
        res.on('data', (c: Buffer) => body.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(body) }));
      });
      req.on('error', reject);
      void (async () => {
        for (const chunk of chunks(TOTAL)) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          flushed += chunk.length;
        }
        req.end();
      })();
    });
    setTimeout(() => (stalled = flushed), 400);
    const r = await reply;
    expect(stalled).toBeGreaterThan(0);
    expect(stalled).toBeLessThan(STALLED_LIMIT);
    expect(JSON.parse(r.body.toString())).toEqual({ bytes: TOTAL });
    await waitFor(() => h.invocations().length === 1, { what: 'event' });
    expect(h.invocations()[0]!.data.requestBytes).toBe(TOTAL);
  });

  it('streams a chunked response with back-pressure, keeps it chunked and counts every byte', async () => {
    const h = await setup();
    let received = 0;
    let headers: IncomingHttpHeaders = {};
    let stalled = -1;
    await new Promise<void>((resolve, reject) => {
      request(`${h.url}/`, { agent: false, headers: { 'x-response-bytes': String(TOTAL), 'x-chunk-bytes': '65536' } }, (res) => {
        headers = res.headers;
        res.on('data', (c: Buffer) => (received += c.length));
        res.on('end', resolve);
        res.pause();
        setTimeout(() => {
          stalled = h.fn.stats.responseBytes;
          res.resume();
        }, 300);
      })
        .on('error', reject)
        .end();
    });
    expect(stalled).toBeGreaterThan(0);
    expect(stalled).toBeLessThan(STALLED_LIMIT);
    expect(received).toBe(TOTAL);
    expect(headers['transfer-encoding']).toBe('chunked');
    expect(headers['content-length']).toBeUndefined();
    await waitFor(() => h.invocations().length === 1, { what: 'event' });
    expect(h.invocations()[0]!.data).toMatchObject({ responseBytes: TOTAL, requestBytes: 0, status: 'success' });
  });

  it('counts both directions of an echoed 8 MB body', async () => {
    const h = await setup();
    const reply = await call(`${h.url}/echo`, { method: 'PUT', body: chunks(8 * MiB, 10_000) });
    expect(reply.body.length).toBe(8 * MiB);
    await waitFor(() => h.invocations().length === 1, { what: 'event' });
    expect(h.invocations()[0]!.data).toMatchObject({ requestBytes: 8 * MiB, responseBytes: 8 * MiB });
  });

  it('reports a client that aborts mid-upload as an error with the bytes transferred so far', async () => {
    const h = await setup();
    const req = request(`${h.url}/count`, { method: 'POST', agent: false });
    req.on('error', () => {});
    req.write(Buffer.alloc(100_000, 'a'));
    await waitFor(() => h.fn.stats.inFlight === 1, { intervalMs: 5, what: 'upload reached the function' });
    await waitFor(() => h.proxy.stats().inFlight === 1 && h.fn.stats.calls === 1, { intervalMs: 5, what: 'in flight' });
    await new Promise((r) => setTimeout(r, 50));
    req.destroy();
    await waitFor(() => h.invocations().length === 1, { what: 'event' });
    const { data } = h.invocations()[0]!;
    expect(data.status).toBe('error');
    expect(data.httpStatus).toBeUndefined();
    expect(data.requestBytes).toBe(100_000);
    // The function's side was closed too, so it does not keep working for nobody.
    await waitFor(() => h.fn.stats.inFlight === 0, { what: 'function call ended' });
  });

  it('reports a client that aborts mid-response as an error with the response status and bytes so far', async () => {
    const h = await setup();
    let got = 0;
    await new Promise<void>((resolve) => {
      const req = request(`${h.url}/`, { agent: false, headers: { 'x-response-bytes': String(256 * MiB), 'x-chunk-bytes': '65536' } }, (res) => {
        res.on('data', (c: Buffer) => {
          got += c.length;
          if (got >= MiB) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', () => {});
      req.end();
    });
    await waitFor(() => h.invocations().length === 1, { what: 'event' });
    const { data } = h.invocations()[0]!;
    expect(data).toMatchObject({ status: 'error', httpStatus: 200 });
    expect(data.responseBytes).toBeGreaterThanOrEqual(MiB);
    expect(data.responseBytes).toBeLessThan(256 * MiB);
  });

  it('passes response trailers on', async () => {
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { trailer: 'x-checksum' });
      res.write('body');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const p = await proxyTo((server.address() as { port: number }).port);
    try {
      const trailers = await new Promise<NodeJS.Dict<string>>((resolve, reject) => {
        request(`${p.url}/`, { agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.trailers));
        })
          .on('error', reject)
          .end();
      });
      expect(trailers).toEqual({ 'x-checksum': 'abc123' });
    } finally {
      await p.close();
      server.close();
    }
  });

  it('removes hop-by-hop headers, including those named by Connection, and keeps Host', async () => {
    const h = await setup();
    const reply = await call(`${h.url}/headers`, {
      headers: { connection: 'keep-alive, x-hop', 'x-hop': 'secret', 'keep-alive': 'timeout=5', te: 'trailers', 'x-end': 'kept', host: 'fn.example.com' },
    });
    const raw = JSON.parse(reply.body.toString()) as string[];
    const names = raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names).not.toContain('x-hop');
    expect(names).not.toContain('keep-alive');
    expect(names).not.toContain('te');
    expect(raw[raw.findIndex((n) => n.toLowerCase() === 'x-end') + 1]).toBe('kept');
    expect(raw[raw.findIndex((n) => n.toLowerCase() === 'host') + 1]).toBe('fn.example.com');
  });
});

describe('proxy: concurrency', () => {
  it('keeps at most FAASMETER_CONCURRENCY calls in flight at the function; the rest wait in order', async () => {
    const h = await setup({}, { concurrency: 2 });
    await waitFor(() => h.proxy.stats().ready, { intervalMs: 5, what: 'ready' });
    const replies = await Promise.all(Array.from({ length: 8 }, () => call(`${h.url}/`, { headers: { 'x-sleep-ms': '60' } })));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(h.fn.stats.maxInFlight).toBe(2);
    await waitFor(() => h.invocations().length === 8, { what: 'eight events' });
    const waits = h.invocations().map((e) => e.data.waitMs!);
    expect(Math.max(...waits)).toBeGreaterThan(150);
  });

  it('answers 503 queue_timeout to a request that waited too long for a slot', async () => {
    const h = await setup({}, { concurrency: 1, queueTimeoutMs: 100 });
    await waitFor(() => h.proxy.stats().ready, { intervalMs: 5, what: 'ready' });
    const busy = call(`${h.url}/`, { headers: { 'x-sleep-ms': '500' } });
    await waitFor(() => h.fn.stats.inFlight === 1, { intervalMs: 5, what: 'slot taken' });
    const reply = await call(`${h.url}/`);
    expect(reply.status).toBe(503);
    expect(json(reply).error.code).toBe('queue_timeout');
    expect((await busy).status).toBe(200);
  });
});

describe('proxy: Upgrade', () => {
  function upgrade(port: number, path: string): Promise<{ socket: Socket; head: string }> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let buffered = '';
      socket.on('error', reject);
      socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: fn\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`));
      const onData = (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        const end = buffered.indexOf('\r\n\r\n');
        if (end >= 0) {
          socket.off('data', onData);
          resolve({ socket, head: buffered });
        }
      };
      socket.on('data', onData);
    });
  }

  it('passes an Upgrade through: 101, bytes piped both ways, one event for the session', async () => {
    const h = await setup();
    await waitFor(() => h.proxy.stats().ready, { intervalMs: 5, what: 'ready' });
    const { socket, head } = await upgrade(h.proxy.port, '/ws');
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    const echoed = new Promise<string>((resolve) => socket.once('data', (c: Buffer) => resolve(c.toString())));
    socket.write('hello');
    expect(await echoed).toBe('hello');
    expect(h.proxy.stats().inFlight).toBe(1);
    socket.end();
    await waitFor(() => h.invocations().length === 1, { what: 'session event' });
    expect(h.invocations()[0]!.data).toMatchObject({ status: 'success', httpStatus: 101, requestBytes: 5, responseBytes: 5, trigger: 'http' });
  });

  it('relays the function’s refusal of an Upgrade', async () => {
    const h = await setup();
    await waitFor(() => h.proxy.stats().ready, { intervalMs: 5, what: 'ready' });
    const { socket, head } = await upgrade(h.proxy.port, '/decline');
    socket.destroy();
    expect(head).toMatch(/^HTTP\/1\.1 426 /);
    await waitFor(() => h.invocations().length === 1, { what: 'event' });
    expect(h.invocations()[0]!.data).toMatchObject({ status: 'success', httpStatus: 426 });
  });
});

describe('proxy: self-metrics', () => {
  it('exposes the OpenTelemetry FaaS metric names with low-cardinality labels only', async () => {
    const h = await setup({ initDelayMs: 50 }, { callTimeoutMs: 150, queueDepth: 0 });
    const rejected = await call(`${h.url}/`);
    expect(rejected.status).toBe(503);
    await waitFor(() => h.proxy.stats().ready, { intervalMs: 5, what: 'ready' });
    await call(`${h.url}/`);
    await call(`${h.url}/`, { headers: { 'x-status': '500' } });
    await call(`${h.url}/`, { headers: { 'x-sleep-ms': '1000' } });
    await waitFor(() => h.invocations().length === 3, { what: 'three events' });

    const text = await metricsText(h.telemetry);

    const labels = 'faas_name="thumbnail",faas_version="thumbnail-00001",faas_trigger="http"';
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.split(' ')[1]);
    };
    expect(value(`faas_invocations_total{${labels}}`)).toBe(3);
    expect(value(`faas_errors_total{${labels}}`)).toBe(1);
    expect(value(`faas_timeouts_total{${labels}}`)).toBe(1);
    expect(value(`faas_coldstarts_total{${labels}}`)).toBe(1);
    expect(value(`faas_invoke_duration_seconds_count{${labels}}`)).toBe(3);
    expect(value(`faas_init_duration_seconds_count{${labels}}`)).toBe(1);
    expect(value('faasmeter_proxy_queue_depth')).toBe(0);
    expect(value('faasmeter_proxy_rejected_total{reason="queue_full"}')).toBe(1);
    const names = new Set(text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]));
    for (const name of names) expect(name).not.toMatch(/_total_total$/);
    expect(text).not.toMatch(/[{,][a-z_]*(instance|id)="/);
    expect(text).not.toMatch(/faas_mem_usage/);
  });
});
