import { createClickHouse } from '../clickhouse/client.ts';
import { clickhouseConnection } from '../clickhouse/config.ts';
import { createLogger } from '../common/log.ts';
import { runUntilSignalled, startAll } from '../common/process.ts';
import type { ProcessHandle } from '../common/process.ts';
import { startProcessTelemetry } from '../common/telemetry.ts';
import { loadPricingConfig } from '../meter/pricing/index.ts';
import { createApiApp } from './app.ts';
import { apiConfigFromEnv, limitsFromConfig } from './config.ts';
import { KeyHasher, KeyStore } from './keys.ts';
import { createApiServer, createClickHouseHealth } from './server.ts';

/**
 * `faasmeter api`: the billing API, with /metrics, /healthz and /readyz on the same port.
 * Configuration comes from the environment (api/config.ts); see docs/api.md.
 */
export async function runApiCommand(_argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const telemetry = startProcessTelemetry('faasmeter-api');
  const config = apiConfigFromEnv(env);
  const log = createLogger('api');
  const pricing = loadPricingConfig(config.FAASMETER_PRICING_FILE);
  const ch = createClickHouse({
    ...clickhouseConnection(config),
    requestTimeoutMs: config.FAASMETER_API_REQUEST_TIMEOUT_MS,
    application: 'faasmeter-api',
    logger: log,
  });
  const clickhouse = createClickHouseHealth(ch, log);
  const app = createApiApp({
    ch,
    pricing,
    keys: new KeyStore(ch, new KeyHasher(config.FAASMETER_API_KEY_PEPPER)),
    limits: limitsFromConfig(config),
    log,
    meter: telemetry.meter,
    ops: { telemetry, components: () => [clickhouse, server], stopping: () => handle.stopping() },
  });
  const server = createApiServer(app, config.FAASMETER_API_HOST, config.FAASMETER_API_PORT);
  const components = [clickhouse, server];
  const handle: ProcessHandle = runUntilSignalled(components, log, async () => {
    await ch.close();
    await telemetry.shutdown();
  });
  await startAll(components, log);
  log.info({ url: `http://${config.FAASMETER_API_HOST}:${server.port()}`, database: config.FAASMETER_CLICKHOUSE_DATABASE }, 'api listening');
  await handle.done;
  return 0;
}
