/**
 * Seeding for the API tests: contract events for three tenants go through the real meter writer
 * (meter/writer.ts), so the rows, rollups and seals the API reads are the ones production writes.
 * Function names overlap between tenants ("shared") so that a leak across tenants changes numbers,
 * and some names are hostile (quotes, a spreadsheet formula) to exercise escaping end to end.
 */
import type { ClickHouse } from '../../clickhouse/client.ts';
import { createLogger } from '../../common/log.ts';
import { createTelemetry } from '../../common/telemetry.ts';
import type { Architecture, FaasEvent, InvocationEvent, Status } from '../../contract/index.ts';
import { invocationEvent, lifecycleEvent, topicFor } from '../../contract/index.ts';
import type { PricingConfig } from '../../meter/pricing/index.ts';
import { parsePricingConfig } from '../../meter/pricing/index.ts';
import type { DeadLetter } from '../../meter/pipeline.ts';
import { createBatchWriter } from '../../meter/writer.ts';
import type { ConsumedRecord } from '../../kafka/consumer.ts';
import { TEST_PRICING } from '../helpers/meter-fixtures.ts';
import { seededRandom } from '../../common/random.ts';

export const PRICING: PricingConfig = parsePricingConfig(TEST_PRICING);

export interface FunctionSpec {
  tenant: string;
  name: string;
  revisions: string[];
  arch: Architecture;
  memoryMb: number;
  /** Peak memory used is drawn from this share of memoryMb. */
  peakShare: [number, number];
}

/** A DDE-style formula payload as a function name: legal by the event contract. */
export const FORMULA_FUNCTION = "=cmd|' /C calc'!A0";

export const FUNCTIONS: FunctionSpec[] = [
  { tenant: 'acme', name: 'api', revisions: ['api-r1', 'api-r2'], arch: 'x86_64', memoryMb: 1024, peakShare: [0.1, 0.3] },
  { tenant: 'acme', name: 'shared', revisions: ['acme-shared-1'], arch: 'arm64', memoryMb: 512, peakShare: [0.5, 0.8] },
  { tenant: 'acme', name: FORMULA_FUNCTION, revisions: ['-1+1', 'r,"q"'], arch: 'x86_64', memoryMb: 256, peakShare: [0.9, 1] },
  { tenant: 'globex', name: 'shared', revisions: ['globex-shared-1'], arch: 'x86_64', memoryMb: 256, peakShare: [0.2, 0.4] },
  { tenant: 'globex', name: 'globex-only', revisions: ['globex-only-7'], arch: 'arm64', memoryMb: 2048, peakShare: [0.05, 0.1] },
  { tenant: 'initech', name: 'shared', revisions: ['initech-shared-1'], arch: 'x86_64', memoryMb: 2048, peakShare: [0.3, 0.6] },
];

/** First ms of the month `back` months before the current one (UTC). */
export function monthStart(back: number, nowMs = Date.now()): number {
  const d = new Date(nowMs);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - back, 1);
}

export function periodName(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

export interface SeedPlan {
  /** Two whole months in the past: P1 (closed in the tests) and P2 (open). */
  p1Start: number;
  p2Start: number;
  p2End: number;
  p1: string;
  p2: string;
}

export function seedPlan(nowMs = Date.now()): SeedPlan {
  const p1Start = monthStart(2, nowMs);
  const p2Start = monthStart(1, nowMs);
  const p2End = monthStart(0, nowMs);
  return { p1Start, p2Start, p2End, p1: periodName(p1Start), p2: periodName(p2Start) };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Calls spread over [fromMs, toMs): every function gets `perFunction` calls; every 25th call of a
 * function is cold (with init and wait times), about 4% fail and 1% time out. Calls fall in every
 * `hourStride`-th hour only: the meter seals hour by hour, and fewer hours keep seeding quick.
 */
export function generateCalls(options: {
  fromMs: number;
  toMs: number;
  perFunction: number;
  seed: number;
  idPrefix: string;
  hourStride?: number;
}): InvocationEvent[] {
  const rand = seededRandom(options.seed);
  const stride = (options.hourStride ?? 29) * 3_600_000;
  const slots = Math.max(1, Math.floor((options.toMs - options.fromMs) / stride));
  const events: InvocationEvent[] = [];
  for (const fn of FUNCTIONS) {
    for (let i = 0; i < options.perFunction; i += 1) {
      const cold = i % 25 === 0;
      const roll = rand();
      const status: Status = roll < 0.01 ? 'timeout' : roll < 0.05 ? 'error' : 'success';
      const startMs = options.fromMs + Math.floor(rand() * slots) * stride + Math.floor(rand() * 3_600_000);
      const [lo, hi] = fn.peakShare;
      events.push(
        invocationEvent(
          {
            tenant: fn.tenant,
            function: fn.name,
            revision: fn.revisions[i % fn.revisions.length]!,
            instance: `${fn.tenant}-${fn.name}-${Math.floor(i / 25)}`,
            trigger: 'http',
            startMs,
            durationMs: round3(3 + rand() * 400),
            status,
            cold,
            ...(cold ? { initDurationMs: round3(80 + rand() * 900), waitMs: round3(rand() * 60) } : {}),
            memoryMb: fn.memoryMb,
            maxMemoryUsedMb: Math.max(1, Math.floor(fn.memoryMb * (lo + rand() * (hi - lo)))),
            arch: fn.arch,
            requestBytes: 100,
            responseBytes: 1000,
          },
          { id: `${options.idPrefix}-${fn.tenant}-${i}-${FUNCTIONS.indexOf(fn)}`, source: 'faasmeter/api-test', timeMs: startMs },
        ),
      );
    }
  }
  return events;
}

/** initech keeps one provisioned (min-scale 1) instance up for 3 days of P2, serving a few calls. */
export function provisionedInstance(plan: SeedPlan): { events: FaasEvent[]; readyMs: number; stoppedMs: number; memoryMb: number; calls: InvocationEvent[] } {
  const readyMs = plan.p2Start + 2 * 86_400_000;
  const stoppedMs = readyMs + 3 * 86_400_000;
  const memoryMb = 2048;
  const base = { tenant: 'initech', function: 'shared', revision: 'initech-shared-1', instance: 'initech-prov-1', provisioned: true, memoryMb, arch: 'x86_64' as const };
  const calls = Array.from({ length: 12 }, (_, i) =>
    invocationEvent(
      {
        tenant: 'initech',
        function: 'shared',
        revision: 'initech-shared-1',
        instance: 'initech-prov-1',
        trigger: 'http',
        startMs: readyMs + 3_600_000 * (i + 1),
        durationMs: 250.5,
        status: 'success',
        cold: i === 0,
        ...(i === 0 ? { initDurationMs: 300, waitMs: 12.5 } : {}),
        memoryMb,
        maxMemoryUsedMb: 900,
        arch: 'x86_64',
        requestBytes: 10,
        responseBytes: 10,
      },
      { id: `prov-call-${i}`, source: 'faasmeter/api-test', timeMs: readyMs + 3_600_000 * (i + 1) },
    ),
  );
  const events: FaasEvent[] = [
    lifecycleEvent({ ...base, phase: 'ready', timeMs: readyMs }, { source: 'faasmeter/api-test' }),
    lifecycleEvent({ ...base, phase: 'stopped', stopReason: 'scale_to_zero', timeMs: stoppedMs }, { source: 'faasmeter/api-test' }),
  ];
  return { events, readyMs, stoppedMs, memoryMb, calls };
}

/** Writes events through the meter's batch writer, as the meter's consumer would hand them over. */
export async function writeThroughMeter(ch: ClickHouse, events: readonly FaasEvent[], pricing: PricingConfig = PRICING): Promise<void> {
  const dead: DeadLetter[] = [];
  const writer = createBatchWriter(
    { unknownTenants: 'deadletter' },
    {
      ch,
      pricing,
      log: createLogger('api-seed', 'silent'),
      meter: createTelemetry('api-seed').meter,
      sendDeadLetters: (letters) => {
        dead.push(...letters);
        return Promise.resolve();
      },
    },
  );
  for (let i = 0; i < events.length; i += 5_000) {
    const records: ConsumedRecord[] = events.slice(i, i + 5_000).map((e, j) => ({
      topic: topicFor(e.type),
      partition: 0,
      offset: String(i + j),
      key: null,
      value: Buffer.from(JSON.stringify(e)),
      headers: {},
      timestampMs: Date.now(),
    }));
    await writer.handle(records, { heartbeat: () => Promise.resolve(), active: () => true });
  }
  if (dead.length > 0) throw new Error(`seed events were dead-lettered: ${dead.slice(0, 3).map((d) => `${d.reason}: ${d.detail}`).join('; ')}`);
}
