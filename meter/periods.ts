/**
 * Billing periods are calendar months in UTC, named 'YYYY-MM'. A call belongs to the month it
 * started in (its usage period) and is billed on that month's statement unless the month was
 * already closed for its tenant when the call arrived; then the next open month bills it as an
 * adjustment.
 */
export function periodOf(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export function nextPeriod(period: string): string {
  const [y, m] = period.split('-').map(Number) as [number, number];
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

export function periodBounds(period: string): { startMs: number; endMs: number } {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(period)) throw new RangeError(`period must be YYYY-MM, got "${period}"`);
  const [y, m] = period.split('-').map(Number) as [number, number];
  return { startMs: Date.UTC(y, m - 1, 1), endMs: Date.UTC(y, m, 1) };
}

/** The set of (tenant, period) pairs already closed; consulted for every billed call. */
export class ClosedPeriods {
  private readonly closed = new Map<string, Set<string>>();

  constructor(pairs: Iterable<{ tenant: string; period: string }> = []) {
    for (const p of pairs) this.add(p.tenant, p.period);
  }

  add(tenant: string, period: string): void {
    let set = this.closed.get(tenant);
    if (!set) this.closed.set(tenant, (set = new Set()));
    set.add(period);
  }

  isClosed(tenant: string, period: string): boolean {
    return this.closed.get(tenant)?.has(period) ?? false;
  }

  /** The first period at or after `usagePeriod` that is still open for the tenant. */
  billingPeriodFor(tenant: string, usagePeriod: string): string {
    let period = usagePeriod;
    while (this.isClosed(tenant, period)) period = nextPeriod(period);
    return period;
  }
}
