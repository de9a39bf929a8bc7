import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import type { InvocationData, LifecycleData } from '../../contract/index.ts';
import { parseEventJson, TOPICS } from '../../contract/index.ts';
import type { Delivery } from '../../collector/delivery/index.ts';
import { createDelivery } from '../../collector/delivery/index.ts';
import { proxyConfig } from '../../collector/proxy/config.ts';
import type { FunctionProxy } from '../../collector/proxy/proxy.ts';
import { createProxy } from '../../collector/proxy/proxy.ts';
import { createTestTopics, KAFKA_BROKERS, readTopic, uniquePrefix } from '../helpers/kafka.ts';
import type { SampleFunction } from '../helpers/sample-function.ts';
import { startSampleFunction } from '../helpers/sample-function.ts';

const CALLS = 10_000;
const INSTANCES = 3;
const IN_FLIGHT = 48;

/** Every 7th call asks the function to work 1-25 ms; the rest return at once. */
const workFor = (n: number) => (n % 7 === 0 ? 1 + (n % 25) : 0);

interface Instance {
  fn: SampleFunction;
  proxy: FunctionProxy;
  delivery: Delivery;
  agent: Agent;
  name: string;
}

const spoolDirs: string[] = [];
afterAll(async () => {
  for (const dir of spoolDirs) await rm(dir, { recursive: true, force: true });
});

/** One call; its latency as the client saw it, from before the request to the response's end. */
function get(agent: Agent, port: number, id: string, sleepMs: number): Promise<{ status: number; latencyMs: number }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'x-request-id': id };
    if (sleepMs > 0) headers['x-sleep-ms'] = String(sleepMs);
    const sentAt = performance.now();
    const req = request({ host: '127.0.0.1', port, path: '/', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, latencyMs: performance.now() - sentAt }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('proxy → delivery → Kafka', () => {
  it('publishes exactly one invocation event per call, with unique ids, honest durations and one cold call per instance', async () => {
    const prefix = uniquePrefix('proxy');
    await createTestTopics(prefix, 3);
    const telemetry = createTelemetry('proxy-it');
    const log = createLogger('proxy-it', 'warn');
    const run = randomBytes(4).toString('hex');

    const instances: Instance[] = [];
    for (let i = 0; i < INSTANCES; i += 1) {
      const name = `echo-00001-${run}-${i}`;
      const spoolDir = await mkdtemp(join(tmpdir(), 'faasmeter-proxy-it-'));
      spoolDirs.push(spoolDir);
      const delivery = createDelivery(
        { brokers: KAFKA_BROKERS, clientId: `proxy-it-${name}`, topicPrefix: prefix, spoolDir, spoolFsync: 'none' },
        { log, meter: telemetry.meter },
      );
      await delivery.start();
      const fn = await startSampleFunction({ initDelayMs: 100 + 50 * i });
      const proxy = createProxy(
        proxyConfig({
          tenant: 'it-tenant',
          function: 'echo',
          revision: 'echo-00001',
          instance: name,
          memoryMb: 512,
          arch: 'x86_64',
          target: { host: '127.0.0.1', port: fn.port },
        }),
        { sink: delivery, meter: telemetry.meter, log },
      );
      await proxy.start();
      instances.push({ fn, proxy, delivery, name, agent: new Agent({ keepAlive: true, maxSockets: IN_FLIGHT }) });
    }

    // The load starts while the functions are still starting: the first calls are held, then cold.
    const statuses = new Map<number, number>();
    const latencies: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        for (let n = next++; n < CALLS; n = next++) {
          const instance = instances[n % INSTANCES]!;
          const { status, latencyMs } = await get(instance.agent, instance.proxy.port, `it-${run}-${n}`, workFor(n));
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          latencies[n] = latencyMs;
        }
      }),
    );
    expect([...statuses]).toEqual([[200, CALLS]]);

    for (const instance of instances) {
      instance.agent.destroy();
      await instance.proxy.stop();
      await instance.delivery.stop();
      await instance.fn.close();
    }
    await telemetry.shutdown();

    const messages = await readTopic(`${prefix}${TOPICS.invocations}`, { expected: CALLS, timeoutMs: 120_000, settleMs: 2_000 });
    expect(messages).toHaveLength(CALLS);
    const events = messages.map((m) => {
      const parsed = parseEventJson(m.value);
      if (!parsed.ok) throw new Error(`invalid event on the topic: ${JSON.stringify(parsed.errors)}`);
      expect(m.key).toBe(parsed.value.id);
      return { id: parsed.value.id, data: parsed.value.data as InvocationData };
    });
    const ids = new Set(events.map((e) => e.id));
    expect(ids.size).toBe(CALLS);
    expect([...ids].sort()).toEqual(Array.from({ length: CALLS }, (_, n) => `it-${run}-${n}`).sort());

    // Honest durations: each covers the work the function did, and none exceeds the latency the
    // client itself measured for that call (proxy and client share this process's clock; 0.001
    // allows for the event's rounding to microseconds). Both bounds are exact, so they hold
    // however long a loaded machine makes the calls.
    const workTimes = new Set<number>();
    for (const { id, data } of events) {
      const n = Number(id.split('-').pop());
      const d = workFor(n);
      workTimes.add(d);
      expect(data.durationMs, `call ${n} worked ${d} ms`).toBeGreaterThanOrEqual(d);
      expect(data.durationMs, `call ${n} took ${latencies[n]} ms at the client`).toBeLessThanOrEqual(latencies[n]! + 0.001);
      expect(data.instance).toBe(instances[n % INSTANCES]!.name);
      expect(data).toMatchObject({ status: 'success', httpStatus: 200, tenant: 'it-tenant', memoryMb: 512 });
    }
    expect(workTimes.size).toBe(26);

    for (const instance of instances) {
      const mine = events.filter((e) => e.data.instance === instance.name).map((e) => e.data);
      const cold = mine.filter((d) => d.cold);
      expect(cold, instance.name).toHaveLength(1);
      expect(cold[0]!.startMs).toBe(Math.min(...mine.map((d) => d.startMs)));
      expect(cold[0]!.initDurationMs).toBeGreaterThan(50);
      expect(mine.filter((d) => !d.cold).every((d) => d.initDurationMs === undefined)).toBe(true);
    }

    const lifecycle = await readTopic(`${prefix}${TOPICS.lifecycle}`, { expected: INSTANCES * 4, timeoutMs: 60_000 });
    expect(lifecycle).toHaveLength(INSTANCES * 4);
    for (const instance of instances) {
      // Lifecycle events of one instance share a key, hence a partition, hence their order.
      const phases = lifecycle
        .map((m) => JSON.parse(m.value) as { data: LifecycleData })
        .filter((e) => e.data.instance === instance.name)
        .map((e) => e.data.phase);
      expect(phases).toEqual(['created', 'ready', 'first_request', 'stopped']);
    }
  });
});
