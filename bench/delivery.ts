/**
 * Delivery figures (printed, not asserted):
 *   1. throughput: events/s from emit() to Kafka acknowledgement, shared local-stack broker;
 *   2. RSS and CPU at a steady 5,000 events/s, shared broker;
 *   3. RSS during a Kafka outage at 5,000 events/s (private broker, stopped), then drain time.
 * Each phase runs in a fresh process, so one phase's heap growth does not inflate the next's RSS.
 * Run: npx node bench/delivery.ts [throughput|steady|outage]   (local stack up: npm run stack:up)
 * Knobs: BENCH_THROUGHPUT_EVENTS (200000), BENCH_STEADY_S (30), BENCH_OUTAGE_S (30), BENCH_VERBOSE.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Delivery, DeliveryConfigInput } from '../collector/delivery/index.ts';
import { createDelivery } from '../collector/delivery/index.ts';
import { createLogger } from '../common/log.ts';
import { createTelemetry } from '../common/telemetry.ts';
import { defaultTopics, ensureTopics } from '../kafka/topics.ts';
import { KAFKA_BROKERS, testKafka, uniquePrefix } from '../test/helpers/kafka.ts';
import { createPrivateKafka } from '../test/helpers/private-kafka.ts';
import { deliveryEvent } from './delivery-workload.ts';

const THROUGHPUT_EVENTS = Number(process.env.BENCH_THROUGHPUT_EVENTS ?? 200_000);
const STEADY_S = Number(process.env.BENCH_STEADY_S ?? 30);
const OUTAGE_S = Number(process.env.BENCH_OUTAGE_S ?? 30);
const RATE = 5_000;

const log = createLogger('bench-delivery', process.env.FAASMETER_LOG_LEVEL ?? 'silent');
const dirs: string[] = [];
const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function delivery(config: Partial<DeliveryConfigInput> & { brokers: string[]; topicPrefix: string }): Promise<Delivery> {
  const spoolDir = await mkdtemp(join(tmpdir(), 'faasmeter-bench-delivery-'));
  dirs.push(spoolDir);
  const d = createDelivery({ clientId: 'bench-delivery', spoolDir, ...config }, { log, meter: createTelemetry('bench').meter });
  await d.start();
  return d;
}

/** Emits at `perSecond` until stopped (catching up on timer lateness). */
function steady(d: Delivery, run: string, perSecond: number) {
  const started = Date.now();
  let emitted = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - started) * perSecond) / 1000);
    while (emitted < due) d.emit(deliveryEvent(run, emitted++));
  }, 5);
  return { emitted: () => emitted, stop: () => clearInterval(timer) };
}

interface Sample {
  rss: number;
  heap: number;
}

/** One sample per second for `seconds`; also CPU % of one core over the window. */
async function sample(seconds: number, extra: () => string = () => ''): Promise<{ samples: Sample[]; cpuPercent: number }> {
  const samples: Sample[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < seconds; i += 1) {
    await sleep(1_000);
    const m = process.memoryUsage();
    samples.push({ rss: m.rss, heap: m.heapUsed });
    if (process.env.BENCH_VERBOSE) console.log(`  t=${i + 1}s rss ${mib(m.rss)} heap ${mib(m.heapUsed)} ${extra()}`);
  }
  const cpu = process.cpuUsage(cpu0);
  return { samples, cpuPercent: ((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 100 };
}

function summary(samples: Sample[]): string {
  const rss = samples.map((s) => s.rss).sort((a, b) => a - b);
  const heap = samples.map((s) => s.heap).sort((a, b) => a - b);
  const median = (xs: number[]) => xs[Math.floor(xs.length / 2)] ?? 0;
  return `RSS median ${mib(median(rss))}, max ${mib(rss.at(-1) ?? 0)}; heap used median ${mib(median(heap))}, max ${mib(heap.at(-1) ?? 0)}`;
}

async function throughput(batchMaxEvents: number): Promise<void> {
  const prefix = uniquePrefix('bench-delivery');
  await ensureTopics(testKafka(), defaultTopics(3, prefix));
  const d = await delivery({ brokers: KAFKA_BROKERS, topicPrefix: prefix, batchMaxEvents, bufferMaxEvents: 50_000 });
  // Warm-up: connection, metadata, JIT.
  for (let i = 0; i < 2_000; i += 1) d.emit(deliveryEvent('warm', i));
  await d.flush();
  const run = `tp${batchMaxEvents}`;
  const started = performance.now();
  for (let i = 0; i < THROUGHPUT_EVENTS; i += 1) {
    d.emit(deliveryEvent(run, i));
    // Stay under the memory bound: nothing here may be dropped.
    if (i % 1_000 === 0) while (d.stats().buffered > 40_000) await sleep(1);
  }
  await d.flush();
  const seconds = (performance.now() - started) / 1000;
  const stats = d.stats();
  await d.stop();
  console.log(
    `throughput, batchMaxEvents ${batchMaxEvents}: ${THROUGHPUT_EVENTS} events in ${seconds.toFixed(2)} s = ${Math.round(THROUGHPUT_EVENTS / seconds)} events/s ` +
      `(sent ${stats.sent}, spooled ${stats.spooled}, dropped ${JSON.stringify(stats.dropped)}, send errors ${stats.sendErrors})`,
  );
}

async function steadyRss(): Promise<void> {
  const prefix = uniquePrefix('bench-delivery');
  await ensureTopics(testKafka(), defaultTopics(3, prefix));
  const d = await delivery({ brokers: KAFKA_BROKERS, topicPrefix: prefix });
  const emitter = steady(d, 'steady', RATE);
  await sleep(5_000);
  const { samples, cpuPercent } = await sample(STEADY_S, () => `buffered ${d.stats().buffered}`);
  emitter.stop();
  await d.flush();
  const stats = d.stats();
  await d.stop();
  console.log(
    `steady ${RATE}/s for ${STEADY_S} s to the shared broker: ${summary(samples)}; CPU ${cpuPercent.toFixed(0)}% of a core; ` +
      `sent ${stats.sent} of ${emitter.emitted()}, spooled ${stats.spooled}, dropped ${JSON.stringify(stats.dropped)}`,
  );
}

async function outageRss(): Promise<void> {
  const kafka = await createPrivateKafka();
  try {
    await kafka.start();
    const prefix = 'bench.';
    await ensureTopics(kafka.client(), defaultTopics(3, prefix));
    const d = await delivery({ brokers: kafka.brokers, topicPrefix: prefix });
    const emitter = steady(d, 'outage', RATE);
    await sleep(5_000);
    const before = await sample(5);
    await kafka.stop();
    const stoppedAt = Date.now();
    const during = await sample(OUTAGE_S, () => `spool ${mib(d.stats().spool.bytes)} state ${d.stats().state}`);
    const spool = d.stats().spool;
    const restartAt = Date.now();
    await kafka.start();
    const readyAt = Date.now();
    let drainPeak = 0;
    while (d.stats().state !== 'direct') {
      drainPeak = Math.max(drainPeak, process.memoryUsage().rss);
      await sleep(100);
    }
    const drainedAt = Date.now();
    emitter.stop();
    await d.flush();
    const stats = d.stats();
    await d.stop();
    console.log(`outage at ${RATE}/s (private broker): before: ${summary(before.samples)}`);
    console.log(
      `  during ${OUTAGE_S} s outage: ${summary(during.samples)}; CPU ${during.cpuPercent.toFixed(0)}% of a core; ` +
        `spool reached ${mib(spool.bytes)} / ${spool.records} events (${mib((spool.bytes / (restartAt - stoppedAt)) * 1000)}/s)`,
    );
    console.log(
      `  Kafka ready ${((readyAt - restartAt) / 1000).toFixed(1)} s after start; spool drained ${((drainedAt - readyAt) / 1000).toFixed(1)} s later ` +
        `(peak RSS while draining ${mib(drainPeak)}); totals: emitted ${emitter.emitted()}, sent ${stats.sent}, spooled ${stats.spooled}, ` +
        `replayed ${stats.replayed}, landed late ${stats.landedLate}, dropped ${JSON.stringify(stats.dropped)}`,
    );
  } finally {
    await kafka.destroy();
  }
}

const phases: Record<string, () => Promise<void>> = {
  throughput: async () => {
    await throughput(500);
    await throughput(2_000);
  },
  steady: steadyRss,
  outage: outageRss,
};

const phase = process.argv[2];
if (phase === undefined) {
  for (const name of Object.keys(phases)) {
    const result = spawnSync(process.execPath, [import.meta.filename, name], { stdio: 'inherit' });
    if (result.status !== 0) process.exit(result.status ?? 1);
  }
  process.exit(0);
}
const run = phases[phase];
if (!run) throw new Error(`unknown phase ${phase}; one of ${Object.keys(phases).join(', ')}`);
try {
  const m = process.memoryUsage();
  console.log(`[${phase}] node ${process.version}; baseline RSS ${mib(m.rss)}, heap used ${mib(m.heapUsed)}`);
  await run();
} finally {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}
process.exit(0);
