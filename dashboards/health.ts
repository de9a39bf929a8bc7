import type { Dashboard, Panel, Unit } from './model.ts';

const RATE = '$__rate_interval';

function series(title: string, unit: Unit, queries: Array<[expr: string, legend: string]>, extra: Partial<Panel> = {}): Panel {
  return {
    kind: 'timeseries',
    title,
    unit,
    width: 8,
    height: 7,
    targets: queries.map(([expr, legendFormat]) => ({ kind: 'prometheus', expr, legendFormat })),
    ...extra,
  };
}

const quantiles = (metric: string, by = ''): Array<[string, string]> =>
  [0.5, 0.95, 0.99].map((q) => [
    `histogram_quantile(${q}, sum by (le${by ? `, ${by}` : ''}) (rate(${metric}_bucket[${RATE}])))`,
    `p${Math.round(q * 100)}${by ? ` {{${by}}}` : ''}`,
  ]);

export const health: Dashboard = {
  uid: 'faasmeter-health',
  title: 'faasmeter / Health',
  description: 'The metering pipeline itself: collector delivery and spool, meter lag and dead letters, ClickHouse inserts (Prometheus).',
  tags: ['faasmeter'],
  from: 'now-3h',
  refresh: '30s',
  variables: [],
  rows: [
    {
      title: 'Processes',
      panels: [
        {
          kind: 'stat',
          title: 'Targets up',
          description: 'faasmeter processes Prometheus scrapes successfully, by job.',
          unit: 'short',
          width: 8,
          height: 5,
          thresholds: [{ value: null, color: 'red' }, { value: 1, color: 'green' }],
          targets: [{ kind: 'prometheus', expr: 'sum by (job) (up{job=~"faasmeter-.*"})', legendFormat: '{{job}}', instant: true }],
        },
        series('Proxy queue depth', 'short', [['sum by (faas_name) (faasmeter_proxy_queue_depth)', '{{faas_name}}']], { width: 8, height: 5 }),
        series('Proxy rejections', 'reqps', [[`sum by (reason) (rate(faasmeter_proxy_rejected_total[${RATE}]))`, '{{reason}}']], {
          width: 8,
          height: 5,
        }),
      ],
    },
    {
      title: 'Collector delivery',
      panels: [
        series('Events sent by topic', 'ops', [[`sum by (topic) (rate(faasmeter_collector_events_sent_total[${RATE}]))`, '{{topic}}']]),
        series('Spool size', 'bytes', [['sum by (instance) (faasmeter_collector_spool_bytes)', '{{instance}}']], {
          description: 'Events written to disk while Kafka was unreachable and not yet re-sent. Growing means delivery is failing.',
        }),
        series(
          'Spooled and dropped events',
          'ops',
          [
            [`sum(rate(faasmeter_collector_events_spooled_total[${RATE}]))`, 'spooled'],
            [`sum by (reason) (rate(faasmeter_collector_dropped_total[${RATE}]))`, 'dropped: {{reason}}'],
          ],
          { description: 'Dropped events are lost for billing: each one is an alert.' },
        ),
        series('Producer errors', 'ops', [[`sum by (instance) (rate(faasmeter_collector_send_errors_total[${RATE}]))`, '{{instance}}']]),
        series('Producer send latency', 's', quantiles('faasmeter_collector_send_seconds'), { width: 16 }),
      ],
    },
    {
      title: 'Meter',
      panels: [
        series('Consumer lag by topic', 'short', [
          ['sum by (topic) (max by (topic, partition) (faasmeter_meter_consumer_lag))', '{{topic}}'],
        ]),
        series('Records consumed by topic', 'ops', [[`sum by (topic) (rate(faasmeter_meter_records_total[${RATE}]))`, '{{topic}}']]),
        series('Calls billed, duplicates, late calls', 'ops', [
          [`sum(rate(faasmeter_meter_calls_billed_total[${RATE}]))`, 'billed'],
          [`sum(rate(faasmeter_meter_duplicates_suppressed_total[${RATE}]))`, 'duplicates suppressed'],
          [`sum(rate(faasmeter_meter_late_calls_total[${RATE}]))`, 'late (adjustments)'],
        ]),
        series('Dead letters by reason', 'ops', [[`sum by (reason) (rate(faasmeter_meter_deadletters_total[${RATE}]))`, '{{reason}}']]),
        series('Batch size', 'short', [
          [
            `sum(rate(faasmeter_meter_batch_records_sum[${RATE}])) / sum(rate(faasmeter_meter_batch_records_count[${RATE}]))`,
            'mean records per batch',
          ],
        ]),
      ],
    },
    {
      title: 'ClickHouse inserts',
      panels: [
        series('Insert latency', 's', quantiles('faasmeter_meter_insert_seconds'), { width: 12 }),
        series('Insert failures', 'ops', [[`sum by (instance) (rate(faasmeter_meter_insert_failures_total[${RATE}]))`, '{{instance}}']], {
          width: 12,
        }),
      ],
    },
  ],
};
