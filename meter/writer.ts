import type { Meter } from '@opentelemetry/api';
import type { InvocationEvent, LifecycleEvent, ResourceEvent } from '../contract/index.ts';
import type { ClickHouse } from '../clickhouse/client.ts';
import { join, sql, v } from '../clickhouse/sql.ts';
import type { Health } from '../common/component.ts';
import type { Logger } from '../common/log.ts';
import type { BatchContext, ConsumedRecord } from '../kafka/consumer.ts';
import type { Plan, PricingConfig } from './pricing/index.ts';
import { meterCall, planFor } from './pricing/index.ts';
import { ClosedPeriods, periodOf } from './periods.ts';
import type { DeadLetter } from './pipeline.ts';
import { decodeRecord } from './pipeline.ts';
import type { BilledCallRow } from './rows.ts';
import { billedCallRow, hourOfMs, invocationRawRow, lifecycleRow, resourceRow } from './rows.ts';

export interface WriterOptions {
  /** What happens to calls of tenants the pricing config does not list. */
  unknownTenants: 'deadletter' | 'default-plan';
  /** Ids per dedup look-up: keeps each statement well under the server's max_query_size. */
  lookupChunk?: number;
}

export interface WriterDeps {
  ch: ClickHouse;
  pricing: PricingConfig;
  sendDeadLetters: (letters: readonly DeadLetter[]) => Promise<void>;
  log: Logger;
  meter: Meter;
  now?: () => number;
  /** A write ClickHouse rejects as invalid is our bug: the process exits rather than loop on it. */
  onFatal?: (error: unknown) => void;
}

export interface BatchWriter {
  handle(records: ConsumedRecord[], context: BatchContext): Promise<void>;
  health(): Health;
}

/** Errors worth retrying: the server or network is away, not our statement being wrong. */
export function isTransient(error: unknown): boolean {
  const e = error as { code?: string; type?: string; message?: string; cause?: unknown };
  const text = `${e.code ?? ''} ${e.type ?? ''} ${e.message ?? ''}`;
  if (/ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|socket hang up|Timeout error|timed out|aborted|other side closed/i.test(text)) {
    return true;
  }
  // ClickHouse codes: 159 TIMEOUT_EXCEEDED, 164 READONLY, 202 TOO_MANY_SIMULTANEOUS_QUERIES,
  // 209 SOCKET_TIMEOUT, 210 NETWORK_ERROR, 241 MEMORY_LIMIT_EXCEEDED, 252 TOO_MANY_PARTS.
  if (/\b(159|164|202|209|210|241|252)\b/.test(String(e.code ?? ''))) return true;
  if (/Code: (159|164|202|209|210|241|252)\b/.test(e.message ?? '')) return true;
  return e.cause !== undefined && e.cause !== error ? isTransient(e.cause) : false;
}

const BACKOFF_MS = [200, 500, 1_000, 2_000, 5_000];
const LOOKUPS_AT_ONCE = 4;

/** The group is rebalancing or the consumer stopping: leave the batch uncommitted for its next owner. */
export class BatchAbandoned extends Error {
  override name = 'BatchAbandoned';
}

export function createBatchWriter(options: WriterOptions, deps: WriterDeps): BatchWriter {
  const { ch, pricing, log, meter } = deps;
  const now = deps.now ?? Date.now;
  const chunk = options.lookupChunk ?? 2_000;
  let health: Health = { status: 'ok' };

  const written = meter.createCounter('faasmeter_meter_calls_billed_total', { description: 'Calls billed (first time seen)' });
  const duplicates = meter.createCounter('faasmeter_meter_duplicates_suppressed_total', {
    description: 'Calls not billed again because their id was already billed',
  });
  const deadCounter = meter.createCounter('faasmeter_meter_deadletters_total', { description: 'Records dead-lettered, by reason' });
  const insertSeconds = meter.createHistogram('faasmeter_meter_insert_seconds', { description: 'ClickHouse write time per batch' });
  const insertFailures = meter.createCounter('faasmeter_meter_insert_failures_total', { description: 'Failed ClickHouse writes (retried)' });
  const lateCalls = meter.createCounter('faasmeter_meter_late_calls_total', {
    description: 'Calls for an already closed period, billed as adjustments',
  });

  async function closedPeriods(tenants: readonly string[]): Promise<ClosedPeriods> {
    if (tenants.length === 0) return new ClosedPeriods();
    const rows = await ch.query<{ tenant: string; period: string }>(
      sql`SELECT tenant, period FROM closed_periods WHERE tenant IN (${v.list('String', tenants)}) GROUP BY tenant, period`,
    );
    return new ClosedPeriods(rows);
  }

  async function alreadyBilled(calls: readonly InvocationEvent[]): Promise<Set<string>> {
    const seen = new Set<string>();
    const parts: InvocationEvent[][] = [];
    for (let i = 0; i < calls.length; i += chunk) parts.push(calls.slice(i, i + chunk));
    // A large batch needs many look-ups; run a few at once so a batch's write is not a queue of
    // round trips (the pipeline bench showed the meter idle while they ran one by one).
    let next = 0;
    const lookUp = async () => {
      while (next < parts.length) {
        const part = parts[next++]!;
        const tenants = [...new Set(part.map((c) => c.data.tenant))];
        const hours = [...new Set(part.map((c) => hourOfMs(c.data.startMs)))];
        const rows = await ch.query<{ event_id: string }>(
          sql`SELECT event_id FROM billed_calls
              WHERE tenant IN (${v.list('String', tenants)})
                AND hour IN (${join(hours.map((h) => v.dateTime(h)), ', ')})
                AND event_id IN (${v.list('String', part.map((c) => c.id))})`,
        );
        for (const r of rows) seen.add(r.event_id);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOOKUPS_AT_ONCE, parts.length) }, lookUp));
    return seen;
  }

  async function writeOnce(
    calls: readonly { event: InvocationEvent; record: ConsumedRecord; plan: string; planValue: Plan }[],
    lifecycles: readonly LifecycleEvent[],
    resources: readonly ResourceEvent[],
    heartbeat: () => Promise<void>,
  ): Promise<{ billed: number; duplicate: number; late: number }> {
    const receivedMs = now();
    const tenants = [...new Set(calls.map((c) => c.event.data.tenant))];
    const [closed, seen] = await Promise.all([closedPeriods(tenants), alreadyBilled(calls.map((c) => c.event))]);
    // Heartbeats between steps keep a slow batch inside the session timeout, and stop a meter
    // that lost the partition before its next write.
    await heartbeat();
    const fresh = calls.filter((c) => !seen.has(c.event.id));
    let late = 0;
    const billed: BilledCallRow[] = fresh.map((c) => {
      const usagePeriod = periodOf(c.event.data.startMs);
      const billingPeriod = closed.billingPeriodFor(c.event.data.tenant, usagePeriod);
      if (billingPeriod !== usagePeriod) late += 1;
      return billedCallRow(c.event, meterCall(c.planValue, c.event.data), {
        plan: c.plan,
        usagePeriod,
        billingPeriod,
        writtenMs: receivedMs,
      });
    });
    // Raw rows first: a crash between the two inserts re-runs the batch, the look-up finds no
    // billed line, and both are written again (the raw table collapses the repeat).
    if (fresh.length > 0) {
      // The sealer's to-do list goes before the billed lines, so a call can never land in an hour
      // it won't revisit; the two have no order between them, so they share one round trip.
      await Promise.all([
        ch.insert(
          'written_hours',
          [...new Set(billed.map((b) => b.hour))].map((hour) => ({ hour, written_ms: receivedMs })),
        ),
        ch.insert(
          'invocations_raw',
          fresh.map((c) => invocationRawRow(c.event, { receivedMs, partition: c.record.partition, offset: c.record.offset })),
        ),
      ]);
      await heartbeat();
      await ch.insert('billed_calls', billed);
    }
    if (lifecycles.length > 0) await ch.insert('lifecycle_events', lifecycles.map((e) => lifecycleRow(e, receivedMs)));
    if (resources.length > 0) await ch.insert('resource_samples', resources.map((e) => resourceRow(e, receivedMs)));
    return { billed: fresh.length, duplicate: calls.length - fresh.length, late };
  }

  async function handle(records: ConsumedRecord[], context: BatchContext): Promise<void> {
    const nowMs = now();
    const dead: DeadLetter[] = [];
    const byId = new Map<string, { event: InvocationEvent; record: ConsumedRecord; plan: string; planValue: Plan }>();
    const lifecycles: LifecycleEvent[] = [];
    const resources: ResourceEvent[] = [];
    let inBatchDuplicates = 0;
    for (const record of records) {
      const decoded = decodeRecord(record, nowMs);
      if (decoded.kind === 'dead') {
        dead.push(decoded.dead);
        continue;
      }
      const { event } = decoded;
      const tenant = event.data.tenant;
      const assigned = planFor(pricing, tenant);
      if (!assigned.listed && options.unknownTenants === 'deadletter') {
        dead.push({ record, reason: 'unknown_tenant', step: 'price', detail: `tenant "${tenant}" has no plan assigned` });
        continue;
      }
      if (event.type === 'dev.faasmeter.invocation.v1') {
        if (byId.has(event.id)) inBatchDuplicates += 1;
        else byId.set(event.id, { event, record, plan: assigned.planId, planValue: assigned.plan });
      } else if (event.type === 'dev.faasmeter.lifecycle.v1') {
        lifecycles.push(event);
      } else {
        resources.push(event);
      }
    }
    const calls = [...byId.values()];
    const heartbeat = async () => {
      try {
        await context.heartbeat();
      } catch (error) {
        throw new BatchAbandoned(`heartbeat failed: ${(error as Error).message}`);
      }
    };

    for (let attempt = 0; ; attempt += 1) {
      if (!context.active()) throw new BatchAbandoned('consumer stopping or partition revoked');
      // A rebalance makes this throw, so a meter that lost the partition never starts a write
      // for it; the in-flight write below is bounded by the client's request timeout.
      await heartbeat();
      const started = performance.now();
      try {
        const result = await writeOnce(calls, lifecycles, resources, heartbeat);
        insertSeconds.record((performance.now() - started) / 1000);
        written.add(result.billed);
        duplicates.add(result.duplicate + inBatchDuplicates);
        lateCalls.add(result.late);
        break;
      } catch (error) {
        if (error instanceof BatchAbandoned) throw error;
        insertFailures.add(1);
        if (!isTransient(error)) {
          health = { status: 'error', detail: 'fatal' };
          log.fatal({ err: error }, 'ClickHouse rejected a write that should be valid: this is a bug');
          deps.onFatal?.(error);
          throw error;
        }
        health = { status: 'error', detail: `ClickHouse unavailable: ${(error as Error).message}` };
        const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] ?? 5_000;
        log.warn({ err: (error as Error).message, attempt, delay }, 'ClickHouse write failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    health = { status: 'ok' };
    if (dead.length > 0) {
      await deps.sendDeadLetters(dead);
      for (const d of dead) deadCounter.add(1, { reason: d.reason });
    }
  }

  return { handle, health: () => health };
}
