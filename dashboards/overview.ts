import type { Dashboard, Panel } from './model.ts';
import { CALLS_IN_RANGE, bucket, bucketSeconds, msBucket, varFilters } from './sql.ts';
import { TENANT_FUNCTION_REVISION } from './variables.ts';

const MINUTES = `$__timeFilter(minute)\n  AND ${varFilters()}`;
const CALLS = `${CALLS_IN_RANGE}\n  AND ${varFilters()}`;

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

export const overview: Dashboard = {
  uid: 'faasmeter-overview',
  title: 'faasmeter / Overview',
  description: 'Calls, errors, duration and cold starts per function, from the metered calls in ClickHouse.',
  tags: ['faasmeter'],
  from: 'now-6h',
  refresh: '1m',
  variables: TENANT_FUNCTION_REVISION,
  rows: [
    {
      title: 'Summary',
      panels: [
        stat('Calls', 'Metered calls in the time range.', `SELECT sum(calls) AS calls\nFROM usage_minute\nWHERE ${MINUTES}`, 'short'),
        stat(
          'Error ratio',
          'Calls that ended in an error or a timeout, as a share of all calls.',
          `SELECT sum(errors + timeouts) / greatest(sum(calls), 1) AS error_ratio\nFROM usage_minute\nWHERE ${MINUTES}`,
          'percentunit',
          { decimals: 2, thresholds: [{ value: null, color: 'green' }, { value: 0.01, color: 'orange' }, { value: 0.05, color: 'red' }] },
        ),
        stat(
          'Cold-start ratio',
          'Calls served by an instance that had served none before, as a share of all calls.',
          `SELECT sum(cold_starts) / greatest(sum(calls), 1) AS cold_start_ratio\nFROM usage_minute\nWHERE ${MINUTES}`,
          'percentunit',
          { decimals: 2, thresholds: [{ value: null, color: 'green' }, { value: 0.05, color: 'orange' }, { value: 0.1, color: 'red' }] },
        ),
        stat(
          'Cold-start p95',
          'Instance start-up time (init duration) of cold calls, 95th percentile (exact).',
          `SELECT quantileExact(0.95)(init_duration_us) / 1000 AS init_p95_ms\nFROM cold_starts\nWHERE ${CALLS}`,
          'ms',
          { decimals: 0, thresholds: [{ value: null, color: 'green' }, { value: 1000, color: 'orange' }, { value: 2000, color: 'red' }] },
        ),
      ],
    },
    {
      title: 'Calls and errors',
      panels: [
        {
          kind: 'timeseries',
          title: 'Calls per second by function',
          unit: 'reqps',
          width: 12,
          height: 8,
          targets: [
            {
              kind: 'clickhouse',
              format: 'time_series',
              rawSql:
                `SELECT ${bucket('minute', 60)} AS time, function, sum(calls) / ${bucketSeconds(60)} AS calls_per_second\n` +
                `FROM usage_minute\nWHERE ${MINUTES}\nGROUP BY time, function\nORDER BY time, function`,
            },
          ],
        },
        {
          kind: 'timeseries',
          title: 'Error ratio by function',
          description: 'Errors and timeouts over calls, per interval.',
          unit: 'percentunit',
          width: 12,
          height: 8,
          min: 0,
          targets: [
            {
              kind: 'clickhouse',
              format: 'time_series',
              rawSql:
                `SELECT ${bucket('minute', 60)} AS time, function, sum(errors + timeouts) / sum(calls) AS error_ratio\n` +
                `FROM usage_minute\nWHERE ${MINUTES}\nGROUP BY time, function\nHAVING sum(calls) > 0\nORDER BY time, function`,
            },
          ],
        },
        {
          kind: 'timeseries',
          title: 'Duration p50 / p95 / p99',
          description: 'Exact percentiles of call duration over the selected functions, per interval.',
          unit: 'ms',
          width: 12,
          height: 8,
          targets: [
            {
              kind: 'clickhouse',
              format: 'time_series',
              rawSql:
                `SELECT time, q[1] / 1000 AS p50, q[2] / 1000 AS p95, q[3] / 1000 AS p99\nFROM (\n` +
                `  SELECT ${msBucket('start_ms', 60)} AS time, quantilesExact(0.5, 0.95, 0.99)(duration_us) AS q\n` +
                `  FROM billed_calls\n  WHERE ${CALLS}\n  GROUP BY time\n)\nORDER BY time`,
            },
          ],
        },
        {
          kind: 'table',
          title: 'By function',
          description: 'Durations and cold-start init times are exact percentiles over the calls in the range.',
          width: 12,
          height: 8,
          columnUnits: {
            error_ratio: 'percentunit',
            cold_start_ratio: 'percentunit',
            p50_ms: 'ms',
            p95_ms: 'ms',
            p99_ms: 'ms',
            cold_start_p95_ms: 'ms',
          },
          targets: [
            {
              kind: 'clickhouse',
              format: 'table',
              rawSql:
                `SELECT function, calls, errors, errors / calls AS error_ratio, q[1] / 1000 AS p50_ms, q[2] / 1000 AS p95_ms, q[3] / 1000 AS p99_ms,\n` +
                `  cold_starts, cold_starts / calls AS cold_start_ratio, cold_start_p95_us / 1000 AS cold_start_p95_ms\nFROM (\n` +
                `  SELECT function, count() AS calls, sum(error + timeout) AS errors, quantilesExact(0.5, 0.95, 0.99)(duration_us) AS q,\n` +
                `    sum(cold) AS cold_starts, quantileExactIf(0.95)(init_duration_us, cold = 1) AS cold_start_p95_us\n` +
                `  FROM billed_calls\n  WHERE ${CALLS}\n  GROUP BY function\n)\nORDER BY calls DESC, function`,
            },
          ],
        },
      ],
    },
    {
      title: 'Cold starts',
      panels: [
        {
          kind: 'timeseries',
          title: 'Cold-start ratio by function',
          unit: 'percentunit',
          width: 12,
          height: 8,
          min: 0,
          targets: [
            {
              kind: 'clickhouse',
              format: 'time_series',
              rawSql:
                `SELECT ${bucket('minute', 60)} AS time, function, sum(cold_starts) / sum(calls) AS cold_start_ratio\n` +
                `FROM usage_minute\nWHERE ${MINUTES}\nGROUP BY time, function\nHAVING sum(calls) > 0\nORDER BY time, function`,
            },
          ],
        },
        {
          kind: 'timeseries',
          title: 'Cold-start p95 by function',
          description: 'Init duration of cold calls, exact 95th percentile per interval.',
          unit: 'ms',
          width: 12,
          height: 8,
          targets: [
            {
              kind: 'clickhouse',
              format: 'time_series',
              rawSql:
                `SELECT ${msBucket('start_ms', 60)} AS time, function, quantileExact(0.95)(init_duration_us) / 1000 AS init_p95_ms\n` +
                `FROM cold_starts\nWHERE ${CALLS}\nGROUP BY time, function\nORDER BY time, function`,
            },
          ],
        },
      ],
    },
  ],
};
