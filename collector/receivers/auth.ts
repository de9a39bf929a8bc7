import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, parseConfig } from '../../common/config.ts';
import { tenantId } from '../../contract/index.ts';

/**
 * Ingest keys: a bearer secret bound to one tenant. Only SHA-256 hashes are configured, so a
 * leaked config file or environment dump leaks no usable key. Create one with
 * `openssl rand -hex 32`, hash it with `printf %s "$KEY" | sha256sum`.
 */
export const IngestKeyList = z
  .array(
    z.object({
      sha256: z
        .string()
        .regex(/^[0-9a-fA-F]{64}$/, 'must be the 64-hex-digit SHA-256 of the key (the key itself is never configured)'),
      tenant: tenantId,
    }),
  )
  .refine((keys) => new Set(keys.map((k) => k.sha256.toLowerCase())).size === keys.length, 'must not list the same key twice');

export type IngestKeyEntry = z.infer<typeof IngestKeyList>[number];

export type AuthResult =
  | { ok: true; tenant?: string }
  | { ok: false; reason: string };

export function hashIngestKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export interface IngestKeys {
  /** False when no key is configured: every request is accepted and names its own tenant. */
  readonly required: boolean;
  readonly count: number;
  authenticate(authorization: string | undefined): AuthResult;
}

export function createIngestKeys(entries: readonly IngestKeyEntry[]): IngestKeys {
  const keys = entries.map((e) => ({ hash: Buffer.from(e.sha256, 'hex'), tenant: e.tenant }));
  return {
    required: keys.length > 0,
    count: keys.length,
    authenticate(authorization) {
      if (keys.length === 0) return { ok: true };
      if (authorization === undefined || authorization === '') {
        return { ok: false, reason: 'missing ingest key: send "Authorization: Bearer <key>"' };
      }
      const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
      if (!match) return { ok: false, reason: 'Authorization must use the Bearer scheme: "Authorization: Bearer <key>"' };
      // Hash first so every comparison is of 32 fixed-length bytes, then compare against every
      // key without stopping early: timing reveals neither which key nor how much of one matched.
      const presented = createHash('sha256').update(match[1]!, 'utf8').digest();
      let tenant: string | undefined;
      for (const key of keys) {
        if (timingSafeEqual(presented, key.hash)) tenant = key.tenant;
      }
      return tenant === undefined ? { ok: false, reason: 'unknown ingest key' } : { ok: true, tenant };
    },
  };
}

/**
 * Keys come from FAASMETER_INGEST_KEYS_FILE (a JSON file, the way a Kubernetes Secret is mounted)
 * or FAASMETER_INGEST_KEYS (the same JSON inline); both may be set and are merged.
 */
export function loadIngestKeys(file: string | undefined, inline: string | undefined): IngestKeyEntry[] {
  const sources: Array<{ what: string; text: string }> = [];
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`invalid receivers configuration: FAASMETER_INGEST_KEYS_FILE: cannot read ${file} (${(e as Error).message})`);
    }
    sources.push({ what: `FAASMETER_INGEST_KEYS_FILE (${file})`, text });
  }
  if (inline) sources.push({ what: 'FAASMETER_INGEST_KEYS', text: inline });
  const all: unknown[] = [];
  for (const { what, text } of sources) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`invalid receivers configuration: ${what}: is not valid JSON (${(e as Error).message})`);
    }
    all.push(...parseConfig(IngestKeyList, parsed, `ingest keys in ${what}`));
  }
  return [...parseConfig(IngestKeyList, all, 'ingest keys')];
}
