import type { Component } from '../../common/component.ts';
import { createLogger } from '../../common/log.ts';
import { startOpsServer } from '../../common/ops-server.ts';
import type { ProcessHandle } from '../../common/process.ts';
import { runUntilSignalled, startAll } from '../../common/process.ts';
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
  let handle: Pick<ProcessHandle, 'stopping'> = { stopping: () => false };
  const ops = await startOpsServer(
    { telemetry, components: () => components, stopping: () => handle.stopping() },
    config.ops.host,
    config.ops.port,
  );
  const running = runUntilSignalled(components, log, async () => {
    await ops.close();
    await telemetry.shutdown();
  });
  handle = running;
  await startAll(components, log);
  const { proxy: p } = config;
  log.info(
    { listen: `${p.host}:${proxy.port}`, target: `${p.target.host}:${p.target.port}`, ops: `${config.ops.host}:${ops.port}`, instance: p.instance },
    'proxy running',
  );
  await running.done;
  return 0;
}
