import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import type { Delivery } from '../../collector/delivery/index.ts';
import { createDelivery } from '../../collector/delivery/index.ts';
import { createIngestKeys, hashIngestKey } from '../../collector/receivers/auth.ts';
import type { ReceiversServer } from '../../collector/receivers/server.ts';
import { createReceiversServer } from '../../collector/receivers/server.ts';
import type { InvocationEvent } from '../../contract/index.ts';
import { invocationEvent, parseEventJson, partitionKey, TOPICS } from '../../contract/index.ts';
import type { Json, TelemetryItem, TraceRequest } from '../fixtures/receivers/fixtures.ts';
import { fixtureText, otlpFixture, otlpJsonToProtobuf, setAttr, telemetryFixture } from '../fixtures/receivers/fixtures.ts';
import { createTestTopics, KAFKA_BROKERS, readTopic, uniquePrefix } from '../helpers/kafka.ts';

const KEY = 'fm_it_acme_3c8e1f6a';

/** Fixtures share request ids across formats (as real Lambda data does); each endpoint gets its own here. */
function renamed<T>(value: T, suffix: string): T {
  return JSON.parse(
    JSON.stringify(value)
      .replaceAll('6d68ca91-49c9-448d-89b8-7ca3e6dc66aa', `cold-${suffix}`)
      .replaceAll('3a1f9e7c-2b4d-4e6f-8a0b-1c2d3e4f5a6b', `warm-${suffix}`),
  ) as T;
}

function otlpWithBadSpan(invocationId: string, spanSuffix: string): TraceRequest {
  const request = otlpFixture();
  const spans = request.resourceSpans[0]!.scopeSpans[0]!.spans;
  setAttr(spans[0]!.attributes, 'faas.invocation_id', { stringValue: invocationId });
  spans[2]!.spanId = `${spanSuffix}00000000`;
  spans.push({ ...structuredClone(spans[2]!), traceId: 'not-hex', spanId: 'ffffffffffffffff' });
  return request;
}

function cloudEvent(id: string, tenant = 'acme-prod', durationMs = 42.5): InvocationEvent {
  const startMs = Date.now() - 60_000;
  return invocationEvent(
    {
      tenant,
      function: 'checkout-api',
      revision: 'checkout-api-00042',
      instance: 'checkout-api-00042-x2k4q',
      trigger: 'http',
      startMs,
      durationMs,
      status: 'success',
      cold: false,
      memoryMb: 512,
      arch: 'x86_64',
      requestBytes: 10,
      responseBytes: 20,
    },
    { id, source: 'faasmeter/it', timeMs: startMs + 43 },
  );
}

describe('receivers → delivery → Kafka', () => {
  let delivery: Delivery | undefined;
  let server: ReceiversServer | undefined;
  let spoolDir: string | undefined;
  afterAll(async () => {
    await server?.stop();
    await delivery?.stop();
    if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
  });

  it('publishes exactly the good events of mixed batches posted to every endpoint', async () => {
    const prefix = uniquePrefix('receivers');
    await createTestTopics(prefix, 3);
    const telemetry = createTelemetry('receivers-it');
    const log = createLogger('receivers-it', 'warn');
    spoolDir = await mkdtemp(join(tmpdir(), 'faasmeter-receivers-it-'));
    delivery = createDelivery(
      { brokers: KAFKA_BROKERS, clientId: 'receivers-it', topicPrefix: prefix, spoolDir, spoolFsync: 'none' },
      { log, meter: telemetry.meter },
    );
    await delivery.start();
    server = createReceiversServer(
      { host: '127.0.0.1', port: 0, maxBodyBytes: 5 * 1024 * 1024, keys: createIngestKeys([{ sha256: hashIngestKey(KEY), tenant: 'acme-prod' }]) },
      { sink: delivery, telemetry, log },
    );
    await server.start();
    const url = `http://127.0.0.1:${server.port}`;
    const auth = { authorization: `Bearer ${KEY}` };
    const post = async (path: string, body: string | Uint8Array, contentType: string, expected: number) => {
      const res = await fetch(`${url}${path}`, { method: 'POST', body, headers: { 'content-type': contentType, ...auth } });
      const text = Buffer.from(await res.arrayBuffer());
      expect(res.status, `${path}: ${text.toString('utf8')}`).toBe(expected);
      return text;
    };

    // OTLP/JSON and OTLP/protobuf: a cold and a warm FaaS span, a client span, a span with a bad trace id.
    await post('/v1/traces', JSON.stringify(otlpWithBadSpan('otlp-json-cold', 'aaaaaaaa')), 'application/json', 200);
    await post('/v1/traces', otlpJsonToProtobuf(otlpWithBadSpan('otlp-proto-cold', 'bbbbbbbb')), 'application/x-protobuf', 200);
    // Telemetry API: init, cold and warm calls, plus a report without metrics.
    const items: TelemetryItem[] = renamed(telemetryFixture(), 'tel');
    items.push({ time: '2026-09-21T14:11:40.000Z', type: 'platform.report', record: { requestId: 'tel-bad' } });
    const telemetryBody = JSON.parse((await post('/lambda/telemetry', JSON.stringify(items), 'application/json', 200)).toString()) as Json;
    expect(telemetryBody).toMatchObject({ accepted: 4, rejected: [{ index: 11, id: 'tel-bad' }] });
    // REPORT lines: a cold and a warm call, plus a REPORT line without Max Memory Used.
    const lines = `${renamed(fixtureText('lambda-report-lines.txt'), 'log')}REPORT RequestId: log-bad\tDuration: 1 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\n`;
    await post('/lambda/logs?function=resize-images', lines, 'text/plain', 200);
    // CloudEvents: two good, one invalid, one for another tenant.
    const batch = [cloudEvent('ce-good-1'), cloudEvent('ce-bad', 'acme-prod', -5), cloudEvent('ce-foreign', 'globex'), cloudEvent('ce-good-2')];
    const ceBody = JSON.parse((await post('/v1/events', JSON.stringify(batch), 'application/cloudevents-batch+json', 202)).toString()) as {
      rejected: Array<{ id: string }>;
    };
    expect(ceBody.rejected.map((r) => r.id)).toEqual(['ce-bad', 'ce-foreign']);

    await delivery.flush();
    const expectedInvocations = [
      'otlp-json-cold',
      'otlp-0af7651916cd43dd8448eb211c80319c-aaaaaaaa00000000',
      'otlp-proto-cold',
      'otlp-0af7651916cd43dd8448eb211c80319c-bbbbbbbb00000000',
      'cold-tel',
      'warm-tel',
      'cold-log',
      'warm-log',
      'ce-good-1',
      'ce-good-2',
    ];
    const invocations = await readTopic(`${prefix}${TOPICS.invocations}`, { expected: expectedInvocations.length, timeoutMs: 60_000 });
    const lifecycle = await readTopic(`${prefix}${TOPICS.lifecycle}`, { expected: 2, timeoutMs: 60_000 });

    const decoded = invocations.map((m) => {
      const parsed = parseEventJson(m.value);
      if (!parsed.ok) throw new Error(`not a contract event on the topic: ${m.value}`);
      expect(m.key).toBe(partitionKey(parsed.value));
      return parsed.value as InvocationEvent;
    });
    expect(decoded.map((e) => e.id).sort()).toEqual([...expectedInvocations].sort());
    expect(new Set(decoded.map((e) => e.data.tenant))).toEqual(new Set(['acme-prod']));
    const byId = new Map(decoded.map((e) => [e.id, e.data]));
    expect(byId.get('cold-tel')).toMatchObject({ cold: true, initDurationMs: 412.37, durationMs: 693.92, memoryMb: 1024, maxMemoryUsedMb: 184 });
    expect(byId.get('cold-log')).toMatchObject({ cold: true, initDurationMs: 412.37, revision: '7' });
    expect(byId.get('otlp-proto-cold')).toMatchObject({ cold: true, durationMs: 187.235, memoryMb: 512, arch: 'arm64' });

    const phases = lifecycle.map((m) => {
      const parsed = parseEventJson(m.value);
      if (!parsed.ok) throw new Error(`not a contract event on the topic: ${m.value}`);
      return parsed.value.type === 'dev.faasmeter.lifecycle.v1' ? parsed.value.data.phase : 'wrong type';
    });
    expect(phases.sort()).toEqual(['created', 'ready']);
  });
});
