import type { Component } from '../../common/component.ts';
import { createLogger } from '../../common/log.ts';
import { runUntilSignalled, startAll } from '../../common/process.ts';
import { startProcessTelemetry } from '../../common/telemetry.ts';
import { createDelivery, deliveryConfigFromParsedEnv } from '../delivery/index.ts';
import { createIngestKeys, loadIngestKeys } from './auth.ts';
import { receiversEnv } from './config.ts';
import { createReceiversServer } from './server.ts';

/** `faasmeter receivers`: configuration comes from the environment (collector/receivers/README.md). */
export async function runReceiversCommand(_argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const config = receiversEnv(env);
  const keys = createIngestKeys(loadIngestKeys(config.FAASMETER_INGEST_KEYS_FILE, config.FAASMETER_INGEST_KEYS));
  const telemetry = startProcessTelemetry('faasmeter-receivers');
  const log = createLogger('receivers');
  const delivery = createDelivery(deliveryConfigFromParsedEnv(config, 'faasmeter-receivers'), { log, meter: telemetry.meter });
  // Started in order, stopped in reverse: intake closes first, then delivery flushes what it took.
  const components: Component[] = [delivery];
  const server = createReceiversServer(
    {
      host: config.FAASMETER_RECEIVERS_HOST,
      port: config.FAASMETER_RECEIVERS_PORT,
      maxBodyBytes: config.FAASMETER_RECEIVERS_MAX_BODY_BYTES,
      keys,
    },
    { sink: delivery, telemetry, log, components: () => components, stopping: () => handle.stopping() },
  );
  components.push(server);
  const handle = runUntilSignalled(components, log, () => telemetry.shutdown());
  await startAll(components, log);
  await handle.done;
  return 0;
}
