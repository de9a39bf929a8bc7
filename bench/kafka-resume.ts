/**
 * How long after a Kafka outage the meter bills again, per consumer session timeout.
 *
 *   npx node bench/kafka-resume.ts [--outage-s 90] [--sessions 30000,10000]
 *
 * For each session timeout: a private Kafka node, a real `faasmeter meter` process on it (fresh
 * ClickHouse database from the local stack) and, once the meter is ready, the broker stopped for
 * the outage and started again. The figure is the time from the broker answering again to the
 * meter's /readyz turning 200 (its consumer has rejoined the group and holds partitions). An
 * outage longer than the Kafka client's reconnect retries (about a minute) makes the meter
 * rejoin as a new member, which the broker admits once the old member's session expired.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultTopics, ensureTopics } from '../kafka/topics.ts';
import { migratedDatabase } from '../test/helpers/clickhouse.ts';
import { TEST_PRICING } from '../test/helpers/meter-fixtures.ts';
import { startMeterProcess, writeJson } from '../test/helpers/meter-process.ts';
import { createPrivateKafka } from '../test/helpers/private-kafka.ts';
import { recordResults } from './results.ts';

const { values } = parseArgs({ options: { 'outage-s': { type: 'string', default: '90' }, sessions: { type: 'string', default: '30000,10000' } } });
const outageMs = Number(values['outage-s']) * 1000;
const sessions = values.sessions.split(',').map(Number);
if (!(outageMs > 0) || sessions.some((s) => !Number.isInteger(s) || s < 6_000)) {
  console.error('--outage-s must be positive and --sessions a comma-separated list of milliseconds ≥ 6000');
  process.exit(2);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function resumeAfterOutage(sessionMs: number): Promise<{ outageMs: number; resumeMs: number }> {
  const kafka = await createPrivateKafka();
  const dir = mkdtempSync(join(tmpdir(), 'faasmeter-kafka-resume-'));
  try {
    await kafka.start();
    const prefix = `resume${Date.now().toString(36)}.`;
    await ensureTopics(kafka.client(), defaultTopics(3, prefix));
    const { database, ch } = await migratedDatabase('bench_resume');
    await ch.close();
    const meter = await startMeterProcess({
      FAASMETER_KAFKA_BROKERS: kafka.brokers.join(','),
      FAASMETER_TOPIC_PREFIX: prefix,
      FAASMETER_METER_GROUP: `${prefix}meter`,
      FAASMETER_CLICKHOUSE_DATABASE: database,
      FAASMETER_PRICING_FILE: writeJson(dir, 'plans.json', TEST_PRICING),
      FAASMETER_KAFKA_SESSION_TIMEOUT_MS: String(sessionMs),
    });
    const ready = async () => (await fetch(`${meter.opsUrl}/readyz`).catch(() => undefined))?.status === 200;
    const untilReady = async (limitMs: number) => {
      const from = Date.now();
      while (!(await ready())) {
        if (Date.now() - from > limitMs) throw new Error(`meter not ready within ${limitMs} ms; its output:\n${meter.output().slice(-3_000)}`);
        await sleep(100);
      }
    };
    try {
      await untilReady(90_000);
      const stoppedAt = Date.now();
      await kafka.stop();
      await sleep(outageMs);
      await kafka.start();
      const backAt = Date.now();
      await untilReady(sessionMs + 120_000);
      return { outageMs: backAt - stoppedAt, resumeMs: Date.now() - backAt };
    } finally {
      await meter.kill('SIGTERM');
    }
  } finally {
    await kafka.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: string[] = [];
for (const sessionMs of sessions) {
  const { outageMs: outage, resumeMs } = await resumeAfterOutage(sessionMs);
  console.log(`session ${sessionMs} ms: broker away ${(outage / 1000).toFixed(1)} s, meter ready again ${(resumeMs / 1000).toFixed(1)} s after the broker`);
  rows.push(`| ${sessionMs.toLocaleString('en-US')} ms | ${(outage / 1000).toFixed(1)} s | ${(resumeMs / 1000).toFixed(1)} s |`);
}
const body = [
  'A private Kafka node is stopped under a ready `faasmeter meter` and started again; the figure is the time from the broker answering to the meter\'s /readyz turning 200 (consumer rejoined, partitions assigned).',
  '',
  '| FAASMETER_KAFKA_SESSION_TIMEOUT_MS | broker away | meter ready again after the broker |',
  '| --- | --- | --- |',
  ...rows,
].join('\n');
console.log(`\n${body}\n`);
recordResults({ title: 'Meter resuming after a Kafka outage, by session timeout', body });
process.exit(0);
