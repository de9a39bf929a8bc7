import { performance } from 'node:perf_hooks';
import type { Meter } from '@opentelemetry/api';
import type { Component, Health } from '../../common/component.ts';
import type { Logger } from '../../common/log.ts';
import type { FaasEvent } from '../../contract/index.ts';
import { partitionKey, topicFor } from '../../contract/index.ts';
import { createKafka } from '../../kafka/client.ts';
import type { OutgoingRecord, RecordProducer } from '../../kafka/producer.ts';
import { createRecordProducer } from '../../kafka/producer.ts';
import type { DeliveryConfigInput } from './config.ts';
import { parseDeliveryConfig } from './config.ts';
import type { EventSink } from './sink.ts';
import type { SpoolBatch, SpoolLossReason, SpoolStats } from './spool.ts';
import { MAX_RECORD_BYTES, Spool } from './spool.ts';

/** Every way an event can fail to reach Kafka; each is a label of faasmeter_collector_dropped_total. */
export type DropReason =
  | SpoolLossReason
  /** Memory full (Kafka slow and the spool not keeping up, or the spool failing). */
  | 'buffer_full'
  | 'too_large'
  /** Not serialisable, or a type without a topic: a bug in the emitting part. */
  | 'invalid'
  /** Emitted after stop() began. */
  | 'stopped'
  /** Still in memory when stop() gave up waiting for Kafka and the spool. */
  | 'shutdown_timeout';

export type DeliveryState = 'new' | 'direct' | 'spooling' | 'stopping' | 'stopped';

export interface DeliveryStats {
  state: DeliveryState;
  /** In memory: neither acknowledged by Kafka nor spooled (what a crash would lose). */
  buffered: number;
  /** Taken from memory and being sent or written to the spool. */
  inFlight: number;
  /** Events of a timed-out send still retrying inside the client (they are spooled too). */
  unsettled: number;
  /** Events of timed-out sends that landed after all, so their spooled copies were not re-sent. */
  landedLate: number;
  /** Acknowledged by Kafka, directly or from the spool. */
  sent: number;
  replayed: number;
  spooled: number;
  dropped: Partial<Record<DropReason, number>>;
  sendErrors: number;
  spool: SpoolStats;
  lastError?: string;
}

export interface Delivery extends EventSink, Component {
  /** Resolves once everything emitted so far is acknowledged by Kafka, durably spooled, or counted as dropped. */
  flush(): Promise<void>;
  stats(): DeliveryStats;
}

export interface DeliveryDeps {
  log: Logger;
  meter: Meter;
  /** Tests inject a fake; by default a kafkajs producer (acks=all, gzip) for config.brokers. */
  producer?: RecordProducer;
}

const HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-type': 'application/cloudevents+json' });
/** Events per spool append: one write and one fdatasync each. */
const SPOOL_WRITE_MAX_EVENTS = 10_000;
const DROP_LOG_INTERVAL_MS = 10_000;
/** Health stays `error` this long after an overflow drop. */
const DROP_HEALTH_WINDOW_MS = 60_000;
const IDLE_WAIT_MS = 1_000;

interface Pending {
  seq: number;
  at: number;
  topic: string;
  key: string;
  value: Buffer;
  /** Written to the spool (set by the spool writer). */
  spooled?: boolean;
}

/**
 * A send we stopped waiting for at sendTimeoutMs. kafkajs keeps retrying it internally (its
 * metadata refresh has a retry budget of its own, and disconnect() does not cancel it), so it
 * may still land minutes later. Its events are in the spool by then; replay waits until the
 * attempt settles, and if it landed, acknowledges those spooled records instead of re-sending.
 */
interface Unsettled {
  since: number;
  settled: boolean;
  landed: boolean;
  records: OutgoingRecord[];
  /** A direct batch: its events went back to memory and from there to the spool head. */
  direct?: Pending[];
  /** A replay batch: still the spool's pending batch. */
  replay?: SpoolBatch;
}

class SendTimeoutError extends Error {
  override name = 'SendTimeoutError';
}

/** Wakes every waiting loop at once; a wait also ends after its timeout. */
class Signal {
  private waiters = new Set<() => void>();

  notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, Math.min(ms, IDLE_WAIT_MS)));
      this.waiters.add(wake);
    });
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Kafka first, the disk spool when Kafka is unreachable or slow, and back, without reordering:
 *
 * - `direct`: a sender loop takes batches from memory (batchMaxEvents, or older than lingerMs)
 *   and sends them, one batch in flight. A failed or timed-out send puts its batch back at the
 *   head of memory and switches to `spooling`.
 * - `spooling`: a spool-writer loop moves memory to the spool every lingerMs (one append and
 *   fdatasync per move), independently of Kafka, so a crash loses at most one linger of events
 *   even while sends hang. The sender loop replays the spool from its head, with back-off, and
 *   deletes only what Kafka acknowledged. New events keep going behind the spooled ones until
 *   the spool is empty and a send has succeeded; then `direct` again.
 */
export function createDelivery(input: DeliveryConfigInput, deps: DeliveryDeps): Delivery {
  const config = parseDeliveryConfig(input);
  const { log, meter } = deps;
  const producer =
    deps.producer ??
    // kafkajs keeps its own (longer) request timeouts: our sendTimeoutMs only decides when to
    // stop waiting and spool, and a request kafkajs timed out itself would be retried by it,
    // which can duplicate.
    createRecordProducer(createKafka({ brokers: config.brokers, clientId: config.clientId }, log), { compression: 'gzip' });

  const sentTotal = meter.createCounter('faasmeter_collector_events_sent_total', {
    description: 'Events acknowledged by Kafka, sent directly or replayed from the spool',
  });
  const spooledTotal = meter.createCounter('faasmeter_collector_events_spooled_total', {
    description: 'Events written to the disk spool because Kafka was unreachable or slow',
  });
  const droppedTotal = meter.createCounter('faasmeter_collector_dropped_total', {
    description: 'Events that will never reach Kafka, by reason',
  });
  const sendErrorsTotal = meter.createCounter('faasmeter_collector_send_errors_total', {
    description: 'Failed or timed-out Kafka sends (their events went to the spool)',
  });
  const sendSeconds = meter.createHistogram('faasmeter_collector_send_seconds', {
    description: 'Time per Kafka send, by result',
  });
  meter
    .createObservableGauge('faasmeter_collector_spool_bytes', { description: 'Bytes of spool segment files on disk' })
    .addCallback((r) => r.observe(spool?.stats().bytes ?? 0));
  meter
    .createObservableGauge('faasmeter_collector_spool_events', { description: 'Spooled events not yet acknowledged by Kafka' })
    .addCallback((r) => r.observe(spool?.stats().records ?? 0));
  meter
    .createObservableGauge('faasmeter_collector_buffer_events', {
      description: 'Events in memory, neither acknowledged by Kafka nor spooled (lost if the process crashes)',
    })
    .addCallback((r) => r.observe(buffer.length + inFlightCount()));

  let lifecycle: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  let mode: 'direct' | 'spooling' = 'direct';
  let spool: Spool | undefined;
  let loops: Promise<void> = Promise.resolve();
  const signal = new Signal();
  const buffer: Pending[] = [];
  const busy = new Set<Pending[]>();
  let nextSeq = 1;
  let flushUpTo = 0;
  const flushWaiters: { target: number; resolve: () => void }[] = [];
  let stopping = false;
  let closing = false;

  let connected = false;
  let connecting: Promise<void> | undefined;
  let lastSendOk = true;
  let lastError: string | undefined;
  let retryAt = 0;
  let retryMs = config.retryInitialMs;
  let spoolingSince = 0;
  let spoolWriting = false;
  let spoolError: string | undefined;
  let spoolRetryAt = 0;
  let spoolRetryMs = config.retryInitialMs;
  let replaying: { batch: SpoolBatch; records: OutgoingRecord[] } | undefined;
  let unsettled: Unsettled | undefined;

  const counts = { sent: 0, replayed: 0, spooled: 0, sendErrors: 0, landedLate: 0 };
  const dropped: Partial<Record<DropReason, number>> = {};
  const dropLog = new Map<DropReason, { since: number; unlogged: number; loggedAt: number }>();
  let lastOverflowAt = -Infinity;

  function setMode(next: 'direct' | 'spooling'): void {
    mode = next;
    spoolingSince = next === 'spooling' ? Date.now() : 0;
  }

  function drop(reason: DropReason, n: number, detail: Record<string, unknown> = {}): void {
    if (n <= 0) return;
    droppedTotal.add(n, { reason });
    dropped[reason] = (dropped[reason] ?? 0) + n;
    if (reason === 'buffer_full' || reason === 'spool_full') lastOverflowAt = Date.now();
    const now = Date.now();
    const entry = dropLog.get(reason) ?? { since: now, unlogged: 0, loggedAt: -Infinity };
    entry.unlogged += n;
    if (now - entry.loggedAt >= DROP_LOG_INTERVAL_MS) {
      log.warn({ reason, dropped: entry.unlogged, droppedTotal: dropped[reason], ...detail }, 'events dropped');
      entry.unlogged = 0;
      entry.loggedAt = now;
    }
    dropLog.set(reason, entry);
  }

  function logUnloggedDrops(): void {
    for (const [reason, entry] of dropLog) {
      if (entry.unlogged > 0) log.warn({ reason, dropped: entry.unlogged, droppedTotal: dropped[reason] }, 'events dropped');
      entry.unlogged = 0;
    }
  }

  function inFlightCount(): number {
    let n = 0;
    for (const b of busy) n += b.length;
    return n;
  }

  function lowestUnsettled(): number {
    let low = buffer.length > 0 ? buffer[0]!.seq : nextSeq;
    for (const b of busy) if (b.length > 0 && b[0]!.seq < low) low = b[0]!.seq;
    return low;
  }

  function checkFlush(): void {
    if (flushWaiters.length === 0) return;
    const low = lowestUnsettled();
    for (let i = flushWaiters.length - 1; i >= 0; i -= 1) {
      const waiter = flushWaiters[i]!;
      if (waiter.target < low) {
        flushWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  function flushAll(): Promise<void> {
    const target = nextSeq - 1;
    if (lowestUnsettled() > target) return Promise.resolve();
    flushUpTo = Math.max(flushUpTo, target);
    signal.notify();
    return new Promise((resolve) => flushWaiters.push({ target, resolve }));
  }

  /** Whether memory should move now (to Kafka or the spool) rather than linger for a fuller batch. */
  function batchDue(now: number): boolean {
    const head = buffer[0];
    if (!head) return false;
    return buffer.length >= config.batchMaxEvents || stopping || flushUpTo >= head.seq || now - head.at >= config.lingerMs;
  }

  function untilDue(now: number): number {
    const head = buffer[0];
    return head ? Math.max(1, head.at + config.lingerMs - now) : IDLE_WAIT_MS;
  }

  function ensureConnected(): Promise<void> {
    if (connected) return Promise.resolve();
    connecting ??= producer.connect().then(
      () => {
        connected = true;
      },
      (error: unknown) => {
        connecting = undefined;
        throw error;
      },
    );
    return connecting;
  }

  function countSent(records: readonly OutgoingRecord[]): void {
    const perTopic = new Map<string, number>();
    for (const r of records) perTopic.set(r.topic, (perTopic.get(r.topic) ?? 0) + 1);
    for (const [topic, n] of perTopic) sentTotal.add(n, { topic });
    counts.sent += records.length;
  }

  type SendResult = { ok: true } | { ok: false; error: Error; attempt?: Promise<void> };

  /**
   * One Kafka send bounded by sendTimeoutMs. A timed-out result carries the attempt, which runs
   * on inside kafkajs; the caller tracks it (see Unsettled).
   */
  async function send(records: OutgoingRecord[]): Promise<SendResult> {
    const started = performance.now();
    const attempt = ensureConnected().then(() => producer.send(records));
    attempt.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        attempt,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new SendTimeoutError(`no acknowledgement within ${config.sendTimeoutMs} ms`)), config.sendTimeoutMs);
        }),
      ]);
      sendSeconds.record((performance.now() - started) / 1000, { result: 'ok' });
      countSent(records);
      lastSendOk = true;
      return { ok: true };
    } catch (caught) {
      const timedOut = caught instanceof SendTimeoutError;
      sendSeconds.record((performance.now() - started) / 1000, { result: timedOut ? 'timeout' : 'error' });
      sendErrorsTotal.add(1, { reason: timedOut ? 'timeout' : 'error' });
      counts.sendErrors += 1;
      lastSendOk = false;
      lastError = `kafka: ${message(caught)}`;
      const error = caught instanceof Error ? caught : new Error(String(caught));
      return timedOut ? { ok: false, error, attempt } : { ok: false, error };
    } finally {
      clearTimeout(timer);
    }
  }

  function track(attempt: Promise<void>, records: OutgoingRecord[], target: Pick<Unsettled, 'direct' | 'replay'>): void {
    const entry: Unsettled = { since: Date.now(), settled: false, landed: false, records, ...target };
    attempt
      .then(
        () => {
          entry.landed = true;
        },
        () => undefined,
      )
      .finally(() => {
        entry.settled = true;
        signal.notify();
      });
    unsettled = entry;
  }

  /**
   * Resolves a timed-out send once it settled. Returns false while that must wait (its events
   * are still being written to the spool).
   */
  async function resolveUnsettled(entry: Unsettled): Promise<boolean> {
    if (!entry.landed) {
      if (!entry.settled) log.warn({ events: entry.records.length }, 'gave up waiting for a timed-out send; if it still lands, its events arrive twice');
      unsettled = undefined;
      return true;
    }
    if (entry.replay) {
      counts.replayed += entry.records.length;
      if (replaying?.batch === entry.replay) replaying = undefined;
      await spool!.ack(entry.replay);
    } else if (entry.direct) {
      const mine = new Set(entry.direct);
      for (const b of busy) if (b.some((p) => mine.has(p))) return false;
      // Still in memory (the spool could not take them yet): just forget them.
      while (buffer.length > 0 && mine.has(buffer[0]!)) buffer.shift();
      const inSpool = entry.direct.filter((p) => p.spooled);
      if (inSpool.length > 0) {
        // They were the first records appended after the switch, and replay has waited since,
        // so they are the spool's head; check before acknowledging.
        const head = await spool!.read(inSpool.length);
        if (head && head.records.length === inSpool.length && head.records.every((r, i) => r.equals(inSpool[i]!.value))) {
          await spool!.ack(head);
        } else {
          log.warn({ events: inSpool.length }, 'a timed-out send landed late but its records are not at the spool head; they will arrive twice');
        }
      }
      checkFlush();
    }
    counts.landedLate += entry.records.length;
    countSent(entry.records);
    lastSendOk = true;
    log.info({ events: entry.records.length, afterMs: Date.now() - entry.since }, 'a timed-out send landed late; its spooled copy is acknowledged, not re-sent');
    unsettled = undefined;
    return true;
  }

  function toRecord(p: Pending): OutgoingRecord {
    return { topic: p.topic, key: p.key, value: p.value, headers: HEADERS };
  }

  async function sendDirect(): Promise<void> {
    const batch = buffer.splice(0, config.batchMaxEvents);
    busy.add(batch);
    const records = batch.map(toRecord);
    const result = await send(records);
    busy.delete(batch);
    if (!result.ok) {
      // Back to the head of memory, in the same tick as the mode switch: the spool writer
      // writes these first, so nothing emitted later can overtake them.
      buffer.unshift(...batch);
      setMode('spooling');
      retryAt = Date.now() + retryMs;
      if (result.attempt) track(result.attempt, records, { direct: batch });
      log.warn({ err: result.error, events: batch.length }, 'Kafka send failed; spooling events to disk until Kafka is back');
      signal.notify();
    }
    checkFlush();
  }

  async function writeToSpool(): Promise<void> {
    // One append holds a whole send batch, so a timed-out batch sits in one segment.
    const batch = buffer.splice(0, Math.max(SPOOL_WRITE_MAX_EVENTS, config.batchMaxEvents));
    busy.add(batch);
    spoolWriting = true;
    try {
      const result = await spool!.append(batch.map((p) => p.value));
      for (let i = 0; i < result.written; i += 1) batch[i]!.spooled = true;
      spooledTotal.add(result.written);
      counts.spooled += result.written;
      if (spoolError) log.info('spool writable again');
      spoolError = undefined;
      spoolRetryMs = config.retryInitialMs;
    } catch (error) {
      buffer.unshift(...batch);
      spoolError = message(error);
      spoolRetryAt = Date.now() + spoolRetryMs;
      spoolRetryMs = Math.min(spoolRetryMs * 2, config.retryMaxMs);
      log.error({ err: error, events: batch.length }, 'cannot write the spool; events stay in memory');
    } finally {
      spoolWriting = false;
      busy.delete(batch);
      checkFlush();
    }
  }

  function decodeSpooled(batch: SpoolBatch): OutgoingRecord[] {
    const records: OutgoingRecord[] = [];
    for (const payload of batch.records) {
      try {
        const event = JSON.parse(payload.toString('utf8')) as FaasEvent;
        const topic = topicFor(event.type);
        if (topic === undefined) throw new Error(`no topic for type ${String(event.type)}`);
        records.push({ topic: config.topicPrefix + topic, key: partitionKey(event), value: payload, headers: HEADERS });
      } catch (error) {
        // The checksum held, so the bytes are what we wrote; still, a bad record must not block replay.
        drop('spool_corrupt', 1, { err: message(error) });
      }
    }
    return records;
  }

  async function replayOnce(): Promise<void> {
    const now = Date.now();
    if (unsettled) {
      if ((unsettled.settled || now - unsettled.since > config.unsettledMaxWaitMs) && (await resolveUnsettled(unsettled))) return;
      await signal.wait(250);
      return;
    }
    if (now < retryAt) {
      await signal.wait(retryAt - now);
      return;
    }
    const batch = await spool!.read(config.batchMaxEvents);
    if (!batch) {
      // Spool empty: new events may go straight to Kafka once Kafka has proven to be back (or
      // the spool is failing and Kafka is the only way out).
      if (!spoolWriting && spool!.isEmpty() && (lastSendOk || spoolError !== undefined)) {
        const since = spoolingSince;
        setMode('direct');
        log.info({ spoolingMs: Date.now() - since, replayed: counts.replayed }, 'spool drained; sending directly to Kafka');
        signal.notify();
        return;
      }
      await signal.wait(lastSendOk ? config.lingerMs : retryMs);
      return;
    }
    if (replaying?.batch !== batch) replaying = { batch, records: decodeSpooled(batch) };
    const result = replaying.records.length > 0 ? await send(replaying.records) : ({ ok: true } as const);
    if (!result.ok) {
      if (result.attempt) track(result.attempt, replaying.records, { replay: batch });
      retryAt = Date.now() + retryMs;
      retryMs = Math.min(retryMs * 2, config.retryMaxMs);
      return;
    }
    counts.replayed += replaying.records.length;
    replaying = undefined;
    retryMs = config.retryInitialMs;
    await spool!.ack(batch);
  }

  async function senderLoop(): Promise<void> {
    for (;;) {
      if (mode === 'spooling') {
        if (closing) return;
        await replayOnce();
        continue;
      }
      if (closing && buffer.length === 0) return;
      const now = Date.now();
      if (!batchDue(now)) {
        await signal.wait(untilDue(now));
        continue;
      }
      await sendDirect();
    }
  }

  async function spoolWriterLoop(): Promise<void> {
    for (;;) {
      if (closing) return;
      const now = Date.now();
      if (mode !== 'spooling') await signal.wait(IDLE_WAIT_MS);
      else if (now < spoolRetryAt) await signal.wait(spoolRetryAt - now);
      else if (!batchDue(now)) await signal.wait(untilDue(now));
      else await writeToSpool();
    }
  }

  function bug(error: unknown): never {
    lastError = `bug: ${message(error)}`;
    log.fatal({ err: error }, 'delivery loop failed');
    throw error;
  }

  return {
    name: 'delivery',

    emit(event: FaasEvent): void {
      if (stopping || lifecycle === 'stopped') {
        drop('stopped', 1);
        return;
      }
      let pending: Pending;
      try {
        const topic = topicFor(event.type);
        if (topic === undefined) throw new Error(`no topic for type ${String(event.type)}`);
        const value = Buffer.from(JSON.stringify(event), 'utf8');
        if (value.length > MAX_RECORD_BYTES) {
          drop('too_large', 1, { id: event.id, bytes: value.length });
          return;
        }
        pending = { seq: 0, at: Date.now(), topic: config.topicPrefix + topic, key: partitionKey(event), value };
      } catch (error) {
        drop('invalid', 1, { err: message(error) });
        return;
      }
      if (buffer.length >= config.bufferMaxEvents) {
        drop('buffer_full', 1, { policy: config.overflow });
        if (config.overflow === 'drop-newest') return;
        buffer.shift();
        checkFlush();
      }
      pending.seq = nextSeq++;
      buffer.push(pending);
      if (buffer.length === 1 || buffer.length % config.batchMaxEvents === 0) signal.notify();
    },

    async start(): Promise<void> {
      if (lifecycle !== 'new') throw new Error(`delivery cannot start when ${lifecycle}`);
      spool = await Spool.open(
        {
          dir: config.spoolDir,
          maxBytes: config.spoolMaxBytes,
          overflow: config.overflow,
          fsync: config.spoolFsync,
          ...(config.spoolSegmentBytes ? { segmentBytes: config.spoolSegmentBytes } : {}),
        },
        { onLoss: (reason, n, detail) => drop(reason, n, detail) },
      );
      lifecycle = 'running';
      if (spool.isEmpty()) {
        setMode('direct');
      } else {
        setMode('spooling');
        log.info({ dir: spool.dir, ...spool.stats() }, 'replaying events a previous run left in the spool');
      }
      // Kafka may be down at start-up: connect in the background, sends wait for it.
      ensureConnected().catch(() => undefined);
      loops = Promise.all([senderLoop().catch(bug), spoolWriterLoop().catch(bug)]).then(() => undefined);
      loops.catch(() => undefined);
    },

    async stop(): Promise<void> {
      if (lifecycle === 'stopped' || lifecycle === 'stopping') return;
      if (lifecycle === 'new') {
        lifecycle = 'stopped';
        return;
      }
      stopping = true;
      lifecycle = 'stopping';
      signal.notify();
      let timer: NodeJS.Timeout | undefined;
      const flushed = await Promise.race([
        flushAll().then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), config.stopTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (!flushed) log.error({ buffered: buffer.length, inFlight: inFlightCount() }, 'stop: memory did not reach Kafka or the spool in time');
      closing = true;
      signal.notify();
      await loops;
      if (unsettled?.settled) await resolveUnsettled(unsettled);
      if (buffer.length > 0) {
        drop('shutdown_timeout', buffer.length);
        buffer.length = 0;
        checkFlush();
      }
      logUnloggedDrops();
      await Promise.race([producer.disconnect(), new Promise((resolve) => setTimeout(resolve, config.sendTimeoutMs).unref())]).catch(
        (error: unknown) => log.warn({ err: error }, 'Kafka producer did not disconnect cleanly'),
      );
      const left = spool!.stats();
      await spool!.close();
      lifecycle = 'stopped';
      log.info({ sent: counts.sent, spooled: counts.spooled, dropped, spoolLeft: left }, 'delivery stopped');
    },

    health(): Health {
      // Before start nothing would be delivered or spooled: the process is not ready yet.
      if (lifecycle === 'new') return { status: 'error', detail: 'not started' };
      if (lifecycle === 'stopped') return { status: 'degraded', detail: 'stopped' };
      if (spoolError) return { status: 'error', detail: `cannot write the spool: ${spoolError}` };
      if (Date.now() - lastOverflowAt < DROP_HEALTH_WINDOW_MS) {
        return { status: 'error', detail: `dropping events (memory or spool full): ${JSON.stringify(dropped)}` };
      }
      if (mode === 'spooling') {
        const s = spool!.stats();
        return {
          status: 'degraded',
          detail: `spooling to disk since ${new Date(spoolingSince).toISOString()}: ${s.records} events, ${s.bytes} bytes${lastError ? `; last error: ${lastError}` : ''}`,
        };
      }
      return { status: 'ok' };
    },

    flush(): Promise<void> {
      if (lifecycle === 'new') return Promise.reject(new Error('delivery not started'));
      return flushAll();
    },

    stats(): DeliveryStats {
      return {
        state: lifecycle === 'running' ? mode : lifecycle,
        buffered: buffer.length,
        inFlight: inFlightCount(),
        unsettled: unsettled && !unsettled.settled ? unsettled.records.length : 0,
        landedLate: counts.landedLate,
        sent: counts.sent,
        replayed: counts.replayed,
        spooled: counts.spooled,
        dropped: { ...dropped },
        sendErrors: counts.sendErrors,
        spool: spool?.stats() ?? { bytes: 0, records: 0, segments: 0 },
        ...(lastError ? { lastError } : {}),
      };
    },
  };
}
