import { createClickHouse } from '../clickhouse/client.ts';
import { clickhouseConnection } from '../clickhouse/config.ts';
import { createLogger } from '../common/log.ts';
import { runService } from '../common/process.ts';
import { startProcessTelemetry } from '../common/telemetry.ts';
import { meterConfigFromEnv } from './config.ts';
import { loadPricingConfig } from './pricing/index.ts';
import { createMeterService } from './service.ts';

/** `faasmeter meter`: configuration comes from the environment (see meter/config.ts). */
export async function runMeterCommand(_argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const telemetry = startProcessTelemetry('faasmeter-meter');
  const config = meterConfigFromEnv(env);
  const log = createLogger('meter');
  const pricing = loadPricingConfig(config.FAASMETER_PRICING_FILE);
  const ch = createClickHouse(clickhouseConnection(config));
  const service = createMeterService(config, {
    ch,
    pricing,
    log,
    telemetry,
    // Offsets of the failing batch stay uncommitted, so after a fix the batch is billed.
    onFatal: () => process.exit(70),
  });
  const running = await runService(service.components, { telemetry, log, ops: { host: config.FAASMETER_OPS_HOST, port: config.FAASMETER_OPS_PORT } });
  log.info({ ops: `http://${config.FAASMETER_OPS_HOST}:${running.opsPort}`, group: config.FAASMETER_METER_GROUP }, 'meter running');
  await running.done;
  return 0;
}
