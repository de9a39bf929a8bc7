/**
 * The compatibility harness: current ClickHouse, in process, through chdb (PyPI). ensureChdb()
 * makes `.venv` at the repository root and installs the pinned chdb into it when missing;
 * runInChdb() runs statements in one fresh chdb session via test/compat/chdb_runner.py.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RecordedStatement } from '../../clickhouse/client.ts';
import { jsonEachRow } from '../../clickhouse/client.ts';

export const CHDB_VERSION = '4.4.0';
const root = join(import.meta.dirname, '..', '..');
const venv = join(root, '.venv');
const python = join(venv, 'bin', 'python');
const runner = join(root, 'test', 'compat', 'chdb_runner.py');
const run = promisify(execFile);

export type ChdbStatement =
  | { kind: 'query' | 'command'; text: string; database?: string }
  | { kind: 'insert'; table: string; rows: readonly unknown[]; database?: string };

export interface ChdbResult {
  ok: boolean;
  error?: string;
  /** Rows of a query, parsed from JSONEachRow (64-bit integers as strings, as from our client). */
  rows?: Record<string, unknown>[];
}

function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

async function canImportChdb(): Promise<boolean> {
  if (!existsSync(python)) return false;
  try {
    const { stdout } = await run(python, ['-c', 'import chdb; print(chdb.__version__)']);
    return stdout.trim() === CHDB_VERSION;
  } catch {
    return false;
  }
}

let ready: Promise<string> | undefined;

/** Resolves to the venv's python once `import chdb` works there; installs chdb the first time. */
export function ensureChdb(): Promise<string> {
  ready ??= (async () => {
    if (await canImportChdb()) return python;
    if (!existsSync(python)) {
      try {
        await run('python3', ['-m', 'venv', venv]);
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr ?? String(error);
        throw new Error(`could not create ${venv} with "python3 -m venv" (is python3 with venv installed?):\n${tail(stderr)}`, { cause: error });
      }
    }
    try {
      await run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `chdb==${CHDB_VERSION}`], { maxBuffer: 64 * 1024 * 1024 });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? String(error);
      throw new Error(`pip could not install chdb==${CHDB_VERSION} into ${venv}:\n${tail(stderr)}`, { cause: error });
    }
    if (!(await canImportChdb())) throw new Error(`chdb==${CHDB_VERSION} installed into ${venv} but "import chdb" still fails`);
    return python;
  })();
  ready.catch(() => {
    ready = undefined;
  });
  return ready;
}

interface RunnerOutput {
  groups: Array<Array<{ ok: boolean; error?: string; output?: string }>>;
}

function toRunnerStatement(s: ChdbStatement) {
  const database = s.database ?? 'default';
  return s.kind === 'insert' ? { kind: s.kind, table: s.table, body: jsonEachRow(s.rows), database } : { kind: s.kind, text: s.text, database };
}

/** Runs each group in its own fresh chdb session, all in one Python process. */
export async function runGroupsInChdb(groups: readonly (readonly ChdbStatement[])[]): Promise<ChdbResult[][]> {
  const py = await ensureChdb();
  const input = JSON.stringify({ groups: groups.map((g) => g.map(toRunnerStatement)) });
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(py, [runner], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (c) => resolve({ code: c, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(input);
  });
  const last = stdout.trim().split('\n').at(-1);
  if (code !== 0 || !last) throw new Error(`chdb runner exited with ${code}:\n${tail(stderr || stdout)}`);
  const parsed = JSON.parse(last) as RunnerOutput;
  return parsed.groups.map((results) =>
    results.map((r) => {
      const result: ChdbResult = { ok: r.ok };
      if (r.error !== undefined) result.error = r.error;
      if (r.output !== undefined) {
        result.rows = r.output
          .split('\n')
          .filter((line) => line.length > 0)
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      }
      return result;
    }),
  );
}

/** Runs statements in order in ONE fresh chdb session. */
export async function runInChdb(statements: readonly ChdbStatement[]): Promise<ChdbResult[]> {
  const [results = []] = await runGroupsInChdb([statements]);
  return results;
}

type RawJSON = (text: string) => unknown;
const rawJSON = (JSON as unknown as { rawJSON: RawJSON }).rawJSON;

/**
 * Parses one line of the statement recorder's file. Numbers keep their exact digits (a UInt64 or
 * a decimal written unquoted), so an insert replays with the bytes the server got.
 */
export function parseRecordLine(line: string): RecordedStatement {
  const reviver = (_key: string, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && context?.source !== undefined ? rawJSON(context.source) : value;
  return JSON.parse(line, reviver) as RecordedStatement;
}
