import type { Component } from './component.ts';
import type { Logger } from './log.ts';
import { startOpsServer } from './ops-server.ts';
import type { Telemetry } from './telemetry.ts';

export interface ProcessHandle {
  stopping(): boolean;
  /** Resolves when shutdown finished; the entry point exits after it. */
  done: Promise<void>;
}

/**
 * Starts components in order and, on SIGTERM/SIGINT, stops them in reverse: intake stops first,
 * writers flush and commit, clients disconnect last. A second signal exits at once.
 */
export function runUntilSignalled(
  components: readonly Component[],
  log: Logger,
  onStopped: () => Promise<void> = async () => {},
): ProcessHandle {
  let stopping = false;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without a clean shutdown');
      process.exit(130);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    for (const component of [...components].reverse()) {
      try {
        await component.stop();
      } catch (error) {
        log.error({ err: error, component: component.name }, 'component failed to stop cleanly');
        process.exitCode = 1;
      }
    }
    await onStopped();
    log.info('stopped');
    resolveDone();
  };
  process.on('SIGTERM', (s) => void stop(s));
  process.on('SIGINT', (s) => void stop(s));
  return { stopping: () => stopping, done };
}

export async function startAll(components: readonly Component[], log: Logger): Promise<void> {
  for (const component of components) {
    await component.start();
    log.debug({ component: component.name }, 'started');
  }
}

export interface ServiceOptions {
  telemetry: Telemetry;
  log: Logger;
  /** Where /metrics, /healthz and /readyz listen. */
  ops: { host: string; port: number };
}

export interface RunningService {
  /** The ops listener's port (useful when configured as 0). */
  opsPort: number;
  /** Resolves when a signal stopped every component, the ops listener and telemetry. */
  done: Promise<void>;
}

/**
 * The life of a command whose components sit behind a standalone ops listener (proxy, agent,
 * meter). The listener comes first, so probes get answers during start-up (not ready until
 * every component started); on a signal the components stop in reverse, then the listener and
 * telemetry.
 */
export async function runService(components: readonly Component[], options: ServiceOptions): Promise<RunningService> {
  const { telemetry, log } = options;
  let handle: Pick<ProcessHandle, 'stopping'> = { stopping: () => false };
  let started = false;
  const ops = await startOpsServer(
    { telemetry, components: () => components, stopping: () => handle.stopping(), starting: () => !started },
    options.ops.host,
    options.ops.port,
  );
  const running = runUntilSignalled(components, log, async () => {
    await ops.close();
    await telemetry.shutdown();
  });
  handle = running;
  await startAll(components, log);
  started = true;
  return { opsPort: ops.port, done: running.done };
}
