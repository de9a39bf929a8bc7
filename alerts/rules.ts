/**
 * The Prometheus alerting rules, as functions of the thresholds. Metric names are the exposed
 * ones (the sidecar proxy's OpenTelemetry FaaS metrics and faasmeter's own, see
 * collector/proxy/metrics.ts and common/telemetry.ts).
 *
 * Conventions every rule follows (test/alerts/run.sh checks them with promtool):
 *  - labels: severity; annotations: summary, description with the measured value, runbook_url;
 *  - per-function alerts aggregate `by (faas_name)`: one alert per function, not per pod;
 *  - ratios carry a minimum-traffic guard, so one failed call of an idle function is not 100 %;
 *  - counters that only appear after their first increment (OpenTelemetry exports a series once
 *    it is recorded) are added with `or 0 * <calls>`, so a missing one counts as zero instead of
 *    emptying the sum.
 */
import { stringify } from 'yaml';
import type { Thresholds } from './thresholds.ts';

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: string };
  annotations: { summary: string; description: string; runbook_url: string };
}

export interface RuleGroup {
  name: string;
  /** Evaluation interval; Prometheus' global one when absent. */
  interval?: string;
  rules: AlertRule[];
}

const percent = (ratio: number) => `${+(ratio * 100).toFixed(4)}%`;

/** The alert names in the order the rule file lists them. */
export const ALERT_NAMES = [
  'FaasColdStartLatencyHigh',
  'FaasColdStartRatioHigh',
  'FaasErrorRatioHigh',
  'FaasmeterMeterLagHigh',
  'FaasmeterDeadLetters',
  'FaasmeterCollectorSpoolGrowing',
  'FaasmeterCollectorDropping',
  'FaasmeterInsertFailures',
  'FaasmeterTargetDown',
] as const;
export type AlertName = (typeof ALERT_NAMES)[number];

export function buildRuleGroups(t: Thresholds, options: { interval?: string } = {}): RuleGroup[] {
  const runbook = (name: AlertName) => `${t.runbookBaseUrl.replace(/\/+$/, '')}/${name}.md`;
  const rule = (alert: AlertName, expr: string, forDuration: string, severity: string, summary: string, description: string): AlertRule => ({
    alert,
    expr,
    for: forDuration,
    labels: { severity },
    annotations: { summary, description, runbook_url: runbook(alert) },
  });
  const group = (name: string, rules: AlertRule[]): RuleGroup => (options.interval ? { name, interval: options.interval, rules } : { name, rules });

  const cs = t.coldStartLatency;
  const cr = t.coldStartRatio;
  const er = t.errorRatio;
  const callRate = (window: string) => `sum by (faas_name) (rate(faas_invocations_total[${window}]))`;

  return [
    group('faasmeter.functions', [
      rule(
        'FaasColdStartLatencyHigh',
        `histogram_quantile(0.95, sum by (faas_name, le) (rate(faas_init_duration_seconds_bucket[${cs.window}]))) > ${cs.p95Seconds}`,
        cs.for,
        cs.severity,
        'Cold starts of {{ $labels.faas_name }} are slow',
        `95th percentile cold-start (init) duration of {{ $labels.faas_name }} is {{ $value | humanizeDuration }} over the last ${cs.window} (threshold ${cs.p95Seconds}s).`,
      ),
      rule(
        'FaasColdStartRatioHigh',
        `(\n  sum by (faas_name) (rate(faas_coldstarts_total[${cr.window}]))\n/\n  ${callRate(cr.window)}\n) > ${cr.ratio}\n` +
          `and\n${callRate(cr.window)} > ${cr.minCallsPerSecond}`,
        cr.for,
        cr.severity,
        'Many calls to {{ $labels.faas_name }} hit a cold start',
        `{{ $value | humanizePercentage }} of calls to {{ $labels.faas_name }} were cold starts over the last ${cr.window} (threshold ${percent(cr.ratio)}).`,
      ),
      rule(
        'FaasErrorRatioHigh',
        `(\n  (sum by (faas_name) (rate(faas_errors_total[${er.window}])) or 0 * ${callRate(er.window)})\n` +
          `  +\n  (sum by (faas_name) (rate(faas_timeouts_total[${er.window}])) or 0 * ${callRate(er.window)})\n` +
          `) / ${callRate(er.window)} > ${er.ratio}\n` +
          `and\n${callRate(er.window)} > ${er.minCallsPerSecond}`,
        er.for,
        er.severity,
        'Calls to {{ $labels.faas_name }} are failing',
        `{{ $value | humanizePercentage }} of calls to {{ $labels.faas_name }} ended in an error or timeout over the last ${er.window} (threshold ${percent(er.ratio)}).`,
      ),
    ]),
    group('faasmeter.pipeline', [
      rule(
        'FaasmeterMeterLagHigh',
        `sum by (topic) (max by (topic, partition) (faasmeter_meter_consumer_lag)) > ${t.meterLag.records}`,
        t.meterLag.for,
        t.meterLag.severity,
        'The meter is falling behind on {{ $labels.topic }}',
        `The meter's consumer group is {{ $value | humanize }} records behind on {{ $labels.topic }} (threshold ${t.meterLag.records}); dashboards and statements are late by as much.`,
      ),
      rule(
        'FaasmeterDeadLetters',
        `sum by (reason) (rate(faasmeter_meter_deadletters_total[${t.deadLetters.window}])) > ${t.deadLetters.perSecond}`,
        t.deadLetters.for,
        t.deadLetters.severity,
        'The meter is dead-lettering events ({{ $labels.reason }})',
        `{{ printf "%.3g" $value }} events/s went to the dead-letter topic with reason {{ $labels.reason }} over the last ${t.deadLetters.window} (threshold ${t.deadLetters.perSecond}/s); they are not billed until replayed.`,
      ),
      rule(
        'FaasmeterCollectorSpoolGrowing',
        `faasmeter_collector_spool_bytes > ${t.collectorSpool.minBytes}\nand\nderiv(faasmeter_collector_spool_bytes[${t.collectorSpool.window}]) > 0`,
        t.collectorSpool.for,
        t.collectorSpool.severity,
        'Collector {{ $labels.instance }} is spooling to disk',
        `Collector {{ $labels.instance }} ({{ $labels.job }}) holds {{ $value | humanize1024 }}B of events on disk and the spool has grown over the last ${t.collectorSpool.window}: events are not reaching Kafka.`,
      ),
      rule(
        'FaasmeterCollectorDropping',
        `sum by (job, instance, reason) (increase(faasmeter_collector_dropped_total[${t.collectorDrops.window}])) > 0`,
        t.collectorDrops.for,
        t.collectorDrops.severity,
        'Collector {{ $labels.instance }} is dropping events',
        `Collector {{ $labels.instance }} ({{ $labels.job }}) dropped about {{ printf "%.0f" $value }} events (reason {{ $labels.reason }}) over the last ${t.collectorDrops.window}; dropped events are lost for billing.`,
      ),
      rule(
        'FaasmeterInsertFailures',
        `sum by (job, instance) (rate(faasmeter_meter_insert_failures_total[${t.insertFailures.window}])) > ${t.insertFailures.perSecond}`,
        t.insertFailures.for,
        t.insertFailures.severity,
        'ClickHouse inserts from {{ $labels.instance }} are failing',
        `Meter {{ $labels.instance }} fails {{ printf "%.3g" $value }} ClickHouse inserts per second over the last ${t.insertFailures.window} (threshold ${t.insertFailures.perSecond}/s); offsets are not committed while inserts fail, so billing stalls.`,
      ),
      rule(
        'FaasmeterTargetDown',
        `up{job=~"${t.targetDown.jobRegex}"} == 0`,
        t.targetDown.for,
        t.targetDown.severity,
        '{{ $labels.job }} at {{ $labels.instance }} is down',
        `Prometheus has not scraped {{ $labels.job }} at {{ $labels.instance }} successfully for ${t.targetDown.for} (up = {{ $value }}).`,
      ),
    ]),
  ];
}

export const RULES_HEADER =
  '# Generated by alerts/generate.ts from alerts/thresholds.json; edit those, then run\n' +
  '#   npx node alerts/generate.ts\n' +
  '# Runbooks: docs/runbooks/<alert>.md. Thresholds: alerts/README.md.\n';

/** A Prometheus rule file. */
export function renderRuleFile(groups: RuleGroup[], header = RULES_HEADER): string {
  return header + stringify({ groups }, { lineWidth: 0 });
}
