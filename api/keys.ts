import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClickHouse } from '../clickhouse/client.ts';
import { sql, v } from '../clickhouse/sql.ts';
import { tenantId } from '../contract/index.ts';

/**
 * Billing API keys.
 *
 * A key is `fm_<key id>_<secret>`: a recognisable prefix (secret scanners and people spot it), a
 * public 16-hex-digit id (what `keys list` shows and `keys revoke` takes) and 32 random bytes as
 * base64url. Only a hash of the whole key is stored: SHA-256, or HMAC-SHA-256 keyed with
 * FAASMETER_API_KEY_PEPPER when that is set (a leaked table alone then verifies nothing). The
 * stored value names its algorithm (`sha256:<hex>` / `hmac-sha256:<hex>`).
 *
 * A presented key is looked up by its id and its hash compared with timingSafeEqual. Every
 * request reads the key's current row (the table is tiny and ordered by key_id), so a revoked key
 * is refused on the very next request: there is no cache.
 */

export const KEY_PREFIX = 'fm_';
const KEY_RE = /^fm_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const KEY_ID_RE = /^[0-9a-f]{16}$/;
const CONTROL = /\p{Cc}/u;

export type Role = 'tenant' | 'admin';

export type Principal = { keyId: string; role: 'admin' } | { keyId: string; role: 'tenant'; tenant: string };

export interface ApiKeyRecord {
  keyId: string;
  role: Role;
  /** Empty for admin keys. */
  tenant: string;
  name: string;
  createdMs: number;
  /** 0 while the key is active. */
  revokedMs: number;
}

export function isKeyId(value: string): boolean {
  return KEY_ID_RE.test(value);
}

/** The key id of a well-formed key, else undefined (a malformed key never reaches ClickHouse). */
export function parseKey(presented: string): { keyId: string } | undefined {
  const m = KEY_RE.exec(presented);
  return m ? { keyId: m[1]! } : undefined;
}

export function generateKey(): { keyId: string; key: string } {
  const keyId = randomBytes(8).toString('hex');
  return { keyId, key: `${KEY_PREFIX}${keyId}_${randomBytes(32).toString('base64url')}` };
}

export class KeyHasher {
  readonly #pepper: string | undefined;

  constructor(pepper?: string) {
    this.#pepper = pepper === '' ? undefined : pepper;
  }

  /** What is stored for a new key. */
  hash(key: string): string {
    return this.#pepper === undefined
      ? `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`
      : `hmac-sha256:${createHmac('sha256', this.#pepper).update(key, 'utf8').digest('hex')}`;
  }

  /** Constant-time check of a presented key against a stored hash of either algorithm. */
  verify(key: string, stored: string): boolean {
    const sep = stored.indexOf(':');
    const algorithm = stored.slice(0, sep);
    const expected = Buffer.from(stored.slice(sep + 1), 'hex');
    let actual: Buffer;
    if (algorithm === 'sha256') actual = createHash('sha256').update(key, 'utf8').digest();
    else if (algorithm === 'hmac-sha256' && this.#pepper !== undefined) actual = createHmac('sha256', this.#pepper).update(key, 'utf8').digest();
    else return false;
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
}

interface KeyRow {
  key_id: string;
  hash_now: string;
  tenant_now: string;
  role_now: string;
  name_now: string;
  created_now: string;
  revoked_now: string;
  version_now: string;
}

const toRecord = (r: KeyRow): ApiKeyRecord => ({
  keyId: r.key_id,
  role: r.role_now === 'admin' ? 'admin' : 'tenant',
  tenant: r.tenant_now,
  name: r.name_now,
  createdMs: Number(r.created_now),
  revokedMs: Number(r.revoked_now),
});

export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: 'malformed' | 'unknown' | 'mismatch' | 'revoked' };

export class KeyError extends Error {
  override name = 'KeyError';
}

/** The api_keys table: ReplacingMergeTree by version, read as the latest row per key id. */
export class KeyStore {
  readonly #ch: ClickHouse;
  readonly #hasher: KeyHasher;
  readonly #now: () => number;

  constructor(ch: ClickHouse, hasher: KeyHasher, now: () => number = Date.now) {
    this.#ch = ch;
    this.#hasher = hasher;
    this.#now = now;
  }

  async #latest(keyId?: string): Promise<KeyRow[]> {
    // argMax by version rather than FINAL: exact whether or not parts have merged yet.
    const where = keyId === undefined ? sql`` : sql`WHERE key_id = ${v.string(keyId)}`;
    return this.#ch.query<KeyRow>(
      sql`SELECT key_id, argMax(key_hash, version) AS hash_now, argMax(tenant, version) AS tenant_now,
                 argMax(role, version) AS role_now, argMax(name, version) AS name_now,
                 argMax(created_ms, version) AS created_now, argMax(revoked_ms, version) AS revoked_now,
                 max(version) AS version_now
          FROM api_keys ${where}
          GROUP BY key_id
          ORDER BY key_id`,
    );
  }

  async create(options: { tenant: string; name?: string } | { admin: true; name?: string }): Promise<{ key: string; record: ApiKeyRecord }> {
    const name = options.name ?? '';
    if (name.length > 128 || CONTROL.test(name)) throw new KeyError('name: must be at most 128 characters without control characters');
    let tenant = '';
    if ('tenant' in options) {
      const parsed = tenantId.safeParse(options.tenant);
      if (!parsed.success) throw new KeyError(`tenant: ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
      tenant = parsed.data;
    }
    const role: Role = 'admin' in options ? 'admin' : 'tenant';
    const { keyId, key } = generateKey();
    const createdMs = this.#now();
    await this.#ch.insert('api_keys', [
      { key_id: keyId, key_hash: this.#hasher.hash(key), tenant, role, name, created_ms: createdMs, revoked_ms: 0, version: 1 },
    ]);
    return { key, record: { keyId, role, tenant, name, createdMs, revokedMs: 0 } };
  }

  async list(filter: { tenant?: string } = {}): Promise<ApiKeyRecord[]> {
    const rows = (await this.#latest()).map(toRecord);
    return filter.tenant === undefined ? rows : rows.filter((r) => r.tenant === filter.tenant);
  }

  /** Marks a key revoked (a newer version of its row); undefined when there is no such key. */
  async revoke(keyId: string): Promise<ApiKeyRecord | undefined> {
    if (!isKeyId(keyId)) throw new KeyError('key id: must be 16 hex digits, as `faasmeter keys list` shows');
    const [row] = await this.#latest(keyId);
    if (!row) return undefined;
    const record = toRecord(row);
    if (record.revokedMs > 0) return record;
    const revokedMs = this.#now();
    await this.#ch.insert('api_keys', [
      {
        key_id: keyId,
        key_hash: row.hash_now,
        tenant: record.tenant,
        role: record.role,
        name: record.name,
        created_ms: record.createdMs,
        revoked_ms: revokedMs,
        version: BigInt(row.version_now) + 1n,
      },
    ]);
    return { ...record, revokedMs };
  }

  /** Who a presented bearer key belongs to, read fresh from ClickHouse. */
  async authenticate(presented: string): Promise<AuthResult> {
    const parsed = parseKey(presented);
    if (!parsed) return { ok: false, reason: 'malformed' };
    const [row] = await this.#latest(parsed.keyId);
    if (!row) return { ok: false, reason: 'unknown' };
    if (!this.#hasher.verify(presented, row.hash_now)) return { ok: false, reason: 'mismatch' };
    const record = toRecord(row);
    if (record.revokedMs > 0) return { ok: false, reason: 'revoked' };
    if (record.role === 'admin') return { ok: true, principal: { keyId: record.keyId, role: 'admin' } };
    if (!tenantId.safeParse(record.tenant).success) return { ok: false, reason: 'unknown' };
    return { ok: true, principal: { keyId: record.keyId, role: 'tenant', tenant: record.tenant } };
  }
}
