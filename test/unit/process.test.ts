import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Component, Health } from '../../common/component.ts';
import { createLogger } from '../../common/log.ts';
import { freePort } from '../../common/net.ts';
import { runService } from '../../common/process.ts';
import { createTelemetry } from '../../common/telemetry.ts';

/** A component that reports ok from the first moment but finishes starting only when released. */
function slowStarter(name: string, stopOrder: string[]): Component & { release(): void } {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const component = {
    name,
    release: () => release(),
    start: () => released,
    stop: () => {
      stopOrder.push(name);
      return Promise.resolve();
    },
    health: (): Health => ({ status: 'ok' }),
  };
  return component;
}

describe('runService', () => {
  // runService listens for SIGTERM/SIGINT on the process; the test delivers them as events, with
  // the runner's own listeners set aside so they never see them.
  const signals = ['SIGTERM', 'SIGINT'] as const;
  let saved: Map<string, ((...args: unknown[]) => void)[]>;
  beforeEach(() => {
    saved = new Map(signals.map((s) => [s, process.listeners(s) as ((...args: unknown[]) => void)[]]));
    for (const s of signals) process.removeAllListeners(s);
  });
  afterEach(() => {
    for (const s of signals) {
      process.removeAllListeners(s);
      for (const listener of saved.get(s) ?? []) process.on(s, listener);
    }
  });

  it('is not ready until every component has started, however healthy they say they are, then a signal stops them in reverse', async () => {
    const stopOrder: string[] = [];
    const first = slowStarter('first', stopOrder);
    const second = slowStarter('second', stopOrder);
    const port = await freePort();
    const telemetry = createTelemetry('process-test');
    const starting = runService([first, second], { telemetry, log: createLogger('process-test', 'silent'), ops: { host: '127.0.0.1', port } });
    const readyz = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const listening = async () => {
      for (;;) {
        try {
          return await readyz();
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    };

    expect(await listening()).toMatchObject({ status: 503, body: { ready: false, starting: true, status: 'ok' } });
    first.release();
    expect(await readyz()).toMatchObject({ status: 503, body: { ready: false, starting: true } });
    // Liveness holds throughout: restarting a process that is still starting would not help.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    second.release();
    const service = await starting;
    expect(service.opsPort).toBe(port);
    expect(await readyz()).toEqual({
      status: 200,
      body: { status: 'ok', components: { first: { status: 'ok' }, second: { status: 'ok' } }, ready: true, starting: false, stopping: false },
    });

    process.emit('SIGTERM', 'SIGTERM');
    await service.done;
    expect(stopOrder).toEqual(['second', 'first']);
    await expect(fetch(`http://127.0.0.1:${port}/readyz`)).rejects.toThrow();
  });
});
