import type { Component } from '../../common/component.ts';
import { createLogger } from '../../common/log.ts';
import { runService } from '../../common/process.ts';
import { createTelemetry, startProcessTelemetry } from '../../common/telemetry.ts';
import { createDelivery, deliveryConfigFromParsedEnv } from '../delivery/index.ts';
import type { AgentConfig } from './agent.ts';
import { createAgent } from './agent.ts';
import { AGENT_USAGE, agentCommandConfig } from './config.ts';
import { checkCgroupRoot } from './layout.ts';

/** `--once`: events go to stdout as JSON lines, the summary to stderr; nothing is sent. */
async function sampleAndPrint(config: AgentConfig): Promise<number> {
  const layout = await checkCgroupRoot(config.cgroupRoot, config.cgroupLayout);
  const telemetry = createTelemetry('faasmeter-agent');
  const agent = createAgent(config, {
    sink: { emit: (event) => process.stdout.write(`${JSON.stringify(event)}\n`) },
    meter: telemetry.meter,
    log: createLogger('agent', 'silent'),
    layout,
  });
  const report = await agent.sampleOnce();
  process.stderr.write(`${JSON.stringify({ root: config.cgroupRoot, layout: layout.version, ...report })}\n`);
  await telemetry.shutdown();
  return report.ok ? 0 : 1;
}

/** `faasmeter agent`: the node agent (collector/agent/README.md). */
export async function runAgentCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const config = agentCommandConfig(argv, env);
  if (config === undefined) {
    process.stdout.write(AGENT_USAGE);
    return 0;
  }
  if (config.once) return sampleAndPrint(config.agent);
  // Before anything starts: on a root it cannot read the agent can do nothing, and says why.
  const layout = await checkCgroupRoot(config.agent.cgroupRoot, config.agent.cgroupLayout);
  const telemetry = startProcessTelemetry('faasmeter-agent');
  const log = createLogger('agent');
  // The node is in the client id, which also keys the default spool dir: one spool per agent.
  const delivery = createDelivery(deliveryConfigFromParsedEnv(config.env, `faasmeter-agent-${config.agent.node}`), {
    log,
    meter: telemetry.meter,
  });
  const agent = createAgent(config.agent, { sink: delivery, meter: telemetry.meter, log, layout });
  // Stopped in reverse: sampling ends first, then delivery flushes what it was given.
  const components: Component[] = [delivery, agent];
  const service = await runService(components, { telemetry, log, ops: config.ops });
  log.info(
    {
      root: config.agent.cgroupRoot,
      intervalMs: config.agent.sampleIntervalMs,
      podMetadataFile: config.agent.podMetadataFile,
      staticMapEntries: config.agent.staticMap.length,
      node: config.agent.node,
      ops: `${config.ops.host}:${service.opsPort}`,
    },
    'agent running',
  );
  await service.done;
  return 0;
}
