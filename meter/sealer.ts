import type { ClickHouse } from '../clickhouse/client.ts';
import { sql, v } from '../clickhouse/sql.ts';
import type { Component, Health } from '../common/component.ts';
import type { Logger } from '../common/log.ts';

const HOUR_S = 3_600;

/**
 * Rows written this long before a seal started may still have been committing while it ran.
 * Above any single write's duration (the client's request timeout is 30 s).
 */
export const SEAL_MARGIN_MS = 3 * 60_000;

/**
 * Hours written to without a seal that started more than the margin after the last write:
 * their seal (if any) may miss rows, so readers take their raw calls, deduplicated, until a seal
 * catches up. Every other hour's newest seal holds all its rows. Both tables hold about one row
 * per hour, so this is cheap.
 */
export async function dirtyHours(ch: ClickHouse, options: { upToHour?: number; marginMs?: number } = {}): Promise<number[]> {
  const marginMs = options.marginMs ?? SEAL_MARGIN_MS;
  const upTo = options.upToHour === undefined ? sql`1` : sql`hour <= ${v.dateTime(options.upToHour)}`;
  const [written, sealed] = await Promise.all([
    ch.query<{ h: string | number; last: string }>(
      sql`SELECT toUInt32(hour) AS h, max(written_ms) AS last FROM written_hours WHERE ${upTo} GROUP BY hour`,
    ),
    ch.query<{ h: string | number; last: string }>(
      sql`SELECT toUInt32(hour) AS h, max(sealed_ms) AS last FROM sealed_hours WHERE ${upTo} GROUP BY hour`,
    ),
  ]);
  const lastSeal = new Map(sealed.map((r) => [Number(r.h), Number(r.last)]));
  return written
    .filter((r) => {
      const seal = lastSeal.get(Number(r.h));
      return seal === undefined || seal <= Number(r.last) + marginMs;
    })
    .map((r) => Number(r.h))
    .sort((a, b) => a - b);
}

export interface SealOptions {
  /** The seal's time: which hours are finished, and the seal's stamp (tests stamp one later). */
  nowMs?: number;
  /** An hour is sealed only this long after it ended, so calls still in flight can land first. */
  settleMs?: number;
  /** An hour written to within this margin of its last seal is sealed again. */
  marginMs?: number;
}

/**
 * Seals every finished hour that has no seal yet or has been written to since (within the
 * margin): one row per event id, aggregated per tenant, period and architecture. Sealing is
 * idempotent and safe from several meters at once: each seal recomputes the hour from the data
 * and the newest replaces the others.
 */
export async function sealHours(ch: ClickHouse, options: SealOptions = {}): Promise<number[]> {
  const nowMs = options.nowMs ?? Date.now();
  const settleMs = options.settleMs ?? 2 * 60_000;
  const marginMs = options.marginMs ?? SEAL_MARGIN_MS;
  const lastFinished = Math.floor((nowMs - settleMs) / 1000 / HOUR_S) * HOUR_S - HOUR_S;
  const hours = await dirtyHours(ch, { upToHour: lastFinished, marginMs });
  for (const hour of hours) await sealHour(ch, hour, options.nowMs ?? Date.now());
  return hours;
}

async function sealHour(ch: ClickHouse, hour: number, sealedMs: number): Promise<void> {
  await ch.command(
    sql`INSERT INTO billing_hours
        SELECT tenant, hour, billing_period, usage_period, arch,
               count() AS calls, sum(b) AS billed_ms, sum(m) AS mb_ms, sum(ib) AS init_billed_ms, sum(im) AS init_mb_ms,
               ${v.uint64(sealedMs)} AS sealed_ms
        FROM (
            SELECT tenant, hour, event_id,
                   any(billing_period) AS billing_period, any(usage_period) AS usage_period, any(arch) AS arch,
                   any(billed_ms) AS b, any(mb_ms) AS m, any(init_billed_ms) AS ib, any(init_mb_ms) AS im
            FROM billed_calls
            WHERE hour = ${v.dateTime(hour)}
            GROUP BY tenant, hour, event_id
        )
        GROUP BY tenant, hour, billing_period, usage_period, arch`,
  );
  // The marker comes last: an hour whose seal was interrupted is still read from raw calls.
  await ch.insert('sealed_hours', [{ hour, sealed_ms: sealedMs }]);
}

/** Runs the sealer on an interval inside the meter; failures are retried on the next tick. */
export function createSealer(ch: ClickHouse, log: Logger, intervalMs: number): Component {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let health: Health = { status: 'ok' };
  const tick = () => {
    running = sealHours(ch).then(
      (hours) => {
        health = { status: 'ok' };
        if (hours.length > 0) log.info({ hours: hours.length }, 'sealed billing hours');
      },
      (error: unknown) => {
        health = { status: 'degraded', detail: `sealing failed: ${(error as Error).message}` };
        log.warn({ err: (error as Error).message }, 'sealing billing hours failed; retrying next tick');
      },
    );
  };
  return {
    name: 'sealer',
    start: () => {
      timer = setInterval(tick, intervalMs);
      timer.unref();
      return Promise.resolve();
    },
    stop: async () => {
      if (timer) clearInterval(timer);
      await running;
    },
    health: () => health,
  };
}
