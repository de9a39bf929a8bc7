import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';

/**
 * The disk spool: append-only segment files of framed records, replayed in order and deleted
 * only after the caller acknowledged (Kafka accepted) everything in them.
 *
 * Record frame (big-endian):   magic u32 | length u32 | crc32(length ‖ payload) u32 | payload
 * The magic starts with 0xF5, a byte that never occurs in UTF-8 text, so an event payload can
 * never look like the start of a frame; after a damaged frame the reader resynchronises on the
 * next magic whose checksum holds. The checksum covers the length too, so a flipped length is
 * detected instead of sending the reader off by a random amount.
 *
 * Files in the directory: `segment-<seq>.spool` (seq increases; appends go to the newest),
 * `cursor.json` (first unacknowledged byte: segment seq and offset, replaced atomically after
 * every acknowledged batch) and `LOCK` (pid of the owning process: two writers would interleave).
 */

export const RECORD_MAGIC = 0xf5a0d1e7;
export const FRAME_HEADER_BYTES = 12;
/** Larger payloads are refused at the edge (Kafka's default message.max.bytes is about this). */
export const MAX_RECORD_BYTES = 1024 * 1024;

const MAGIC_BYTES = Buffer.from([0xf5, 0xa0, 0xd1, 0xe7]);
const SEGMENT_RE = /^segment-(\d{12})\.spool$/;
const CURSOR_FILE = 'cursor.json';
const LOCK_FILE = 'LOCK';
const READ_CHUNK_BYTES = 1024 * 1024;

export type OverflowPolicy = 'drop-newest' | 'drop-oldest';
export type FsyncPolicy = 'batch' | 'none';

export interface SpoolOptions {
  dir: string;
  /** Bound on the bytes of all segment files, acknowledged-but-not-yet-deleted bytes included. */
  maxBytes: number;
  /** Roll to a new segment past this size; drop-oldest frees space a segment at a time. */
  segmentBytes?: number;
  /** What gives when a batch does not fit: the batch's tail (newest) or the oldest segment. */
  overflow: OverflowPolicy;
  /** `batch`: fdatasync after every appended batch (survives power loss); `none`: page cache only. */
  fsync: FsyncPolicy;
}

export type SpoolLossReason = 'spool_full' | 'spool_corrupt' | 'spool_torn';

export interface SpoolHooks {
  /** Records that will never be replayed, and why. Corrupt regions count once per region. */
  onLoss?(reason: SpoolLossReason, records: number, detail: { bytes?: number; segment?: number }): void;
}

export interface SpoolPosition {
  seq: number;
  offset: number;
}

/** Records read from the head of the spool; hand it back to `ack` once they are delivered. */
export interface SpoolBatch {
  readonly records: readonly Buffer[];
  readonly end: SpoolPosition;
  readonly generation: number;
}

export interface AppendResult {
  written: number;
  /** Newest records refused because the spool is full (drop-newest, or one batch over the bound). */
  refused: number;
}

export interface SpoolStats {
  bytes: number;
  records: number;
  segments: number;
}

export class SpoolLockedError extends Error {
  override name = 'SpoolLockedError';
}

interface Segment {
  seq: number;
  path: string;
  /** Bytes that hold frames we wrote or found; reads never go past it. */
  size: number;
  /** Valid records not yet acknowledged (from the cursor on, for the head segment). */
  unacked: number;
  /** Found on disk at open: its damage was already counted by the open scan. */
  recovered: boolean;
}

type Frame = { kind: 'ok'; length: number } | { kind: 'bad' } | { kind: 'short' };

function frameAt(buf: Buffer, p: number): Frame {
  if (buf.length - p < FRAME_HEADER_BYTES) return { kind: 'short' };
  if (buf.readUInt32BE(p) !== RECORD_MAGIC) return { kind: 'bad' };
  const length = buf.readUInt32BE(p + 4);
  if (length > MAX_RECORD_BYTES) return { kind: 'bad' };
  if (buf.length - p < FRAME_HEADER_BYTES + length) return { kind: 'short' };
  const sum = crc32(buf.subarray(p + FRAME_HEADER_BYTES, p + FRAME_HEADER_BYTES + length), crc32(buf.subarray(p + 4, p + 8)));
  return sum === buf.readUInt32BE(p + 8) ? { kind: 'ok', length } : { kind: 'bad' };
}

export function encodeFrames(payloads: readonly Buffer[]): Buffer {
  let total = 0;
  for (const p of payloads) total += FRAME_HEADER_BYTES + p.length;
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (const p of payloads) {
    out.writeUInt32BE(RECORD_MAGIC, o);
    out.writeUInt32BE(p.length, o + 4);
    out.writeUInt32BE(crc32(p, crc32(out.subarray(o + 4, o + 8))), o + 8);
    p.copy(out, o + FRAME_HEADER_BYTES);
    o += FRAME_HEADER_BYTES + p.length;
  }
  return out;
}

interface Skip {
  kind: 'corrupt' | 'torn';
  bytes: number;
}

interface Scan {
  records: Buffer[];
  /** Bytes of `buf` fully handled: records returned and damaged bytes skipped. */
  consumed: number;
  skips: Skip[];
}

/**
 * Parses frames from `buf`. With `final` false the buffer may end mid-frame, and scanning stops
 * there (the caller reads more); with `final` true the buffer ends where the segment ends, so an
 * incomplete frame is a torn tail and undecidable damage is skipped to the end.
 */
function scanFrames(buf: Buffer, maxRecords: number, final: boolean): Scan {
  const records: Buffer[] = [];
  const skips: Skip[] = [];
  let p = 0;
  while (records.length < maxRecords && p < buf.length) {
    const frame = frameAt(buf, p);
    if (frame.kind === 'ok') {
      records.push(buf.subarray(p + FRAME_HEADER_BYTES, p + FRAME_HEADER_BYTES + frame.length));
      p += FRAME_HEADER_BYTES + frame.length;
      continue;
    }
    if (frame.kind === 'short' && !final) break;
    // Damaged (or, at the very end, incomplete): find the next frame whose checksum holds.
    let q = p + 1;
    let resync = -1;
    let undecided = false;
    for (;;) {
      q = buf.indexOf(MAGIC_BYTES, q);
      if (q < 0) break;
      const candidate = frameAt(buf, q);
      if (candidate.kind === 'ok') {
        resync = q;
        break;
      }
      if (candidate.kind === 'short' && !final) {
        undecided = true;
        break;
      }
      q += 1;
    }
    if (resync >= 0) {
      skips.push({ kind: 'corrupt', bytes: resync - p });
      p = resync;
      continue;
    }
    if (undecided || !final) break;
    // Nothing valid follows: an incomplete frame that starts well is a write cut short by a crash.
    const torn = frame.kind === 'short' && (buf.length - p < 4 || buf.readUInt32BE(p) === RECORD_MAGIC);
    skips.push({ kind: torn ? 'torn' : 'corrupt', bytes: buf.length - p });
    p = buf.length;
  }
  return { records, consumed: p, skips };
}

/** Sequential reader over one segment, from an offset up to the segment's current size. */
class SegmentReader {
  private buf: Buffer = Buffer.alloc(0);
  /** File offset of buf[0]. */
  offset: number;
  readonly seq: number;
  private readonly fh: FileHandle;

  private constructor(seq: number, fh: FileHandle, offset: number) {
    this.seq = seq;
    this.fh = fh;
    this.offset = offset;
  }

  static async open(segment: Segment, offset: number): Promise<SegmentReader> {
    return new SegmentReader(segment.seq, await open(segment.path, 'r'), offset);
  }

  /** Up to `max` records; empty when the segment (as far as `size`) holds no more. */
  async next(max: number, size: number): Promise<Scan> {
    const skips: Skip[] = [];
    for (;;) {
      const final = this.offset + this.buf.length >= size;
      const scan = scanFrames(this.buf, max, final);
      skips.push(...scan.skips);
      this.buf = this.buf.subarray(scan.consumed);
      this.offset += scan.consumed;
      if (scan.records.length > 0 || final) return { records: scan.records, consumed: scan.consumed, skips };
      const want = Math.min(Math.max(READ_CHUNK_BYTES, this.buf.length), size - this.offset - this.buf.length);
      const chunk = Buffer.allocUnsafe(want);
      const { bytesRead } = await this.fh.read(chunk, 0, want, this.offset + this.buf.length);
      if (bytesRead === 0) {
        // The file is shorter than we believed (truncated behind our back): treat as its end.
        return { records: [], consumed: 0, skips: [...skips, { kind: 'torn', bytes: size - this.offset }] };
      }
      this.buf = this.buf.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([this.buf, chunk.subarray(0, bytesRead)]);
    }
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

const segmentName = (seq: number) => `segment-${String(seq).padStart(12, '0')}.spool`;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Directories this process has open: a second open in-process is a bug, as from another process. */
const openDirs = new Set<string>();

export class Spool {
  private readonly options: Required<SpoolOptions>;
  private readonly hooks: SpoolHooks;
  private segments: Segment[] = [];
  private active: { segment: Segment; fh: FileHandle } | undefined;
  private cursor: SpoolPosition = { seq: 0, offset: 0 };
  private nextSeq = 1;
  private reader: SegmentReader | undefined;
  private pending: SpoolBatch | undefined;
  private generation = 0;
  private totalBytes = 0;
  private totalUnacked = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(options: SpoolOptions, hooks: SpoolHooks) {
    const segmentBytes = options.segmentBytes ?? Math.min(16 << 20, Math.max(64 << 10, Math.floor(options.maxBytes / 16)));
    this.options = { ...options, dir: resolve(options.dir), segmentBytes };
    this.hooks = hooks;
  }

  /**
   * Takes the directory's lock, then scans what a previous run left: every frame's checksum is
   * verified, damaged regions and torn tails are counted (once, here) and will be skipped.
   */
  static async open(options: SpoolOptions, hooks: SpoolHooks = {}): Promise<Spool> {
    const spool = new Spool(options, hooks);
    await mkdir(spool.dir, { recursive: true });
    await spool.lock();
    try {
      await spool.recover();
    } catch (error) {
      await spool.unlock();
      throw error;
    }
    return spool;
  }

  get dir(): string {
    return this.options.dir;
  }

  stats(): SpoolStats {
    return { bytes: this.totalBytes, records: this.totalUnacked, segments: this.segments.length };
  }

  isEmpty(): boolean {
    return this.totalUnacked === 0 && this.pending === undefined;
  }

  /** Appends in order; durable on return when fsync is `batch`. Throws on I/O errors (nothing partial is ever read back). */
  append(payloads: readonly Buffer[]): Promise<AppendResult> {
    return this.exclusive(() => this.appendNow(payloads));
  }

  /**
   * The oldest unacknowledged records, at most `max`, never spanning segments. Until `ack` (or
   * an overflow drop), it returns the same batch again, so a failed send is retried as it was.
   */
  read(max: number): Promise<SpoolBatch | undefined> {
    return this.exclusive(() => this.readNow(max));
  }

  /** The batch reached Kafka: advance and persist the cursor, delete what is fully delivered. */
  ack(batch: SpoolBatch): Promise<void> {
    return this.exclusive(() => this.ackNow(batch));
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      await this.reader?.close();
      this.reader = undefined;
      await this.active?.fh.close();
      this.active = undefined;
      await this.unlock();
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.closed) throw new Error(`spool ${this.options.dir} is closed`);
      return fn();
    });
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async lock(): Promise<void> {
    const dir = this.options.dir;
    if (openDirs.has(dir)) throw new SpoolLockedError(`spool directory ${dir} is already open in this process`);
    const path = join(dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const fh = await open(path, 'wx');
        await fh.writeFile(String(process.pid));
        await fh.close();
        openDirs.add(dir);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
        if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && pidAlive(owner)) {
          throw new SpoolLockedError(`spool directory ${dir} is in use by process ${owner} (${path}); give each collector its own FAASMETER_SPOOL_DIR`);
        }
        // Left by a process that died (or by this pid in an earlier life): stale, take it over.
        await unlink(path).catch(() => undefined);
      }
    }
    throw new SpoolLockedError(`could not take ${path}`);
  }

  private async unlock(): Promise<void> {
    openDirs.delete(this.options.dir);
    await unlink(join(this.options.dir, LOCK_FILE)).catch(() => undefined);
  }

  private async recover(): Promise<void> {
    const dir = this.options.dir;
    const seqs = (await readdir(dir))
      .map((name) => SEGMENT_RE.exec(name)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const cursor = await this.readCursor();
    this.nextSeq = Math.max(cursor.seq, ...seqs, 0) + 1;
    this.cursor = cursor;
    for (const seq of seqs) {
      const path = join(dir, segmentName(seq));
      if (seq < cursor.seq) {
        // Fully acknowledged; a crash came between the cursor write and the delete.
        await unlink(path);
        continue;
      }
      const fh = await open(path, 'r');
      const size = (await fh.stat()).size;
      await fh.close();
      const start = seq === cursor.seq ? Math.min(cursor.offset, size) : 0;
      const segment: Segment = { seq, path, size, unacked: 0, recovered: true };
      const reader = await SegmentReader.open(segment, start);
      try {
        for (;;) {
          const scan = await reader.next(10_000, size);
          for (const skip of scan.skips) this.reportSkip(skip, seq);
          segment.unacked += scan.records.length;
          if (scan.records.length === 0) break;
        }
      } finally {
        await reader.close();
      }
      this.segments.push(segment);
      this.totalBytes += size;
      this.totalUnacked += segment.unacked;
    }
    const head = this.segments[0];
    if (head && head.seq !== this.cursor.seq) this.cursor = { seq: head.seq, offset: 0 };
    if (this.totalUnacked === 0) await this.reset();
  }

  private async readCursor(): Promise<SpoolPosition> {
    let text: string;
    try {
      text = await readFile(join(this.options.dir, CURSOR_FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { seq: 0, offset: 0 };
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as Partial<SpoolPosition>;
      if (Number.isSafeInteger(parsed.seq) && Number.isSafeInteger(parsed.offset) && parsed.seq! >= 0 && parsed.offset! >= 0) {
        return { seq: parsed.seq!, offset: parsed.offset! };
      }
    } catch {
      // fall through: replaying from the start re-sends, which the meter dedupes; it loses nothing
    }
    return { seq: 0, offset: 0 };
  }

  private reportSkip(skip: Skip, seq: number): void {
    this.hooks.onLoss?.(skip.kind === 'torn' ? 'spool_torn' : 'spool_corrupt', 1, { bytes: skip.bytes, segment: seq });
  }

  private async appendNow(payloads: readonly Buffer[]): Promise<AppendResult> {
    const { maxBytes, overflow } = this.options;
    const sizes = payloads.map((p) => FRAME_HEADER_BYTES + p.length);
    let need = sizes.reduce((a, b) => a + b, 0);
    if (overflow === 'drop-oldest') {
      while (this.totalBytes + need > maxBytes && this.segments.length > 0) await this.dropOldestSegment();
    }
    let fit = payloads.length;
    while (fit > 0 && this.totalBytes + need > maxBytes) {
      fit -= 1;
      need -= sizes[fit]!;
    }
    const refused = payloads.length - fit;
    if (refused > 0) this.hooks.onLoss?.('spool_full', refused, {});
    if (fit === 0) return { written: 0, refused };

    const frames = encodeFrames(fit === payloads.length ? payloads : payloads.slice(0, fit));
    const active = await this.activeFor(frames.length);
    const segment = active.segment;
    try {
      let done = 0;
      while (done < frames.length) {
        const { bytesWritten } = await active.fh.write(frames, done, frames.length - done, segment.size + done);
        done += bytesWritten;
      }
      if (this.options.fsync === 'batch') await active.fh.datasync();
    } catch (error) {
      // Seal the segment at its last good size: readers stop there, appends go to a new file.
      await active.fh.truncate(segment.size).catch(() => undefined);
      await active.fh.close().catch(() => undefined);
      this.active = undefined;
      throw error;
    }
    segment.size += frames.length;
    segment.unacked += fit;
    this.totalBytes += frames.length;
    this.totalUnacked += fit;
    return { written: fit, refused };
  }

  private async activeFor(bytes: number): Promise<{ segment: Segment; fh: FileHandle }> {
    const current = this.active;
    if (current && (current.segment.size === 0 || current.segment.size + bytes <= this.options.segmentBytes)) return current;
    if (current) {
      await current.fh.close();
      this.active = undefined;
    }
    const seq = this.nextSeq++;
    const path = join(this.options.dir, segmentName(seq));
    const fh = await open(path, 'wx');
    if (this.options.fsync === 'batch') await this.syncDir();
    const segment: Segment = { seq, path, size: 0, unacked: 0, recovered: false };
    this.segments.push(segment);
    if (this.segments.length === 1) this.cursor = { seq, offset: 0 };
    this.active = { segment, fh };
    return this.active;
  }

  private async syncDir(): Promise<void> {
    const fh = await open(this.options.dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  private async dropOldestSegment(): Promise<void> {
    const head = this.segments[0]!;
    if (this.active?.segment === head) {
      await this.active.fh.close();
      this.active = undefined;
    }
    // Records of an in-flight batch count as dropped even if that send later succeeds: the
    // count may over-state a loss by one batch, never under-state it.
    if (head.unacked > 0) this.hooks.onLoss?.('spool_full', head.unacked, { segment: head.seq });
    await this.removeHead();
  }

  /** Removes the head segment (fully delivered or dropped) and moves the cursor to the next. */
  private async removeHead(): Promise<void> {
    const head = this.segments.shift()!;
    await this.closeReader();
    this.pending = undefined;
    this.generation += 1;
    this.totalBytes -= head.size;
    this.totalUnacked -= head.unacked;
    const next = this.segments[0];
    if (!next) {
      await this.reset();
      return;
    }
    this.cursor = { seq: next.seq, offset: 0 };
    // Cursor first: a crash between the two leaves a segment below the cursor, deleted at open.
    await this.writeCursor();
    await unlink(head.path);
  }

  private async closeReader(): Promise<void> {
    const reader = this.reader;
    this.reader = undefined;
    await reader?.close();
  }

  private async readNow(max: number): Promise<SpoolBatch | undefined> {
    if (this.pending) return this.pending;
    for (;;) {
      const head = this.segments[0];
      if (!head) return undefined;
      if (this.reader?.seq !== head.seq) {
        await this.closeReader();
        this.reader = await SegmentReader.open(head, head.seq === this.cursor.seq ? this.cursor.offset : 0);
      }
      const scan = await this.reader.next(max, head.size);
      if (!head.recovered) for (const skip of scan.skips) this.reportSkip(skip, head.seq);
      const end = { seq: head.seq, offset: this.reader.offset };
      if (scan.records.length > 0) {
        this.pending = { records: scan.records, end, generation: this.generation };
        return this.pending;
      }
      if (this.active?.segment === head) {
        // Read to the end of the file still being written: nothing more for now.
        if (end.offset > this.cursor.offset) this.cursor = end;
        if (this.totalUnacked === 0) await this.reset();
        return undefined;
      }
      await this.removeHead();
    }
  }

  private async ackNow(batch: SpoolBatch): Promise<void> {
    // A batch from a segment that overflow dropped meanwhile: nothing left to acknowledge.
    if (batch !== this.pending || batch.generation !== this.generation) return;
    this.pending = undefined;
    const head = this.segments[0]!;
    head.unacked -= batch.records.length;
    this.totalUnacked -= batch.records.length;
    this.cursor = batch.end;
    if (this.totalUnacked === 0) {
      await this.reset();
      return;
    }
    if (this.active?.segment !== head && this.cursor.offset >= head.size) {
      await this.removeHead();
      return;
    }
    await this.writeCursor();
  }

  private async writeCursor(): Promise<void> {
    const path = join(this.options.dir, CURSOR_FILE);
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify(this.cursor));
      if (this.options.fsync === 'batch') await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  }

  /** Everything delivered: remove every file, so an idle collector leaves an empty directory. */
  private async reset(): Promise<void> {
    await this.closeReader();
    if (this.active) {
      await this.active.fh.close();
      this.active = undefined;
    }
    for (const segment of this.segments) await unlink(segment.path).catch(ignoreMissing);
    this.segments = [];
    this.pending = undefined;
    this.generation += 1;
    this.totalBytes = 0;
    this.totalUnacked = 0;
    this.cursor = { seq: this.nextSeq, offset: 0 };
    await unlink(join(this.options.dir, CURSOR_FILE)).catch(ignoreMissing);
    await unlink(join(this.options.dir, `${CURSOR_FILE}.tmp`)).catch(ignoreMissing);
  }
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
