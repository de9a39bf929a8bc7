import type { Dashboard } from './model.ts';
import { DAYS_IN_RANGE, GB_S_PRICE, HEADROOM, LIST_PRICES, MB_MS_PER_GB_S, MEMORY_SIZES, suggestedMemorySql, varFilters } from './sql.ts';
import { TENANT_FUNCTION_REVISION } from './variables.ts';

const DAYS = `${DAYS_IN_RANGE}\n  AND ${varFilters()}`;

const ASSUMPTIONS =
  `Peak is the largest max-memory-used any call reported (calls that report none are left out). ` +
  `Suggested: the smallest of ${MEMORY_SIZES.join(', ')} MB that holds peak × ${HEADROOM.numerator / HEADROOM.denominator}. ` +
  `Saving assumes the same billed duration at the new size, priced at the tier-1 list price per GB-s ` +
  `(x86_64 ${LIST_PRICES.gbSecondUsd.x86_64}, arm64 ${LIST_PRICES.gbSecondUsd.arm64} ${LIST_PRICES.currency}); ` +
  'a negative saving means the function needs more memory than it has. A what-if, not a bill.';

/** One row per function, revision, arch and configured size, with peak use and the what-if. */
const PER_SIZE =
  `  SELECT function, revision, arch, memory_mb, calls, peak_mb, ${suggestedMemorySql('peak_mb', 'memory_mb')} AS suggested_mb,\n` +
  `    billed_ms * memory_mb / ${MB_MS_PER_GB_S} * ${GB_S_PRICE} AS cost_usd,\n` +
  `    billed_ms * suggested_mb / ${MB_MS_PER_GB_S} * ${GB_S_PRICE} AS suggested_cost_usd\n` +
  `  FROM (\n` +
  `    SELECT function, revision, arch, memory_mb, sumMerge(calls) AS calls,\n` +
  `      sumMerge(billed_ms) + sumMerge(init_billed_ms) AS billed_ms, maxMerge(peak_used_mb) AS peak_mb\n` +
  `    FROM memory_peaks\n    WHERE ${DAYS.replace(/\n {2}/g, '\n      ')}\n    GROUP BY function, revision, arch, memory_mb\n  )\n  WHERE peak_mb > 0`;

export const rightsizing: Dashboard = {
  uid: 'faasmeter-rightsizing',
  title: 'faasmeter / Right-sizing',
  description: `Configured memory against the peak memory calls used, and what a better size would save. ${ASSUMPTIONS}`,
  tags: ['faasmeter'],
  from: 'now-7d',
  refresh: '5m',
  variables: TENANT_FUNCTION_REVISION,
  rows: [
    {
      title: 'Savings',
      panels: [
        {
          kind: 'stat',
          title: 'Estimated saving in range',
          description: ASSUMPTIONS,
          unit: 'currencyUSD',
          decimals: 2,
          width: 6,
          height: 9,
          targets: [
            {
              kind: 'clickhouse',
              format: 'table',
              rawSql: `SELECT sum(cost_usd - suggested_cost_usd) AS saving_usd\nFROM (\n${PER_SIZE}\n)\nWHERE suggested_mb < memory_mb`,
            },
          ],
        },
        {
          kind: 'bargauge',
          title: 'Estimated saving per function (top 10)',
          description: ASSUMPTIONS,
          unit: 'currencyUSD',
          decimals: 2,
          width: 18,
          height: 9,
          targets: [
            {
              kind: 'clickhouse',
              format: 'table',
              rawSql:
                `SELECT function, sum(cost_usd - suggested_cost_usd) AS saving_usd\nFROM (\n${PER_SIZE}\n)\n` +
                `GROUP BY function\nORDER BY saving_usd DESC, function\nLIMIT 10`,
            },
          ],
        },
      ],
    },
    {
      title: 'Configured vs used',
      panels: [
        {
          kind: 'table',
          title: 'Memory per function: configured vs peak',
          description: ASSUMPTIONS,
          width: 24,
          height: 9,
          columnUnits: {
            memory_mb: 'none',
            peak_mb: 'none',
            suggested_mb: 'none',
            peak_share: 'percentunit',
            cost_usd: 'currencyUSD',
            saving_usd: 'currencyUSD',
          },
          targets: [
            {
              kind: 'clickhouse',
              format: 'table',
              rawSql:
                `SELECT function, revision, arch, memory_mb, peak_mb, peak_mb / memory_mb AS peak_share, suggested_mb, calls,\n` +
                `  cost_usd, cost_usd - suggested_cost_usd AS saving_usd\nFROM (\n${PER_SIZE}\n)\n` +
                `ORDER BY saving_usd DESC, function, revision, arch, memory_mb`,
            },
          ],
        },
        {
          kind: 'timeseries',
          title: 'Peak memory used vs configured, by day',
          unit: 'mbytes',
          width: 24,
          height: 8,
          min: 0,
          targets: [
            {
              kind: 'clickhouse',
              format: 'time_series',
              rawSql:
                `SELECT toDateTime(day) AS time, concat(function, ' peak') AS series, maxMerge(peak_used_mb) AS mb\n` +
                `FROM memory_peaks\nWHERE ${DAYS}\nGROUP BY time, series\nORDER BY time, series`,
            },
            {
              kind: 'clickhouse',
              format: 'time_series',
              rawSql:
                `SELECT toDateTime(day) AS time, concat(function, ' configured') AS series, max(memory_mb) AS mb\n` +
                `FROM memory_peaks\nWHERE ${DAYS}\nGROUP BY time, series\nORDER BY time, series`,
            },
          ],
        },
      ],
    },
  ],
};
