import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import type { Status, Trigger } from '../../contract/index.ts';

export type RejectReason = 'queue_full' | 'ready_timeout' | 'queue_timeout' | 'stopping';

/** Error codes of a failed connection to the function that get their own label; others are `other`. */
export const UPSTREAM_ERROR_CODES = ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'other'] as const;
export type UpstreamErrorCode = (typeof UPSTREAM_ERROR_CODES)[number];
/** `resent`: the request never reached the function and went again on a new connection; `failed`: the call failed. */
export type UpstreamFailureOutcome = 'resent' | 'failed';

/**
 * The OpenTelemetry FaaS metrics (faas.invocations, faas.errors, faas.timeouts, faas.coldstarts,
 * faas.invoke_duration, faas.init_duration) in Prometheus form. Counter names carry `_total`
 * themselves: the exporter keeps a name that has it and appends it to one that has not, so the
 * exposed name is the same either way (the unit test reads /metrics to hold us to that).
 * Labels are faas_name, faas_version and faas_trigger only: one instance's series must merge with
 * its siblings', and Prometheus adds the pod itself. faas.mem_usage is not here: the function's
 * memory lives in another container's cgroup, which the node agent samples.
 */
export interface ProxyMetrics {
  invocation(trigger: Trigger, status: Status, durationMs: number): void;
  coldStart(trigger: Trigger, initDurationMs: number): void;
  rejected(reason: RejectReason): void;
  upstreamFailure(code: UpstreamErrorCode, outcome: UpstreamFailureOutcome): void;
}

const TRIGGERS: readonly Trigger[] = ['http', 'pubsub', 'timer', 'datasource', 'other'];
const REASONS: readonly RejectReason[] = ['queue_full', 'ready_timeout', 'queue_timeout', 'stopping'];

export function proxyMetrics(meter: Meter, identity: { function: string; revision: string }, queueDepth: () => number): ProxyMetrics {
  // Attribute objects are made once: recording on the hot path allocates none of its own.
  const byTrigger = Object.fromEntries(
    TRIGGERS.map((t): [Trigger, Attributes] => [t, { faas_name: identity.function, faas_version: identity.revision, faas_trigger: t }]),
  ) as Record<Trigger, Attributes>;
  const byReason = Object.fromEntries(REASONS.map((r): [RejectReason, Attributes] => [r, { reason: r }])) as Record<RejectReason, Attributes>;

  // Per-call counters are plain numbers read at scrape time (observable counters): an SDK
  // counter hashes its attributes on every add, which is measurable at thousands of calls a second.
  const counts = (): Record<Trigger, number> => ({ http: 0, pubsub: 0, timer: 0, datasource: 0, other: 0 });
  const invocations = counts();
  const errors = counts();
  const timeouts = counts();
  const coldstarts = counts();
  const observe = (name: string, description: string, values: Record<Trigger, number>) =>
    meter.createObservableCounter(name, { description }).addCallback((result) => {
      for (const trigger of TRIGGERS) if (values[trigger] > 0) result.observe(values[trigger], byTrigger[trigger]);
    });
  observe('faas_invocations_total', 'Calls forwarded to the function', invocations);
  observe('faas_errors_total', 'Calls that failed: 5xx, function unreachable, connection cut (timeouts are counted apart)', errors);
  observe('faas_timeouts_total', 'Calls cut at FAASMETER_CALL_TIMEOUT_MS', timeouts);
  observe('faas_coldstarts_total', 'First calls of an instance', coldstarts);
  const duration: Histogram = meter.createHistogram('faas_invoke_duration_seconds', {
    description: 'Time from forwarding a call to the function until its response ended',
    unit: 's',
  });
  const init: Histogram = meter.createHistogram('faas_init_duration_seconds', {
    description: 'Instance start-up (proxy start until the function first answered its readiness probe)',
    unit: 's',
  });
  const rejected: Counter = meter.createCounter('faasmeter_proxy_rejected_total', {
    description: 'Requests answered 503 by the proxy without reaching the function, by reason',
  });
  const upstreamFailures: Counter = meter.createCounter('faasmeter_proxy_upstream_failures_total', {
    description: 'Connections to the function that failed, by error code and outcome (resent on a new connection, or the call failed)',
  });
  meter
    .createObservableGauge('faasmeter_proxy_queue_depth', { description: 'Requests held for readiness or a concurrency slot' })
    .addCallback((result) => result.observe(queueDepth()));

  return {
    invocation(trigger, status, durationMs) {
      invocations[trigger] += 1;
      if (status === 'error') errors[trigger] += 1;
      else if (status === 'timeout') timeouts[trigger] += 1;
      duration.record(durationMs / 1000, byTrigger[trigger]);
    },
    coldStart(trigger, initDurationMs) {
      coldstarts[trigger] += 1;
      init.record(initDurationMs / 1000, byTrigger[trigger]);
    },
    rejected(reason) {
      rejected.add(1, byReason[reason]);
    },
    upstreamFailure(code, outcome) {
      // Rare by nature: the attributes object is made per failure.
      upstreamFailures.add(1, { code, outcome });
    },
  };
}
