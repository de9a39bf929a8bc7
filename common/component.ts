/**
 * Every long-lived part (producer, spool, consumer, writer, HTTP server) implements one contract,
 * so health and shutdown are aggregated the same way in every process.
 */
export type HealthStatus = 'ok' | 'degraded' | 'error';

export interface Health {
  status: HealthStatus;
  detail?: string;
}

export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): Health;
}

export interface HealthReport {
  status: HealthStatus;
  components: Record<string, Health>;
}

export function aggregateHealth(components: readonly Component[]): HealthReport {
  const report: HealthReport = { status: 'ok', components: {} };
  for (const component of components) {
    const health = component.health();
    report.components[component.name] = health;
    if (health.status === 'error') report.status = 'error';
    else if (health.status === 'degraded' && report.status === 'ok') report.status = 'degraded';
  }
  return report;
}
