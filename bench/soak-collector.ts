/**
 * One soak collector in its own process: a real delivery (Kafka + disk spool) emitting the calls
 * of `collectorWorkload(plan)` as their start times come due, plus seeded re-sends of some.
 * The one argument is JSON `{ plan, delivery }`. Protocol, one line each:
 *   stdout `ready`            started; waiting for `go <startMs>` on stdin
 *   stdout `p <json>`         progress every 2 s
 *   stdout `done <json>`      every call emitted, Kafka acknowledged all of it and the spool is
 *                             empty; the delivery is stopped and the process exits 0
 * It exits 2 if stdin closes first: the parent is gone, and nobody would read the result.
 */
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { DeliveryConfigInput } from '../collector/delivery/index.ts';
import { createDelivery } from '../collector/delivery/index.ts';
import { createLogger } from '../common/log.ts';
import { seededRandom } from '../common/random.ts';
import { createTelemetry } from '../common/telemetry.ts';
import type { InvocationEvent } from '../contract/index.ts';
import { workloadEvents } from '../test/helpers/workload.ts';
import type { CollectorPlan } from './soak-workload.ts';
import { collectorWorkload, RESEND_MAX_DELAY_MS, RESEND_RATE } from './soak-workload.ts';

export interface CollectorProgress {
  emitted: number;
  resent: number;
  state: string;
  spooled: number;
  spoolRecords: number;
  sent: number;
  dropped: number;
  lastError?: string;
}

const { plan, delivery: config } = JSON.parse(process.argv[2] ?? '{}') as { plan: Omit<CollectorPlan, 'startMs'>; delivery: DeliveryConfigInput };
const delivery = createDelivery(config, {
  log: createLogger(`soak-collector-${plan.index}`, process.env.FAASMETER_LOG_LEVEL ?? 'silent'),
  meter: createTelemetry('soak-collector').meter,
});
const say = (line: string) => writeSync(1, `${line}\n`);
let emitted = 0;
let resent = 0;
let finished = false;

const progress = (): CollectorProgress => {
  const s = delivery.stats();
  const dropped = Object.values(s.dropped).reduce((a, b) => a + (b ?? 0), 0);
  return { emitted, resent, state: s.state, spooled: s.spooled, spoolRecords: s.spool.records, sent: s.sent, dropped, lastError: s.lastError };
};

async function run(startMs: number): Promise<void> {
  const events = workloadEvents(collectorWorkload({ ...plan, startMs }));
  // Its own stream, so re-sends never shift the calls the parent regenerates.
  const resendRandom = seededRandom(plan.seed * 100 + plan.index + 7_919);
  const resends: { dueMs: number; event: InvocationEvent }[] = [];
  let next = events.next();
  const ticker = setInterval(() => say(`p ${JSON.stringify(progress())}`), 2_000);
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = Date.now();
      while (!next.done && next.value.data.startMs <= now) {
        delivery.emit(next.value);
        emitted += 1;
        if (resendRandom() < RESEND_RATE) resends.push({ dueMs: now + Math.floor(resendRandom() * RESEND_MAX_DELAY_MS), event: next.value });
        next = events.next();
      }
      for (let i = resends.length - 1; i >= 0; i -= 1) {
        if (resends[i]!.dueMs <= now) {
          delivery.emit(resends[i]!.event);
          resent += 1;
          resends.splice(i, 1);
        }
      }
      if (next.done && resends.length === 0) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  await delivery.flush();
  // flush() also counts spooled events as done; the soak needs them in Kafka.
  for (;;) {
    const s = delivery.stats();
    if (s.state === 'direct' && s.spool.records === 0 && s.buffered === 0 && s.inFlight === 0 && s.unsettled === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await delivery.stop();
  clearInterval(ticker);
  finished = true;
  say(`done ${JSON.stringify(progress())}`);
  process.exit(0);
}

await delivery.start();
say('ready');
const input = createInterface({ input: process.stdin });
input.on('close', () => {
  if (!finished) process.exit(2);
});
input.on('line', (line) => {
  const [command, arg] = line.trim().split(/\s+/);
  if (command === 'go') void run(Number(arg));
});
