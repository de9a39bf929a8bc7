import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../common/config.ts';
import { DEFAULT_REQUEST_ID_HEADERS, proxyCommandConfig } from '../../collector/proxy/config.ts';

const base = {
  FAASMETER_TENANT: 'acme',
  FAASMETER_FUNCTION: 'thumbnail',
  FAASMETER_REVISION: 'thumbnail-00001',
  FAASMETER_INSTANCE: 'thumbnail-00001-abcde',
  FAASMETER_MEMORY_MB: '256',
  FAASMETER_ARCH: 'arm64',
};

function configError(argv: string[], env: NodeJS.ProcessEnv): string {
  try {
    proxyCommandConfig(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('proxy configuration', () => {
  it('applies queue-proxy-like defaults', () => {
    const { proxy, ops } = proxyCommandConfig([], base)!;
    expect(proxy).toMatchObject({
      tenant: 'acme',
      memoryMb: 256,
      arch: 'arm64',
      host: '0.0.0.0',
      port: 8012,
      target: { host: '127.0.0.1', port: 8080 },
      concurrency: 0,
      queueDepth: 1000,
      readinessPath: '',
      callTimeoutMs: 300_000,
      provisioned: false,
      stopReason: 'scale_to_zero',
      requestIdHeaders: DEFAULT_REQUEST_ID_HEADERS.split(','),
    });
    expect(ops).toEqual({ host: '0.0.0.0', port: 9091 });
  });

  it('falls back to the Knative and Kubernetes variables when FAASMETER_* is unset', () => {
    const { proxy } = proxyCommandConfig([], {
      K_SERVICE: 'resize',
      K_REVISION: 'resize-00007',
      POD_NAME: 'resize-00007-deployment-1',
      POD_NAMESPACE: 'team-a',
      FAASMETER_MEMORY_MB: '128',
      FAASMETER_ARCH: 'x86_64',
    })!;
    expect(proxy).toMatchObject({ tenant: 'team-a', function: 'resize', revision: 'resize-00007', instance: 'resize-00007-deployment-1' });
  });

  it('derives the architecture from the Node process when FAASMETER_ARCH is unset', () => {
    const { FAASMETER_ARCH: _, ...env } = base;
    const { proxy } = proxyCommandConfig([], env)!;
    expect(proxy.arch).toBe(process.arch === 'arm64' ? 'arm64' : 'x86_64');
  });

  it('lets each flag override its variable', () => {
    const { proxy, ops } = proxyCommandConfig(
      ['--port', '9000', '--memory-mb', '512', '--provisioned', '--target', 'http://localhost:3000', '--concurrency', '4', '--ops-port', '0', '--request-id-headers', 'X-Trace-Id, ce-id'],
      { ...base, FAASMETER_PROXY_PORT: '8012' },
    )!;
    expect(proxy).toMatchObject({ port: 9000, memoryMb: 512, provisioned: true, target: { host: 'localhost', port: 3000 }, concurrency: 4 });
    expect(proxy.requestIdHeaders).toEqual(['x-trace-id', 'ce-id']);
    expect(ops.port).toBe(0);
  });

  it('returns nothing for --help', () => {
    expect(proxyCommandConfig(['--help'], {})).toBeUndefined();
  });

  it('names the variable in every error', () => {
    const { FAASMETER_MEMORY_MB: _, ...noMemory } = base;
    expect(configError([], noMemory)).toMatch(/FAASMETER_MEMORY_MB: must be the memory configured/);
    const { FAASMETER_TENANT: __, ...noTenant } = base;
    expect(configError([], noTenant)).toMatch(/FAASMETER_TENANT: is required/);
    expect(configError([], { ...base, FAASMETER_TENANT: 'a tenant' })).toMatch(/FAASMETER_TENANT: must be letters/);
    expect(configError([], { ...base, FAASMETER_TARGET: 'https://fn:8443' })).toMatch(/FAASMETER_TARGET: must be an http:\/\/ URL/);
    expect(configError([], { ...base, FAASMETER_TARGET: 'http://fn:8080/api' })).toMatch(/FAASMETER_TARGET: must not have a path/);
    expect(configError([], { ...base, FAASMETER_CONCURRENCY: '-1' })).toMatch(/FAASMETER_CONCURRENCY: must be 0 \(unlimited\) or more/);
    expect(configError([], { ...base, FAASMETER_READINESS_PATH: 'healthz' })).toMatch(/FAASMETER_READINESS_PATH/);
    expect(configError([], { ...base, FAASMETER_STOP_REASON: 'bored' })).toMatch(/FAASMETER_STOP_REASON/);
    expect(configError([], { ...base, FAASMETER_PROVISIONED: 'maybe' })).toMatch(/FAASMETER_PROVISIONED: must be true or false/);
    expect(configError(['--memory-mb', '1.5'], base)).toMatch(/FAASMETER_MEMORY_MB: must be a whole number/);
  });

  it('refuses unknown flags', () => {
    expect(() => proxyCommandConfig(['--bogus', '1'], base)).toThrow(/bogus/);
  });
});
