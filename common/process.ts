import type { Component } from './component.ts';
import type { Logger } from './log.ts';

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
