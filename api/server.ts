import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { ClickHouse } from '../clickhouse/client.ts';
import type { Component, Health } from '../common/component.ts';
import type { Logger } from '../common/log.ts';

export interface ApiServer extends Component {
  /** The bound port (useful with port 0). */
  port(): number;
}

/** The HTTP listener as a Component: listening is healthy; stop drains open requests. */
export function createApiServer(app: Express, host: string, port: number): ApiServer {
  let server: Server | undefined;
  let health: Health = { status: 'error', detail: 'not listening' };
  return {
    name: 'http',
    async start() {
      const s = createServer(app);
      // Slow-client guards: a request must arrive whole within 30 s; idle keep-alive sockets close.
      s.requestTimeout = 30_000;
      s.headersTimeout = 10_000;
      s.keepAliveTimeout = 5_000;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => resolve());
      });
      server = s;
      health = { status: 'ok' };
    },
    async stop() {
      const s = server;
      if (!s) return;
      health = { status: 'error', detail: 'stopped' };
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeIdleConnections();
      });
    },
    health: () => health,
    port: () => (server?.address() as AddressInfo | null)?.port ?? 0,
  };
}

/** ClickHouse reachability for /readyz, from a ping every few seconds (never per request). */
export function createClickHouseHealth(ch: ClickHouse, log: Logger, intervalMs = 5_000): Component {
  let health: Health = { status: 'error', detail: 'not checked yet' };
  let timer: NodeJS.Timeout | undefined;
  const check = async () => {
    try {
      await ch.ping();
      health = { status: 'ok' };
    } catch (error) {
      // The reason goes to the log, not to /readyz (it can name hosts and addresses).
      if (health.status === 'ok') log.warn({ err: error }, 'ClickHouse ping failed');
      health = { status: 'error', detail: 'ClickHouse unreachable' };
    }
  };
  return {
    name: 'clickhouse',
    async start() {
      await check();
      timer = setInterval(() => void check(), intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      return Promise.resolve();
    },
    health: () => health,
  };
}
