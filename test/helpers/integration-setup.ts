import { connect } from 'node:net';

/**
 * The integration suite needs the real local stack. Fail at once with the command that fixes it
 * rather than letting every test time out.
 */
function reachable(host: string, port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export default async function setup(): Promise<void> {
  const kafka = (process.env.FAASMETER_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',')[0] ?? '127.0.0.1:19092';
  const clickhouse = new URL(process.env.FAASMETER_CLICKHOUSE_URL ?? 'http://127.0.0.1:18123');
  const [kHost = '127.0.0.1', kPort = '19092'] = kafka.split(':');
  const checks = [
    { what: `Kafka at ${kafka}`, ok: await reachable(kHost, Number(kPort)) },
    { what: `ClickHouse at ${clickhouse.host}`, ok: await reachable(clickhouse.hostname, Number(clickhouse.port || 8123)) },
  ];
  const missing = checks.filter((c) => !c.ok).map((c) => c.what);
  if (missing.length > 0) {
    throw new Error(`integration tests need the local stack; not reachable: ${missing.join(', ')}. Run: npm run stack:up`);
  }
}
