import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnEmitter } from '../../bench/delivery-child.ts';
import { seqOfId } from '../../bench/delivery-workload.ts';
import { createDelivery } from '../../collector/delivery/index.ts';
import { createLogger } from '../../common/log.ts';
import { freePort } from '../../common/net.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import { TOPICS } from '../../contract/index.ts';
import { defaultTopics, ensureTopics } from '../../kafka/topics.ts';
import { KAFKA_BROKERS, testKafka, uniquePrefix } from '../helpers/kafka.ts';
import { readTopics } from '../helpers/private-kafka.ts';
import { waitFor } from '../helpers/wait.ts';

const RATE_PER_S = 1_000;
const LINGER_MS = 50;
const SEND_TIMEOUT_MS = 2_000;

/**
 * The crash window, measured: a collector process emitting at a known rate is SIGKILLed; its
 * successor replays whatever spool it left; what never reached Kafka was lost in the crash.
 */
describe('delivery crash window (SIGKILL of a collector process)', () => {
  const dirs: string[] = [];
  const log = createLogger('delivery-crash-test', process.env.FAASMETER_LOG_LEVEL ?? 'silent');

  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function crash(name: string, brokers: string[], killAfterEmitted: number) {
    const prefix = uniquePrefix(`crash-${name}`);
    await ensureTopics(testKafka(), defaultTopics(3, prefix));
    const spoolDir = await mkdtemp(join(tmpdir(), `faasmeter-crash-${name}-`));
    dirs.push(spoolDir);
    const run = `c${name}${Date.now().toString(36)}`;
    const config = { brokers, clientId: `crash-${name}`, topicPrefix: prefix, spoolDir, lingerMs: LINGER_MS, sendTimeoutMs: SEND_TIMEOUT_MS };

    const child = await spawnEmitter({ ...config, run });
    child.rate(RATE_PER_S);
    await waitFor(() => child.lastEmitted() >= killAfterEmitted, { what: `${killAfterEmitted} events emitted`, intervalMs: 5 });
    await child.kill();
    const reported = child.lastEmitted() + 1;

    // The successor: same spool, the real broker.
    const successor = createDelivery({ ...config, brokers: KAFKA_BROKERS }, { log, meter: createTelemetry('crash-successor').meter });
    await successor.start();
    const leftInSpool = successor.stats().spool.records;
    await waitFor(() => successor.stats().state === 'direct', { what: 'replay of the crashed spool', timeoutMs: 60_000 });
    await successor.stop();

    const records = await readTopics(testKafka('crash-reader'), [prefix + TOPICS.invocations, prefix + TOPICS.resources], {
      expected: reported - Math.ceil((RATE_PER_S * SEND_TIMEOUT_MS) / 1000) - 100,
      settleMs: 2_000,
      timeoutMs: 30_000,
    });
    const delivered = new Set(records.map((r) => seqOfId((JSON.parse(r.value) as { id: string }).id)));
    // An event emitted right before the kill may be delivered without having been reported.
    let newest = -1;
    for (const seq of delivered) newest = Math.max(newest, seq);
    const emitted = Math.max(reported, newest + 1);
    const lost = Array.from({ length: emitted }, (_, i) => i).filter((i) => !delivered.has(i));
    const figures = { scenario: name, emitted, lost: lost.length, lostMs: Math.round((lost.length * 1000) / RATE_PER_S), leftInSpool, duplicates: records.length - delivered.size };
    console.log(`crash window: ${JSON.stringify(figures)}`);
    // Whatever was lost is the newest tail: nothing older than the window.
    if (lost.length > 0) expect(lost[0]).toBeGreaterThanOrEqual(emitted - lost.length - 1);
    return figures;
  }

  it('Kafka healthy: a crash loses at most the last linger (plus the send in flight), nothing older', async () => {
    const figures = await crash('healthy', KAFKA_BROKERS, 3 * RATE_PER_S);
    expect(figures.leftInSpool).toBe(0);
    expect(figures.lost).toBeLessThanOrEqual((RATE_PER_S * (LINGER_MS + 150)) / 1000);
  });

  it('Kafka down and spooling: a crash loses at most the last linger (plus one fdatasync)', async () => {
    const dead = [`127.0.0.1:${await freePort()}`];
    const figures = await crash('spooling', dead, SEND_TIMEOUT_MS + 3 * RATE_PER_S);
    expect(figures.leftInSpool).toBeGreaterThan(0);
    expect(figures.lost).toBeLessThanOrEqual((RATE_PER_S * (LINGER_MS + 150)) / 1000);
  });

  it('Kafka just went down: until the first send times out, memory is all there is (window = sendTimeoutMs)', async () => {
    const dead = [`127.0.0.1:${await freePort()}`];
    const figures = await crash('onset', dead, RATE_PER_S);
    expect(figures.leftInSpool).toBe(0);
    expect(figures.lost).toBe(figures.emitted);
    expect(figures.lost).toBeLessThanOrEqual((RATE_PER_S * (SEND_TIMEOUT_MS + LINGER_MS + 150)) / 1000);
  });
});
