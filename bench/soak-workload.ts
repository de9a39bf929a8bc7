/**
 * What the soak's collectors emit and what its parent injects, as pure functions of a seed, so
 * the parent can regenerate every valid call for the reference bill without being told them.
 */
import { invocationEvent, lifecycleEvent } from '../contract/index.ts';
import { TEST_TENANTS } from '../test/helpers/meter-fixtures.ts';
import type { WorkloadOptions } from '../test/helpers/workload.ts';

export const SOAK_FUNCTIONS = 20;
/** Share of calls a collector emits a second time (same id), a few seconds later. */
export const RESEND_RATE = 0.05;
export const RESEND_MAX_DELAY_MS = 5_000;

export interface CollectorPlan {
  run: string;
  seed: number;
  index: number;
  /** Calls this collector emits, each once (re-sends come on top). */
  calls: number;
  startMs: number;
  spanMs: number;
}

/** Collector `index`'s calls: start times spread evenly over the span, so it emits them live. */
export function collectorWorkload(plan: CollectorPlan): WorkloadOptions {
  return {
    calls: plan.calls,
    tenants: TEST_TENANTS,
    functions: SOAK_FUNCTIONS,
    startMs: plan.startMs,
    spanMs: plan.spanMs,
    seed: plan.seed * 100 + plan.index,
    errorRate: 0.05,
    idPrefix: idPrefix(plan.run, plan.index),
  };
}

/** Ids are `${idPrefix}-${seed}-${i}` (see workloadEvents), so one prefix names one collector. */
export function idPrefix(run: string, index: number): string {
  return `${run}-c${index}`;
}

export interface HostileRecord {
  kind: string;
  key: string;
  value: string;
}

const UNKNOWN_TENANT = 'umbrella';

/**
 * One round of records no meter may bill: each must end in the dead-letter topic. Keys are
 * unique (`${run}-bad-${round}-${kind}`) so the dead letters can be matched to them.
 */
export function hostileRecords(run: string, round: number, nowMs: number): HostileRecord[] {
  const key = (kind: string) => `${run}-bad-${round}-${kind}`;
  const call = (kind: string, data: Record<string, unknown>) => {
    const event = invocationEvent(
      {
        tenant: 'acme',
        function: 'fn-00',
        revision: 'fn-0-00001',
        instance: 'fn-00-hostile',
        trigger: 'http',
        startMs: nowMs,
        durationMs: 12.5,
        status: 'success',
        cold: false,
        memoryMb: 128,
        arch: 'x86_64',
        requestBytes: 10,
        responseBytes: 10,
      },
      { id: key(kind), source: 'faasmeter/soak-hostile', timeMs: nowMs },
    );
    return { kind, key: key(kind), value: JSON.stringify({ ...event, data: { ...event.data, ...data } }) };
  };
  const records: HostileRecord[] = [
    { kind: 'bad_json', key: key('bad_json'), value: `{"specversion":"1.0","id":"${key('bad_json')}","data":{"tenant":"acme"` },
    { kind: 'empty', key: key('empty'), value: '' },
    call('negative_duration', { durationMs: -5 }),
    call('unknown_tenant', { tenant: UNKNOWN_TENANT }),
    call('huge_name', { function: 'f'.repeat(20_000) }),
    call('lone_surrogate', { instance: 'i\ud800' }),
    {
      kind: 'wrong_topic',
      key: key('wrong_topic'),
      value: JSON.stringify(
        lifecycleEvent(
          { tenant: 'acme', function: 'fn-00', revision: 'fn-0-00001', instance: 'fn-00-hostile', phase: 'ready', timeMs: nowMs },
          { id: key('wrong_topic'), source: 'faasmeter/soak-hostile' },
        ),
      ),
    },
  ];
  // A record over the meter's size limit every fifth round: each is kept whole in the dead-letter topic.
  if (round % 5 === 0) records.push({ kind: 'too_large', key: key('too_large'), value: JSON.stringify({ padding: 'x'.repeat(300 * 1024) }) });
  return records;
}
