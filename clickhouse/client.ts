/**
 * The one ClickHouse client of every faasmeter process: @clickhouse/client behind a small
 * interface, configured so that it works on ClickHouse 18.16 as well as current servers.
 *
 * What 18.16 needs (found against the real server, guarded by test/integration/clickhouse-client.test.ts):
 * - No HTTP compression: 18.16 handles it, but nothing here is large enough to gain from it and
 *   one less code path has to match between server generations.
 * - Only settings 18.16 knows: it rejects unknown ones, so the client sends exactly
 *   `wait_end_of_query` and `output_format_json_quote_64bit_integers`, both understood by every
 *   version since.
 * - `wait_end_of_query=1` on queries and commands: without it 18.16 streams rows with status 200
 *   and appends "Code: …" to the body when a later block fails; buffering until the end turns a
 *   failure into an HTTP error status.
 * - 18.16 does not read `X-ClickHouse-Database`; the database travels as the `database` URL
 *   parameter, which must name an existing database, hence `withDatabase('default')` for DDL that
 *   creates one.
 *
 * Result typing: 64-bit integers (UInt64, Int64, and sums and counts) arrive as JSON strings on
 * every server (we pin the quoting setting: servers and chdb differ in its default), smaller
 * integers and floats as numbers. Decimals arrive as bare JSON numbers on 18.16 and current
 * servers alike, which JSON.parse would round: select them with toString(x) and use the string.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import type { ClickHouseClient, ClickHouseSettings, Logger as ClientLogger } from '@clickhouse/client';
import { parseConfig } from '../common/config.ts';
import type { Logger } from '../common/log.ts';
import { SqlRecordEnvSchema } from './config.ts';
import { isIdentifier } from './sql.ts';
import type { Statement } from './sql.ts';
import { SqlLexError, tokenize } from './sql-lexer.ts';

export interface ClickHouseConfig {
  url: string;
  /** Database every statement runs in; it must exist (see `migrate`). Default "default". */
  database?: string;
  username?: string;
  password?: string;
  /** Per request, connect to last byte. Default 30 s. */
  requestTimeoutMs?: number;
  /**
   * A pooled socket idle this long is closed by us, before the server closes it under a request
   * (18.16's keep_alive_timeout is 3 s by default; the local stack sets 10 s). Default 2.5 s.
   */
  idleSocketTtlMs?: number;
  maxOpenConnections?: number;
  application?: string;
  /** Where the client library's own warnings go; without it they are dropped (errors are thrown to callers). */
  logger?: Logger;
  /** Append every statement that succeeds to this JSON-lines file. Default: env FAASMETER_SQL_RECORD. */
  recordFile?: string;
}

/** A JSON number whose digits are written as given: exact decimals and integers beyond 2^53 for inserts. */
export class ExactNumber {
  readonly text: string;

  constructor(text: string) {
    this.text = text;
  }
}

/**
 * An exact number for an insert row. 18.16 cannot read a quoted decimal in JSONEachRow, and a
 * JavaScript number would round it, so the digits go into the JSON unquoted, as written.
 */
export function exactNumber(value: string | bigint): ExactNumber {
  const text = typeof value === 'bigint' ? value.toString() : value;
  if (!/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(text)) throw new TypeError(`exactNumber: "${text}" is not a plain decimal number`);
  return new ExactNumber(text);
}

export type InsertValue = string | number | bigint | boolean | null | ExactNumber | readonly InsertValue[];
export type InsertRow<T> = { [K in keyof T]: InsertValue };

export interface ClickHouse {
  readonly database: string;
  /** Runs a SELECT (or SHOW, EXISTS, …) and returns every row, the response fully read. */
  query<T = Record<string, unknown>>(statement: Statement): Promise<T[]>;
  /** Runs a statement that returns no rows (DDL, INSERT … SELECT, OPTIMIZE). */
  command(statement: Statement): Promise<void>;
  /** Inserts rows as JSONEachRow. bigint and exactNumber() values are written as unquoted digits. */
  insert<T extends InsertRow<T>>(table: string, rows: readonly T[]): Promise<void>;
  /** Resolves when the server answers /ping; rejects with a ClickHouseError otherwise. */
  ping(): Promise<void>;
  /** The same client (one pool registry, one lifecycle) pointed at another database. */
  withDatabase(database: string): ClickHouse;
  /** Closes every pooled socket of this client and of its withDatabase() views. */
  close(): Promise<void>;
}

/**
 * A failed statement. The message names the statement's kind and table ("INSERT into
 * billed_calls", "SELECT from usage_hour") and the server's reason, never the statement's values.
 */
export class ClickHouseError extends Error {
  override name = 'ClickHouseError';
  /** What failed, e.g. "CREATE TABLE usage_minute". */
  readonly statement: string;
  /** ClickHouse's error code, when the server answered with one. */
  readonly code: number | undefined;
  /** Network trouble or server overload, where a bounded retry may succeed. */
  readonly transient: boolean;

  constructor(statement: string, reason: string, options: { code?: number; transient: boolean; cause?: unknown }) {
    super(`ClickHouse ${statement} failed: ${reason}`, { cause: options.cause });
    this.statement = statement;
    this.code = options.code;
    this.transient = options.transient;
  }
}

const TRANSIENT_NETWORK = /ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EHOSTUNREACH|socket hang up|Timeout error|timed out/i;
// TIMEOUT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES, NETWORK_ERROR, SOCKET_TIMEOUT, MEMORY_LIMIT_EXCEEDED.
const TRANSIENT_CODES = new Set([159, 202, 210, 209, 241]);

/**
 * Servers quote the statement after a syntax error and the data after an insert parse error;
 * either can hold tenant data, so the excerpt goes and the position stays.
 */
function redact(message: string): string {
  return message
    .replace(/(failed at position \d+)[\s\S]*?(?=\. Expected|$)/, '$1')
    .replace(/(before: )[\s\S]*?(?=: \(while|$)/, '$1(data omitted)');
}

function wrapError(statement: string, error: unknown): ClickHouseError {
  const raw = error instanceof Error ? error.message : String(error);
  const codeText = /Code: (\d+)/.exec(raw)?.[1];
  const code = codeText === undefined ? undefined : Number(codeText);
  // 18.16 says "Code: 60, e.displayText() = DB::Exception: …, e.what() = DB::Exception".
  const display = /e\.displayText\(\) = ([\s\S]*?)(?:, e\.what\(\) = [\s\S]*)?$/.exec(raw)?.[1];
  const reason = redact((display ?? raw).trim().replace(/^DB::Exception: /, '')).slice(0, 1000);
  const transient = code === undefined ? TRANSIENT_NETWORK.test(raw) : TRANSIENT_CODES.has(code);
  return new ClickHouseError(statement, code === undefined ? reason : `${reason} (code ${code})`, { code, transient, cause: error });
}

const TARGET_AFTER = new Set(['TABLE', 'VIEW', 'DATABASE', 'DICTIONARY', 'INTO', 'FROM']);
const SKIP_BEFORE_TARGET = new Set(['IF', 'NOT', 'EXISTS', 'TABLE']);

/**
 * Names a statement by its leading keywords and the first table it touches, read from the
 * token stream so that no literal (a value) can end up in an error message or log line.
 */
export function describeStatement(text: string): string {
  let tokens;
  try {
    tokens = tokenize(text);
  } catch (error) {
    if (error instanceof SqlLexError) return 'statement';
    throw error;
  }
  const first = tokens[0];
  if (!first || first.kind !== 'word') return 'statement';
  const verb = first.text.toUpperCase();
  const words: string[] = [verb];
  if (verb === 'CREATE' || verb === 'DROP' || verb === 'ALTER' || verb === 'RENAME' || verb === 'TRUNCATE' || verb === 'OPTIMIZE') {
    for (const t of tokens.slice(1, 4)) {
      const w = t.text.toUpperCase();
      if (t.kind !== 'word' || ['IF', 'OR', 'REPLACE'].includes(w)) break;
      words.push(w);
      if (['TABLE', 'VIEW', 'DATABASE', 'DICTIONARY'].includes(w)) break;
    }
  }
  for (let i = 1; i < tokens.length; i += 1) {
    const t = tokens[i]!;
    if (t.kind !== 'word' || !TARGET_AFTER.has(t.text.toUpperCase())) continue;
    let j = i + 1;
    while (tokens[j]?.kind === 'word' && SKIP_BEFORE_TARGET.has(tokens[j]!.text.toUpperCase())) j += 1;
    const parts: string[] = [];
    while (tokens[j]?.kind === 'word' || tokens[j]?.kind === 'quoted_identifier') {
      parts.push(tokens[j]!.text.replace(/^[`"]|[`"]$/g, ''));
      if (tokens[j + 1]?.text !== '.') break;
      j += 2;
    }
    if (parts.length === 0) continue;
    const kw = t.text.toUpperCase();
    const preposition = kw === 'FROM' ? 'from ' : kw === 'INTO' ? 'into ' : '';
    return `${words.join(' ')} ${preposition}${parts.join('.')}`;
  }
  return words.join(' ');
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

type RawJSON = (text: string) => unknown;
// JSON.rawJSON (Node 21+) writes given digits into JSON output verbatim; TypeScript's lib lacks it.
const rawJSON = (JSON as unknown as { rawJSON: RawJSON }).rawJSON;
const isRawJSON = (JSON as unknown as { isRawJSON: (value: unknown) => boolean }).isRawJSON;

function jsonValue(key: string, value: unknown): unknown {
  switch (typeof value) {
    case 'bigint':
      // Small integers go as plain numbers (exact below 2^53, and native to JSON.stringify);
      // only larger ones need the verbatim-digits wrapper.
      return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : rawJSON(value.toString());
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`column ${key}: ${value} is not a finite number`);
      return value;
    case 'undefined':
      throw new TypeError(`column ${key}: undefined (use null for a Nullable column)`);
    case 'object':
      if (value instanceof ExactNumber) return rawJSON(value.text);
      if (Array.isArray(value)) return value.map((item) => jsonValue(key, item));
      // Verbatim digits made by a caller (the compatibility suite re-reads recorded rows so) stay as they are.
      return value === null || value instanceof Date || isRawJSON(value) ? value : jsonObject(value);
    default:
      return value;
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** True when JSON.stringify writes the row as ClickHouse needs it: flat, no bigint, all finite. */
function isPlainRow(row: unknown): row is Record<string, unknown> {
  if (row === null || typeof row !== 'object' || Array.isArray(row) || row instanceof ExactNumber) return false;
  for (const key in row) {
    const value = (row as Record<string, unknown>)[key];
    const type = typeof value;
    if (type === 'string' || type === 'boolean' || value === null || (type === 'number' && Number.isFinite(value))) continue;
    return false;
  }
  return true;
}

/**
 * JSON text of an insert row (or a record-file line) with bigint and exactNumber() digits unquoted.
 * Rows of strings and finite numbers, the meter's hot path, are stringified as they are: a
 * replacer function costs a call per key and was the meter's hottest function.
 */
export function stringifyRow(row: unknown): string {
  return JSON.stringify(isPlainRow(row) ? row : jsonValue('', row));
}

function jsonObject(row: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(row)) out[key] = jsonValue(key, (row as Record<string, unknown>)[key]);
  return out;
}

/** JSONEachRow body for rows, as sent to the server. */
export function jsonEachRow(rows: readonly unknown[]): string {
  return rows.map((row) => `${stringifyRow(row)}\n`).join('');
}

export type RecordedStatement =
  | { kind: 'query' | 'command'; database: string; text: string }
  | { kind: 'insert'; database: string; table: string; rows: unknown[] };

const QUERY_SETTINGS: ClickHouseSettings = { wait_end_of_query: 1, output_format_json_quote_64bit_integers: 1 };

function forwardingLogger(logger: Logger): new () => ClientLogger {
  return class {
    trace(): void {}
    debug(): void {}
    info(): void {}
    warn({ module, message, err }: { module: string; message: string; err?: Error }): void {
      logger.warn({ module, err }, message);
    }
    // Failures reach the caller as ClickHouseError; logging them here would say it twice.
    error(): void {}
  };
}

interface Shared {
  config: ClickHouseConfig;
  pools: Map<string, ClickHouseClient>;
  record: ((entry: RecordedStatement) => void) | undefined;
  closed: boolean;
}

function recorder(file: string | undefined): Shared['record'] {
  if (!file) return undefined;
  mkdirSync(dirname(file), { recursive: true });
  return (entry) => appendFileSync(file, `${stringifyRow(entry)}\n`);
}

function pool(shared: Shared, database: string): ClickHouseClient {
  if (shared.closed) throw new ClickHouseError('request', 'the client is closed', { transient: false });
  let client = shared.pools.get(database);
  if (!client) {
    const c = shared.config;
    client = createClient({
      url: c.url,
      database,
      username: c.username ?? 'default',
      password: c.password ?? '',
      application: c.application ?? 'faasmeter',
      request_timeout: c.requestTimeoutMs ?? 30_000,
      max_open_connections: c.maxOpenConnections ?? 10,
      compression: { request: false, response: false },
      keep_alive: { enabled: true, idle_socket_ttl: c.idleSocketTtlMs ?? 2_500, eagerly_destroy_stale_sockets: true },
      json: { parse: JSON.parse, stringify: stringifyRow },
      log: c.logger ? { LoggerClass: forwardingLogger(c.logger), level: ClickHouseLogLevel.WARN } : { level: ClickHouseLogLevel.OFF },
    });
    shared.pools.set(database, client);
  }
  return client;
}

function view(shared: Shared, database: string): ClickHouse {
  const record = (entry: RecordedStatement) => shared.record?.(entry);
  return {
    database,

    async query<T>(statement: Statement): Promise<T[]> {
      const what = describeStatement(statement.text);
      const rows: T[] = [];
      try {
        const result = await pool(shared, database).query({ query: statement.text, format: 'JSONEachRow', clickhouse_settings: QUERY_SETTINGS });
        for await (const chunk of result.stream<T>()) {
          for (const row of chunk) {
            // Defence in depth: a server that still streams an error after rows appends it as text.
            if (row.text.startsWith('Code: ')) throw new Error(row.text);
            rows.push(row.json());
          }
        }
      } catch (error) {
        throw wrapError(what, error);
      }
      record({ kind: 'query', database, text: statement.text });
      return rows;
    },

    async command(statement: Statement): Promise<void> {
      const what = describeStatement(statement.text);
      try {
        await pool(shared, database).command({ query: statement.text, clickhouse_settings: QUERY_SETTINGS });
      } catch (error) {
        throw wrapError(what, error);
      }
      record({ kind: 'command', database, text: statement.text });
    },

    async insert<T extends InsertRow<T>>(table: string, rows: readonly T[]): Promise<void> {
      if (!TABLE_NAME.test(table)) throw new TypeError(`insert: "${table}" is not a table name (name or database.name)`);
      const what = `INSERT into ${table}`;
      if (rows.length === 0) return;
      try {
        await pool(shared, database).insert({ table, values: rows as T[], format: 'JSONEachRow' });
      } catch (error) {
        throw wrapError(what, error);
      }
      record({ kind: 'insert', database, table, rows: [...rows] });
    },

    async ping(): Promise<void> {
      let result;
      try {
        result = await pool(shared, database).ping();
      } catch (error) {
        throw wrapError('ping', error);
      }
      if (!result.success) throw wrapError('ping', result.error);
    },

    withDatabase(name: string): ClickHouse {
      if (!isIdentifier(name)) throw new TypeError(`withDatabase: "${name}" is not a plain identifier`);
      return view(shared, name);
    },

    async close(): Promise<void> {
      shared.closed = true;
      const pools = [...shared.pools.values()];
      shared.pools.clear();
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}

export function createClickHouse(config: ClickHouseConfig): ClickHouse {
  const database = config.database ?? 'default';
  if (!isIdentifier(database)) throw new TypeError(`createClickHouse: database "${database}" is not a plain identifier`);
  const shared: Shared = {
    config,
    pools: new Map(),
    record: recorder(config.recordFile ?? parseConfig(SqlRecordEnvSchema, process.env, 'ClickHouse client configuration').FAASMETER_SQL_RECORD),
    closed: false,
  };
  return view(shared, database);
}
