/**
 * A token bucket per API key, in memory: `burst` requests at once, refilled at `perSecond`.
 * Per process: N API replicas allow N times the rate, which is acceptable for a guard against
 * runaway clients (billing data is not a scarce resource to ration exactly).
 */
export class RateLimiter {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(perSecond: number, burst: number, now: () => number = () => performance.now()) {
    this.#perSecond = perSecond;
    this.#burst = burst;
    this.#now = now;
  }

  /** Takes one token; when none is left, how many seconds until one is (for Retry-After). */
  take(key: string): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, atMs: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.atMs) / 1000) * this.#perSecond);
    bucket.atMs = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    if (this.#buckets.size > 10_000) this.#forgetFull(now);
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perSecond)) };
  }

  /** Buckets that have refilled completely carry no state worth keeping. */
  #forgetFull(now: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((now - b.atMs) / 1000) * this.#perSecond >= this.#burst) this.#buckets.delete(key);
    }
  }
}
