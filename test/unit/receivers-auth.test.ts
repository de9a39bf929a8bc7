import * as crypto from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createIngestKeys, hashIngestKey, loadIngestKeys } from '../../collector/receivers/auth.ts';

vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof crypto>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});

const ACME_KEY = 'fm_live_7d1f0c2b9a8e4f6d';
const GLOBEX_KEY = 'fm_live_0b3e5a7c9d1f2468';
const keys = () =>
  createIngestKeys([
    { sha256: hashIngestKey(ACME_KEY), tenant: 'acme-prod' },
    { sha256: hashIngestKey(GLOBEX_KEY).toUpperCase(), tenant: 'globex' },
  ]);

describe('ingest keys', () => {
  afterEach(() => vi.mocked(crypto.timingSafeEqual).mockClear());

  it('binds a presented key to its tenant through its SHA-256 hash', () => {
    expect(hashIngestKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(keys().authenticate(`Bearer ${ACME_KEY}`)).toEqual({ ok: true, tenant: 'acme-prod' });
    expect(keys().authenticate(`bearer  ${GLOBEX_KEY}`)).toEqual({ ok: true, tenant: 'globex' });
  });

  it('refuses missing, malformed and unknown keys with a reason', () => {
    const k = keys();
    expect(k.authenticate(undefined)).toEqual({ ok: false, reason: 'missing ingest key: send "Authorization: Bearer <key>"' });
    expect(k.authenticate(`Basic ${ACME_KEY}`)).toMatchObject({ ok: false, reason: expect.stringContaining('Bearer scheme') });
    expect(k.authenticate(`Bearer ${ACME_KEY}x`)).toEqual({ ok: false, reason: 'unknown ingest key' });
  });

  it('compares in constant time against every configured key, without stopping at the first match', () => {
    keys().authenticate(`Bearer ${ACME_KEY}`);
    const calls = vi.mocked(crypto.timingSafeEqual).mock.calls;
    expect(calls).toHaveLength(2);
    for (const [a, b] of calls) {
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
  });

  it('accepts everything, naming no tenant, when no key is configured', () => {
    const open = createIngestKeys([]);
    expect(open.required).toBe(false);
    expect(open.authenticate(undefined)).toEqual({ ok: true });
  });

  describe('loading', () => {
    let dir: string | undefined;
    afterEach(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    });

    it('merges the keys file and the inline variable', () => {
      dir = mkdtempSync(join(tmpdir(), 'faasmeter-keys-'));
      const file = join(dir, 'keys.json');
      writeFileSync(file, JSON.stringify([{ sha256: hashIngestKey(ACME_KEY), tenant: 'acme-prod' }]));
      const loaded = loadIngestKeys(file, JSON.stringify([{ sha256: hashIngestKey(GLOBEX_KEY), tenant: 'globex' }]));
      expect(loaded.map((k) => k.tenant)).toEqual(['acme-prod', 'globex']);
      expect(loadIngestKeys(undefined, undefined)).toEqual([]);
    });

    it('refuses plaintext keys, bad tenants, duplicates and unreadable files, naming the variable', () => {
      expect(() => loadIngestKeys(undefined, JSON.stringify([{ sha256: ACME_KEY, tenant: 'acme-prod' }]))).toThrow(
        /FAASMETER_INGEST_KEYS.*0\.sha256: must be the 64-hex-digit SHA-256/,
      );
      expect(() => loadIngestKeys(undefined, JSON.stringify([{ sha256: hashIngestKey(ACME_KEY), tenant: 'acme prod' }]))).toThrow(/0\.tenant/);
      const twice = { sha256: hashIngestKey(ACME_KEY), tenant: 'acme-prod' };
      expect(() => loadIngestKeys(undefined, JSON.stringify([twice, twice]))).toThrow(/same key twice/);
      expect(() => loadIngestKeys(undefined, '{not json')).toThrow(/FAASMETER_INGEST_KEYS: is not valid JSON/);
      expect(() => loadIngestKeys('/nonexistent/keys.json', undefined)).toThrow(/FAASMETER_INGEST_KEYS_FILE: cannot read/);
    });
  });
});
