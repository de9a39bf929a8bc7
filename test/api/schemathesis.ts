/**
 * Schemathesis (PyPI) in the repository's .venv, pinned, installed on first use like chdb
 * (test/helpers/chdb.ts), and a runner that returns its exit code and output.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const SCHEMATHESIS_VERSION = '4.32.5';
const root = join(import.meta.dirname, '..', '..');
const venv = join(root, '.venv');
const python = join(venv, 'bin', 'python');
const cli = join(venv, 'bin', 'schemathesis');
const run = promisify(execFile);

async function installed(): Promise<boolean> {
  if (!existsSync(cli)) return false;
  try {
    const { stdout } = await run(cli, ['--version']);
    return stdout.includes(SCHEMATHESIS_VERSION);
  } catch {
    return false;
  }
}

/** Path of the schemathesis CLI once the pinned version is in .venv. */
export async function ensureSchemathesis(): Promise<string> {
  if (await installed()) return cli;
  if (!existsSync(python)) await run('python3', ['-m', 'venv', venv]);
  await run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `schemathesis==${SCHEMATHESIS_VERSION}`], {
    maxBuffer: 64 * 1024 * 1024,
  });
  if (!(await installed())) throw new Error(`schemathesis==${SCHEMATHESIS_VERSION} installed into ${venv} but does not run`);
  return cli;
}

export interface FuzzResult {
  code: number | null;
  output: string;
}

/** Runs `schemathesis run` against a live API's /openapi.json with an API key header. */
export async function runSchemathesis(options: { baseUrl: string; key: string; maxExamples: number; seed: number }): Promise<FuzzResult> {
  const bin = await ensureSchemathesis();
  const args = [
    '--no-color',
    '--config-file',
    join(root, 'test', 'api', 'schemathesis.toml'),
    'run',
    `${options.baseUrl}/openapi.json`,
    '--checks',
    'all',
    '--max-examples',
    String(options.maxExamples),
    '--seed',
    String(options.seed),
    '--workers',
    '2',
    '--request-timeout',
    '30',
    '--header',
    `Authorization: Bearer ${options.key}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output: Buffer.concat(chunks).toString('utf8') }));
  });
}
