import type { FaasEvent } from '../contract/index.ts';
import { invocationEvent, resourceEvent } from '../contract/index.ts';

const T0 = Date.UTC(2026, 0, 1);

/**
 * The stream the delivery tests and benches push: event `i` of run `run` has id `${run}-${i}`.
 * Mostly calls (keyed by id); every tenth is a resource sample of one of three instances, keyed
 * per instance, so per-key order can be checked. About 450 bytes of JSON each.
 */
export function deliveryEvent(run: string, i: number): FaasEvent {
  const id = `${run}-${i}`;
  if (i % 10 === 9) {
    return resourceEvent(
      { tenant: 'acme', function: 'resize', instance: `inst-${i % 3}`, timeMs: T0 + i, cpuUsageUs: i * 1000, cpuThrottledUs: 0, memoryCurrentBytes: 1 << 20, memoryPeakBytes: 2 << 20, oomKills: 0 },
      { id, source: 'faasmeter/bench' },
    );
  }
  return invocationEvent(
    { tenant: 'acme', function: 'resize', revision: 'resize-00001', instance: `inst-${i % 3}`, trigger: 'http', startMs: T0 + i, durationMs: 12.5, status: 'success', cold: false, memoryMb: 256, arch: 'x86_64', requestBytes: 100, responseBytes: 2000 },
    { id, source: 'faasmeter/bench', timeMs: T0 + i + 13 },
  );
}

export const seqOfId = (id: string): number => Number(id.slice(id.lastIndexOf('-') + 1));
