import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import type { Component, Health } from '../../common/component.ts';
import type { Logger } from '../../common/log.ts';
import { handleOps } from '../../common/ops-server.ts';
import type { Telemetry } from '../../common/telemetry.ts';
import type { EventSink } from '../delivery/sink.ts';
import type { IngestKeys } from './auth.ts';
import type { BatchResult, BodyResult, Rejection, RequestContext } from './batch.ts';
import { formatRejection } from './batch.ts';
import { cloudEventsInput, cloudEventsMode, convertCloudEvents } from './cloudevents.ts';
import { parseLogsJson, parseLogsText } from './lambda-logs.ts';
import { parseTelemetry } from './lambda-telemetry.ts';
import { convertTraces, parseOtlpJson, partialSuccessMessage } from './otlp.ts';
import { decodeTraceRequest, encodeRpcStatus, encodeTraceResponse } from './otlp-proto.ts';

/**
 * One HTTP server for every receiver plus /metrics, /healthz and /readyz. Each request is
 * authenticated, bounded, decoded, parsed by its format's pure parser, checked against the ingest
 * key's tenant, and its good events are handed to the sink; the response says what was rejected
 * and why. README.md in this folder is the user-facing description of the endpoints.
 */

export type ReceiverName = 'otlp' | 'lambda_telemetry' | 'lambda_logs' | 'cloudevents';

/** Why a request, or an item in it, was refused; the `reason` label of the rejected counter. */
type RequestRejection = 'unauthorized' | 'forbidden_tenant' | 'unsupported_media_type' | 'too_large' | 'malformed' | 'unavailable';

export interface ReceiversOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  keys: IngestKeys;
}

export interface ReceiversDeps {
  sink: EventSink;
  telemetry: Telemetry;
  log: Logger;
  /** What /readyz aggregates; by default the server alone. */
  components?: () => readonly Component[];
  /** True once the process began shutting down: readiness fails and ingest answers 503. */
  stopping?: () => boolean;
  now?: () => number;
}

export interface ReceiversServer extends Component {
  /** The bound port (useful with port 0). */
  readonly port: number;
}

/** How long stop() lets requests in progress finish before closing their connections. */
const STOP_GRACE_MS = 10_000;

class RequestError extends Error {
  override name = 'RequestError';
  readonly status: number;
  readonly reason: RequestRejection;
  constructor(status: number, reason: RequestRejection, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  receiver: ReceiverName;
  mediaType: string;
}

function mediaTypeOf(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** google.rpc.Status codes for the HTTP statuses OTLP/HTTP errors use. */
const RPC_CODES: Readonly<Record<number, number>> = { 400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 503: 14 };

export function createReceiversServer(options: ReceiversOptions, deps: ReceiversDeps): ReceiversServer {
  const { sink, telemetry, log } = deps;
  const { keys } = options;
  const now = deps.now ?? Date.now;
  const meter = telemetry.meter;
  const eventsTotal = meter.createCounter('faasmeter_receiver_events_total', {
    description: 'Events accepted by a receiver and handed to delivery',
  });
  const rejectedTotal = meter.createCounter('faasmeter_receiver_rejected_total', {
    description: 'Rejected items (reason invalid, tenant_mismatch) and requests (unauthorized, forbidden_tenant, malformed, too_large, unsupported_media_type, unavailable)',
  });
  const ignoredTotal = meter.createCounter('faasmeter_receiver_ignored_total', {
    description: 'Items that carry nothing to meter: non-FaaS spans, non-REPORT log lines, unknown Telemetry API event types',
  });
  const requestSeconds = meter.createHistogram('faasmeter_receiver_request_seconds', {
    description: 'Time to handle one ingest request, by receiver and HTTP status',
  });

  let server: Server | undefined;
  let state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  let boundPort = options.port;
  const self: ReceiversServer = {
    name: 'receivers',
    get port() {
      return boundPort;
    },
    start,
    stop,
    health,
  };
  const components = deps.components ?? (() => [self]);
  const stopping = () => state === 'stopping' || state === 'stopped' || (deps.stopping?.() ?? false);

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const limit = options.maxBodyBytes;
    const tooLarge = () => new RequestError(413, 'too_large', `body: is larger than the limit of ${limit} bytes`);
    if (Number(req.headers['content-length'] ?? 0) > limit) throw tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw tooLarge();
      chunks.push(chunk);
    }
    const raw = Buffer.concat(chunks, size);
    const encoding = (header(req, 'content-encoding') ?? 'identity').toLowerCase();
    if (encoding === 'identity') return raw;
    const decompress = encoding === 'gzip' ? gunzipAsync : encoding === 'deflate' ? inflateAsync : undefined;
    if (!decompress) throw new RequestError(415, 'unsupported_media_type', `Content-Encoding "${encoding}" is not supported (gzip, deflate or none)`);
    try {
      return await decompress(raw, { maxOutputLength: limit });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new RequestError(413, 'too_large', `body: decompresses to more than the limit of ${limit} bytes`);
      throw new RequestError(400, 'malformed', `body: is not valid ${encoding} data (${(e as Error).message})`);
    }
  }

  /** Authenticates, and settles the tenant the request may write for. */
  function context(ex: Exchange, lambda: boolean): RequestContext {
    const auth = keys.authenticate(header(ex.req, 'authorization'));
    if (!auth.ok) throw new RequestError(401, 'unauthorized', auth.reason);
    const param = (name: string) => header(ex.req, `x-faasmeter-${name}`) ?? (ex.url.searchParams.get(name) || undefined);
    const ctx: RequestContext = { nowMs: now() };
    if (auth.tenant !== undefined) {
      ctx.keyTenant = auth.tenant;
      ctx.tenant = auth.tenant;
    }
    if (!lambda) return ctx;
    const claimed = param('tenant');
    if (claimed !== undefined && auth.tenant !== undefined && claimed !== auth.tenant) {
      throw new RequestError(403, 'forbidden_tenant', `tenant "${claimed}" is not the tenant of this ingest key`);
    }
    ctx.tenant ??= claimed;
    const fn = param('function');
    const revision = param('version');
    const instance = param('instance');
    const arch = param('arch');
    const trigger = param('trigger');
    return {
      ...ctx,
      ...(fn !== undefined ? { function: fn } : {}),
      ...(revision !== undefined ? { revision } : {}),
      ...(instance !== undefined ? { instance } : {}),
      ...(arch !== undefined ? { arch } : {}),
      ...(trigger !== undefined ? { trigger } : {}),
    };
  }

  function unwrap<T>(result: BodyResult<T>): T {
    if (!result.ok) throw new RequestError(400, 'malformed', result.reason);
    return result.value;
  }

  /** Hands the good events to the sink and counts everything; true when every rejection is another tenant's. */
  function deliver(receiver: ReceiverName, batch: BatchResult): { allForeign: boolean } {
    for (const event of batch.events) sink.emit(event);
    if (batch.events.length > 0) eventsTotal.add(batch.events.length, { receiver });
    if (batch.ignored > 0) ignoredTotal.add(batch.ignored, { receiver });
    for (const r of batch.rejected) rejectedTotal.add(1, { receiver, reason: r.reason });
    if (batch.rejected.length > 0) {
      log.debug({ receiver, accepted: batch.events.length, rejected: batch.rejected.slice(0, 5) }, 'rejected items');
    }
    return { allForeign: batch.events.length === 0 && batch.rejected.length > 0 && batch.rejected.every((r) => r.reason === 'tenant_mismatch') };
  }

  function requireMedia(ex: Exchange, accepted: readonly string[], allowMissing = false): void {
    if (accepted.includes(ex.mediaType) || (allowMissing && ex.mediaType === '')) return;
    throw new RequestError(415, 'unsupported_media_type', `Content-Type "${ex.mediaType || '(none)'}" is not accepted here; use ${accepted.join(' or ')}`);
  }

  async function otlp(ex: Exchange): Promise<number> {
    const proto = ex.mediaType === 'application/x-protobuf' || ex.mediaType === 'application/protobuf';
    const ctx = context(ex, false);
    requireMedia(ex, ['application/json', 'application/x-protobuf', 'application/protobuf']);
    const body = await readBody(ex.req);
    const batch = unwrap(proto ? convertTraces(unwrap(decodeTraceRequest(body)), ctx) : parseOtlpJson(body.toString('utf8'), ctx));
    const { allForeign } = deliver('otlp', batch);
    if (allForeign) throw new RequestError(403, 'forbidden_tenant', partialSuccessMessage(batch.rejected));
    // OTLP/HTTP: semantic rejections are a 200 with partial success, so exporters do not retry them.
    const partial = batch.rejected.length > 0 ? { rejectedSpans: batch.rejected.length, errorMessage: partialSuccessMessage(batch.rejected) } : undefined;
    if (proto) {
      ex.res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      ex.res.end(encodeTraceResponse(partial));
    } else {
      sendJson(ex.res, 200, partial ? { partialSuccess: partial } : {});
    }
    return 200;
  }

  function lambdaResponse(ex: Exchange, receiver: ReceiverName, batch: BatchResult): number {
    const { allForeign } = deliver(receiver, batch);
    const status = allForeign ? 403 : batch.events.length === 0 && batch.rejected.length > 0 ? 400 : 200;
    sendJson(ex.res, status, {
      accepted: batch.events.length,
      ignored: batch.ignored,
      rejected: batch.rejected.map((r) => ({ index: r.index, ...(r.id !== undefined ? { id: r.id } : {}), reason: formatRejection(r) })),
    });
    return status;
  }

  async function lambdaTelemetry(ex: Exchange): Promise<number> {
    const ctx = context(ex, true);
    requireMedia(ex, ['application/json'], true);
    const body = await readBody(ex.req);
    return lambdaResponse(ex, 'lambda_telemetry', unwrap(parseTelemetry(body.toString('utf8'), ctx)));
  }

  async function lambdaLogs(ex: Exchange): Promise<number> {
    const ctx = context(ex, true);
    requireMedia(ex, ['text/plain', 'application/json'], true);
    const text = (await readBody(ex.req)).toString('utf8');
    const batch = ex.mediaType === 'application/json' ? unwrap(parseLogsJson(text, ctx)) : parseLogsText(text, ctx);
    return lambdaResponse(ex, 'lambda_logs', batch);
  }

  async function cloudEvents(ex: Exchange): Promise<number> {
    const ctx = context(ex, false);
    const mode = cloudEventsMode(ex.mediaType, ex.req.headers);
    if (mode === undefined) {
      throw new RequestError(
        415,
        'unsupported_media_type',
        `Content-Type "${ex.mediaType || '(none)'}" is not accepted here; use application/cloudevents+json, application/cloudevents-batch+json, or application/json with ce-* headers (binary mode)`,
      );
    }
    const body = (await readBody(ex.req)).toString('utf8');
    const batch = convertCloudEvents(unwrap(cloudEventsInput(mode, body, ex.req.headers)), ctx);
    const { allForeign } = deliver('cloudevents', batch);
    const status = allForeign ? 403 : batch.events.length === 0 && batch.rejected.length > 0 ? 400 : 202;
    sendJson(ex.res, status, {
      accepted: batch.events.length,
      rejected: batch.rejected.map((r: Rejection) => ({ index: r.index, ...(r.id !== undefined ? { id: r.id } : {}), errors: r.errors })),
    });
    return status;
  }

  const routes: Record<string, { receiver: ReceiverName; handle: (ex: Exchange) => Promise<number> }> = {
    '/v1/traces': { receiver: 'otlp', handle: otlp },
    '/lambda/telemetry': { receiver: 'lambda_telemetry', handle: lambdaTelemetry },
    '/lambda/logs': { receiver: 'lambda_logs', handle: lambdaLogs },
    '/v1/events': { receiver: 'cloudevents', handle: cloudEvents },
  };

  function fail(ex: Exchange, error: RequestError): number {
    rejectedTotal.add(1, { receiver: ex.receiver, reason: error.reason });
    const headers: Record<string, string> = {};
    if (error.status === 401) headers['www-authenticate'] = 'Bearer';
    if (error.status === 503) headers['retry-after'] = '5';
    // The rest of an over-long body is not read: the connection cannot be reused.
    if (error.status === 413) headers.connection = 'close';
    if (ex.receiver === 'otlp') {
      // OTLP/HTTP error bodies are a google.rpc.Status in the request's encoding.
      const code = RPC_CODES[error.status] ?? 2;
      if (ex.mediaType === 'application/x-protobuf' || ex.mediaType === 'application/protobuf') {
        ex.res.writeHead(error.status, { 'content-type': 'application/x-protobuf', ...headers });
        ex.res.end(encodeRpcStatus(code, error.message));
      } else {
        sendJson(ex.res, error.status, { code, message: error.message }, headers);
      }
    } else {
      sendJson(ex.res, error.status, { error: { code: error.reason, message: error.message } }, headers);
    }
    log.debug({ receiver: ex.receiver, status: error.status, reason: error.message }, 'request refused');
    return error.status;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (handleOps({ telemetry, components, stopping }, req, res)) return;
    const url = new URL(req.url ?? '/', 'http://receivers');
    const route = routes[url.pathname];
    if (!route) {
      sendJson(res, 404, { error: { code: 'not_found', message: `no endpoint ${url.pathname}; ingest is POST /v1/traces, /lambda/telemetry, /lambda/logs or /v1/events` } });
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: { code: 'method_not_allowed', message: `${url.pathname} accepts POST only` } }, { allow: 'POST' });
      return;
    }
    const started = performance.now();
    const ex: Exchange = { req, res, url, receiver: route.receiver, mediaType: mediaTypeOf(req) };
    let status: number;
    try {
      if (stopping()) throw new RequestError(503, 'unavailable', 'shutting down: retry against another instance');
      status = await route.handle(ex);
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
      status = fail(ex, error);
    }
    requestSeconds.record((performance.now() - started) / 1000, { receiver: route.receiver, code: String(status) });
  }

  async function start(): Promise<void> {
    if (state !== 'new') throw new Error(`receivers cannot start when ${state}`);
    const s = createServer((req, res) => {
      handle(req, res).catch((error: unknown) => {
        // A bug, not the client's fault: answer 500 and keep serving everyone else.
        log.error({ err: error, url: req.url }, 'receiver failed');
        if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal', message: 'internal error' } });
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(options.port, options.host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    server = s;
    boundPort = (s.address() as AddressInfo).port;
    state = 'running';
    if (!keys.required) log.warn('no ingest keys configured: every request is accepted and names its own tenant');
    log.info({ listen: `${options.host}:${boundPort}`, ingestKeys: keys.count }, 'receivers listening');
  }

  async function stop(): Promise<void> {
    if (state !== 'running' || !server) {
      state = 'stopped';
      return;
    }
    state = 'stopping';
    const s = server;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeIdleConnections();
    const timer = setTimeout(() => s.closeAllConnections(), STOP_GRACE_MS);
    await closed;
    clearTimeout(timer);
    state = 'stopped';
  }

  function health(): Health {
    if (state === 'running') return { status: 'ok' };
    // Not listening yet: not ready, so no traffic is routed to it during start-up.
    if (state === 'new') return { status: 'error', detail: 'not started' };
    return { status: 'degraded', detail: state };
  }

  return self;
}
