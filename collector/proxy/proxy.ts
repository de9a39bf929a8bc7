import { Agent, createServer, request } from 'node:http';
import type { ClientRequest, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Meter } from '@opentelemetry/api';
import type { Component, Health } from '../../common/component.ts';
import type { Logger } from '../../common/log.ts';
import type { LifecycleData, Phase, Status, Trigger } from '../../contract/index.ts';
import { invocationEvent, lifecycleEvent, MAX_DURATION_MS } from '../../contract/index.ts';
import type { EventSink } from '../delivery/sink.ts';
import type { ProxyConfig } from './config.ts';
import { endToEndHeaders, rawResponseHead, triggerOf } from './headers.ts';
import type { ProxyMetrics, RejectReason, UpstreamErrorCode, UpstreamFailureOutcome } from './metrics.ts';
import { proxyMetrics, UPSTREAM_ERROR_CODES } from './metrics.ts';
import { waitUntilReady } from './readiness.ts';
import { RequestIdPicker } from './request-id.ts';
import { uuidv7 } from './uuid7.ts';

/**
 * The sidecar in front of one function instance, in the role of Knative's queue-proxy: it
 * forwards every call, times it, and turns it into one invocation event; it holds calls while
 * the function starts (the first served call is the cold one) and while all concurrency slots
 * are busy; it reports the instance's lifecycle created → ready → first_request → stopped.
 *
 * Hot path: no logging, no validation (our own values are valid by construction; the meter
 * validates anyway), metric attributes made once, bodies piped and counted, never buffered.
 */

export interface ProxyDeps {
  sink: EventSink;
  meter: Meter;
  log: Logger;
}

export interface ProxyStats {
  ready: boolean;
  stopping: boolean;
  /** Calls forwarded to the function and not finished. */
  inFlight: number;
  /** Requests held for readiness or a concurrency slot. */
  queued: number;
}

export interface FunctionProxy extends Component {
  /** The listening port (after start); useful when configured as 0. */
  readonly port: number;
  stats(): ProxyStats;
}

/**
 * With unlimited concurrency the pool still needs a bound: past it the Agent queues calls
 * itself. 1,024 sockets to one local function is far beyond what a single instance serves.
 */
const UNLIMITED_POOL_SOCKETS = 1024;
/** A function failing every call would otherwise log every call. */
const UPSTREAM_LOG_INTERVAL_MS = 10_000;
/** After the drain timeout cut what is left; this long for their events to be emitted. */
const CUT_GRACE_MS = 1_000;

const QUEUED = 0;
const FORWARDED = 1;
const DONE = 2;

/** How a forwarded call ended, besides the function's own status code. */
type Outcome = 'ok' | 'failed' | 'timeout' | 'aborted';

const noop = () => {};
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

abstract class Call {
  readonly proxy: SidecarProxy;
  readonly req: IncomingMessage;
  readonly arrivedAt = performance.now();
  state = QUEUED;
  timer: NodeJS.Timeout | undefined = undefined;
  trigger: Trigger = 'http';
  id: string | undefined = undefined;
  forwardedAt = 0;
  /** performance.now() when the function's response ended; 0 = not (yet). */
  endedAt = 0;
  startMs = 0;
  waitMs = 0;
  cold = false;
  httpStatus: number | undefined = undefined;
  outcome: Outcome = 'ok';
  requestBytes = 0;
  responseBytes = 0;

  constructor(proxy: SidecarProxy, req: IncomingMessage) {
    this.proxy = proxy;
    this.req = req;
  }

  abstract refuse(status: number, code: string, message: string): void;
  abstract forward(): void;
  /** Ends the call at the call timeout: 504 if nothing was answered yet, else the connection is cut. */
  abstract timeOut(): void;
  /** Cuts a forwarded call (drain timeout). */
  abstract cut(): void;
}

function onCallTimeout(call: Call): void {
  if (call.state === FORWARDED && call.outcome === 'ok') call.timeOut();
}

function onHeldTimeout(call: Call): void {
  call.proxy.heldTooLong(call);
}

class HttpCall extends Call {
  readonly res: ServerResponse;
  up: ClientRequest | undefined = undefined;
  retried = false;

  constructor(proxy: SidecarProxy, req: IncomingMessage, res: ServerResponse) {
    super(proxy, req);
    this.res = res;
    res.on('close', () => this.onClose());
  }

  refuse(status: number, code: string, message: string): void {
    const body = errorBody(code, message);
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (this.proxy.stopping) headers.connection = 'close';
    this.res.writeHead(status, headers);
    this.res.end(body);
  }

  forward(): void {
    const { req } = this;
    req.on('error', noop);
    // Registered before pipe() so trailers are added before pipe ends the upstream request.
    req.once('end', () => {
      if (req.rawTrailers.length > 0) this.up?.addTrailers(pairs(req.rawTrailers));
    });
    req.on('data', (chunk: Buffer) => {
      this.requestBytes += chunk.length;
    });
    this.up = this.#open(endToEndHeaders(req.rawHeaders));
    req.pipe(this.up);
  }

  #open(headers: string[]): ClientRequest {
    const target = this.proxy.config.target;
    const up = request({
      agent: this.proxy.agent,
      host: target.host,
      port: target.port,
      method: this.req.method,
      path: this.req.url,
      headers,
      // The client's Host is kept (in the raw headers), as a reverse proxy should.
      setHost: false,
    });
    up.on('response', (upRes) => this.onResponse(upRes));
    up.on('error', (error: NodeJS.ErrnoException) => this.onUpstreamError(error, headers));
    return up;
  }

  /**
   * A pooled connection the function closed while idle fails the next request sent on it
   * (the function's keep-alive timeout racing our reuse). Such a request never reached the
   * function, so it is sent once more on a fresh connection — only when that is certainly safe:
   * an idempotent method (RFC 9110 §9.2.2) whose whole request was received and had no body.
   */
  #retryable(error: NodeJS.ErrnoException): boolean {
    return (
      !this.retried &&
      this.up?.reusedSocket === true &&
      (error.code === 'ECONNRESET' || error.code === 'EPIPE') &&
      this.requestBytes === 0 &&
      this.req.readableEnded &&
      IDEMPOTENT.has(this.req.method ?? '')
    );
  }

  onResponse(upRes: IncomingMessage): void {
    if (this.state !== FORWARDED || this.outcome !== 'ok') {
      upRes.resume();
      return;
    }
    const { res } = this;
    const status = upRes.statusCode!;
    this.httpStatus = status;
    const headers = endToEndHeaders(upRes.rawHeaders);
    if (this.proxy.stopping) headers.push('connection', 'close');
    res.writeHead(status, upRes.statusMessage, headers);
    upRes.on('data', (chunk: Buffer) => {
      this.responseBytes += chunk.length;
    });
    upRes.once('end', () => {
      this.endedAt = performance.now();
      if (upRes.rawTrailers.length > 0) res.addTrailers(pairs(upRes.rawTrailers));
    });
    upRes.on('error', noop);
    // The function's connection broke mid-body: pipe() would leave the client waiting forever.
    upRes.once('close', () => {
      if (!upRes.complete && this.state === FORWARDED && this.outcome === 'ok') {
        this.outcome = 'failed';
        res.destroy();
      }
    });
    upRes.pipe(res);
  }

  onUpstreamError(error: NodeJS.ErrnoException, headers: string[]): void {
    if (this.state !== FORWARDED || this.outcome !== 'ok') return;
    if (this.#retryable(error)) {
      this.retried = true;
      this.proxy.upstreamFailed(error, 'resent');
      // The pool's other idle connections have been idle at least as long (LIFO): the function
      // likely closed them too, and the resend must not take one of them.
      this.proxy.dropIdleConnections();
      this.up = this.#open(headers);
      this.up.end();
      return;
    }
    this.proxy.upstreamFailed(error, 'failed');
    this.outcome = 'failed';
    if (this.res.headersSent) {
      this.res.destroy();
      return;
    }
    this.httpStatus = 502;
    this.endedAt = performance.now();
    const { host, port } = this.proxy.config.target;
    this.refuse(502, 'upstream_unreachable', `the function at ${host}:${port} failed to answer: ${error.code ?? error.message}`);
  }

  timeOut(): void {
    this.outcome = 'timeout';
    this.up?.destroy();
    if (this.res.headersSent) {
      this.res.destroy();
      return;
    }
    this.httpStatus = 504;
    this.endedAt = performance.now();
    this.refuse(504, 'call_timeout', `the function did not answer within ${this.proxy.config.callTimeoutMs} ms`);
  }

  cut(): void {
    if (this.outcome === 'ok') this.outcome = 'aborted';
    this.res.destroy();
  }

  onClose(): void {
    if (this.state === QUEUED) {
      this.proxy.cancel(this);
      return;
    }
    if (this.state !== FORWARDED) return;
    if (!this.res.writableFinished && this.outcome === 'ok') {
      // The client went away: tell the function by closing its connection too.
      this.outcome = 'aborted';
      this.up?.destroy();
    }
    this.proxy.finished(this);
  }
}

/**
 * `Upgrade` requests (WebSocket, h2c) are passed through, as queue-proxy does: the handshake is
 * forwarded, and on 101 the two sockets are piped to each other. The session is one invocation
 * (its duration is the session's; bytes are what crossed the sockets, framing included) and
 * holds a concurrency slot while open. The call timeout covers the handshake only.
 */
class UpgradeCall extends Call {
  readonly socket: Duplex;
  readonly head: Buffer;
  up: ClientRequest | undefined = undefined;
  upSocket: Duplex | undefined = undefined;
  headWritten = false;

  constructor(proxy: SidecarProxy, req: IncomingMessage, socket: Duplex, head: Buffer) {
    super(proxy, req);
    this.socket = socket;
    this.head = head;
    socket.on('error', noop);
    socket.on('close', () => this.onClose());
  }

  refuse(status: number, code: string, message: string): void {
    const body = errorBody(code, message);
    const head = rawResponseHead(status, status === 502 ? 'Bad Gateway' : status === 504 ? 'Gateway Timeout' : 'Service Unavailable', [
      'Content-Type',
      'application/json',
      'Content-Length',
      String(Buffer.byteLength(body)),
      'Connection',
      'close',
    ]);
    this.headWritten = true;
    this.socket.end(head + body);
  }

  forward(): void {
    const { req } = this;
    const target = this.proxy.config.target;
    const headers = endToEndHeaders(req.rawHeaders);
    headers.push('Connection', 'Upgrade', 'Upgrade', String(req.headers.upgrade));
    // Its own connection: an upgraded socket never returns to the keep-alive pool.
    const up = request({ agent: false, host: target.host, port: target.port, method: req.method, path: req.url, headers, setHost: false });
    this.up = up;
    up.on('upgrade', (upRes, upSocket, upHead) => this.onUpgraded(upRes, upSocket, upHead));
    up.on('response', (upRes) => this.onDeclined(upRes));
    up.on('error', (error: NodeJS.ErrnoException) => this.onUpstreamError(error));
    up.end();
  }

  onUpgraded(upRes: IncomingMessage, upSocket: Duplex, upHead: Buffer): void {
    if (this.state !== FORWARDED || this.outcome !== 'ok') {
      upSocket.destroy();
      return;
    }
    clearTimeout(this.timer);
    this.httpStatus = 101;
    this.upSocket = upSocket;
    const { socket } = this;
    upSocket.on('error', noop);
    socket.write(rawResponseHead(101, upRes.statusMessage || 'Switching Protocols', upRes.rawHeaders));
    this.headWritten = true;
    if (upHead.length > 0) {
      this.responseBytes += upHead.length;
      socket.write(upHead);
    }
    if (this.head.length > 0) {
      this.requestBytes += this.head.length;
      upSocket.write(this.head);
    }
    socket.on('data', (chunk: Buffer) => {
      this.requestBytes += chunk.length;
    });
    upSocket.on('data', (chunk: Buffer) => {
      this.responseBytes += chunk.length;
    });
    socket.pipe(upSocket);
    upSocket.pipe(socket);
    upSocket.once('close', () => {
      this.endedAt = performance.now();
      socket.destroy();
    });
  }

  /** The function answered without switching protocols: relay that answer and close. */
  onDeclined(upRes: IncomingMessage): void {
    if (this.state !== FORWARDED || this.outcome !== 'ok') {
      upRes.resume();
      return;
    }
    const status = upRes.statusCode!;
    this.httpStatus = status;
    // Transfer-Encoding is dropped with the hop-by-hop fields: the decoded body ends at close.
    const headers = endToEndHeaders(upRes.rawHeaders);
    headers.push('Connection', 'close');
    this.socket.write(rawResponseHead(status, upRes.statusMessage ?? '', headers));
    this.headWritten = true;
    upRes.on('data', (chunk: Buffer) => {
      this.responseBytes += chunk.length;
    });
    upRes.once('end', () => {
      this.endedAt = performance.now();
    });
    upRes.pipe(this.socket);
  }

  onUpstreamError(error: NodeJS.ErrnoException): void {
    if (this.state !== FORWARDED || this.outcome !== 'ok') return;
    this.proxy.upstreamFailed(error, 'failed');
    this.outcome = 'failed';
    if (this.headWritten) {
      this.socket.destroy();
      return;
    }
    this.httpStatus = 502;
    this.endedAt = performance.now();
    const { host, port } = this.proxy.config.target;
    this.refuse(502, 'upstream_unreachable', `the function at ${host}:${port} failed to answer: ${error.code ?? error.message}`);
  }

  timeOut(): void {
    this.outcome = 'timeout';
    this.up?.destroy();
    if (this.headWritten) {
      this.socket.destroy();
      return;
    }
    this.httpStatus = 504;
    this.endedAt = performance.now();
    this.refuse(504, 'call_timeout', `the function did not answer within ${this.proxy.config.callTimeoutMs} ms`);
  }

  cut(): void {
    if (this.outcome === 'ok' && this.httpStatus !== 101) this.outcome = 'aborted';
    this.socket.destroy();
  }

  onClose(): void {
    if (this.state === QUEUED) {
      this.proxy.cancel(this);
      return;
    }
    if (this.state !== FORWARDED) return;
    // A closed WebSocket is a finished session; anything else closed before its end was aborted.
    if (this.outcome === 'ok' && this.httpStatus !== 101 && this.endedAt === 0) this.outcome = 'aborted';
    this.up?.destroy();
    this.upSocket?.destroy();
    this.proxy.finished(this);
  }
}

class SidecarProxy implements FunctionProxy {
  readonly name = 'proxy';
  readonly config: ProxyConfig;
  readonly agent: Agent;
  stopping = false;
  readonly #sink: EventSink;
  readonly #log: Logger;
  readonly #metrics: ProxyMetrics;
  readonly #ids: RequestIdPicker;
  readonly #source: string;
  readonly #probe = new AbortController();
  readonly #queue: Call[] = [];
  readonly #forwarded = new Set<Call>();
  #idleWaiters: (() => void)[] = [];
  #server: Server | undefined = undefined;
  #port = 0;
  #ready = false;
  #servedFirst = false;
  #createdAt = 0;
  #appInitMs = 0;
  #stopped: Promise<void> | undefined = undefined;
  readonly #upstreamLogged = new Map<string, { at: number; count: number }>();

  constructor(config: ProxyConfig, deps: ProxyDeps) {
    this.config = config;
    this.#sink = deps.sink;
    this.#log = deps.log;
    this.#ids = new RequestIdPicker(config.requestIdHeaders);
    this.#source = `faasmeter/proxy/${config.instance}`;
    this.#metrics = proxyMetrics(deps.meter, config, () => this.#queue.length);
    const pool = config.concurrency > 0 ? config.concurrency : UNLIMITED_POOL_SOCKETS;
    // The timeout closes idle pooled sockets only (a call in flight just ignores it). Without one,
    // Node's Agent also ignores the function's Keep-Alive hint, and a socket the function closes
    // as the proxy reuses it fails the call.
    this.agent = new Agent({ keepAlive: true, maxSockets: pool, maxFreeSockets: pool, scheduling: 'lifo', timeout: config.upstreamIdleTimeoutMs });
  }

  get port(): number {
    return this.#port;
  }

  /** Counts a failed connection to the function; logs it at most once per code every 10 s. */
  upstreamFailed(error: NodeJS.ErrnoException, outcome: UpstreamFailureOutcome): void {
    const code: UpstreamErrorCode = (UPSTREAM_ERROR_CODES as readonly string[]).includes(error.code ?? '') ? (error.code as UpstreamErrorCode) : 'other';
    this.#metrics.upstreamFailure(code, outcome);
    const key = `${code}/${outcome}`;
    const last = this.#upstreamLogged.get(key);
    const now = performance.now();
    if (last === undefined || now - last.at >= UPSTREAM_LOG_INTERVAL_MS) {
      const { host, port } = this.config.target;
      const since = last === undefined ? {} : { sinceLastLog: last.count + 1 };
      const message = outcome === 'resent' ? 'a reused connection to the function was dead: request resent' : 'call failed: the function did not answer';
      this.#log.warn({ target: `${host}:${port}`, code: error.code ?? error.message, ...since }, message);
      this.#upstreamLogged.set(key, { at: now, count: 0 });
    } else {
      last.count += 1;
    }
  }

  /** Closes the pool's idle connections to the function (in-flight calls keep theirs). */
  dropIdleConnections(): void {
    for (const sockets of Object.values(this.agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
  }

  stats(): ProxyStats {
    return { ready: this.#ready, stopping: this.stopping, inFlight: this.#forwarded.size, queued: this.#queue.length };
  }

  health(): Health {
    if (this.stopping) return { status: 'error', detail: 'stopping' };
    if (!this.#ready) return { status: 'error', detail: 'function not ready yet' };
    return { status: 'ok' };
  }

  async start(): Promise<void> {
    this.#createdAt = performance.now();
    this.#lifecycle('created', Date.now());
    const server = createServer(
      // Node's whole-request limit would answer 408 to a held upload (its body is not read while
      // held) and cut long ones; the ready, queue and call timeouts bound every request instead.
      { requestTimeout: 0, noDelay: true },
      (req, res) => this.#admit(new HttpCall(this, req, res)),
    );
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#admit(new UpgradeCall(this, req, socket, head)));
    // Node's 5 s default closes idle connections that ingress and load balancer pools keep far
    // longer; a request they send as the close happens fails with a reset the user sees as 502.
    server.keepAliveTimeout = this.config.idleTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    void this.#waitForFunction();
  }

  async #waitForFunction(): Promise<void> {
    const { target, readinessPath } = this.config;
    const ready = await waitUntilReady({ host: target.host, port: target.port, path: readinessPath }, this.#probe.signal);
    if (!ready) return;
    this.#ready = true;
    this.#appInitMs = round3(performance.now() - this.#createdAt);
    this.#lifecycle('ready', Date.now(), { appInitMs: this.#appInitMs });
    this.#log.info({ appInitMs: this.#appInitMs, held: this.#queue.length }, 'function ready');
    this.#dequeue();
  }

  #admit(call: Call): void {
    if (this.stopping && !this.#ready) {
      this.#reject(call, 'stopping');
      return;
    }
    const limit = this.config.concurrency;
    if (this.#ready && this.#queue.length === 0 && (limit === 0 || this.#forwarded.size < limit)) {
      this.#forward(call);
      return;
    }
    if (this.#queue.length >= this.config.queueDepth) {
      this.#reject(call, 'queue_full');
      return;
    }
    const timeoutMs = this.#ready ? this.config.queueTimeoutMs : this.config.readyTimeoutMs;
    if (timeoutMs > 0) call.timer = setTimeout(onHeldTimeout, timeoutMs, call);
    this.#queue.push(call);
  }

  #reject(call: Call, reason: RejectReason): void {
    call.state = DONE;
    this.#metrics.rejected(reason);
    call.refuse(503, reason, this.#rejectMessage(reason));
  }

  #rejectMessage(reason: RejectReason): string {
    switch (reason) {
      case 'queue_full':
        return `${this.config.queueDepth} requests are already waiting for ${this.#ready ? 'a concurrency slot' : 'the function to start'}`;
      case 'ready_timeout':
        return `the function did not become ready within ${this.config.readyTimeoutMs} ms`;
      case 'queue_timeout':
        return `no concurrency slot became free within ${this.config.queueTimeoutMs} ms`;
      case 'stopping':
        return 'the instance is shutting down';
    }
  }

  heldTooLong(call: Call): void {
    if (call.state !== QUEUED || !this.#unqueue(call)) return;
    this.#reject(call, this.#ready ? 'queue_timeout' : 'ready_timeout');
  }

  /** A held request's client went away: it never reached the function, so there is no event. */
  cancel(call: Call): void {
    this.#unqueue(call);
    call.state = DONE;
    clearTimeout(call.timer);
    this.#checkIdle();
  }

  #unqueue(call: Call): boolean {
    const index = this.#queue.indexOf(call);
    if (index < 0) return false;
    this.#queue.splice(index, 1);
    return true;
  }

  #dequeue(): void {
    const limit = this.config.concurrency;
    while (this.#ready && this.#queue.length > 0 && (limit === 0 || this.#forwarded.size < limit)) {
      const call = this.#queue.shift()!;
      clearTimeout(call.timer);
      this.#forward(call);
    }
  }

  #forward(call: Call): void {
    const now = performance.now();
    call.state = FORWARDED;
    call.forwardedAt = now;
    call.waitMs = round3(now - call.arrivedAt);
    call.startMs = Date.now();
    call.trigger = triggerOf(call.req.headers);
    call.id = this.#ids.pick(call.req.headers);
    this.#forwarded.add(call);
    if (!this.#servedFirst) {
      this.#servedFirst = true;
      call.cold = true;
      // Stamped when served (not when it arrived) so phase times never run backwards.
      this.#lifecycle('first_request', call.startMs, {
        appInitMs: this.#appInitMs,
        firstRequestWaitMs: call.waitMs,
      });
    }
    if (this.config.callTimeoutMs > 0) call.timer = setTimeout(onCallTimeout, this.config.callTimeoutMs, call);
    call.forward();
  }

  finished(call: Call): void {
    call.state = DONE;
    clearTimeout(call.timer);
    this.#forwarded.delete(call);
    const end = call.endedAt > 0 ? call.endedAt : performance.now();
    // Only a WebSocket session could last a day; the contract bounds a call's duration.
    const durationMs = Math.min(round3(end - call.forwardedAt), MAX_DURATION_MS);
    const status: Status =
      call.outcome === 'timeout' ? 'timeout' : call.outcome !== 'ok' || (call.httpStatus ?? 0) >= 500 ? 'error' : 'success';
    const c = this.config;
    this.#sink.emit(
      invocationEvent(
        {
          tenant: c.tenant,
          function: c.function,
          revision: c.revision,
          instance: c.instance,
          trigger: call.trigger,
          startMs: call.startMs,
          durationMs,
          status,
          httpStatus: call.httpStatus,
          cold: call.cold,
          initDurationMs: call.cold ? this.#appInitMs : undefined,
          waitMs: call.waitMs,
          memoryMb: c.memoryMb,
          arch: c.arch,
          requestBytes: call.requestBytes,
          responseBytes: call.responseBytes,
        },
        { id: call.id ?? uuidv7(call.startMs), source: this.#source },
      ),
    );
    this.#metrics.invocation(call.trigger, status, durationMs);
    if (call.cold) this.#metrics.coldStart(call.trigger, this.#appInitMs);
    this.#dequeue();
    this.#checkIdle();
  }

  #lifecycle(phase: Phase, timeMs: number, timings?: LifecycleData['timings']): void {
    const c = this.config;
    this.#sink.emit(
      lifecycleEvent(
        {
          tenant: c.tenant,
          function: c.function,
          revision: c.revision,
          instance: c.instance,
          phase,
          timeMs,
          stopReason: phase === 'stopped' ? c.stopReason : undefined,
          timings,
          provisioned: c.provisioned,
          memoryMb: c.memoryMb,
          arch: c.arch,
        },
        { source: this.#source },
      ),
    );
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || this.#forwarded.size > 0 || this.#queue.length > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves true once nothing is in flight or held, false after `timeoutMs`. */
  #whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.#forwarded.size === 0 && this.#queue.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#shutdown();
    return this.#stopped;
  }

  /**
   * Readiness fails at once; after the drain delay (load balancers noticing) new connections are
   * refused, calls in flight and calls held for a slot finish (held ones are served, since the
   * function is up), anything left at the drain timeout is cut. Then `stopped` is emitted; the
   * entry point stops delivery after this component, which flushes it.
   */
  async #shutdown(): Promise<void> {
    this.stopping = true;
    this.#probe.abort();
    if (!this.#ready) for (const call of this.#queue.splice(0)) this.#rejectHeld(call);
    this.#log.info({ inFlight: this.#forwarded.size, held: this.#queue.length }, 'draining');
    if (this.config.drainDelayMs > 0) await sleep(this.config.drainDelayMs);
    this.#server?.close();
    if (!(await this.#whenIdle(this.config.drainTimeoutMs))) {
      this.#log.warn({ inFlight: this.#forwarded.size, held: this.#queue.length }, 'drain timeout: cutting calls still open');
      for (const call of this.#queue.splice(0)) this.#rejectHeld(call);
      for (const call of [...this.#forwarded]) call.cut();
      await this.#whenIdle(CUT_GRACE_MS);
    }
    this.#server?.closeAllConnections();
    this.#lifecycle('stopped', Date.now());
    this.agent.destroy();
  }

  #rejectHeld(call: Call): void {
    clearTimeout(call.timer);
    this.#reject(call, 'stopping');
  }
}

export function createProxy(config: ProxyConfig, deps: ProxyDeps): FunctionProxy {
  return new SidecarProxy(config, deps);
}
