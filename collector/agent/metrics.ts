import type { Attributes, Meter } from '@opentelemetry/api';
import type { ReadErrorReason } from './cgroup-fs.ts';
import type { UnmappedReason } from './discovery.ts';
import { UNMAPPED_REASONS } from './discovery.ts';

/** Everything the agent counts that is not a per-cgroup read: the tree walk and the metadata file. */
export type AgentErrorReason = ReadErrorReason | 'root_unreadable' | 'metadata_unreadable' | 'metadata_invalid';

export interface AgentMetrics {
  sample(outcome: 'ok' | 'failed', durationS: number): void;
  readError(reason: AgentErrorReason, count?: number): void;
  oomKills(count: number): void;
}

export interface AgentGauges {
  instances: () => number;
  unmapped: () => Readonly<Record<UnmappedReason, number>>;
}

export function agentMetrics(meter: Meter, gauges: AgentGauges): AgentMetrics {
  const samples = meter.createCounter('faasmeter_agent_samples_total', {
    description: 'Passes over the cgroup tree, by outcome (failed: the root itself could not be listed)',
  });
  const duration = meter.createHistogram('faasmeter_agent_sample_duration_seconds', {
    description: 'Time to walk the cgroup tree, read every mapped cgroup and emit the events',
    unit: 's',
  });
  const errors = meter.createCounter('faasmeter_agent_read_errors_total', {
    description: 'Reads that failed, by reason; "vanished" (a container removed mid-read) is normal',
  });
  const ooms = meter.createCounter('faasmeter_agent_oom_kills_total', {
    description: 'OOM kills seen in metered cgroups (memory.events oom_kill increases)',
  });
  meter
    .createObservableGauge('faasmeter_agent_instances', { description: 'Function instances currently tracked' })
    .addCallback((result) => result.observe(gauges.instances()));
  const byReason = Object.fromEntries(UNMAPPED_REASONS.map((r): [UnmappedReason, Attributes] => [r, { reason: r }]));
  meter
    .createObservableGauge('faasmeter_agent_unmapped_cgroups', {
      description: 'Container cgroups in the last sample that no rule mapped to a function, by reason',
    })
    .addCallback((result) => {
      const counts = gauges.unmapped();
      for (const reason of UNMAPPED_REASONS) result.observe(counts[reason], byReason[reason]);
    });
  return {
    sample(outcome, durationS) {
      samples.add(1, { outcome });
      duration.record(durationS);
    },
    readError(reason, count = 1) {
      errors.add(count, { reason });
    },
    oomKills(count) {
      ooms.add(count);
    },
  };
}
