import type { Architecture, InvocationEvent, Status } from '../../contract/index.ts';
import { invocationEvent } from '../../contract/index.ts';
import { seededRandom } from '../../common/random.ts';


export interface WorkloadOptions {
  calls: number;
  tenants: string[];
  functions: number;
  /** First ms of the window the calls start in; all calls start within `spanMs` after it. */
  startMs: number;
  spanMs: number;
  seed: number;
  /** Calls per instance before it is replaced (so every instance's first call is cold). */
  callsPerInstance?: number;
  errorRate?: number;
  idPrefix?: string;
}

const MEMORY_SIZES = [128, 256, 512, 1024, 1769, 3008];

/**
 * A generated workload: tenants own functions of both architectures with various memory sizes;
 * every instance's first call is cold and carries an init duration; some calls fail or time out.
 * Durations carry microseconds so per-call rounding is exercised.
 */
export function generateWorkload(o: WorkloadOptions): InvocationEvent[] {
  return [...workloadEvents(o)];
}

/**
 * The same calls one at a time, for streams too long to hold in memory (the soak's collectors
 * emit them as their start times come due; the parent sums them up again for the reference).
 */
export function* workloadEvents(o: WorkloadOptions): Generator<InvocationEvent, void, undefined> {
  const rand = seededRandom(o.seed);
  const perInstance = o.callsPerInstance ?? 250;
  const errorRate = o.errorRate ?? 0.03;
  const archOf = (i: number): Architecture => (Math.floor(i / o.tenants.length) % 2 === 0 ? 'x86_64' : 'arm64');
  const functions = Array.from({ length: o.functions }, (_, i) => ({
    tenant: o.tenants[i % o.tenants.length]!,
    name: `fn-${String(i).padStart(2, '0')}`,
    // Tenants own functions round-robin, so alternate architectures per tenant, not per index.
    arch: archOf(i),
    memoryMb: MEMORY_SIZES[i % MEMORY_SIZES.length]!,
    revision: `fn-${i}-0000${1 + (i % 2)}`,
    baseMs: 5 + (i % 7) * 40,
    instanceCalls: 0,
    instanceNo: 0,
  }));
  for (let i = 0; i < o.calls; i += 1) {
    const fn = functions[Math.floor(rand() * functions.length)]!;
    const cold = fn.instanceCalls === 0;
    fn.instanceCalls = (fn.instanceCalls + 1) % perInstance;
    if (cold) fn.instanceNo += 1;
    const roll = rand();
    const status: Status = roll < errorRate * 0.8 ? 'error' : roll < errorRate ? 'timeout' : 'success';
    const durationMs = Math.round((fn.baseMs + rand() * fn.baseMs * 3) * 1000) / 1000;
    const startMs = o.startMs + Math.floor((i / o.calls) * o.spanMs);
    yield invocationEvent(
      {
        tenant: fn.tenant,
        function: fn.name,
        revision: fn.revision,
        instance: `${fn.name}-${fn.instanceNo}`,
        trigger: 'http',
        startMs,
        durationMs,
        status,
        httpStatus: status === 'success' ? 200 : status === 'timeout' ? 504 : 500,
        cold,
        ...(cold ? { initDurationMs: Math.round((150 + rand() * 900) * 1000) / 1000, waitMs: 2 + Math.floor(rand() * 50) } : {}),
        memoryMb: fn.memoryMb,
        maxMemoryUsedMb: Math.max(1, Math.floor(fn.memoryMb * (0.2 + rand() * 0.5))),
        arch: fn.arch,
        requestBytes: Math.floor(rand() * 2000),
        responseBytes: Math.floor(rand() * 20000),
      },
      { id: `${o.idPrefix ?? 'w'}-${o.seed}-${i}`, source: 'faasmeter/test-workload', timeMs: startMs + Math.ceil(durationMs) },
    );
  }
}
