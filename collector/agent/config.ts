import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, parseConfig } from '../../common/config.ts';
import { deliveryEnvShape } from '../delivery/index.ts';
import { CGROUP_LAYOUT_CHOICES } from './layout.ts';
import type { AgentConfig } from './agent.ts';
import type { StaticRule } from './static-map.ts';
import { loadStaticMap } from './static-map.ts';

/**
 * `faasmeter agent` configuration: environment variables only (a DaemonSet sets them), listed in
 * collector/agent/README.md. `--once` is for an operator checking the mapping on a node.
 */

export const DEFAULT_SKIP_CONTAINERS = 'queue-proxy,faasmeter,faasmeter-proxy,faasmeter-agent';

const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x !== ''));
const port = z.coerce.number().int('must be a whole number').min(0).max(65535, 'must be a port number (0-65535)');

export const AgentEnvSchema = z
  .object({
    ...deliveryEnvShape,
    FAASMETER_CGROUP_ROOT: z
      .string()
      .min(1)
      .default('/sys/fs/cgroup')
      .describe("The cgroup mount to walk, e.g. the host's `/sys/fs/cgroup` mounted into the agent: the cgroup2 mount on unified v2 hosts, the directory holding the v1 hierarchies on v1 and hybrid hosts"),
    FAASMETER_CGROUP_LAYOUT: z
      .enum(CGROUP_LAYOUT_CHOICES)
      .default('auto')
      .describe('How to read FAASMETER_CGROUP_ROOT: `v2` (unified), `v1` (v1 or hybrid hosts: the `memory`, `cpuacct` and `cpu` hierarchies), or `auto`: v2 when the root has `cgroup.controllers`, else v1'),
    FAASMETER_SAMPLE_INTERVAL_MS: z.coerce
      .number()
      .int('must be a whole number of milliseconds')
      .min(100, 'must be at least 100')
      .max(3_600_000, 'must be at most 3600000 (an hour)')
      .default(10_000)
      .describe('Time between two samples of every container'),
    FAASMETER_POD_METADATA_FILE: z
      .string()
      .min(1, 'must be a file path (unset it to disable)')
      .optional()
      .describe('Kubernetes: JSON list of pods on this node, re-read when it changes. This or FAASMETER_CGROUP_MAP_FILE is required'),
    FAASMETER_CGROUP_MAP_FILE: z
      .string()
      .min(1, 'must be a file path (unset it to disable)')
      .optional()
      .describe('Plain hosts: JSON list of `{path, tenant, function, revision?, instance?}`, read at start-up. This or FAASMETER_POD_METADATA_FILE is required'),
    FAASMETER_SKIP_CONTAINERS: list.default(DEFAULT_SKIP_CONTAINERS.split(',')).describe('Container names never metered (sidecars), comma-separated'),
    FAASMETER_NODE_NAME: z
      .string()
      .min(1)
      .optional()
      .describe("This node, in the event source `faasmeter/agent/<node>` and the static map's default instance names. Unset: NODE_NAME, else the host name"),
    FAASMETER_OPS_HOST: z.string().min(1).default('0.0.0.0').describe('Address of `/metrics`, `/healthz` and `/readyz`'),
    FAASMETER_OPS_PORT: port.default(9092).describe('Port of `/metrics`, `/healthz` and `/readyz`'),
  })
  .refine((env) => env.FAASMETER_POD_METADATA_FILE !== undefined || env.FAASMETER_CGROUP_MAP_FILE !== undefined, {
    message: 'set FAASMETER_POD_METADATA_FILE (Kubernetes) or FAASMETER_CGROUP_MAP_FILE (plain hosts), or both: without either no cgroup maps to a function',
    path: ['FAASMETER_POD_METADATA_FILE'],
  });

export type AgentEnv = z.output<typeof AgentEnvSchema>;

export interface AgentCommandConfig {
  agent: AgentConfig;
  ops: { host: string; port: number };
  env: AgentEnv;
  /** Sample once, print the events as JSON lines instead of sending them, and exit. */
  once: boolean;
}

export function toAgentConfig(env: AgentEnv, processEnv: NodeJS.ProcessEnv): AgentConfig {
  const staticMap: StaticRule[] = env.FAASMETER_CGROUP_MAP_FILE === undefined ? [] : loadStaticMap(env.FAASMETER_CGROUP_MAP_FILE);
  const node = env.FAASMETER_NODE_NAME ?? (processEnv.NODE_NAME || undefined) ?? hostname();
  return {
    cgroupRoot: env.FAASMETER_CGROUP_ROOT,
    cgroupLayout: env.FAASMETER_CGROUP_LAYOUT,
    sampleIntervalMs: env.FAASMETER_SAMPLE_INTERVAL_MS,
    podMetadataFile: env.FAASMETER_POD_METADATA_FILE,
    staticMap,
    skipContainers: env.FAASMETER_SKIP_CONTAINERS,
    node,
  };
}

export const AGENT_USAGE = `usage: faasmeter agent [--once]

Samples cgroup counters (v2, or v1 on v1 and hybrid hosts) of function containers on this node
and emits resource and lifecycle events. Configured by environment variables
(collector/agent/README.md):
  FAASMETER_CGROUP_ROOT          cgroup mount to walk (default /sys/fs/cgroup)
  FAASMETER_CGROUP_LAYOUT        auto, v2 or v1 (default auto: v2 when the root has cgroup.controllers)
  FAASMETER_SAMPLE_INTERVAL_MS   sampling interval (default 10000)
  FAASMETER_POD_METADATA_FILE    Kubernetes: JSON list of pods (uid, namespace, name, labels, containers)
  FAASMETER_CGROUP_MAP_FILE      plain hosts: JSON list of {path, tenant, function, revision?, instance?}
  FAASMETER_SKIP_CONTAINERS      container names never metered (default ${DEFAULT_SKIP_CONTAINERS})
  FAASMETER_NODE_NAME            this node (default NODE_NAME, else the host name)
  FAASMETER_OPS_HOST, FAASMETER_OPS_PORT   /metrics /healthz /readyz (default 0.0.0.0:9092)
Delivery (Kafka and the disk spool): FAASMETER_KAFKA_BROKERS, FAASMETER_SPOOL_DIR, ...

  --once   sample once, print the events it would send as JSON lines, and exit (no Kafka)
`;

/** Throws ConfigError naming the variable; returns undefined for --help. */
export function agentCommandConfig(argv: string[], processEnv: NodeJS.ProcessEnv): AgentCommandConfig | undefined {
  let values: { help?: boolean; once?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' }, once: { type: 'boolean' } }, strict: true }));
  } catch (error) {
    throw new ConfigError(`faasmeter agent: ${(error as Error).message}`);
  }
  if (values.help === true) return undefined;
  const env = parseConfig(AgentEnvSchema, processEnv, 'agent configuration');
  return {
    agent: toAgentConfig(env, processEnv),
    ops: { host: env.FAASMETER_OPS_HOST, port: env.FAASMETER_OPS_PORT },
    env,
    once: values.once === true,
  };
}
