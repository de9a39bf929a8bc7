import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import type { Delivery, DeliveryConfigInput } from '../../collector/delivery/index.ts';
import { createDelivery, deliveryConfigFromEnv } from '../../collector/delivery/index.ts';
import { createLogger } from '../../common/log.ts';
import { startOpsServer } from '../../common/ops-server.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import type { FaasEvent } from '../../contract/index.ts';
import { invocationEvent, resourceEvent, TOPICS } from '../../contract/index.ts';
import type { OutgoingRecord, RecordProducer } from '../../kafka/producer.ts';
import { waitFor } from '../helpers/wait.ts';

const T0 = Date.UTC(2026, 0, 1);

/** Mostly calls, every tenth a resource sample of one of three instances (keyed per instance). */
function event(i: number, run = 'u'): FaasEvent {
  const id = `${run}-${i}`;
  if (i % 10 === 9) {
    return resourceEvent(
      { tenant: 'acme', function: 'resize', instance: `inst-${i % 3}`, timeMs: T0 + i, cpuUsageUs: i * 1000, cpuThrottledUs: 0, memoryCurrentBytes: 1 << 20, memoryPeakBytes: 2 << 20, oomKills: 0 },
      { id, source: 'faasmeter/test' },
    );
  }
  return invocationEvent(
    {
      tenant: 'acme',
      function: 'resize',
      revision: 'resize-00001',
      instance: `inst-${i % 3}`,
      trigger: 'http',
      startMs: T0 + i,
      durationMs: 12.5,
      status: 'success',
      cold: false,
      memoryMb: 256,
      arch: 'x86_64',
      requestBytes: 100,
      responseBytes: 2000,
    },
    { id, source: 'faasmeter/test', timeMs: T0 + i + 13 },
  );
}

/** `late`: acknowledged after lateMs (past the timeout); `late-fail`: rejected after lateMs. */
type Behaviour = 'ok' | 'fail' | 'hang' | 'late' | 'late-fail';

class FakeProducer implements RecordProducer {
  behaviour: Behaviour = 'ok';
  lateMs = 0;
  readonly delivered: OutgoingRecord[] = [];
  sends = 0;
  connected = false;
  connect(): Promise<void> {
    this.connected = true;
    return Promise.resolve();
  }
  disconnect(): Promise<void> {
    this.connected = false;
    return Promise.resolve();
  }
  send(records: readonly OutgoingRecord[]): Promise<void> {
    this.sends += 1;
    if (this.behaviour === 'fail') return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1'));
    if (this.behaviour === 'hang') return new Promise(() => undefined);
    if (this.behaviour === 'late' || this.behaviour === 'late-fail') {
      const fail = this.behaviour === 'late-fail';
      return new Promise((resolve, reject) =>
        setTimeout(() => {
          if (fail) return reject(new Error('request timed out'));
          this.delivered.push(...records);
          resolve();
        }, this.lateMs),
      );
    }
    this.delivered.push(...records);
    return Promise.resolve();
  }
  ids(): string[] {
    return this.delivered.map((r) => (JSON.parse(r.value.toString()) as { id: string }).id);
  }
}

class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** Sum of a metric's data points matching `attributes` (histograms: their count). */
async function metric(reader: TestReader, name: string, attributes: Record<string, string> = {}): Promise<number> {
  const { resourceMetrics } = await reader.collect();
  let total = 0;
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const m of scope.metrics) {
      if (m.descriptor.name !== name) continue;
      for (const point of m.dataPoints) {
        if (!Object.entries(attributes).every(([k, v]) => point.attributes[k] === v)) continue;
        const value = point.value as number | { count: number };
        total += typeof value === 'number' ? value : value.count;
      }
    }
  }
  return total;
}

const dirs: string[] = [];
const running: Delivery[] = [];

afterEach(async () => {
  for (const d of running.splice(0)) await d.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function setup(config: Partial<DeliveryConfigInput> = {}, producer = new FakeProducer()) {
  const spoolDir = config.spoolDir ?? (await mkdtemp(join(tmpdir(), 'faasmeter-delivery-test-')));
  dirs.push(spoolDir);
  const reader = new TestReader();
  const meter = new MeterProvider({ readers: [reader] }).getMeter('test');
  const delivery = createDelivery(
    {
      brokers: ['127.0.0.1:1'],
      clientId: 'test',
      topicPrefix: 'p.',
      spoolDir,
      lingerMs: 5,
      batchMaxEvents: 50,
      sendTimeoutMs: 200,
      retryInitialMs: 20,
      retryMaxMs: 100,
      unsettledMaxWaitMs: 1_000,
      ...config,
    },
    { log: createLogger('delivery-test', 'silent'), meter, producer },
  );
  running.push(delivery);
  return { delivery, producer, reader, spoolDir };
}

async function stopped(delivery: Delivery): Promise<void> {
  await delivery.stop();
  running.splice(running.indexOf(delivery), 1);
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 2));

/** Emits `from..to-1`, a few at a time, letting the loops run in between. */
async function emitRange(delivery: Delivery, from: number, to: number, run = 'u'): Promise<void> {
  for (let i = from; i < to; i += 1) {
    delivery.emit(event(i, run));
    if (i % 25 === 24) await tick();
  }
}

const range = (from: number, to: number, run = 'u') => Array.from({ length: to - from }, (_, i) => `${run}-${from + i}`);

async function spoolFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f !== 'LOCK');
}

describe('delivery', () => {
  it('sends each event to prefix + its topic, keyed by partitionKey, as CloudEvents JSON', async () => {
    const { delivery, producer } = await setup();
    await delivery.start();
    const call = event(0);
    const sample = event(9);
    delivery.emit(call);
    delivery.emit(sample);
    await delivery.flush();
    expect(producer.delivered).toEqual([
      { topic: `p.${TOPICS.invocations}`, key: call.id, value: Buffer.from(JSON.stringify(call)), headers: { 'content-type': 'application/cloudevents+json' } },
      { topic: `p.${TOPICS.resources}`, key: 'acme/inst-0', value: Buffer.from(JSON.stringify(sample)), headers: { 'content-type': 'application/cloudevents+json' } },
    ]);
    expect(delivery.health()).toEqual({ status: 'ok' });
  });

  it('batches up to batchMaxEvents per send and sends a partial batch after lingerMs', async () => {
    const { delivery, producer } = await setup({ batchMaxEvents: 100, lingerMs: 1_000 });
    await delivery.start();
    const started = Date.now();
    for (let i = 0; i < 250; i += 1) delivery.emit(event(i));
    await waitFor(() => producer.delivered.length >= 200, { what: 'two full batches', intervalMs: 10 });
    expect(producer.delivered.length).toBe(200);
    expect(producer.sends).toBe(2);
    await waitFor(() => producer.delivered.length === 250, { what: 'the lingering rest', intervalMs: 10 });
    expect(producer.sends).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
  });

  it('flush sends at once instead of waiting for the linger', async () => {
    const { delivery, producer } = await setup({ lingerMs: 60_000 });
    await delivery.start();
    delivery.emit(event(1));
    await delivery.flush();
    expect(producer.ids()).toEqual(['u-1']);
  });

  it('Kafka failing then recovering: every event delivered once, in emit order, spool empty afterwards', async () => {
    const { delivery, producer, reader, spoolDir } = await setup();
    await delivery.start();
    await emitRange(delivery, 0, 500);
    producer.behaviour = 'fail';
    await emitRange(delivery, 500, 1500);
    await waitFor(() => delivery.stats().spooled > 0, { what: 'spooling' });
    expect(delivery.health().status).toBe('degraded');
    expect(delivery.stats().state).toBe('spooling');
    await delivery.flush();
    expect((await spoolFiles(spoolDir)).length).toBeGreaterThan(0);
    producer.behaviour = 'ok';
    await emitRange(delivery, 1500, 2000);
    await delivery.flush();
    await waitFor(() => delivery.stats().state === 'direct', { what: 'spool drained' });
    await emitRange(delivery, 2000, 2100);
    await delivery.flush();

    expect(producer.ids()).toEqual(range(0, 2100));
    expect(delivery.stats()).toMatchObject({ sent: 2100, buffered: 0, inFlight: 0, dropped: {}, spool: { bytes: 0, records: 0, segments: 0 } });
    expect(delivery.stats().replayed).toBeGreaterThanOrEqual(1000);
    expect(await spoolFiles(spoolDir)).toEqual([]);
    expect(delivery.health()).toEqual({ status: 'ok' });
    expect(await metric(reader, 'faasmeter_collector_spool_bytes')).toBe(0);
    expect(await metric(reader, 'faasmeter_collector_events_spooled_total')).toBe(delivery.stats().spooled);
    expect(await metric(reader, 'faasmeter_collector_send_errors_total')).toBeGreaterThan(0);
    const sent =
      (await metric(reader, 'faasmeter_collector_events_sent_total', { topic: `p.${TOPICS.invocations}` })) +
      (await metric(reader, 'faasmeter_collector_events_sent_total', { topic: `p.${TOPICS.resources}` }));
    expect(sent).toBe(2100);
    expect(await metric(reader, 'faasmeter_collector_send_seconds', { result: 'error' })).toBe(delivery.stats().sendErrors);
    expect(await metric(reader, 'faasmeter_collector_dropped_total')).toBe(0);
  });

  it('a send that hangs past sendTimeoutMs counts as failed: its events are spooled and delivered later', async () => {
    const { delivery, producer, reader } = await setup({ sendTimeoutMs: 150 });
    await delivery.start();
    producer.behaviour = 'hang';
    await emitRange(delivery, 0, 300);
    await waitFor(() => delivery.stats().state === 'spooling', { what: 'timeout to spool' });
    await delivery.flush();
    expect(delivery.stats().spool.records).toBe(300);
    producer.behaviour = 'ok';
    await waitFor(() => delivery.stats().state === 'direct', { what: 'spool drained' });
    expect(producer.ids()).toEqual(range(0, 300));
    expect(await metric(reader, 'faasmeter_collector_send_errors_total', { reason: 'timeout' })).toBeGreaterThan(0);
  });

  it('a timed-out send that lands later is not sent again: its spooled copy is acknowledged instead', async () => {
    const { delivery, producer } = await setup({ sendTimeoutMs: 100, batchMaxEvents: 40 });
    await delivery.start();
    await emitRange(delivery, 0, 40);
    await delivery.flush();
    producer.behaviour = 'late';
    producer.lateMs = 600;
    await emitRange(delivery, 40, 80);
    await waitFor(() => delivery.stats().state === 'spooling', { what: 'timeout' });
    const uncertain = delivery.stats().unsettled;
    expect(uncertain).toBeGreaterThan(0);
    await emitRange(delivery, 80, 200); // spooled behind the uncertain batch
    producer.behaviour = 'ok';
    await delivery.flush();
    await waitFor(() => delivery.stats().state === 'direct', { what: 'late landing resolved and spool drained' });
    expect(producer.ids()).toEqual(range(0, 200));
    expect(delivery.stats()).toMatchObject({ landedLate: uncertain, unsettled: 0, sent: 200, spool: { records: 0 } });
  });

  it('a timed-out send that finally fails is replayed from the spool, in order', async () => {
    const { delivery, producer } = await setup({ sendTimeoutMs: 100, batchMaxEvents: 40 });
    await delivery.start();
    producer.behaviour = 'late-fail';
    producer.lateMs = 400;
    await emitRange(delivery, 0, 40);
    await waitFor(() => delivery.stats().state === 'spooling', { what: 'timeout' });
    producer.behaviour = 'ok';
    await emitRange(delivery, 40, 100);
    await delivery.flush();
    await waitFor(() => delivery.stats().state === 'direct', { what: 'replayed' });
    expect(producer.ids()).toEqual(range(0, 100));
    expect(delivery.stats().landedLate).toBe(0);
  });

  it('a replay send that times out but lands later is acknowledged, not replayed twice', async () => {
    const first = await setup();
    await first.delivery.start();
    first.producer.behaviour = 'fail';
    await emitRange(first.delivery, 0, 120);
    await stopped(first.delivery);

    const second = await setup({ spoolDir: first.spoolDir, sendTimeoutMs: 100, batchMaxEvents: 50 });
    second.producer.behaviour = 'late';
    second.producer.lateMs = 500;
    await second.delivery.start();
    await waitFor(() => second.delivery.stats().unsettled === 50, { what: 'a replay send timing out' });
    second.producer.behaviour = 'ok';
    await waitFor(() => second.delivery.stats().state === 'direct', { what: 'replayed' });
    expect(second.producer.ids()).toEqual(range(0, 120));
    expect(second.delivery.stats()).toMatchObject({ landedLate: 50, replayed: 120 });
  });

  it('while spooling, new events go behind the spooled ones: per-instance order holds end to end', async () => {
    const { delivery, producer } = await setup({ batchMaxEvents: 7 });
    await delivery.start();
    let i = 0;
    for (const behaviour of ['ok', 'fail', 'ok', 'hang', 'ok', 'fail', 'ok'] as const) {
      producer.behaviour = behaviour;
      const until = i + 137;
      await emitRange(delivery, i, until);
      i = until;
    }
    await delivery.flush();
    await waitFor(() => delivery.stats().state === 'direct', { what: 'spool drained', timeoutMs: 10_000 });
    const delivered = producer.ids();
    expect(delivered).toEqual(range(0, i));
    const byKey = new Map<string, number[]>();
    for (const r of producer.delivered) {
      const seq = Number((JSON.parse(r.value.toString()) as { id: string }).id.split('-')[1]);
      byKey.set(r.key, [...(byKey.get(r.key) ?? []), seq]);
    }
    for (const seqs of byKey.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it('memory full, drop-newest: newest events refused and counted as buffer_full; the rest delivered', async () => {
    const { delivery, producer, reader } = await setup({ bufferMaxEvents: 100, batchMaxEvents: 10, sendTimeoutMs: 300 });
    await delivery.start();
    producer.behaviour = 'hang';
    delivery.emit(event(0));
    await waitFor(() => producer.sends === 1 && delivery.stats().inFlight === 1, { what: 'a send in flight' });
    for (let i = 1; i < 300; i += 1) delivery.emit(event(i));
    expect(delivery.stats().dropped).toEqual({ buffer_full: 199 });
    expect(delivery.health().status).toBe('error');
    producer.behaviour = 'ok';
    await delivery.flush();
    await waitFor(() => delivery.stats().state === 'direct', { what: 'spool drained' });
    expect(producer.ids()).toEqual(range(0, 101));
    expect(await metric(reader, 'faasmeter_collector_dropped_total', { reason: 'buffer_full' })).toBe(199);
  });

  it('memory full, drop-oldest: the oldest waiting events are discarded and counted instead', async () => {
    const { delivery, producer } = await setup({ bufferMaxEvents: 100, batchMaxEvents: 10, sendTimeoutMs: 300, overflow: 'drop-oldest' });
    await delivery.start();
    producer.behaviour = 'hang';
    delivery.emit(event(0));
    await waitFor(() => delivery.stats().inFlight === 1, { what: 'a send in flight' });
    for (let i = 1; i < 300; i += 1) delivery.emit(event(i));
    expect(delivery.stats().dropped).toEqual({ buffer_full: 199 });
    producer.behaviour = 'ok';
    await delivery.flush();
    await waitFor(() => delivery.stats().state === 'direct', { what: 'spool drained' });
    expect(producer.ids()).toEqual(['u-0', ...range(200, 300)]);
  });

  it('spool full: the overflow policy drops and counts, everything else is delivered after the outage', async () => {
    const { delivery, producer, reader } = await setup({ spoolMaxBytes: 64 * 1024, spoolSegmentBytes: 8192 });
    await delivery.start();
    producer.behaviour = 'fail';
    await emitRange(delivery, 0, 1000);
    await delivery.flush();
    const lost = delivery.stats().dropped.spool_full ?? 0;
    expect(lost).toBeGreaterThan(0);
    expect(delivery.stats().spool.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(delivery.health().status).toBe('error');
    producer.behaviour = 'ok';
    await waitFor(() => delivery.stats().state === 'direct', { what: 'spool drained' });
    expect(producer.ids()).toEqual(range(0, 1000 - lost)); // drop-newest keeps the oldest
    expect(await metric(reader, 'faasmeter_collector_dropped_total', { reason: 'spool_full' })).toBe(lost);
  });

  it('stop() with Kafka down spools memory; a new delivery over the same spool delivers it on start', async () => {
    const first = await setup({ lingerMs: 10_000 });
    await first.delivery.start();
    first.producer.behaviour = 'fail';
    await emitRange(first.delivery, 0, 500);
    await stopped(first.delivery);
    expect(first.delivery.stats()).toMatchObject({ state: 'stopped', buffered: 0, dropped: {}, spool: { records: 500 } });
    first.delivery.emit(event(999));
    expect(first.delivery.stats().dropped).toEqual({ stopped: 1 });

    const second = await setup({ spoolDir: first.spoolDir });
    await second.delivery.start();
    expect(second.delivery.stats().state).toBe('spooling');
    await emitRange(second.delivery, 500, 600);
    await second.delivery.flush();
    await waitFor(() => second.delivery.stats().state === 'direct', { what: 'replayed' });
    expect([...first.producer.ids(), ...second.producer.ids()]).toEqual(range(0, 600));
    expect(await spoolFiles(first.spoolDir)).toEqual([]);
  });

  it('stop() with Kafka up sends what is in memory and leaves no spool behind', async () => {
    const { delivery, producer, spoolDir } = await setup({ lingerMs: 10_000 });
    await delivery.start();
    await emitRange(delivery, 0, 120);
    await stopped(delivery);
    expect(producer.ids()).toEqual(range(0, 120));
    expect(producer.connected).toBe(false);
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it('a corrupt record left by a previous run is skipped and counted as spool_corrupt; the rest is delivered', async () => {
    const first = await setup();
    await first.delivery.start();
    first.producer.behaviour = 'fail';
    await emitRange(first.delivery, 0, 20);
    await stopped(first.delivery);
    const [segment] = (await readdir(first.spoolDir)).filter((f) => f.endsWith('.spool'));
    const bytes = await readFile(join(first.spoolDir, segment!));
    bytes[bytes.indexOf('u-3"') + 1]! ^= 0x01;
    await writeFile(join(first.spoolDir, segment!), bytes);

    const second = await setup({ spoolDir: first.spoolDir });
    await second.delivery.start();
    await waitFor(() => second.delivery.stats().state === 'direct', { what: 'replayed' });
    expect(second.producer.ids()).toEqual(range(0, 20).filter((id) => id !== 'u-3'));
    expect(second.delivery.stats().dropped).toEqual({ spool_corrupt: 1 });
    expect(await metric(second.reader, 'faasmeter_collector_dropped_total', { reason: 'spool_corrupt' })).toBe(1);
  });

  it('emit never throws: unserialisable, unknown-type and oversized events are counted, not raised', async () => {
    const { delivery, producer } = await setup();
    await delivery.start();
    const circular = event(1);
    (circular.data as unknown as Record<string, unknown>).self = circular;
    expect(() => delivery.emit(circular)).not.toThrow();
    expect(() => delivery.emit({ ...event(2), type: 'dev.example.nope' } as unknown as FaasEvent)).not.toThrow();
    const huge = event(3);
    huge.data.function = 'x'.repeat(2 * 1024 * 1024);
    expect(() => delivery.emit(huge)).not.toThrow();
    delivery.emit(event(4));
    await delivery.flush();
    expect(delivery.stats().dropped).toEqual({ invalid: 2, too_large: 1 });
    expect(producer.ids()).toEqual(['u-4']);
  });

  it('a process is not ready on /readyz until its delivery has started', async () => {
    const { delivery } = await setup();
    const telemetry = createTelemetry('delivery-ops');
    const ops = await startOpsServer({ telemetry, components: () => [delivery], stopping: () => false }, '127.0.0.1', 0);
    try {
      const before = await fetch(`http://127.0.0.1:${ops.port}/readyz`);
      expect(before.status).toBe(503);
      expect(await before.json()).toMatchObject({ ready: false, components: { delivery: { status: 'error', detail: 'not started' } } });
      await delivery.start();
      expect((await fetch(`http://127.0.0.1:${ops.port}/readyz`)).status).toBe(200);
      // Liveness is not affected: restarting a process that is still starting would not help.
      expect((await fetch(`http://127.0.0.1:${ops.port}/healthz`)).status).toBe(200);
    } finally {
      await ops.close();
      await delivery.stop();
      await telemetry.shutdown();
    }
  });

  it('health: not ready before start, ok when sending, degraded while spooling, degraded once stopped', async () => {
    const { delivery, producer } = await setup();
    expect(delivery.health()).toEqual({ status: 'error', detail: 'not started' });
    await delivery.start();
    expect(delivery.health().status).toBe('ok');
    producer.behaviour = 'fail';
    delivery.emit(event(1));
    await waitFor(() => delivery.stats().state === 'spooling');
    expect(delivery.health().detail).toMatch(/spooling to disk since .*ECONNREFUSED/);
    producer.behaviour = 'ok';
    await waitFor(() => delivery.health().status === 'ok', { what: 'recovered' });
    await stopped(delivery);
    expect(delivery.health()).toEqual({ status: 'degraded', detail: 'stopped' });
  });

  it('starts while Kafka cannot even connect, spooling until it can', async () => {
    const producer = new FakeProducer();
    let refuse = true;
    producer.connect = () => {
      if (refuse) return Promise.reject(new Error('connect ECONNREFUSED'));
      producer.connected = true;
      return Promise.resolve();
    };
    const { delivery } = await setup({}, producer);
    await delivery.start();
    await emitRange(delivery, 0, 100);
    await waitFor(() => delivery.stats().spool.records === 100, { what: 'spooled' });
    refuse = false;
    await waitFor(() => delivery.stats().state === 'direct', { what: 'connected and replayed' });
    expect(producer.ids()).toEqual(range(0, 100));
  });

  it('config from env: defaults, names the variable in errors, checks cross-field bounds', () => {
    const config = deliveryConfigFromEnv({ FAASMETER_SPOOL_DIR: '/var/spool/x' }, 'faasmeter-proxy');
    expect(config).toMatchObject({
      brokers: ['127.0.0.1:19092'],
      clientId: 'faasmeter-proxy',
      topicPrefix: '',
      spoolDir: '/var/spool/x',
      spoolMaxBytes: 512 * 1024 * 1024,
      spoolFsync: 'batch',
      overflow: 'drop-newest',
      batchMaxEvents: 500,
      lingerMs: 50,
      sendTimeoutMs: 2000,
    });
    expect(deliveryConfigFromEnv({}, 'faasmeter-agent').spoolDir).toMatch(/faasmeter-spool\/faasmeter-agent$/);
    expect(() => deliveryConfigFromEnv({ FAASMETER_SPOOL_OVERFLOW: 'block' }, 'x')).toThrow(/FAASMETER_SPOOL_OVERFLOW/);
    expect(() => deliveryConfigFromEnv({ FAASMETER_SPOOL_MAX_BYTES: 'lots' }, 'x')).toThrow(/FAASMETER_SPOOL_MAX_BYTES/);
    expect(() => deliveryConfigFromEnv({ FAASMETER_DELIVERY_BATCH_MAX_EVENTS: '900', FAASMETER_DELIVERY_BUFFER_MAX_EVENTS: '100' }, 'x')).toThrow(
      /batchMaxEvents.*FAASMETER_DELIVERY_BUFFER_MAX_EVENTS/,
    );
  });
});
