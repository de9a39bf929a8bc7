import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { envBool, fallbackValue, parseConfig } from '../../common/config.ts';
import type { EnvFallback } from '../../common/config.ts';
import { Architecture, functionName, instanceId, revisionName, StopReason, tenantId } from '../../contract/index.ts';
import { deliveryEnvShape } from '../delivery/index.ts';

/**
 * `faasmeter proxy` configuration. Every setting is an environment variable (the way Knative
 * configures queue-proxy) and may be overridden by the flag of the same name: `--memory-mb 512`
 * sets FAASMETER_MEMORY_MB. Variables and flags are merged first and parsed by one schema, so an
 * error always names the variable.
 */

/** Flag → variable. Flags exist for running the proxy by hand; deployments use the variables. */
export const PROXY_FLAGS = {
  tenant: 'FAASMETER_TENANT',
  function: 'FAASMETER_FUNCTION',
  revision: 'FAASMETER_REVISION',
  instance: 'FAASMETER_INSTANCE',
  'memory-mb': 'FAASMETER_MEMORY_MB',
  arch: 'FAASMETER_ARCH',
  host: 'FAASMETER_PROXY_HOST',
  port: 'FAASMETER_PROXY_PORT',
  target: 'FAASMETER_TARGET',
  concurrency: 'FAASMETER_CONCURRENCY',
  'queue-depth': 'FAASMETER_QUEUE_DEPTH',
  'queue-timeout-ms': 'FAASMETER_QUEUE_TIMEOUT_MS',
  'ready-timeout-ms': 'FAASMETER_READY_TIMEOUT_MS',
  'readiness-path': 'FAASMETER_READINESS_PATH',
  'call-timeout-ms': 'FAASMETER_CALL_TIMEOUT_MS',
  'request-id-headers': 'FAASMETER_REQUEST_ID_HEADERS',
  provisioned: 'FAASMETER_PROVISIONED',
  'stop-reason': 'FAASMETER_STOP_REASON',
  'drain-delay-ms': 'FAASMETER_DRAIN_DELAY_MS',
  'drain-timeout-ms': 'FAASMETER_DRAIN_TIMEOUT_MS',
  'idle-timeout-ms': 'FAASMETER_IDLE_TIMEOUT_MS',
  'upstream-idle-timeout-ms': 'FAASMETER_UPSTREAM_IDLE_TIMEOUT_MS',
  'ops-host': 'FAASMETER_OPS_HOST',
  'ops-port': 'FAASMETER_OPS_PORT',
} as const;

export const DEFAULT_REQUEST_ID_HEADERS = 'x-request-id,x-amzn-requestid,ce-id,x-faas-invocation-id';

const required = <T extends z.ZodType<unknown, string>>(schema: T, hint: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? `is required (${hint})` : 'must be a string') }).pipe(schema);

const port = z.coerce.number().int('must be a whole number').min(0).max(65535, 'must be a port number (0-65535)');
const ms = (max: number) => z.coerce.number().int('must be a whole number of milliseconds').min(0, 'must not be negative').max(max);

function nodeArch(): string | undefined {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'arm64';
  return undefined;
}

/**
 * Knative gives the user container K_SERVICE/K_REVISION and queue-proxy SERVING_*; Kubernetes'
 * downward API commonly provides POD_NAME/POD_NAMESPACE; the machine itself is the last resort.
 * Used only when FAASMETER_* is unset; flags still win.
 */
export const PROXY_FALLBACKS: Record<string, EnvFallback> = {
  FAASMETER_TENANT: { variables: ['SERVING_NAMESPACE', 'POD_NAMESPACE'] },
  FAASMETER_FUNCTION: { variables: ['K_SERVICE', 'SERVING_SERVICE'] },
  FAASMETER_REVISION: { variables: ['K_REVISION', 'SERVING_REVISION'] },
  FAASMETER_INSTANCE: { variables: ['POD_NAME', 'SERVING_POD', 'HOSTNAME'], otherwise: { what: 'the host name', value: hostname } },
  FAASMETER_ARCH: { variables: [], otherwise: { what: '`x86_64` on x64, `arm64` on arm64', value: nodeArch } },
};

export const ProxyEnvSchema = z.object({
  ...deliveryEnvShape,
  FAASMETER_TENANT: required(tenantId, 'the tenant billed for this function; or SERVING_NAMESPACE/POD_NAMESPACE').describe(
    "The tenant billed for this function's calls",
  ),
  FAASMETER_FUNCTION: required(functionName, 'the function name; or K_SERVICE').describe('The function (`faas.name`)'),
  FAASMETER_REVISION: required(revisionName, 'the function version; or K_REVISION').describe('The function version (`faas.version`)'),
  FAASMETER_INSTANCE: required(instanceId, 'this instance (pod) name; or POD_NAME/HOSTNAME').describe('This instance, e.g. the pod (`faas.instance`)'),
  FAASMETER_MEMORY_MB: z.coerce
    .number({ error: 'must be the memory configured for the function, in MB' })
    .int('must be a whole number of MB')
    .min(1, 'must be at least 1')
    .max(1024 * 1024)
    .describe('Memory configured for the function, in MB; billing multiplies its duration by it'),
  FAASMETER_ARCH: required(Architecture, `x86_64 or arm64; cannot be derived from process.arch "${process.arch}"`).describe(
    'CPU architecture the function runs on, `x86_64` or `arm64` (prices differ); set it on other CPUs',
  ),
  FAASMETER_PROXY_HOST: z.string().min(1).default('0.0.0.0').describe('Address clients connect to'),
  FAASMETER_PROXY_PORT: port.default(8012).describe('Port clients connect to'),
  FAASMETER_TARGET: z
    .url({ protocol: /^http$/, error: 'must be an http:// URL of the function, e.g. http://127.0.0.1:8080' })
    .default('http://127.0.0.1:8080')
    .transform((s) => new URL(s))
    .refine((u) => u.pathname === '/' && u.search === '', 'must not have a path or query: requests keep their own')
    .describe('The function: an http:// URL without path or query'),
  FAASMETER_CONCURRENCY: z.coerce
    .number()
    .int('must be a whole number')
    .min(0, 'must be 0 (unlimited) or more')
    .max(100_000)
    .default(0)
    .describe('Calls in flight at the function at once; 0: unlimited'),
  FAASMETER_QUEUE_DEPTH: z.coerce
    .number()
    .int('must be a whole number')
    .min(0)
    .max(1_000_000)
    .default(1_000)
    .describe('Requests held while the function starts or every concurrency slot is busy; beyond it: 503 `queue_full`'),
  FAASMETER_QUEUE_TIMEOUT_MS: ms(86_400_000).default(30_000).describe('A request held for a concurrency slot longer than this gets 503 `queue_timeout`; 0: no limit'),
  FAASMETER_READY_TIMEOUT_MS: ms(86_400_000)
    .default(60_000)
    .describe("A request held for the function's first readiness longer than this gets 503 `ready_timeout`; 0: no limit"),
  FAASMETER_READINESS_PATH: z
    .string()
    .refine((s) => s === '' || s.startsWith('/'), 'must be empty (TCP connect) or a path starting with "/"')
    .default('')
    .describe('Empty: the function is ready when it accepts a TCP connection; else HTTP GET on this path, 200–399 is ready'),
  FAASMETER_CALL_TIMEOUT_MS: ms(86_400_000)
    .default(300_000)
    .describe("A call past this gets 504 `call_timeout` (or is cut) and status `timeout`; 0: none. The default is Knative's"),
  FAASMETER_REQUEST_ID_HEADERS: z
    .string()
    .default(DEFAULT_REQUEST_ID_HEADERS)
    .transform((s) => s.split(',').map((h) => h.trim().toLowerCase()).filter((h) => h.length > 0))
    .refine((list) => list.every((h) => /^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(h)), 'must be a comma-separated list of header names')
    .describe("Headers, comma-separated in order of preference, that may carry the platform's invocation id; empty: always a new UUIDv7"),
  FAASMETER_PROVISIONED: envBool.default(false).describe('The function has min-scale > 0: marked on lifecycle events, since idle time is billable'),
  FAASMETER_STOP_REASON: StopReason.default('scale_to_zero').describe('Stop reason reported on SIGTERM; `deploy` during a rollout'),
  FAASMETER_DRAIN_DELAY_MS: ms(600_000)
    .default(0)
    .describe('After readiness fails on shutdown, keep accepting requests this long so load balancers notice first'),
  FAASMETER_DRAIN_TIMEOUT_MS: ms(3_600_000).default(30_000).describe('Then wait this long for calls in flight before cutting them'),
  FAASMETER_IDLE_TIMEOUT_MS: ms(86_400_000)
    .default(620_000)
    .describe(
      'An idle client connection is closed after this long; keep it above the idle timeout of whatever pools connections in front (AWS ALB and nginx 60 s, Google Cloud load balancers 600 s), so that side closes first and no request meets a closing connection; 0: never',
    ),
  FAASMETER_UPSTREAM_IDLE_TIMEOUT_MS: ms(3_600_000)
    .min(1, 'must be at least 1')
    .default(1_500)
    .describe(
      "A pooled connection to the function is closed after being idle this long; keep it below the function server's own keep-alive timeout (gunicorn 2 s, Node.js and uvicorn 5 s), so this side closes first. A shorter `Keep-Alive: timeout` the function announces wins, less 1 s",
    ),
  FAASMETER_OPS_HOST: z.string().min(1).default('0.0.0.0').describe('Address of `/metrics`, `/healthz` and `/readyz`'),
  FAASMETER_OPS_PORT: port.default(9091).describe('Port of `/metrics`, `/healthz` and `/readyz`'),
});

export type ProxyEnv = z.output<typeof ProxyEnvSchema>;

/** What `createProxy` needs; tests build it directly with `proxyConfig({...})`. */
export interface ProxyConfig {
  tenant: string;
  function: string;
  revision: string;
  instance: string;
  memoryMb: number;
  arch: z.infer<typeof Architecture>;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  target: { host: string; port: number };
  /** Calls in flight at the function at once; 0 = unlimited. */
  concurrency: number;
  /** Requests held while the function starts or all concurrency slots are busy; beyond it: 503. */
  queueDepth: number;
  /** A request held for a concurrency slot longer than this gets 503. */
  queueTimeoutMs: number;
  /** A request held for the function's first readiness longer than this gets 503. */
  readyTimeoutMs: number;
  /** '' = probe readiness by TCP connect; else HTTP GET on this path, 200-399 = ready. */
  readinessPath: string;
  /** 0 = none. Past it the proxy answers 504 (or cuts a response already under way). */
  callTimeoutMs: number;
  /** Lower-case header names, in order of preference, that may carry the platform's invocation id. */
  requestIdHeaders: readonly string[];
  provisioned: boolean;
  stopReason: z.infer<typeof StopReason>;
  /** After readiness fails on shutdown, keep serving this long so load balancers notice first. */
  drainDelayMs: number;
  /** How long shutdown waits for calls in flight before cutting them. */
  drainTimeoutMs: number;
  /** An idle client connection is closed after this long; 0 = never. */
  idleTimeoutMs: number;
  /** An idle pooled connection to the function is closed after this long. */
  upstreamIdleTimeoutMs: number;
}

export interface ProxyCommandConfig {
  proxy: ProxyConfig;
  ops: { host: string; port: number };
  env: ProxyEnv;
}

export function toProxyConfig(env: ProxyEnv): ProxyConfig {
  return {
    tenant: env.FAASMETER_TENANT,
    function: env.FAASMETER_FUNCTION,
    revision: env.FAASMETER_REVISION,
    instance: env.FAASMETER_INSTANCE,
    memoryMb: env.FAASMETER_MEMORY_MB,
    arch: env.FAASMETER_ARCH,
    host: env.FAASMETER_PROXY_HOST,
    port: env.FAASMETER_PROXY_PORT,
    target: { host: env.FAASMETER_TARGET.hostname.replace(/^\[|\]$/g, ''), port: Number(env.FAASMETER_TARGET.port || 80) },
    concurrency: env.FAASMETER_CONCURRENCY,
    queueDepth: env.FAASMETER_QUEUE_DEPTH,
    queueTimeoutMs: env.FAASMETER_QUEUE_TIMEOUT_MS,
    readyTimeoutMs: env.FAASMETER_READY_TIMEOUT_MS,
    readinessPath: env.FAASMETER_READINESS_PATH,
    callTimeoutMs: env.FAASMETER_CALL_TIMEOUT_MS,
    requestIdHeaders: env.FAASMETER_REQUEST_ID_HEADERS,
    provisioned: env.FAASMETER_PROVISIONED,
    stopReason: env.FAASMETER_STOP_REASON,
    drainDelayMs: env.FAASMETER_DRAIN_DELAY_MS,
    drainTimeoutMs: env.FAASMETER_DRAIN_TIMEOUT_MS,
    idleTimeoutMs: env.FAASMETER_IDLE_TIMEOUT_MS,
    upstreamIdleTimeoutMs: env.FAASMETER_UPSTREAM_IDLE_TIMEOUT_MS,
  };
}

/** Defaults for everything but identity and memory; for tests and embedding (the demo). */
export function proxyConfig(
  overrides: Pick<ProxyConfig, 'tenant' | 'function' | 'revision' | 'instance' | 'memoryMb' | 'target'> & Partial<ProxyConfig>,
): ProxyConfig {
  const env = parseConfig(
    ProxyEnvSchema,
    {
      FAASMETER_TENANT: overrides.tenant,
      FAASMETER_FUNCTION: overrides.function,
      FAASMETER_REVISION: overrides.revision,
      FAASMETER_INSTANCE: overrides.instance,
      FAASMETER_MEMORY_MB: String(overrides.memoryMb),
      FAASMETER_ARCH: overrides.arch ?? nodeArch(),
    },
    'proxy configuration',
  );
  return { ...toProxyConfig(env), host: '127.0.0.1', port: 0, ...overrides };
}

export const PROXY_USAGE = `usage: faasmeter proxy [--flag value ...]

Every flag overrides the environment variable beside it:
${Object.entries(PROXY_FLAGS)
  .map(([flag, variable]) => `  --${flag.padEnd(20)} ${variable}`)
  .join('\n')}
Delivery (Kafka and the disk spool) is configured by FAASMETER_KAFKA_BROKERS, FAASMETER_SPOOL_DIR, ...
(see collector/delivery/config.ts). docs/configuration.md lists every setting.
`;

/**
 * Merges flags over variables, applies the platform fallbacks (K_REVISION, POD_NAME, ...) and
 * parses the result. Throws ConfigError naming the variable; returns undefined for --help.
 */
export function proxyCommandConfig(argv: string[], processEnv: NodeJS.ProcessEnv): ProxyCommandConfig | undefined {
  const options = Object.fromEntries(
    Object.keys(PROXY_FLAGS).map((flag) => [flag, { type: flag === 'provisioned' ? ('boolean' as const) : ('string' as const) }]),
  );
  const parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true });
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help === true) return undefined;
  const merged: Record<string, string | undefined> = { ...processEnv };
  for (const [variable, fallback] of Object.entries(PROXY_FALLBACKS)) merged[variable] ??= fallbackValue(fallback, processEnv);
  for (const [flag, variable] of Object.entries(PROXY_FLAGS)) {
    const value = values[flag];
    if (value !== undefined) merged[variable] = typeof value === 'boolean' ? String(value) : value;
  }
  const env = parseConfig(ProxyEnvSchema, merged, 'proxy configuration');
  return { proxy: toProxyConfig(env), ops: { host: env.FAASMETER_OPS_HOST, port: env.FAASMETER_OPS_PORT }, env };
}
