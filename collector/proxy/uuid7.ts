import { randomFillSync } from 'node:crypto';

/**
 * UUIDv7 (RFC 9562 §5.7) for the per-call hot path: 48-bit Unix ms timestamp, version and
 * variant bits, 74 random bits. Random bytes come from a pool refilled 4 KiB at a time: one
 * getrandom() per ~400 ids instead of one per id, which on a virtual machine with costly syscalls
 * was most of the time the `uuid` package's v7 took (about 14 µs per id against 0.1 µs here).
 * Ids are ordered by millisecond, not within one; nothing relies on the finer order.
 */
const POOL = Buffer.allocUnsafe(4096);
const RANDOM_BYTES_PER_ID = 10;
let offset = POOL.length;

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function uuidv7(nowMs: number = Date.now()): string {
  if (offset + RANDOM_BYTES_PER_ID > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const r = offset;
  offset += RANDOM_BYTES_PER_ID;
  // The timestamp needs 48 bits: past 32, bitwise operators would truncate, so divide instead.
  const high = Math.floor(nowMs / 0x1000000);
  const low = nowMs % 0x1000000;
  return (
    HEX[(high / 0x10000) & 0xff]! +
    HEX[(high >>> 8) & 0xff]! +
    HEX[high & 0xff]! +
    HEX[(low >>> 16) & 0xff]! +
    '-' +
    HEX[(low >>> 8) & 0xff]! +
    HEX[low & 0xff]! +
    '-' +
    HEX[0x70 | (POOL[r]! & 0x0f)]! +
    HEX[POOL[r + 1]!]! +
    '-' +
    HEX[0x80 | (POOL[r + 2]! & 0x3f)]! +
    HEX[POOL[r + 3]!]! +
    '-' +
    HEX[POOL[r + 4]!]! +
    HEX[POOL[r + 5]!]! +
    HEX[POOL[r + 6]!]! +
    HEX[POOL[r + 7]!]! +
    HEX[POOL[r + 8]!]! +
    HEX[POOL[r + 9]!]!
  );
}
