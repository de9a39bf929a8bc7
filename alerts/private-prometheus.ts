/**
 * A Prometheus or Alertmanager of our own: the Debian binaries the local stack uses, started on a
 * loopback port with a private config and data directory, for checks that need settings the
 * shared stack does not have (1 s evaluation, test-only rule files, backfilled demo data).
 * Only the process started here is ever stopped.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../common/net.ts';


export interface PrivateProcess {
  url: string;
  port: number;
  /** The process's combined output so far (for failure messages). */
  log(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

async function waitReady(url: string, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function launch(command: string, args: string[], dir: string, port: number, timeoutMs: number): Promise<PrivateProcess> {
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, `${command}.log`);
  const out = createWriteStream(logFile);
  await new Promise((r) => out.once('open', r));
  const child = spawn(command, args, { stdio: ['ignore', out, out] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);
  const url = `http://127.0.0.1:${port}`;
  const stop = async (graceMs = 10_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    out.close();
  };
  try {
    await waitReady(url, child, logFile, timeoutMs);
  } catch (error) {
    await stop(1_000);
    throw error;
  }
  return { url, port, log: () => readFileSync(logFile, 'utf8'), stop };
}

export interface PrometheusOptions {
  /** Private directory: config, data and log go here. */
  dir: string;
  /** prometheus.yml text. */
  config: string;
  port?: number;
  /** Keep backfilled blocks however old (the default 15 d would drop them at start). */
  retention?: string;
  readyTimeoutMs?: number;
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrivateProcess> {
  const port = options.port ?? (await freePort());
  mkdirSync(join(options.dir, 'data'), { recursive: true });
  const configFile = join(options.dir, 'prometheus.yml');
  writeFileSync(configFile, options.config);
  return launch(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(options.dir, 'data')}`,
      `--storage.tsdb.retention.time=${options.retention ?? '15d'}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
    ],
    options.dir,
    port,
    options.readyTimeoutMs ?? 30_000,
  );
}

export interface AlertmanagerOptions {
  dir: string;
  /** alertmanager.yml text. */
  config: string;
  port?: number;
  readyTimeoutMs?: number;
}

export async function startAlertmanager(options: AlertmanagerOptions): Promise<PrivateProcess> {
  const port = options.port ?? (await freePort());
  mkdirSync(join(options.dir, 'data'), { recursive: true });
  const configFile = join(options.dir, 'alertmanager.yml');
  writeFileSync(configFile, options.config);
  return launch(
    'prometheus-alertmanager',
    [`--config.file=${configFile}`, `--storage.path=${join(options.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='],
    options.dir,
    port,
    options.readyTimeoutMs ?? 30_000,
  );
}

/** One instant or range query; throws with Prometheus' error text. */
export async function promQuery(baseUrl: string, params: Record<string, string>, path = '/api/v1/query'): Promise<PromResult> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  const body = (await res.json()) as { status: string; data?: PromResult; error?: string };
  if (body.status !== 'success' || !body.data) throw new Error(`${path} ${params.query ?? ''}: ${body.error ?? res.status}`);
  return body.data;
}

export interface PromSeries {
  metric: Record<string, string>;
  value?: [number, string];
  values?: Array<[number, string]>;
}

export interface PromResult {
  resultType: 'vector' | 'matrix' | 'scalar' | 'string';
  result: PromSeries[];
}
