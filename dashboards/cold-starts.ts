import type { Dashboard, Panel } from './model.ts';
import { CALLS_IN_RANGE, bucket, msBucket, varFilters } from './sql.ts';
import { TENANT_FUNCTION_REVISION } from './variables.ts';

const MINUTES = `$__timeFilter(minute)\n  AND ${varFilters()}`;
const COLD = `${CALLS_IN_RANGE}\n  AND ${varFilters()}`;

/** Distribution buckets (µs upper bounds and labels); labels sort in bucket order. */
const BUCKETS: Array<[number, string]> = [
  [100_000, '1: < 100 ms'],
  [250_000, '2: 100-250 ms'],
  [500_000, '3: 250-500 ms'],
  [1_000_000, '4: 0.5-1 s'],
  [2_500_000, '5: 1-2.5 s'],
  [5_000_000, '6: 2.5-5 s'],
];

function distribution(column: string): string {
  const cases = BUCKETS.map(([upper, label]) => `${column} < ${upper}, '${label}'`).join(', ');
  return (
    `SELECT multiIf(${cases}, '7: >= 5 s') AS bucket, count() AS cold_starts\n` +
    `FROM cold_starts\nWHERE ${COLD}\nGROUP BY bucket\nORDER BY bucket`
  );
}

const stat = (title: string, description: string, rawSql: string, unit: Panel['unit'], extra: Partial<Panel> = {}): Panel => ({
  kind: 'stat',
  title,
  description,
  unit,
  width: 6,
  height: 4,
  targets: [{ kind: 'clickhouse', format: 'table', rawSql }],
  ...extra,
});

export const coldStarts: Dashboard = {
  uid: 'faasmeter-cold-starts',
  title: 'faasmeter / Cold starts',
  description:
    'How often instances start cold and how long the start-up takes (init duration) and the first request waits for it, by revision and architecture.',
  tags: ['faasmeter'],
  from: 'now-24h',
  refresh: '1m',
  variables: TENANT_FUNCTION_REVISION,
  rows: [
    {
      title: 'Summary',
      panels: [
        stat('Cold starts', 'Calls served by a fresh instance.', `SELECT sum(cold_starts) AS cold_starts\nFROM usage_minute\nWHERE ${MINUTES}`, 'short'),
        stat(
          'Cold-start ratio',
          'Cold calls as a share of all calls.',
          `SELECT sum(cold_starts) / greatest(sum(calls), 1) AS cold_start_ratio\nFROM usage_minute\nWHERE ${MINUTES}`,
          'percentunit',
          { decimals: 2 },
        ),
        stat(
          'Init duration p95',
          'Instance start-up until ready, exact 95th percentile.',
          `SELECT quantileExact(0.95)(init_duration_us) / 1000 AS init_p95_ms\nFROM cold_starts\nWHERE ${COLD}`,
          'ms',
          { decimals: 0 },
        ),
        stat(
          'First-request wait p95',
          'How long the first request of an instance waited for it to become ready, exact 95th percentile.',
          `SELECT quantileExact(0.95)(wait_us) / 1000 AS wait_p95_ms\nFROM cold_starts\nWHERE ${COLD}`,
          'ms',
          { decimals: 0 },
        ),
      ],
    },
    {
      title: 'Over time, by revision and architecture',
      panels: [
        {
          kind: 'timeseries',
          title: 'Cold starts per interval',
          unit: 'short',
          width: 12,
          height: 8,
          stacked: true,
          targets: [
            {
              kind: 'clickhouse',
              format: 'time_series',
              rawSql:
                `SELECT ${bucket('minute', 60)} AS time, concat(revision, ' / ', arch) AS revision_arch, sum(cold_starts) AS cold_starts\n` +
                `FROM usage_minute\nWHERE ${MINUTES}\nGROUP BY time, revision_arch\nORDER BY time, revision_arch`,
            },
          ],
        },
        {
          kind: 'timeseries',
          title: 'Cold-start ratio',
          unit: 'percentunit',
          width: 12,
          height: 8,
          min: 0,
          targets: [
            {
              kind: 'clickhouse',
              format: 'time_series',
              rawSql:
                `SELECT ${bucket('minute', 60)} AS time, concat(revision, ' / ', arch) AS revision_arch, sum(cold_starts) / sum(calls) AS cold_start_ratio\n` +
                `FROM usage_minute\nWHERE ${MINUTES}\nGROUP BY time, revision_arch\nHAVING sum(calls) > 0\nORDER BY time, revision_arch`,
            },
          ],
        },
        {
          kind: 'timeseries',
          title: 'Init duration p95 by revision',
          description: 'Exact 95th percentile of instance start-up time per interval, per revision and architecture.',
          unit: 'ms',
          width: 24,
          height: 8,
          targets: [
            {
              kind: 'clickhouse',
              format: 'time_series',
              rawSql:
                `SELECT ${msBucket('start_ms', 60)} AS time, concat(revision, ' / ', arch) AS revision_arch, quantileExact(0.95)(init_duration_us) / 1000 AS init_p95_ms\n` +
                `FROM cold_starts\nWHERE ${COLD}\nGROUP BY time, revision_arch\nORDER BY time, revision_arch`,
            },
          ],
        },
      ],
    },
    {
      title: 'Distributions',
      panels: [
        {
          kind: 'bargauge',
          title: 'Init duration distribution',
          description: 'Cold starts by instance start-up time.',
          unit: 'short',
          width: 12,
          height: 8,
          targets: [{ kind: 'clickhouse', format: 'table', rawSql: distribution('init_duration_us') }],
        },
        {
          kind: 'bargauge',
          title: 'First-request wait distribution',
          description: 'Cold starts by how long their first request waited for the instance.',
          unit: 'short',
          width: 12,
          height: 8,
          targets: [{ kind: 'clickhouse', format: 'table', rawSql: distribution('wait_us') }],
        },
        {
          kind: 'table',
          title: 'By revision and architecture',
          width: 24,
          height: 7,
          columnUnits: { init_p50_ms: 'ms', init_p95_ms: 'ms', init_max_ms: 'ms', wait_p95_ms: 'ms' },
          targets: [
            {
              kind: 'clickhouse',
              format: 'table',
              rawSql:
                `SELECT function, revision, arch, n AS cold_starts, q[1] / 1000 AS init_p50_ms, q[2] / 1000 AS init_p95_ms,\n` +
                `  init_max_us / 1000 AS init_max_ms, wait_p95_us / 1000 AS wait_p95_ms\nFROM (\n` +
                `  SELECT function, revision, arch, quantilesExact(0.5, 0.95)(init_duration_us) AS q, max(init_duration_us) AS init_max_us,\n` +
                `    quantileExact(0.95)(wait_us) AS wait_p95_us, count() AS n\n  FROM cold_starts\n  WHERE ${COLD}\n  GROUP BY function, revision, arch\n)\n` +
                `ORDER BY init_p95_ms DESC, function, revision, arch`,
            },
          ],
        },
      ],
    },
    {
      title: 'Slowest instances',
      panels: [
        {
          kind: 'table',
          title: 'Slowest cold starts (top 20 instances)',
          width: 24,
          height: 13,
          columnUnits: { init_ms: 'ms', wait_ms: 'ms' },
          targets: [
            {
              kind: 'clickhouse',
              format: 'table',
              rawSql:
                `SELECT toDateTime(intDiv(start_ms, 1000)) AS started, instance, function, revision, arch,\n` +
                `  init_duration_us / 1000 AS init_ms, wait_us / 1000 AS wait_ms\n` +
                `FROM cold_starts\nWHERE ${COLD}\nORDER BY init_duration_us DESC, instance\nLIMIT 20`,
            },
          ],
        },
      ],
    },
  ],
};
