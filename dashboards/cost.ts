import type { Dashboard, Panel } from './model.ts';
import { matchVar } from './macros.ts';
import { COMPUTE_USD, GB_SECONDS, LIST_PRICES, RANGE_SECONDS, REQUESTS_USD, bucket, varFilters } from './sql.ts';
import { TENANT_FUNCTION_REVISION } from './variables.ts';

const HOURS = `$__timeFilter(hour)\n  AND ${varFilters()}`;
/** The range and the equally long range just before it. */
const HOURS_WITH_PREVIOUS = `hour >= $__fromTime - ${RANGE_SECONDS} AND hour <= $__toTime\n  AND ${varFilters()}`;
const SPEND = `${REQUESTS_USD} + ${COMPUTE_USD}`;

const ESTIMATE =
  `Estimate at ${LIST_PRICES.currency} list prices of the default plan (AWS Lambda us-east-1): ` +
  `${LIST_PRICES.requestUsd} per request, ${LIST_PRICES.gbSecondUsd.x86_64} per GB-s on x86_64 and ${LIST_PRICES.gbSecondUsd.arm64} on arm64 ` +
  `(GB-s = MB·ms / 1024 / 1000, init included), before free allowance and volume tiers. ` +
  'Exact statements (per-tenant plans, tiers, allowance, decimal money) come from the billing API.';

const stat = (title: string, rawSql: string, unit: Panel['unit'], extra: Partial<Panel> = {}): Panel => ({
  kind: 'stat',
  title,
  description: ESTIMATE,
  unit,
  width: 6,
  height: 4,
  targets: [{ kind: 'clickhouse', format: 'table', rawSql }],
  ...extra,
});

export const cost: Dashboard = {
  uid: 'faasmeter-cost',
  title: 'faasmeter / Cost (estimate)',
  description: ESTIMATE,
  tags: ['faasmeter'],
  from: 'now-7d',
  refresh: '5m',
  variables: TENANT_FUNCTION_REVISION,
  rows: [
    {
      title: 'Summary',
      panels: [
        stat('Estimated spend', `SELECT ${SPEND} AS spend_usd\nFROM usage_hour\nWHERE ${HOURS}`, 'currencyUSD', { decimals: 2 }),
        stat('Requests', `SELECT sum(calls) AS requests\nFROM usage_hour\nWHERE ${HOURS}`, 'short'),
        stat('GB-seconds', `SELECT ${GB_SECONDS} AS gb_seconds\nFROM usage_hour\nWHERE ${HOURS}`, 'short', { decimals: 1 }),
        stat(
          'Spend vs previous period',
          `SELECT if(previous_usd > 0, (current_usd - previous_usd) / previous_usd, NULL) AS change\nFROM (\n` +
            `  SELECT sumIf(spend_usd, hour >= $__fromTime) AS current_usd, sumIf(spend_usd, hour < $__fromTime) AS previous_usd\n` +
            `  FROM (\n    SELECT hour, ${SPEND} AS spend_usd\n    FROM usage_hour\n    WHERE ${HOURS_WITH_PREVIOUS}\n    GROUP BY hour\n  )\n)`,
          'percentunit',
          { decimals: 1, thresholds: [{ value: null, color: 'green' }, { value: 0.2, color: 'orange' }, { value: 0.5, color: 'red' }] },
        ),
      ],
    },
    {
      title: 'Trend',
      panels: [
        {
          kind: 'timeseries',
          title: 'Spend trend vs previous period',
          description: `The previous period is shifted forward by the range length so the two line up. ${ESTIMATE}`,
          unit: 'currencyUSD',
          width: 16,
          height: 8,
          targets: [
            {
              kind: 'clickhouse',
              format: 'time_series',
              rawSql:
                `SELECT ${bucket(`hour + if(hour < $__fromTime, ${RANGE_SECONDS}, 0)`, 3600)} AS time,\n` +
                `  if(hour < $__fromTime, 'previous period', 'this period') AS period, ${SPEND} AS spend_usd\n` +
                `FROM usage_hour\nWHERE ${HOURS_WITH_PREVIOUS}\nGROUP BY time, period\nORDER BY time, period`,
            },
          ],
        },
        {
          kind: 'bargauge',
          title: 'GB-s vs requests share of spend',
          description: ESTIMATE,
          unit: 'percentunit',
          min: 0,
          max: 1,
          width: 8,
          height: 8,
          targets: [
            {
              kind: 'clickhouse',
              format: 'table',
              rawSql:
                `SELECT tupleElement(p, 1) AS part, tupleElement(p, 2) / greatest(compute_usd + requests_usd, 1e-12) AS share\nFROM (\n` +
                `  SELECT compute_usd, requests_usd, arrayJoin([('compute (GB-s)', compute_usd), ('requests', requests_usd)]) AS p\n` +
                `  FROM (\n    SELECT ${COMPUTE_USD} AS compute_usd, ${REQUESTS_USD} AS requests_usd\n    FROM usage_hour\n    WHERE ${HOURS}\n  )\n)\nORDER BY part`,
            },
          ],
        },
      ],
    },
    {
      title: 'Who spends',
      panels: [
        {
          kind: 'bargauge',
          title: 'Top spenders (tenant / function)',
          description: ESTIMATE,
          unit: 'currencyUSD',
          decimals: 2,
          width: 10,
          height: 9,
          targets: [
            {
              kind: 'clickhouse',
              format: 'table',
              rawSql:
                `SELECT concat(tenant, ' / ', function) AS spender, ${SPEND} AS spend_usd\n` +
                `FROM usage_hour\nWHERE ${HOURS}\nGROUP BY spender\nORDER BY spend_usd DESC, spender\nLIMIT 10`,
            },
          ],
        },
        {
          kind: 'table',
          title: 'Spend per tenant and function',
          description: ESTIMATE,
          width: 14,
          height: 9,
          columnUnits: { requests_usd: 'currencyUSD', compute_usd: 'currencyUSD', spend_usd: 'currencyUSD' },
          targets: [
            {
              kind: 'clickhouse',
              format: 'table',
              rawSql:
                `SELECT tenant, function, sum(calls) AS requests, ${GB_SECONDS} AS gb_seconds,\n` +
                `  ${REQUESTS_USD} AS requests_usd, ${COMPUTE_USD} AS compute_usd, requests_usd + compute_usd AS spend_usd\n` +
                `FROM usage_hour\nWHERE ${HOURS}\nGROUP BY tenant, function\nORDER BY spend_usd DESC, tenant, function`,
            },
          ],
        },
      ],
    },
    {
      title: 'Free allowance',
      panels: [
        {
          kind: 'bargauge',
          title: 'Free allowance used this month',
          description:
            `Share of the monthly free allowance (${LIST_PRICES.freeRequests} requests, ${LIST_PRICES.freeGbSeconds} GB-s on the default plan) ` +
            'used by the calls of the calendar month (UTC) of the range end, up to its last day, per tenant. The function and revision ' +
            'filters do not apply: the allowance is per tenant. Late calls billed on a later statement count in the month they ran.',
          unit: 'percentunit',
          min: 0,
          max: 1,
          thresholds: [{ value: null, color: 'green' }, { value: 0.8, color: 'orange' }, { value: 1, color: 'red' }],
          width: 24,
          height: 8,
          targets: [
            {
              kind: 'clickhouse',
              format: 'table',
              rawSql:
                `SELECT concat(tenant, ' ', tupleElement(p, 1)) AS allowance, tupleElement(p, 2) AS used\nFROM (\n` +
                `  SELECT tenant, arrayJoin([('requests', requests / ${LIST_PRICES.freeRequests}), ('GB-s', gb_seconds / ${LIST_PRICES.freeGbSeconds})]) AS p\n` +
                `  FROM (\n    SELECT tenant, sum(calls) AS requests, ${GB_SECONDS} AS gb_seconds\n    FROM usage_day\n` +
                `    WHERE day >= toStartOfMonth(toDate($__toTime)) AND day <= toDate($__toTime) AND ${matchVar('tenant', 'tenant')}\n    GROUP BY tenant\n  )\n)\nORDER BY allowance`,
            },
          ],
        },
      ],
    },
  ],
};
