import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs/minimal.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import { MemorySink } from '../../collector/delivery/sink.ts';
import { createIngestKeys, hashIngestKey } from '../../collector/receivers/auth.ts';
import { traceV1 } from '../../collector/receivers/otlp-proto.ts';
import type { ReceiversServer } from '../../collector/receivers/server.ts';
import { createReceiversServer } from '../../collector/receivers/server.ts';
import type { FaasEvent, InvocationEvent } from '../../contract/index.ts';
import { invocationEvent } from '../../contract/index.ts';
import type { Json, TraceRequest } from '../fixtures/receivers/fixtures.ts';
import { fixtureText, otlpFixture, otlpJsonToProtobuf, RECEIVER_NOW_MS, setAttr, telemetryFixture } from '../fixtures/receivers/fixtures.ts';

const ACME_KEY = 'fm_test_acme_5f2c9e1a';
const GLOBEX_KEY = 'fm_test_globex_8b3d7f0c';
const MAX_BODY = 64 * 1024;

interface Running {
  server: ReceiversServer;
  sink: MemorySink;
  url: string;
  metrics: () => Promise<string>;
}

async function start(keys: Parameters<typeof createIngestKeys>[0] = [], stopping = () => false): Promise<Running> {
  const sink = new MemorySink();
  const telemetry = createTelemetry('receivers-test');
  const server = createReceiversServer(
    { host: '127.0.0.1', port: 0, maxBodyBytes: MAX_BODY, keys: createIngestKeys(keys) },
    { sink, telemetry, log: createLogger('receivers-test', 'silent'), now: () => RECEIVER_NOW_MS, stopping },
  );
  await server.start();
  const url = `http://127.0.0.1:${server.port}`;
  return { server, sink, url, metrics: async () => (await fetch(`${url}/metrics`)).text() };
}

function post(url: string, body: string | Uint8Array, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', body, headers });
}

const json = (body: unknown) => JSON.stringify(body);

function decodeRpcStatus(bytes: Uint8Array): { code: number; message: string } {
  const reader = protobuf.Reader.create(bytes);
  const status = { code: 0, message: '' };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === 8) status.code = reader.int32();
    else if (tag === 18) status.message = reader.string();
    else reader.skipType(tag & 7);
  }
  return status;
}

function event(id: string, tenant = 'acme-prod', overrides: Partial<InvocationEvent['data']> = {}): InvocationEvent {
  return invocationEvent(
    {
      tenant,
      function: 'checkout-api',
      revision: 'checkout-api-00042',
      instance: 'checkout-api-00042-deployment-7d9f8b6c5d-x2k4q',
      trigger: 'http',
      startMs: RECEIVER_NOW_MS - 60_000,
      durationMs: 187.2,
      status: 'success',
      httpStatus: 200,
      cold: false,
      memoryMb: 512,
      arch: 'x86_64',
      requestBytes: 1834,
      responseBytes: 734,
      ...overrides,
    },
    { id, source: 'faasmeter/test', timeMs: RECEIVER_NOW_MS - 59_000 },
  );
}

function setResourceAttr(request: TraceRequest, key: string, value: Json | undefined): void {
  setAttr(request.resourceSpans[0]!.resource.attributes, key, value);
}

/** Response bodies, typed as loosely as the assertions need. */
interface OtlpJsonResponse {
  partialSuccess: { rejectedSpans: number; errorMessage: string };
}
interface ErrorBody {
  error: { code: string; message: string };
}
interface RpcStatusJson {
  code: number;
  message: string;
}
interface CloudEventsBody {
  accepted: number;
  rejected: Array<{ index: number; id?: string; errors: Array<{ field: string; message: string }> }>;
}
interface LambdaBody {
  accepted: number;
  ignored: number;
  rejected: Array<{ index: number; id?: string; reason: string }>;
}
const body = async <T>(res: Response) => (await res.json()) as T;

describe('receivers HTTP server without ingest keys', () => {
  let r: Running;
  beforeAll(async () => {
    r = await start();
  });
  afterAll(() => r.server.stop());
  afterEach(() => {
    r.sink.events.length = 0;
  });

  describe('POST /v1/traces (OTLP/HTTP)', () => {
    it('answers 200 with an empty JSON response and emits the FaaS spans of a JSON export', async () => {
      const res = await post(`${r.url}/v1/traces`, json(otlpFixture()), { 'content-type': 'application/json' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.json()).toEqual({});
      expect(r.sink.events.map((e) => e.id)).toEqual(['9f0e1d2c-3b4a-4968-8a8b-9c0d1e2f3a4b', 'otlp-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331']);
    });

    it('answers a protobuf export with a protobuf response, and a gzipped one the same', async () => {
      for (const [body, headers] of [
        [otlpJsonToProtobuf(otlpFixture()), { 'content-type': 'application/x-protobuf' }],
        [gzipSync(otlpJsonToProtobuf(otlpFixture())), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }],
      ] as const) {
        r.sink.events.length = 0;
        const res = await post(`${r.url}/v1/traces`, body, headers);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('application/x-protobuf');
        const response = traceV1.ExportTraceServiceResponse.decode(new Uint8Array(await res.arrayBuffer()));
        expect(traceV1.ExportTraceServiceResponse.toObject(response, { longs: Number })).toEqual({});
        expect(r.sink.events).toHaveLength(2);
      }
    });

    it('reports rejected spans as partial success (200) and still emits the good ones', async () => {
      const request = otlpFixture();
      setResourceAttr(request, 'faas.max_memory', undefined);
      const spans = request.resourceSpans[0]!.scopeSpans[0]!.spans;
      spans[0]!.attributes.push({ key: 'faas.max_memory', value: { intValue: '1073741824' } });
      const res = await post(`${r.url}/v1/traces`, json(request), { 'content-type': 'application/json' });
      expect(res.status).toBe(200);
      const { partialSuccess } = await body<OtlpJsonResponse>(res);
      expect(partialSuccess.rejectedSpans).toBe(1);
      expect(partialSuccess.errorMessage).toContain('resourceSpans[0].scopeSpans[0].spans[2]');
      expect(partialSuccess.errorMessage).toContain('faas.max_memory: is missing');
      expect(r.sink.events.map((e) => (e as InvocationEvent).data.memoryMb)).toEqual([1024]);

      const proto = await post(`${r.url}/v1/traces`, otlpJsonToProtobuf(request), { 'content-type': 'application/x-protobuf' });
      const decoded = traceV1.ExportTraceServiceResponse.toObject(
        traceV1.ExportTraceServiceResponse.decode(new Uint8Array(await proto.arrayBuffer())),
        { longs: Number },
      );
      expect(decoded).toMatchObject({ partialSuccess: { rejectedSpans: 1, errorMessage: expect.stringContaining('faas.max_memory') } });
    });

    it('answers 400 with a google.rpc.Status naming the problem for an unparsable body, in the request encoding', async () => {
      const res = await post(`${r.url}/v1/traces`, '{"resourceSpans": [', { 'content-type': 'application/json' });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ code: 3, message: expect.stringContaining('body: is not valid JSON') });

      const proto = await post(`${r.url}/v1/traces`, Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), { 'content-type': 'application/x-protobuf' });
      expect(proto.status).toBe(400);
      expect(proto.headers.get('content-type')).toBe('application/x-protobuf');
      expect(decodeRpcStatus(new Uint8Array(await proto.arrayBuffer()))).toEqual({
        code: 3,
        message: expect.stringContaining('not a valid protobuf ExportTraceServiceRequest'),
      });

      const badGzip = await post(`${r.url}/v1/traces`, 'not gzip', { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      expect(badGzip.status).toBe(400);
      expect((await body<RpcStatusJson>(badGzip)).message).toContain('body: is not valid gzip data');
      expect(r.sink.events).toEqual([]);
    });

    it('answers 415 for content types and encodings it does not speak', async () => {
      const res = await post(`${r.url}/v1/traces`, 'x', { 'content-type': 'text/plain' });
      expect(res.status).toBe(415);
      expect((await body<RpcStatusJson>(res)).message).toContain('application/x-protobuf');
      const br = await post(`${r.url}/v1/traces`, 'x', { 'content-type': 'application/json', 'content-encoding': 'br' });
      expect(br.status).toBe(415);
      expect((await body<RpcStatusJson>(br)).message).toContain('Content-Encoding "br"');
    });
  });

  describe('POST /lambda/telemetry', () => {
    it('answers 200 with counts and emits invocations and lifecycle events', async () => {
      const res = await post(`${r.url}/lambda/telemetry?tenant=acme-prod`, json(telemetryFixture()), { 'content-type': 'application/json' });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ accepted: 4, ignored: 7, rejected: [] });
      expect(r.sink.events.map((e) => e.type)).toEqual([
        'dev.faasmeter.lifecycle.v1',
        'dev.faasmeter.lifecycle.v1',
        'dev.faasmeter.invocation.v1',
        'dev.faasmeter.invocation.v1',
      ]);
    });

    it('takes tenant, function and version from headers as well as the query', async () => {
      const items = telemetryFixture().filter((e) => e.type === 'platform.report');
      const res = await post(`${r.url}/lambda/telemetry?function=from-query`, json(items), {
        'content-type': 'application/json',
        'x-faasmeter-tenant': 'globex',
        'x-faasmeter-version': '9',
        'x-faasmeter-instance': '2026/09/21/[9]feed',
      });
      expect(res.status).toBe(200);
      expect(r.sink.events.map((e) => [e.data.tenant, e.data.function, e.data.revision, e.data.instance])).toEqual([
        ['globex', 'from-query', '9', '2026/09/21/[9]feed'],
        ['globex', 'from-query', '9', '2026/09/21/[9]feed'],
      ]);
    });

    it('rejects bad events with reasons and still delivers the good ones; all bad is a 400', async () => {
      const items = telemetryFixture();
      items[6]!.record.metrics!.memorySizeMB = 0;
      const res = await post(`${r.url}/lambda/telemetry?tenant=acme-prod`, json(items), { 'content-type': 'application/json' });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        accepted: 3,
        ignored: 7,
        rejected: [{ index: 6, id: '6d68ca91-49c9-448d-89b8-7ca3e6dc66aa', reason: '[6].record.metrics.memorySizeMB: must be a positive whole number of MB' }],
      });
      expect(r.sink.events).toHaveLength(3);

      r.sink.events.length = 0;
      const allBad = await post(`${r.url}/lambda/telemetry`, json([items[6]]), { 'content-type': 'application/json' });
      expect(allBad.status).toBe(400);
      expect((await body<LambdaBody>(allBad)).rejected).toEqual([
        { index: 0, id: '6d68ca91-49c9-448d-89b8-7ca3e6dc66aa', reason: '[0].record.metrics.memorySizeMB: must be a positive whole number of MB' },
      ]);
      expect(r.sink.events).toEqual([]);
    });

    it('answers 400 naming the problem when the body is not a Telemetry API array', async () => {
      const res = await post(`${r.url}/lambda/telemetry?tenant=acme-prod`, json({ type: 'platform.report' }), { 'content-type': 'application/json' });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: { code: 'malformed', message: 'body: must be a JSON array of Telemetry API events' } });
    });
  });

  describe('POST /lambda/logs', () => {
    it('reads text lines and the Logs API JSON array', async () => {
      const text = await post(`${r.url}/lambda/logs?tenant=acme-prod&function=resize-images`, fixtureText('lambda-report-lines.txt'), { 'content-type': 'text/plain; charset=utf-8' });
      expect(text.status).toBe(200);
      expect(await text.json()).toEqual({ accepted: 2, ignored: 5, rejected: [] });
      const logsApi = [{ time: '2026-09-21T14:11:20.512Z', type: 'function', record: fixtureText('lambda-report-lines.txt').split('\n')[3] }];
      const arr = await post(`${r.url}/lambda/logs?tenant=acme-prod&function=resize-images`, json(logsApi), { 'content-type': 'application/json' });
      expect(await arr.json()).toEqual({ accepted: 1, ignored: 0, rejected: [] });
      expect(r.sink.events).toHaveLength(3);
    });

    it('rejects a malformed REPORT line naming the field and keeps the good lines', async () => {
      const body = `${fixtureText('lambda-report-lines.txt')}REPORT RequestId: x1\tDuration: 5 ms\tBilled Duration: 5 ms\tMemory Size: 128 MB\n`;
      const res = await post(`${r.url}/lambda/logs?tenant=acme-prod&function=resize-images`, body, { 'content-type': 'text/plain' });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ accepted: 2, ignored: 5, rejected: [{ index: 7, id: 'x1', reason: 'Max Memory Used: is missing' }] });
    });
  });

  describe('POST /v1/events (CloudEvents)', () => {
    it('accepts a structured-mode event with 202', async () => {
      const res = await post(`${r.url}/v1/events`, json(event('ce-1')), { 'content-type': 'application/cloudevents+json; charset=utf-8' });
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({ accepted: 1, rejected: [] });
      expect(r.sink.events).toEqual([event('ce-1')]);
    });

    it('accepts the good events of a mixed batch and names the fields wrong with the others', async () => {
      const negative = event('ce-3', 'acme-prod', { durationMs: -1 });
      const res = await post(`${r.url}/v1/events`, json([event('ce-2'), negative, { id: 'ce-4', type: 'dev.faasmeter.invocation.v1' }, 'nope']), { 'content-type': 'application/cloudevents-batch+json' });
      expect(res.status).toBe(202);
      const { accepted, rejected } = await body<CloudEventsBody>(res);
      expect(accepted).toBe(1);
      expect(rejected[0]).toEqual({ index: 1, id: 'ce-3', errors: [{ field: 'data.durationMs', message: 'must not be negative' }] });
      expect(rejected[1]!.index).toBe(2);
      expect(rejected[1]!.id).toBe('ce-4');
      expect(rejected[1]!.errors.map((e) => e.field)).toEqual(expect.arrayContaining(['specversion', 'source']));
      expect(rejected[2]).toEqual({ index: 3, errors: [{ field: '', message: 'must be a CloudEvent object' }] });
      expect(r.sink.events.map((e) => e.id)).toEqual(['ce-2']);
    });

    it('answers 400 with the same body shape when every event is bad', async () => {
      const res = await post(`${r.url}/v1/events`, json([{ ...event('ce-5'), specversion: '0.3' }]), { 'content-type': 'application/cloudevents-batch+json' });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ accepted: 0, rejected: [{ index: 0, id: 'ce-5', errors: [{ field: 'specversion', message: expect.any(String) }] }] });
      expect(r.sink.events).toEqual([]);
    });

    it('accepts binary mode: attributes in ce-* headers, data as the JSON body', async () => {
      const e = event('ce-6');
      const res = await post(`${r.url}/v1/events`, json(e.data), {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': e.id,
        'ce-source': encodeURIComponent(e.source),
        'ce-type': e.type,
        'ce-time': e.time,
        'ce-subject': e.subject!,
      });
      expect(res.status).toBe(202);
      expect(r.sink.events).toEqual([e]);
    });

    it('answers 415 for bodies that are no CloudEvents mode, and 400 for a structured body that is not an object', async () => {
      const plain = await post(`${r.url}/v1/events`, json(event('ce-7')), { 'content-type': 'application/json' });
      expect(plain.status).toBe(415);
      expect((await body<ErrorBody>(plain)).error.message).toContain('application/cloudevents+json');
      const arr = await post(`${r.url}/v1/events`, json([event('ce-8')]), { 'content-type': 'application/cloudevents+json' });
      expect(arr.status).toBe(400);
      expect((await body<ErrorBody>(arr)).error.message).toContain('must be a JSON object');
    });

    it('answers 413 naming the limit for a body over it, before or after decompression', async () => {
      const big = json(Array.from({ length: 400 }, (_, i) => event(`big-${i}`)));
      expect(big.length).toBeGreaterThan(MAX_BODY);
      const res = await post(`${r.url}/v1/events`, big, { 'content-type': 'application/cloudevents-batch+json' });
      expect(res.status).toBe(413);
      expect((await body<ErrorBody>(res)).error).toEqual({ code: 'too_large', message: `body: is larger than the limit of ${MAX_BODY} bytes` });
      const zipped = gzipSync(big);
      expect(zipped.length).toBeLessThan(MAX_BODY);
      const bomb = await post(`${r.url}/v1/events`, zipped, { 'content-type': 'application/cloudevents-batch+json', 'content-encoding': 'gzip' });
      expect(bomb.status).toBe(413);
      expect((await body<ErrorBody>(bomb)).error.message).toContain('decompresses to more than');
      expect(r.sink.events).toEqual([]);
    });
  });

  describe('routing and operations', () => {
    it('serves /healthz, /readyz and /metrics with the receiver counters', async () => {
      await post(`${r.url}/v1/traces`, json(otlpFixture()), { 'content-type': 'application/json' });
      await post(`${r.url}/v1/events`, json([{ nope: true }, event('m-1')]), { 'content-type': 'application/cloudevents-batch+json' });
      expect((await fetch(`${r.url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${r.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ ready: true, components: { receivers: { status: 'ok' } } });
      const metrics = await r.metrics();
      expect(metrics).toMatch(/faasmeter_receiver_events_total\{receiver="otlp"\} \d+/);
      expect(metrics).toMatch(/faasmeter_receiver_rejected_total\{receiver="cloudevents",reason="invalid"\} \d+/);
      expect(metrics).toMatch(/faasmeter_receiver_ignored_total\{receiver="otlp"\} \d+/);
      expect(metrics).toMatch(/faasmeter_receiver_request_seconds_bucket\{receiver="otlp",code="200",le="0.5"\} \d+/);
    });

    it('answers 404 for unknown paths and 405 for other methods', async () => {
      expect((await fetch(`${r.url}/v1/metrics`, { method: 'POST' })).status).toBe(404);
      const get = await fetch(`${r.url}/v1/traces`);
      expect(get.status).toBe(405);
      expect(get.headers.get('allow')).toBe('POST');
    });
  });
});

describe('receivers HTTP server with ingest keys', () => {
  let r: Running;
  const auth = (key: string) => ({ authorization: `Bearer ${key}` });
  beforeAll(async () => {
    r = await start([
      { sha256: hashIngestKey(ACME_KEY), tenant: 'acme-prod' },
      { sha256: hashIngestKey(GLOBEX_KEY), tenant: 'globex' },
    ]);
  });
  afterAll(() => r.server.stop());
  afterEach(() => {
    r.sink.events.length = 0;
  });

  it('answers 401 with a reason on every ingest endpoint when the key is missing or unknown', async () => {
    for (const path of ['/v1/traces', '/lambda/telemetry', '/lambda/logs', '/v1/events']) {
      const missing = await post(`${r.url}${path}`, '[]', { 'content-type': 'application/json' });
      expect(missing.status, path).toBe(401);
      expect(missing.headers.get('www-authenticate')).toBe('Bearer');
      expect(await missing.text()).toContain('missing ingest key');
      const unknown = await post(`${r.url}${path}`, '[]', { 'content-type': 'application/json', ...auth('fm_guess') });
      expect(unknown.status, path).toBe(401);
      expect(await unknown.text()).toContain('unknown ingest key');
    }
    const proto = await post(`${r.url}/v1/traces`, otlpJsonToProtobuf(otlpFixture()), { 'content-type': 'application/x-protobuf' });
    expect(proto.status).toBe(401);
    expect(decodeRpcStatus(new Uint8Array(await proto.arrayBuffer()))).toEqual({ code: 16, message: 'missing ingest key: send "Authorization: Bearer <key>"' });
    expect(r.sink.events).toEqual([]);
  });

  it("answers 403 when every event is another tenant's, and rejects only the foreign ones in a mixed batch", async () => {
    const foreign = await post(`${r.url}/v1/events`, json([event('k-1', 'globex')]), { 'content-type': 'application/cloudevents-batch+json', ...auth(ACME_KEY) });
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toEqual({
      accepted: 0,
      rejected: [{ index: 0, id: 'k-1', errors: [{ field: 'data.tenant', message: '"globex" is not the tenant of this ingest key' }] }],
    });
    const mixed = await post(`${r.url}/v1/events`, json([event('k-2', 'globex'), event('k-3', 'acme-prod')]), {
      'content-type': 'application/cloudevents-batch+json',
      ...auth(ACME_KEY),
    });
    expect(mixed.status).toBe(202);
    expect((await body<CloudEventsBody>(mixed)).rejected.map((x) => x.id)).toEqual(['k-2']);
    expect(r.sink.events.map((e) => e.id)).toEqual(['k-3']);
    const metrics = await r.metrics();
    expect(metrics).toMatch(/faasmeter_receiver_rejected_total\{receiver="cloudevents",reason="tenant_mismatch"\} 2/);
  });

  it("gives OTLP spans without a resource tenant the key's tenant, and refuses spans claiming another", async () => {
    const unnamed = otlpFixture();
    setResourceAttr(unnamed, 'faasmeter.tenant', undefined);
    const ok = await post(`${r.url}/v1/traces`, json(unnamed), { 'content-type': 'application/json', ...auth(GLOBEX_KEY) });
    expect(ok.status).toBe(200);
    expect(r.sink.events.map((e) => e.data.tenant)).toEqual(['globex', 'globex']);

    r.sink.events.length = 0;
    const claimed = await post(`${r.url}/v1/traces`, json(otlpFixture()), { 'content-type': 'application/json', ...auth(GLOBEX_KEY) });
    expect(claimed.status).toBe(403);
    expect((await body<RpcStatusJson>(claimed)).message).toContain('"acme-prod" is not the tenant of this ingest key');
    expect(r.sink.events).toEqual([]);
  });

  it("takes the Lambda tenant from the key and refuses a request naming another tenant with 403", async () => {
    const ok = await post(`${r.url}/lambda/telemetry`, json(telemetryFixture()), { 'content-type': 'application/json', ...auth(ACME_KEY) });
    expect(ok.status).toBe(200);
    expect(new Set(r.sink.events.map((e: FaasEvent) => e.data.tenant))).toEqual(new Set(['acme-prod']));
    r.sink.events.length = 0;
    const other = await post(`${r.url}/lambda/logs?tenant=globex&function=f`, fixtureText('lambda-report-lines.txt'), { 'content-type': 'text/plain', ...auth(ACME_KEY) });
    expect(other.status).toBe(403);
    expect(await other.json()).toEqual({ error: { code: 'forbidden_tenant', message: 'tenant "globex" is not the tenant of this ingest key' } });
    expect(r.sink.events).toEqual([]);
  });
});

describe('receivers HTTP server shutdown', () => {
  it('answers ingest with 503 and Retry-After, and fails readiness, once the process is shutting down', async () => {
    let shuttingDown = false;
    const r = await start([], () => shuttingDown);
    try {
      shuttingDown = true;
      const res = await post(`${r.url}/v1/events`, json(event('late')), { 'content-type': 'application/cloudevents+json' });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect((await fetch(`${r.url}/readyz`)).status).toBe(503);
      expect(r.sink.events).toEqual([]);
    } finally {
      await r.server.stop();
    }
  });

  it('stops accepting ingest and fails readiness once stopped', async () => {
    const r = await start();
    expect(r.server.health()).toEqual({ status: 'ok' });
    await r.server.stop();
    expect(r.server.health()).toEqual({ status: 'degraded', detail: 'stopped' });
    await expect(fetch(`${r.url}/readyz`)).rejects.toThrow();
  });
});
