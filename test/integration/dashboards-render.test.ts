/**
 * The HTML preview of every dashboard (dashboards/render.ts) is drawn from the real panel
 * queries over demo data — ClickHouse for the SQL panels, a private Prometheus with backfilled
 * samples for the PromQL ones — and, loaded in headless Chromium, shows every panel with data and
 * no error. Pages and screenshots land in .stack/dashboards-preview/ for people without Grafana.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoEnvironment, RenderedPage } from '../../dashboards/render.ts';
import { renderAll, startDemoEnvironment } from '../../dashboards/render.ts';
import { DASHBOARDS } from '../../dashboards/index.ts';
import { findChromium, launchBrowser } from '../../dashboards/screenshot.ts';
import { CLICKHOUSE_URL } from '../helpers/clickhouse.ts';

const outDir = join(process.env.FAASMETER_STACK_DIR ?? join(import.meta.dirname, '..', '..', '.stack'), 'dashboards-preview');
let env: DemoEnvironment;
let pages: RenderedPage[] = [];

beforeAll(async () => {
  env = await startDemoEnvironment(CLICKHOUSE_URL);
  pages = await renderAll(env, outDir);
}, 180_000);

afterAll(async () => {
  await env?.close();
});

describe('dashboard preview', () => {
  it('renders a page per dashboard in which every panel has data', () => {
    expect(pages.map((p) => p.dashboard.uid)).toEqual(DASHBOARDS.map((d) => d.uid));
    for (const page of pages) {
      expect(page.panels, page.file).toBe(page.dashboard.rows.reduce((n, r) => n + r.panels.length, 0));
      expect(page.empty, `${page.file}: panels without data`).toEqual([]);
      const html = readFileSync(page.file, 'utf8');
      // Self-contained: nothing is fetched from elsewhere.
      expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
      expect(html).not.toMatch(/https?:\/\//);
    }
  });

  it.skipIf(!findChromium())('loads in headless Chromium without errors, draws every panel, and is saved as a PNG', async () => {
    const browser = await launchBrowser();
    try {
      for (const page of pages) {
        const png = page.file.replace(/\.html$/, '.png');
        const result = await browser.check(page.file, png);
        expect(result.errors, page.file).toEqual([]);
        expect(result.empty, page.file).toEqual([]);
        expect(result.nonEmpty, page.file).toBe(page.panels);
        const bytes = readFileSync(png);
        expect(bytes.subarray(1, 4).toString()).toBe('PNG');
        // Width and height from the IHDR chunk: the full page, not a viewport crop.
        expect(bytes.readUInt32BE(16)).toBe(1600);
        expect(bytes.readUInt32BE(20)).toBeGreaterThan(1000);
        expect(statSync(png).size).toBeGreaterThan(50_000);
      }
    } finally {
      await browser.close();
    }
  });
});
