import type { ClickHouse, InsertRow } from '../clickhouse/client.ts';
import type { Statement } from '../clickhouse/sql.ts';
import { sql, v } from '../clickhouse/sql.ts';
import { tokenize } from '../clickhouse/sql-lexer.ts';
import type { Token } from '../clickhouse/sql-lexer.ts';
import { tenantId } from '../contract/index.ts';

/**
 * Tenant isolation lives in the SQL itself. Every read of tenant data goes through a TenantScope:
 * repository functions take one as their first argument, and the only ClickHouse handle they get
 * is `scope.client(ch)`, which refuses, before anything reaches the server,
 *  - a query in which some read of a tenant table (`FROM t`, `JOIN t`) is not matched by this
 *    scope's predicate `tenant = '<tenant>'` (it must appear at least once per such read; tables
 *    that hold no tenant data, listed in TENANT_FREE_TABLES, are not counted),
 *  - an insert with a row of another tenant, and any DDL or other command.
 * So a query that forgets its tenant predicate cannot run, whoever wrote it. This guards against
 * our own mistakes, not hostile code: the statement text is built by our repository from typed
 * values, and request input only ever reaches it as escaped literals.
 */
export class TenantScope {
  readonly tenant: string;
  /** `tenant = '<tenant>'`, for a WHERE clause. */
  readonly predicate: Statement;
  readonly #literal: string;

  private constructor(tenant: string) {
    this.tenant = tenant;
    const literal = v.string(tenant);
    this.#literal = literal.text;
    this.predicate = sql`tenant = ${literal}`;
  }

  static of(tenant: string): TenantScope {
    const parsed = tenantId.safeParse(tenant);
    if (!parsed.success) throw new ScopeViolation(`not a tenant id: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    return new TenantScope(parsed.data);
  }

  /** Checks a statement; throws ScopeViolation when a table read lacks this tenant's predicate. */
  check(statement: Statement): void {
    const tokens = tokenize(statement.text);
    const { reads, tenantFree } = tableReads(tokens);
    const predicates = countPredicates(tokens, this.#literal);
    // A statement that reads only the tenant-free markers (which hours were written or sealed)
    // sees no tenant's data; anything else must read a tenant table, scoped.
    if (reads === 0 && tenantFree === 0) throw new ScopeViolation('statement reads no tenant table');
    if (predicates < reads) {
      throw new ScopeViolation(`statement reads ${reads} table(s) but carries the tenant predicate ${predicates} time(s)`);
    }
  }

  /** A ClickHouse handle that only runs statements scoped to this tenant. */
  client(ch: ClickHouse): ClickHouse {
    return {
      database: ch.database,
      query: async <T>(statement: Statement): Promise<T[]> => {
        this.check(statement);
        return ch.query<T>(statement);
      },
      command: (): Promise<void> => Promise.reject(new ScopeViolation('a tenant-scoped client runs no commands')),
      insert: <T extends InsertRow<T>>(table: string, rows: readonly T[]): Promise<void> => {
        const foreign = rows.some((r) => (r as Record<string, unknown>).tenant !== this.tenant);
        if (foreign) return Promise.reject(new ScopeViolation(`insert into ${table} holds a row of another tenant`));
        return ch.insert(table, rows);
      },
      ping: () => ch.ping(),
      withDatabase: (): ClickHouse => {
        throw new ScopeViolation('a tenant-scoped client stays in its database');
      },
      close: () => Promise.reject(new ScopeViolation('a tenant-scoped client does not own the connection')),
    };
  }
}

export class ScopeViolation extends Error {
  override name = 'ScopeViolation';
}

const READ_KEYWORDS = new Set(['FROM', 'JOIN']);

/** Tables without a tenant column: the meter's global markers of written and sealed hours. */
const TENANT_FREE_TABLES = new Set(['sealed_hours', 'written_hours']);

/** `FROM name` / `JOIN name` (not `FROM (subquery)`): reads of tenant tables and of tenant-free ones. */
function tableReads(tokens: readonly Token[]): { reads: number; tenantFree: number } {
  let reads = 0;
  let tenantFree = 0;
  tokens.forEach((t, i) => {
    if (t.kind !== 'word' || !READ_KEYWORDS.has(t.text.toUpperCase())) return;
    const next = tokens[i + 1];
    if (!next || (next.kind !== 'word' && next.kind !== 'quoted_identifier')) return;
    if (TENANT_FREE_TABLES.has(next.text.replace(/^[`"]|[`"]$/g, ''))) tenantFree += 1;
    else reads += 1;
  });
  return { reads, tenantFree };
}

/** Occurrences of `tenant = '<literal>'` (the column possibly qualified, e.g. `u.tenant`). */
function countPredicates(tokens: readonly Token[], literal: string): number {
  let n = 0;
  tokens.forEach((t, i) => {
    if (t.kind !== 'word' || t.text !== 'tenant') return;
    const op = tokens[i + 1];
    const value = tokens[i + 2];
    if (op?.kind === 'operator' && op.text === '=' && value?.kind === 'string' && value.text === literal) n += 1;
  });
  return n;
}
