/**
 * Deterministic demo data for the dashboard preview: billed_calls rows (the materialized views
 * fill every rollup from them) and Prometheus samples for the health dashboard. A seeded PRNG
 * makes every run draw the same story:
 *  - three tenants, five functions with a daily traffic curve and revisions rolled out over time;
 *  - resize-image on arm64 starts slowly (a JVM), its revision v3 halves the init time;
 *  - checkout has an error burst; report-pdf is configured far above what it uses (a saving);
 *    send-email runs close to its memory limit (needs more).
 */

import { seededRandom } from '../common/random.ts';
import type { BilledCallRow } from '../meter/rows.ts';

export type { BilledCallRow };

interface FunctionSpec {
  tenant: string;
  name: string;
  arch: 'x86_64' | 'arm64';
  memoryMb: number;
  /** Calls per minute at the daily peak. */
  peakPerMinute: number;
  /** Median duration (ms) and spread factor of a log-normal-ish draw. */
  durationMs: number;
  spread: number;
  errorRate: number;
  /** Chance a call lands on a fresh instance. */
  coldRate: number;
  /** Median init (ms) per revision; later revisions roll out over the window. */
  initMs: Record<string, number>;
  usedMb: [min: number, max: number];
}

const FUNCTIONS: FunctionSpec[] = [
  { tenant: 'acme', name: 'checkout', arch: 'x86_64', memoryMb: 512, peakPerMinute: 12, durationMs: 120, spread: 0.6, errorRate: 0.01, coldRate: 0.02, initMs: { v41: 650, v42: 600 }, usedMb: [180, 260] },
  { tenant: 'acme', name: 'resize-image', arch: 'arm64', memoryMb: 1024, peakPerMinute: 6, durationMs: 900, spread: 0.5, errorRate: 0.003, coldRate: 0.06, initMs: { v2: 3200, v3: 1500 }, usedMb: [520, 700] },
  { tenant: 'globex', name: 'report-pdf', arch: 'x86_64', memoryMb: 3008, peakPerMinute: 2, durationMs: 2400, spread: 0.4, errorRate: 0.02, coldRate: 0.1, initMs: { r7: 1200 }, usedMb: [420, 610] },
  { tenant: 'globex', name: 'send-email', arch: 'arm64', memoryMb: 128, peakPerMinute: 8, durationMs: 60, spread: 0.5, errorRate: 0.004, coldRate: 0.03, initMs: { '2024.1': 250 }, usedMb: [95, 124] },
  { tenant: 'initech', name: 'auth', arch: 'x86_64', memoryMb: 256, peakPerMinute: 10, durationMs: 25, spread: 0.5, errorRate: 0.002, coldRate: 0.015, initMs: { a: 180, b: 160 }, usedMb: [90, 140] },
];

const periodOf = (ms: number) => new Date(ms).toISOString().slice(0, 7);

/** Calls for [fromMs, toMs), minute by minute; `scale` thins the traffic. */
export function demoCalls(fromMs: number, toMs: number, seed = 42, scale = 1): BilledCallRow[] {
  const rand = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const rows: BilledCallRow[] = [];
  let n = 0;
  const start = Math.floor(fromMs / 60_000) * 60_000;
  for (let minute = start; minute < toMs; minute += 60_000) {
    const hourOfDay = new Date(minute).getUTCHours() + new Date(minute).getUTCMinutes() / 60;
    const daily = 0.35 + 0.65 * Math.max(0, Math.sin(((hourOfDay - 6) / 24) * 2 * Math.PI));
    const progress = (minute - start) / Math.max(toMs - start, 1);
    for (const f of FUNCTIONS) {
      const revisions = Object.keys(f.initMs);
      const expected = f.peakPerMinute * daily * scale;
      const count = Math.floor(expected + rand());
      const burst = f.name === 'checkout' && progress > 0.8 && progress < 0.83;
      for (let i = 0; i < count; i++) {
        const startMs = minute + Math.floor(rand() * 60_000);
        if (startMs >= toMs) continue;
        // The newest revision takes over during the second half of the window.
        const revision = revisions.length > 1 && rand() < Math.min(1, Math.max(0, (progress - 0.4) * 3)) ? revisions.at(-1)! : revisions[0]!;
        const cold = rand() < f.coldRate ? 1 : 0;
        const durationUs = Math.max(1_000, Math.round(f.durationMs * Math.exp(f.spread * normal()) * 1000));
        const initUs = cold ? Math.max(50_000, Math.round(f.initMs[revision]! * Math.exp(0.3 * normal()) * 1000)) : 0;
        const waitUs = cold ? Math.round(initUs * (0.6 + 0.35 * rand())) : 0;
        const error = rand() < (burst ? 0.25 : f.errorRate) ? 1 : 0;
        const timeout = !error && rand() < f.errorRate / 10 ? 1 : 0;
        const billedMs = Math.ceil(durationUs / 1000);
        const initBilledMs = cold ? Math.ceil(initUs / 1000) : 0;
        const used = Math.round(f.usedMb[0] + (f.usedMb[1] - f.usedMb[0]) * rand() ** 3);
        n += 1;
        rows.push({
          event_id: `demo-${seed}-${n}`,
          tenant: f.tenant,
          function: f.name,
          revision,
          instance: `${f.name}-${revision}-${cold ? n.toString(36) : Math.floor(rand() * 6).toString(36)}`,
          arch: f.arch,
          plan: 'aws-lambda-us-east-1',
          hour: Math.floor(startMs / 3_600_000) * 3_600,
          start_ms: startMs,
          usage_period: periodOf(startMs),
          billing_period: periodOf(startMs),
          memory_mb: f.memoryMb,
          duration_us: durationUs,
          billed_ms: billedMs,
          mb_ms: billedMs * f.memoryMb,
          cold,
          init_duration_us: initUs,
          init_billed_ms: initBilledMs,
          init_mb_ms: initBilledMs * f.memoryMb,
          wait_us: waitUs,
          error,
          timeout,
          max_memory_used_mb: used,
          written_ms: startMs + 2_000,
        });
      }
    }
  }
  return rows;
}

/**
 * Prometheus samples for the health dashboard, as OpenMetrics text for
 * `promtool tsdb create-blocks-from openmetrics`: counters, gauges and histograms every `stepS`
 * seconds over [fromS, toS], including a Kafka outage (spool grows, lag climbs, then drains).
 */
export function demoOpenMetrics(fromS: number, toS: number, stepS = 15, seed = 7): string {
  const rand = seededRandom(seed);
  const families = new Map<string, { type: string; lines: string[] }>();
  const sample = (family: string, type: string, name: string, labels: Record<string, string>, value: number, t: number) => {
    let fam = families.get(family);
    if (!fam) families.set(family, (fam = { type, lines: [] }));
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    fam.lines.push(`${name}{${l}} ${Number.isInteger(value) ? value : value.toFixed(6)} ${t}`);
  };
  const counters = new Map<string, number>();
  const bump = (key: string, by: number) => {
    const v = (counters.get(key) ?? 0) + by;
    counters.set(key, v);
    return v;
  };
  const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  const histogram = (family: string, labels: Record<string, string>, observations: number[], t: number) => {
    const key = `${family}${JSON.stringify(labels)}`;
    for (const le of BUCKETS) bump(`${key}le${le}`, observations.filter((o) => o <= le).length);
    bump(`${key}+Inf`, observations.length);
    bump(`${key}sum`, observations.reduce((a, b) => a + b, 0));
    for (const le of BUCKETS) sample(family, 'histogram', `${family}_bucket`, { ...labels, le: String(le) }, counters.get(`${key}le${le}`)!, t);
    sample(family, 'histogram', `${family}_bucket`, { ...labels, le: '+Inf' }, counters.get(`${key}+Inf`)!, t);
    sample(family, 'histogram', `${family}_sum`, labels, counters.get(`${key}sum`)!, t);
    sample(family, 'histogram', `${family}_count`, labels, counters.get(`${key}+Inf`)!, t);
  };
  const collectors = ['10.0.1.11:9464', '10.0.1.12:9464'];
  const span = toS - fromS;
  let spool = 0;
  let lag = 0;
  for (let t = fromS; t <= toS; t += stepS) {
    const p = (t - fromS) / span;
    const outage = p > 0.55 && p < 0.65;
    const draining = p >= 0.65 && spool > 0;
    const job = (name: string) => ({ job: name });
    for (const [jobName, instance] of [
      ['faasmeter-collector', collectors[0]!],
      ['faasmeter-collector', collectors[1]!],
      ['faasmeter-meter', '10.0.2.21:9464'],
      ['faasmeter-api', '10.0.3.31:9464'],
      ['faasmeter-proxy', '10.0.4.41:9464'],
    ] as const) {
      sample('up', 'gauge', 'up', { ...job(jobName), instance }, 1, t);
    }
    for (const instance of collectors) {
      const labels = { job: 'faasmeter-collector', instance };
      const events = Math.round(stepS * (40 + 20 * rand()));
      if (outage) {
        spool += events * 420;
        sample('faasmeter_collector_events_spooled', 'counter', 'faasmeter_collector_events_spooled_total', labels, bump(`spooled${instance}`, events), t);
        sample('faasmeter_collector_send_errors', 'counter', 'faasmeter_collector_send_errors_total', labels, bump(`senderr${instance}`, Math.round(stepS / 5)), t);
      } else {
        sample('faasmeter_collector_events_spooled', 'counter', 'faasmeter_collector_events_spooled_total', labels, bump(`spooled${instance}`, 0), t);
        sample('faasmeter_collector_send_errors', 'counter', 'faasmeter_collector_send_errors_total', labels, bump(`senderr${instance}`, 0), t);
        for (const topic of ['faasmeter.invocations.v1', 'faasmeter.lifecycle.v1', 'faasmeter.resources.v1']) {
          const share = topic.includes('invocations') ? 1 : topic.includes('lifecycle') ? 0.05 : 0.3;
          const resend = draining ? 1.8 : 1;
          sample('faasmeter_collector_events_sent', 'counter', 'faasmeter_collector_events_sent_total', { ...labels, topic }, bump(`sent${instance}${topic}`, Math.round(events * share * resend)), t);
        }
        histogram('faasmeter_collector_send_seconds', labels, [0.004 + 0.01 * rand(), 0.006 + 0.02 * rand(), 0.003 + 0.004 * rand()], t);
      }
      const dropped = p > 0.62 && p < 0.63 ? 3 : 0;
      sample('faasmeter_collector_dropped', 'counter', 'faasmeter_collector_dropped_total', { ...labels, reason: 'spool_full' }, bump(`drop${instance}`, dropped), t);
      sample('faasmeter_collector_spool_bytes', 'gauge', 'faasmeter_collector_spool_bytes', labels, Math.round(spool / 2), t);
    }
    if (draining) spool = Math.max(0, spool - 60_000 * stepS);
    lag = outage ? Math.max(0, lag - 50) : draining ? lag + 900 * stepS * rand() : Math.max(0, lag * 0.5 + 40 * rand());
    const meter = { job: 'faasmeter-meter', instance: '10.0.2.21:9464' };
    for (const partition of ['0', '1', '2']) {
      sample('faasmeter_meter_consumer_lag', 'gauge', 'faasmeter_meter_consumer_lag', { ...meter, topic: 'faasmeter.invocations.v1', partition }, Math.round(lag / 3 + 10 * rand()), t);
    }
    const records = outage ? 0 : Math.round(stepS * (80 + 30 * rand()) * (draining ? 1.8 : 1));
    sample('faasmeter_meter_records', 'counter', 'faasmeter_meter_records_total', { ...meter, topic: 'faasmeter.invocations.v1' }, bump('records', records), t);
    sample('faasmeter_meter_calls_billed', 'counter', 'faasmeter_meter_calls_billed_total', meter, bump('billed', Math.round(records * 0.97)), t);
    sample('faasmeter_meter_duplicates_suppressed', 'counter', 'faasmeter_meter_duplicates_suppressed_total', meter, bump('dups', draining ? Math.round(records * 0.03) : 0), t);
    sample('faasmeter_meter_late_calls', 'counter', 'faasmeter_meter_late_calls_total', meter, bump('late', rand() < 0.05 ? 1 : 0), t);
    sample('faasmeter_meter_deadletters', 'counter', 'faasmeter_meter_deadletters_total', { ...meter, reason: 'invalid_event' }, bump('dl', rand() < 0.1 ? 1 : 0), t);
    sample('faasmeter_meter_insert_failures', 'counter', 'faasmeter_meter_insert_failures_total', meter, bump('insfail', p > 0.3 && p < 0.31 ? 2 : 0), t);
    histogram('faasmeter_meter_insert_seconds', meter, [0.02 + 0.03 * rand(), 0.03 + 0.05 * rand(), 0.05 + 0.2 * rand() * (draining ? 3 : 1)], t);
    histogram('faasmeter_meter_batch_records', meter, [Math.round(200 + 300 * rand())], t);
    const proxy = { job: 'faasmeter-proxy', instance: '10.0.4.41:9464' };
    for (const fn of ['checkout', 'resize-image']) {
      sample('faasmeter_proxy_queue_depth', 'gauge', 'faasmeter_proxy_queue_depth', { ...proxy, faas_name: fn }, Math.floor(rand() * (fn === 'resize-image' ? 6 : 2)), t);
    }
    sample('faasmeter_proxy_rejected', 'counter', 'faasmeter_proxy_rejected_total', { ...proxy, reason: 'queue_full' }, bump('rej', rand() < 0.08 ? 1 : 0), t);
  }
  const out: string[] = [];
  for (const [family, { type, lines }] of families) {
    out.push(`# TYPE ${family} ${type}`);
    out.push(...lines);
  }
  out.push('# EOF');
  return `${out.join('\n')}\n`;
}
