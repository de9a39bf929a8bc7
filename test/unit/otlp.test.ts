import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../../collector/receivers/batch.ts';
import { convertTraces, parseOtlpJson, partialSuccessMessage } from '../../collector/receivers/otlp.ts';
import { decodeTraceRequest } from '../../collector/receivers/otlp-proto.ts';
import type { InvocationEvent } from '../../contract/index.ts';
import type { Span, TraceRequest } from '../fixtures/receivers/fixtures.ts';
import { otlpFixture, otlpJsonToProtobuf, RECEIVER_NOW_MS, setAttr } from '../fixtures/receivers/fixtures.ts';

const ctx: RequestContext = { nowMs: RECEIVER_NOW_MS };

function parse(request: TraceRequest, c: RequestContext = ctx) {
  const result = parseOtlpJson(JSON.stringify(request), c);
  if (!result.ok) throw new Error(result.reason);
  return result.value;
}

function spans(request: TraceRequest): Span[] {
  return request.resourceSpans[0]!.scopeSpans[0]!.spans;
}

const resourceAttrs = (request: TraceRequest) => request.resourceSpans[0]!.resource.attributes;

function fields(result: { rejected: { errors: { field: string }[] }[] }): string[] {
  return result.rejected.flatMap((r) => r.errors.map((e) => e.field));
}

describe('OTLP traces → invocation events', () => {
  it('turns the cold and the warm FaaS server span into invocations and ignores the client span', () => {
    const result = parse(otlpFixture());
    expect(result.rejected).toEqual([]);
    expect(result.ignored).toBe(1);
    const [cold, warm] = result.events as InvocationEvent[];
    expect(cold).toEqual({
      specversion: '1.0',
      id: '9f0e1d2c-3b4a-4968-8a8b-9c0d1e2f3a4b',
      source: 'faasmeter/receivers/otlp/aws_lambda',
      type: 'dev.faasmeter.invocation.v1',
      time: new Date(1789999880187).toISOString(),
      subject: 'checkout-api',
      datacontenttype: 'application/json',
      data: {
        tenant: 'acme-prod',
        function: 'checkout-api',
        revision: '42',
        instance: '2026/09/21/[42]8f1e2d3c4b5a69788796a5b4c3d2e1f0',
        trigger: 'http',
        startMs: 1789999880000,
        // 187 234 567 ns, kept to the microsecond.
        durationMs: 187.235,
        status: 'success',
        httpStatus: 200,
        cold: true,
        memoryMb: 512,
        arch: 'arm64',
        requestBytes: 1834,
        responseBytes: 734,
      },
    });
    expect(warm!.id).toBe('otlp-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331');
    expect(warm!.data).toEqual({
      tenant: 'acme-prod',
      function: 'checkout-api',
      revision: '42',
      instance: '2026/09/21/[42]8f1e2d3c4b5a69788796a5b4c3d2e1f0',
      trigger: 'http',
      startMs: 1789999890500,
      durationMs: 12.5,
      status: 'error',
      httpStatus: 502,
      cold: false,
      memoryMb: 512,
      arch: 'arm64',
      requestBytes: 0,
      responseBytes: 0,
    });
  });

  it('reads the protobuf encoding of the same export into exactly the same events', () => {
    const decoded = decodeTraceRequest(otlpJsonToProtobuf(otlpFixture()));
    if (!decoded.ok) throw new Error(decoded.reason);
    const fromProto = convertTraces(decoded.value, ctx);
    expect(fromProto).toEqual({ ok: true, value: parse(otlpFixture()) });
  });

  it('gives a span without faas.invocation_id the same id every time it is sent, so a re-send dedupes', () => {
    const first = parse(otlpFixture()).events[1]!.id;
    const again = parse(otlpFixture()).events[1]!.id;
    expect(again).toBe(first);
    const other = otlpFixture();
    spans(other)[2]!.spanId = 'c0ffee00c0ffee00';
    expect(parse(other).events[1]!.id).not.toBe(first);
  });

  it('rejects bad spans with errors naming the attribute or field, and still produces the good ones', () => {
    const request = otlpFixture();
    const list = spans(request);
    const good = structuredClone(list[0]!);
    // Span 0: no memory anywhere (the resource's is removed below, the good copy carries its own).
    list[0]!.attributes.push({ key: 'faas.invocation_id', value: { stringValue: 'dup' } });
    const endBeforeStart = { ...structuredClone(list[2]!), spanId: '1111111111111111', endTimeUnixNano: '1789999890400000000' };
    const badTrace = { ...structuredClone(list[2]!), traceId: 'xyz', spanId: '2222222222222222' };
    const badArchResource = structuredClone(request.resourceSpans[0]!);
    setAttr(badArchResource.resource.attributes, 'host.arch', { stringValue: 'ppc64le' });
    setAttr(resourceAttrs(request), 'faas.max_memory', undefined);
    setAttr(good.attributes, 'faas.max_memory', { intValue: '268435456' });
    list.push(endBeforeStart, badTrace, good);
    request.resourceSpans.push({ ...badArchResource, scopeSpans: [{ spans: [structuredClone(good)] }] });

    const result = parse(request);
    expect(result.events.map((e) => e.id)).toEqual(['9f0e1d2c-3b4a-4968-8a8b-9c0d1e2f3a4b']);
    expect((result.events[0] as InvocationEvent).data.memoryMb).toBe(256);
    expect(result.ignored).toBe(1);
    const byPath = Object.fromEntries(result.rejected.map((r) => [r.path, r.errors.map((e) => e.field)]));
    expect(byPath).toEqual({
      'resourceSpans[0].scopeSpans[0].spans[0]': ['faas.max_memory'],
      'resourceSpans[0].scopeSpans[0].spans[2]': ['faas.max_memory'],
      'resourceSpans[0].scopeSpans[0].spans[3]': ['endTimeUnixNano', 'faas.max_memory'],
      'resourceSpans[0].scopeSpans[0].spans[4]': ['traceId', 'faas.max_memory'],
      'resourceSpans[1].scopeSpans[0].spans[0]': ['host.arch'],
    });
    expect(result.rejected.find((r) => r.path?.startsWith('resourceSpans[1]'))!.errors[0]!.message).toContain('ppc64le');
  });

  it('names the contract field through the attribute the producer set when a value breaks the contract', () => {
    const request = otlpFixture();
    setAttr(spans(request)[0]!.attributes, 'faas.invocation_id', { stringValue: 'has a space' });
    setAttr(spans(request)[2]!.attributes, 'http.response.status_code', { intValue: '42' });
    const result = parse(request);
    expect(result.events).toEqual([]);
    expect(fields(result)).toEqual(['faas.invocation_id (id)', 'http.response.status_code (data.httpStatus)']);
  });

  it('takes the tenant from the resource, else from the request; without either the span is rejected', () => {
    const request = otlpFixture();
    setAttr(resourceAttrs(request), 'faasmeter.tenant', undefined);
    const unnamed = parse(request);
    expect(unnamed.events).toEqual([]);
    expect(new Set(fields(unnamed))).toEqual(new Set(['resource faasmeter.tenant']));
    const fromKey = parse(request, { ...ctx, tenant: 'globex', keyTenant: 'globex' });
    expect(fromKey.events.map((e) => e.data.tenant)).toEqual(['globex', 'globex']);
  });

  it("rejects spans whose resource names another tenant than the request's ingest key", () => {
    const result = parse(otlpFixture(), { ...ctx, tenant: 'globex', keyTenant: 'globex' });
    expect(result.events).toEqual([]);
    expect(result.rejected.map((r) => r.reason)).toEqual(['tenant_mismatch', 'tenant_mismatch']);
    expect(result.rejected[0]!.errors[0]).toEqual({
      field: 'resource faasmeter.tenant',
      message: '"acme-prod" is not the tenant of this ingest key',
    });
  });

  it('reads faas.max_memory below 1 MiB as MiB, the unit older conventions and Lambda detectors send', () => {
    const request = otlpFixture();
    setAttr(resourceAttrs(request), 'faas.max_memory', { stringValue: '128' });
    expect(parse(request).events.map((e) => (e as InvocationEvent).data.memoryMb)).toEqual([128, 128]);
  });

  it('falls back to service.name, defaults architecture, revision and instance when the resource omits them', () => {
    const request = otlpFixture();
    const attrs = resourceAttrs(request);
    for (const key of ['faas.name', 'faas.version', 'faas.instance', 'host.arch']) setAttr(attrs, key, undefined);
    setAttr(attrs, 'service.instance.id', { stringValue: 'pod-7' });
    const [first] = parse(request).events as InvocationEvent[];
    expect(first!.data).toMatchObject({ function: 'checkout-api', revision: 'unknown', instance: 'pod-7', arch: 'x86_64' });
  });

  it('counts CONSUMER spans only when they name the invocation, and reads kinds given by name', () => {
    const request = otlpFixture();
    const list = spans(request);
    list[0]!.kind = 'SPAN_KIND_SERVER';
    const processing = { ...structuredClone(list[1]!), spanId: '3333333333333333', kind: 5, attributes: [] };
    const triggered = {
      ...structuredClone(list[1]!),
      spanId: '4444444444444444',
      kind: 5,
      attributes: [{ key: 'faas.trigger', value: { stringValue: 'pubsub' } }],
    };
    list.push(processing, triggered);
    const result = parse(request);
    expect(result.ignored).toBe(2);
    expect(result.events.map((e) => (e as InvocationEvent).data.trigger)).toEqual(['http', 'http', 'pubsub']);
  });

  it('ignores server spans of services without any faas.* attribute', () => {
    const request = otlpFixture();
    const resource = request.resourceSpans[0]!.resource;
    resource.attributes = resource.attributes.filter((a) => !a.key.startsWith('faas.'));
    for (const span of spans(request)) span.attributes = span.attributes.filter((a) => !a.key.startsWith('faas.'));
    expect(parse(request)).toEqual({ events: [], rejected: [], ignored: 3 });
  });

  it('fails the whole body only when it is not an export request at all, saying where', () => {
    expect(parseOtlpJson('{"resourceSpans":', ctx)).toMatchObject({ ok: false, reason: expect.stringContaining('not valid JSON') });
    expect(parseOtlpJson('{"resourceSpans":{}}', ctx)).toEqual({ ok: false, reason: 'resourceSpans: must be an array' });
    expect(parseOtlpJson('[]', ctx)).toEqual({ ok: false, reason: 'body: must be an ExportTraceServiceRequest object' });
    expect(parseOtlpJson('{}', ctx)).toEqual({ ok: true, value: { events: [], rejected: [], ignored: 0 } });
    const garbage = decodeTraceRequest(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(garbage).toMatchObject({ ok: false, reason: expect.stringContaining('not a valid protobuf ExportTraceServiceRequest') });
  });

  it('summarises rejections for the partial-success message with where and why', () => {
    const request = otlpFixture();
    setAttr(resourceAttrs(request), 'faas.max_memory', undefined);
    const message = partialSuccessMessage(parse(request).rejected, 1);
    expect(message).toBe(
      '2 span(s) rejected: resourceSpans[0].scopeSpans[0].spans[0] (9f0e1d2c-3b4a-4968-8a8b-9c0d1e2f3a4b): faas.max_memory: is missing: the configured memory (bytes) is needed to meter MB·ms; and 1 more',
    );
  });
});
