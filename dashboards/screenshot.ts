/**
 * Loads preview pages in headless Chromium over the DevTools protocol, collects anything that
 * went wrong (exceptions, console errors, failed or non-local requests), reads the page's own
 * panel count (window.__preview) and saves a full-page PNG.
 *
 *   npx node dashboards/screenshot.ts <page.html>...      (writes <page>.png beside each page)
 *
 * Chromium comes from Debian: apt-get install -y chromium.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function findChromium(): string | undefined {
  const fromEnv = process.env.FAASMETER_CHROMIUM;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  return CHROMIUM_CANDIDATES.find((p) => existsSync(p));
}

export interface PageCheck {
  file: string;
  png: string;
  width: number;
  height: number;
  panels: number;
  nonEmpty: number;
  empty: string[];
  errors: string[];
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

class Cdp {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private readonly listeners: Array<(m: CdpMessage) => void> = [];
  private readonly ws: WebSocket;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as CdpMessage;
      if (message.id !== undefined) {
        const p = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error) p?.reject(new Error(message.error.message));
        else p?.resolve(message.result ?? {});
      } else {
        for (const l of this.listeners) l(message);
      }
    });
  }

  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)), { once: true });
    });
    return new Cdp(ws);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  on(listener: (m: CdpMessage) => void): void {
    this.listeners.push(listener);
  }

  waitFor(method: string, sessionId: string, timeoutMs: number): Promise<CdpMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${method}`)), timeoutMs);
      this.on((m) => {
        if (m.method === method && m.sessionId === sessionId) {
          clearTimeout(timer);
          resolve(m);
        }
      });
    });
  }

  close(): void {
    this.ws.close();
  }
}

export interface Browser {
  check(file: string, png: string): Promise<PageCheck>;
  close(): Promise<void>;
}

export async function launchBrowser(executable = findChromium()): Promise<Browser> {
  if (!executable) throw new Error('Chromium not found: apt-get install -y chromium (or set FAASMETER_CHROMIUM)');
  const profile = mkdtempSync(join(tmpdir(), 'faasmeter-chromium-'));
  const child: ChildProcess = spawn(
    executable,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--hide-scrollbars',
      `--user-data-dir=${profile}`,
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`Chromium did not open DevTools within 30 s:\n${stderr.slice(-2000)}`)), 30_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`Chromium exited (${code}):\n${stderr.slice(-2000)}`)));
  });
  const cdp = await Cdp.connect(endpoint);

  return {
    async check(file, png) {
      const { targetId } = (await cdp.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
      const { sessionId } = (await cdp.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
      const errors: string[] = [];
      cdp.on((m) => {
        if (m.sessionId !== sessionId) return;
        const p = m.params ?? {};
        if (m.method === 'Runtime.exceptionThrown') errors.push(`exception: ${JSON.stringify((p.exceptionDetails as { text?: string })?.text ?? p)}`);
        if (m.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'warning')) errors.push(`console.${String(p.type)}: ${JSON.stringify(p.args)}`);
        if (m.method === 'Log.entryAdded' && (p.entry as { level?: string })?.level === 'error') errors.push(`log: ${(p.entry as { text?: string }).text ?? ''}`);
        if (m.method === 'Network.requestWillBeSent') {
          const url = (p.request as { url: string }).url;
          if (!/^(file|data|about):/.test(url)) errors.push(`request to ${url}: the preview must be self-contained`);
        }
        if (m.method === 'Network.loadingFailed') errors.push(`failed to load: ${JSON.stringify(p.errorText)}`);
      });
      for (const domain of ['Page', 'Runtime', 'Log', 'Network']) await cdp.send(`${domain}.enable`, {}, sessionId);
      const width = 1600;
      await cdp.send('Emulation.setDeviceMetricsOverride', { width, height: 1000, deviceScaleFactor: 1, mobile: false }, sessionId);
      const loaded = cdp.waitFor('Page.loadEventFired', sessionId, 30_000);
      await cdp.send('Page.navigate', { url: pathToFileURL(file).href }, sessionId);
      await loaded;
      const evaluate = async <T>(expression: string): Promise<T> => {
        const r = (await cdp.send('Runtime.evaluate', { expression, returnByValue: true }, sessionId)) as { result: { value: T } };
        return r.result.value;
      };
      const state = await evaluate<{ errors: string[]; panels: number; nonEmpty: number; empty: string[] } | undefined>('window.__preview');
      const height = Math.ceil(await evaluate<number>('document.documentElement.scrollHeight'));
      await cdp.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
      const shot = (await cdp.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }, sessionId)) as { data: string };
      writeFileSync(png, Buffer.from(shot.data, 'base64'));
      await cdp.send('Target.closeTarget', { targetId });
      if (!state) errors.push('window.__preview missing: the page script did not run');
      return {
        file,
        png,
        width,
        height,
        panels: state?.panels ?? 0,
        nonEmpty: state?.nonEmpty ?? 0,
        empty: state?.empty ?? [],
        errors: [...errors, ...(state?.errors ?? [])],
      };
    },
    async close() {
      try {
        await cdp.send('Browser.close');
      } catch {
        // already gone
      }
      cdp.close();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

async function main(files: string[]): Promise<number> {
  const browser = await launchBrowser();
  let failed = 0;
  try {
    for (const file of files) {
      const result = await browser.check(file, file.replace(/\.html$/, '') + '.png');
      const ok = result.errors.length === 0 && result.panels > 0 && result.nonEmpty === result.panels;
      if (!ok) failed++;
      process.stdout.write(
        `${ok ? 'ok  ' : 'FAIL'} ${result.png} ${result.width}x${result.height}: ${result.nonEmpty}/${result.panels} panels drawn` +
          `${result.empty.length ? `, empty: ${result.empty.join(', ')}` : ''}${result.errors.length ? `, errors: ${result.errors.join('; ')}` : ''}\n`,
      );
    }
  } finally {
    await browser.close();
  }
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
