import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { SpoolLossReason, SpoolOptions } from '../../collector/delivery/spool.ts';
import { FRAME_HEADER_BYTES, Spool, SpoolLockedError } from '../../collector/delivery/spool.ts';

const dirs: string[] = [];
const open: Spool[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'faasmeter-spool-test-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

type Losses = Partial<Record<SpoolLossReason, number>>;

async function openSpool(dir: string, options: Partial<SpoolOptions> = {}, losses: Losses = {}): Promise<Spool> {
  const spool = await Spool.open(
    { dir, maxBytes: 10 * 1024 * 1024, overflow: 'drop-newest', fsync: 'batch', ...options },
    { onLoss: (reason, n) => (losses[reason] = (losses[reason] ?? 0) + n) },
  );
  open.push(spool);
  return spool;
}

async function closeSpool(spool: Spool): Promise<void> {
  await spool.close();
  open.splice(open.indexOf(spool), 1);
}

const payload = (i: number) => Buffer.from(JSON.stringify({ id: `e-${i}`, pad: 'x'.repeat(i % 17) }));
const fixed = (i: number) => Buffer.from(JSON.stringify({ id: `f-${String(i).padStart(6, '0')}` }));
const ids = (records: readonly Buffer[]) => records.map((r) => (JSON.parse(r.toString()) as { id: string }).id);

/** Reads and acknowledges everything, as a replay that always succeeds would. */
async function drain(spool: Spool, batch = 7): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const b = await spool.read(batch);
    if (!b) return out;
    out.push(...ids(b.records));
    await spool.ack(b);
  }
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.spool')).sort();
}

describe('spool', () => {
  it('replays records in append order across segments, then leaves the directory empty', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir, { segmentBytes: 4096 });
    const expected: string[] = [];
    for (let b = 0; b < 20; b += 1) {
      const batch = Array.from({ length: 13 }, (_, i) => payload(b * 13 + i));
      expect(await spool.append(batch)).toEqual({ written: 13, refused: 0 });
      expected.push(...ids(batch));
    }
    expect((await segmentFiles(dir)).length).toBeGreaterThanOrEqual(3);
    expect(spool.stats().records).toBe(260);
    expect(await drain(spool)).toEqual(expected);
    expect(spool.stats()).toEqual({ bytes: 0, records: 0, segments: 0 });
    expect(spool.isEmpty()).toBe(true);
    expect(await readdir(dir)).toEqual(['LOCK']);
    await closeSpool(spool);
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps records across a reopen and replays them in order behind which new appends queue', async () => {
    const dir = await tempDir();
    const first = await openSpool(dir);
    await first.append([payload(1), payload(2)]);
    await first.append([payload(3)]);
    await closeSpool(first);

    const second = await openSpool(dir);
    expect(second.stats().records).toBe(3);
    await second.append([payload(4)]);
    expect(await drain(second, 2)).toEqual(['e-1', 'e-2', 'e-3', 'e-4']);
  });

  it('a flipped payload byte fails the checksum: that record is skipped and counted, later records still replay', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir);
    const batch = Array.from({ length: 10 }, (_, i) => payload(i));
    await spool.append(batch);
    await closeSpool(spool);

    const [file] = await segmentFiles(dir);
    const bytes = await readFile(join(dir, file!));
    let offset = 0;
    for (let i = 0; i < 4; i += 1) offset += FRAME_HEADER_BYTES + batch[i]!.length;
    bytes[offset + FRAME_HEADER_BYTES + 3]! ^= 0x01; // inside record 4's payload
    await writeFile(join(dir, file!), bytes);

    const losses: Losses = {};
    const reopened = await openSpool(dir, {}, losses);
    expect(losses).toEqual({ spool_corrupt: 1 });
    expect(await drain(reopened)).toEqual(['e-0', 'e-1', 'e-2', 'e-3', 'e-5', 'e-6', 'e-7', 'e-8', 'e-9']);
    expect(losses).toEqual({ spool_corrupt: 1 });
  });

  it('a flipped length byte is caught by the checksum and the reader resynchronises on the next record', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir);
    const batch = Array.from({ length: 6 }, (_, i) => payload(i));
    await spool.append(batch);
    await closeSpool(spool);

    const [file] = await segmentFiles(dir);
    const bytes = await readFile(join(dir, file!));
    const offset = FRAME_HEADER_BYTES + batch[0]!.length; // record 1
    bytes[offset + 6]! ^= 0x20; // length field, big-endian second-lowest byte: claims 8 KiB more
    await writeFile(join(dir, file!), bytes);

    const losses: Losses = {};
    const reopened = await openSpool(dir, {}, losses);
    expect(await drain(reopened)).toEqual(['e-0', 'e-2', 'e-3', 'e-4', 'e-5']);
    expect(losses).toEqual({ spool_corrupt: 1 });
  });

  it('a torn tail (write cut short by a crash) is skipped and counted, never crashes replay', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir);
    await spool.append([payload(1), payload(2), payload(3)]);
    await closeSpool(spool);
    const [file] = await segmentFiles(dir);
    const size = (await readFile(join(dir, file!))).length;
    await truncate(join(dir, file!), size - 5);

    const losses: Losses = {};
    const reopened = await openSpool(dir, {}, losses);
    expect(losses).toEqual({ spool_torn: 1 });
    await reopened.append([payload(4)]);
    expect(await drain(reopened)).toEqual(['e-1', 'e-2', 'e-4']);
  });

  it('a header cut short and trailing garbage are skipped too', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir);
    await spool.append([payload(1)]);
    await closeSpool(spool);
    const [file] = await segmentFiles(dir);
    const bytes = await readFile(join(dir, file!));
    await writeFile(join(dir, file!), Buffer.concat([bytes, Buffer.from([0xf5, 0xa0, 0xd1])]));

    const losses: Losses = {};
    const reopened = await openSpool(dir, {}, losses);
    expect(await drain(reopened)).toEqual(['e-1']);
    expect(losses).toEqual({ spool_torn: 1 });
    await closeSpool(reopened);

    await writeFile(join(dir, 'segment-000000000009.spool'), Buffer.from('not a spool at all'));
    const losses2: Losses = {};
    const third = await openSpool(dir, {}, losses2);
    expect(losses2).toEqual({ spool_corrupt: 1 });
    expect(third.isEmpty()).toBe(true);
    expect(await segmentFiles(dir)).toEqual([]);
  });

  it('drop-newest: past spoolMaxBytes the newest records are refused and counted, the oldest kept', async () => {
    const dir = await tempDir();
    const losses: Losses = {};
    const one = FRAME_HEADER_BYTES + fixed(0).length;
    const spool = await openSpool(dir, { maxBytes: 64 * 1024, segmentBytes: 4096, overflow: 'drop-newest', fsync: 'none' }, losses);
    let written = 0;
    let refused = 0;
    for (let i = 0; i < 4000; i += 1) {
      const r = await spool.append([fixed(i)]);
      written += r.written;
      refused += r.refused;
    }
    expect(written).toBe(Math.floor((64 * 1024) / one));
    expect(refused).toBe(4000 - written);
    expect(losses).toEqual({ spool_full: refused });
    expect(spool.stats().bytes).toBeLessThanOrEqual(64 * 1024);
    const replayed = await drain(spool, 100);
    expect(replayed).toEqual(Array.from({ length: written }, (_, i) => (JSON.parse(fixed(i).toString()) as { id: string }).id));
  });

  it('drop-oldest: past spoolMaxBytes the oldest segment is discarded and its records counted', async () => {
    const dir = await tempDir();
    const losses: Losses = {};
    const spool = await openSpool(dir, { maxBytes: 64 * 1024, segmentBytes: 4096, overflow: 'drop-oldest', fsync: 'none' }, losses);
    const all: string[] = [];
    for (let i = 0; i < 2000; i += 1) {
      await spool.append([payload(i * 17)]);
      all.push(`e-${i * 17}`);
    }
    expect(spool.stats().bytes).toBeLessThanOrEqual(64 * 1024);
    const replayed = await drain(spool, 100);
    expect(losses.spool_full! + replayed.length).toBe(2000);
    // What is left is the newest, contiguous tail.
    expect(replayed).toEqual(all.slice(2000 - replayed.length));
    expect(replayed.length).toBeGreaterThan(700);
  });

  it('segments are deleted only after their records are acknowledged; an unacknowledged batch is read again', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 100; i += 1) await spool.append([payload(i)]);
    const before = await segmentFiles(dir);

    const batch = await spool.read(1000);
    expect(batch!.records.length).toBeLessThan(100); // never spans segments
    expect(await spool.read(1000)).toBe(batch); // a failed send retries the same batch
    expect(await segmentFiles(dir)).toEqual(before);
    await spool.ack(batch!);
    expect(await segmentFiles(dir)).toEqual(before.slice(1));
  });

  it('a crash mid-replay re-sends at most the one unacknowledged batch', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir);
    for (let i = 0; i < 30; i += 1) await spool.append([payload(i)]);
    const first = await spool.read(10);
    await spool.ack(first!);
    const second = await spool.read(10);
    expect(ids(second!.records)).toEqual(Array.from({ length: 10 }, (_, i) => `e-${10 + i}`));
    await closeSpool(spool); // "crash": second was sent, its ack never recorded

    const reopened = await openSpool(dir);
    expect(await drain(reopened, 10)).toEqual(Array.from({ length: 20 }, (_, i) => `e-${10 + i}`));
  });

  it('an acknowledgement for a segment that overflow dropped meanwhile is ignored', async () => {
    const dir = await tempDir();
    const losses: Losses = {};
    const spool = await openSpool(dir, { maxBytes: 64 * 1024, segmentBytes: 4096, overflow: 'drop-oldest', fsync: 'none' }, losses);
    for (let i = 0; i < 100; i += 1) await spool.append([payload(i)]);
    const batch = await spool.read(5);
    for (let i = 100; i < 2000; i += 1) await spool.append([payload(i)]);
    await spool.ack(batch!);
    const replayed = await drain(spool, 100);
    expect(replayed[0]).not.toBe('e-5');
    expect(losses.spool_full! + replayed.length).toBe(2000);
  });

  it('one directory, one owner: a second open is refused; a lock left by a dead process is taken over', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir);
    await expect(Spool.open({ dir, maxBytes: 1 << 20, overflow: 'drop-newest', fsync: 'none' })).rejects.toBeInstanceOf(SpoolLockedError);
    await closeSpool(spool);
    await writeFile(join(dir, 'LOCK'), '2147483646'); // no such pid
    const again = await openSpool(dir);
    expect(await readFile(join(dir, 'LOCK'), 'utf8')).toBe(String(process.pid));
    await closeSpool(again);
  });

  it('property: whatever the batches, acks and reopens, replay yields exactly the unacknowledged records in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('append' as const), n: fc.integer({ min: 1, max: 40 }), pad: fc.integer({ min: 0, max: 300 }) }),
            fc.record({ op: fc.constant('replay' as const), n: fc.integer({ min: 1, max: 50 }), ack: fc.boolean() }),
            fc.record({ op: fc.constant('reopen' as const) }),
          ),
          { maxLength: 30 },
        ),
        async (ops) => {
          const dir = await tempDir();
          let spool = await openSpool(dir, { segmentBytes: 4096, fsync: 'none' });
          const expected: string[] = [];
          let next = 0;
          for (const op of ops) {
            if (op.op === 'append') {
              const batch = Array.from({ length: op.n }, () => Buffer.from(JSON.stringify({ id: `p-${next++}`, pad: 'y'.repeat(op.pad) })));
              await spool.append(batch);
              expected.push(...ids(batch));
            } else if (op.op === 'replay') {
              const batch = await spool.read(op.n);
              if (batch && op.ack) {
                expect(ids(batch.records)).toEqual(expected.slice(0, batch.records.length));
                expected.splice(0, batch.records.length);
                await spool.ack(batch);
              }
            } else {
              await closeSpool(spool);
              spool = await openSpool(dir, { segmentBytes: 4096, fsync: 'none' });
            }
            expect(spool.stats().records).toBe(expected.length);
          }
          expect(await drain(spool, 9)).toEqual(expected);
          expect(await segmentFiles(dir)).toEqual([]);
          await closeSpool(spool);
        },
      ),
      { numRuns: 60 },
    );
  });
});
