import type { Component } from '../../common/component.ts';
import { createLogger } from '../../common/log.ts';
import { runService } from '../../common/process.ts';
import { startProcessTelemetry } from '../../common/telemetry.ts';
import { createDelivery, deliveryConfigFromParsedEnv } from '../delivery/index.ts';
import { PROXY_USAGE, proxyCommandConfig } from './config.ts';
import { createProxy } from './proxy.ts';

/** `faasmeter proxy`: the sidecar in front of one function instance (collector/proxy/README.md). */
export async function runProxyCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const config = proxyCommandConfig(argv, env);
  if (config === undefined) {
    process.stdout.write(PROXY_USAGE);
    return 0;
  }
  const telemetry = startProcessTelemetry('faasmeter-proxy');
  const log = createLogger('proxy');
  // The instance is in the client id, which also keys the default spool dir: one spool per proxy.
  const delivery = createDelivery(deliveryConfigFromParsedEnv(config.env, `faasmeter-proxy-${config.proxy.instance}`), {
    log,
    meter: telemetry.meter,
  });
  const proxy = createProxy(config.proxy, { sink: delivery, meter: telemetry.meter, log });
  // Stopped in reverse: the proxy drains and emits `stopped` first, then delivery flushes it.
  const components: Component[] = [delivery, proxy];
  const service = await runService(components, { telemetry, log, ops: config.ops });
  const { proxy: p } = config;
  log.info(
    { listen: `${p.host}:${proxy.port}`, target: `${p.target.host}:${p.target.port}`, ops: `${config.ops.host}:${service.opsPort}`, instance: p.instance },
    'proxy running',
  );
  await service.done;
  return 0;
}
