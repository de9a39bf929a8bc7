import { request } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Probes back off from 5 ms to this cap. The time between the function becoming ready and the
 * next probe is added to the measured start-up and to every held request's wait, so the cap is
 * small; a probe on loopback costs a connect (and a tiny GET), well under a millisecond.
 */
export const PROBE_INITIAL_MS = 5;
export const PROBE_MAX_INTERVAL_MS = 50;
const PROBE_TIMEOUT_MS = 1_000;

export interface ProbeTarget {
  host: string;
  port: number;
  /** '' = TCP connect; else HTTP GET on this path, 200-399 = ready (as a Kubernetes httpGet probe). */
  path: string;
}

function probeTcp(target: ProbeTarget): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.host, port: target.port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function probeHttp(target: ProbeTarget): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: target.host,
        port: target.port,
        path: target.path,
        method: 'GET',
        agent: false,
        timeout: PROBE_TIMEOUT_MS,
        headers: { 'user-agent': 'faasmeter-proxy-probe', connection: 'close' },
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve(status >= 200 && status < 400);
      },
    );
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}

export function probeOnce(target: ProbeTarget): Promise<boolean> {
  return target.path === '' ? probeTcp(target) : probeHttp(target);
}

/** Probes until the function answers; resolves true then, or false once `signal` aborts. */
export async function waitUntilReady(target: ProbeTarget, signal: AbortSignal): Promise<boolean> {
  let interval = PROBE_INITIAL_MS;
  while (!signal.aborted) {
    if (await probeOnce(target)) return !signal.aborted;
    try {
      await sleep(interval, undefined, { signal });
    } catch {
      return false;
    }
    interval = Math.min(interval * 2, PROBE_MAX_INTERVAL_MS);
  }
  return false;
}
