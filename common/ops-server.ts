import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Component } from './component.ts';
import { aggregateHealth } from './component.ts';
import type { Telemetry } from './telemetry.ts';

export interface OpsRoutes {
  telemetry: Telemetry;
  components: () => readonly Component[];
  /** True once shutdown began: readiness fails so traffic drains while liveness holds. */
  stopping: () => boolean;
  /**
   * True until the process has started every component: not ready, whatever the components say
   * (one not yet started may not know it will fail, as the agent's before its first sample).
   */
  starting?: () => boolean;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Handles /metrics, /healthz and /readyz; returns false for any other path. */
export function handleOps(routes: OpsRoutes, req: IncomingMessage, res: ServerResponse): boolean {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (path === '/metrics') {
    routes.telemetry.metricsHandler(req, res);
    return true;
  }
  if (path === '/healthz') {
    // Liveness only fails for what a restart fixes; a dependency outage is a readiness matter.
    const report = aggregateHealth(routes.components());
    const broken = Object.values(report.components).some((h) => h.status === 'error' && h.detail === 'fatal');
    sendJson(res, broken ? 503 : 200, { status: broken ? 'error' : 'ok' });
    return true;
  }
  if (path === '/readyz') {
    const report = aggregateHealth(routes.components());
    const starting = routes.starting?.() ?? false;
    const ready = !starting && !routes.stopping() && report.status !== 'error';
    sendJson(res, ready ? 200 : 503, { ...report, ready, starting, stopping: routes.stopping() });
    return true;
  }
  return false;
}

export interface OpsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** A standalone ops listener for processes whose main port serves something else (the proxy). */
export async function startOpsServer(routes: OpsRoutes, host: string, port: number): Promise<OpsServer> {
  const server = createServer((req, res) => {
    if (!handleOps(routes, req, res)) sendJson(res, 404, { error: { code: 'not_found', message: 'no such endpoint' } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
