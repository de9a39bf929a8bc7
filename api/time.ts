import { ApiError } from './errors.ts';

/**
 * Time in the API is UTC. A bound is `YYYY-MM-DD` (midnight) or `YYYY-MM-DDTHH:MM:SSZ`; ranges
 * are half-open, [from, to). Years 2000–2099 only, which keeps every bound inside the DateTime
 * range both ClickHouse generations share.
 */
export const TIMESTAMP_PATTERN = '^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)?$';
export const PERIOD_PATTERN = '^20[0-9]{2}-(0[1-9]|1[0-2])$';

export type Window = 'hour' | 'day' | 'month';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Epoch ms of a bound that matches TIMESTAMP_PATTERN; 422 when it is no calendar date (Feb 30). */
export function parseBound(text: string, field: string): number {
  const date = text.slice(0, 10);
  const ms = Date.parse(text.length === 10 ? `${date}T00:00:00Z` : text);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== date) {
    throw new ApiError(422, 'invalid_range', `${field.replace('query.', '')}: ${date} is not a calendar date`, { field });
  }
  return ms;
}

export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

function aligned(ms: number, window: Window): boolean {
  if (window === 'hour') return ms % HOUR_MS === 0;
  if (window === 'day') return ms % DAY_MS === 0;
  const d = new Date(ms);
  return ms % DAY_MS === 0 && d.getUTCDate() === 1;
}

export interface Range {
  fromMs: number;
  toMs: number;
}

/**
 * from < to, both on the window's boundaries (a whole hour, a UTC midnight, the 1st of a month),
 * and at most `maxDays` apart. Each failure is a 422 naming the field.
 */
export function checkedRange(fromText: string, toText: string, window: Window, maxDays: number): Range {
  const fromMs = parseBound(fromText, 'query.from');
  const toMs = parseBound(toText, 'query.to');
  for (const [ms, field] of [
    [fromMs, 'query.from'],
    [toMs, 'query.to'],
  ] as const) {
    if (!aligned(ms, window)) {
      const unit = window === 'hour' ? 'a whole hour (MM:SS = 00:00)' : window === 'day' ? 'a UTC midnight' : 'the first day of a month at 00:00 UTC';
      throw new ApiError(422, 'invalid_range', `${field.slice(6)} must be ${unit} for window=${window}`, { field });
    }
  }
  if (toMs <= fromMs) throw new ApiError(422, 'invalid_range', 'to must be later than from (the range is [from, to))', { field: 'query.to' });
  if (toMs - fromMs > maxDays * DAY_MS) {
    throw new ApiError(422, 'range_too_long', `the range may span at most ${maxDays} days for window=${window}`, { field: 'query.to' });
  }
  return { fromMs, toMs };
}

/** Calendar month bounds of 'YYYY-MM' (already matched against PERIOD_PATTERN). */
export function monthBounds(period: string): Range {
  const y = Number(period.slice(0, 4));
  const m = Number(period.slice(5, 7));
  return { fromMs: Date.UTC(y, m - 1, 1), toMs: Date.UTC(y, m, 1) };
}

export function dayString(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
