/**
 * Writes dashboards/generated/*.json from the dashboard code; `--check` writes nothing and fails
 * when the committed files differ from what the code generates (or a stale file is left over).
 *
 *   npx node dashboards/generate.ts [--check]
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DASHBOARDS, fileNameOf } from './index.ts';
import { toGrafanaJson } from './model.ts';

export const GENERATED_DIR = join(import.meta.dirname, 'generated');

/** File name → exact file content, for every dashboard. */
export function generatedFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const dashboard of DASHBOARDS) {
    const name = fileNameOf(dashboard);
    if (files.has(name)) throw new Error(`two dashboards map to ${name}`);
    files.set(name, `${JSON.stringify(toGrafanaJson(dashboard), null, 2)}\n`);
  }
  return files;
}

/** Differences between the generated and the committed files, one line each. */
export function differences(dir = GENERATED_DIR): string[] {
  const expected = generatedFiles();
  const problems: string[] = [];
  for (const [name, text] of expected) {
    const path = join(dir, name);
    if (!existsSync(path)) problems.push(`${name}: missing`);
    else if (readFileSync(path, 'utf8') !== text) problems.push(`${name}: differs from what the code generates`);
  }
  if (existsSync(dir)) {
    for (const name of readdirSync(dir)) if (name.endsWith('.json') && !expected.has(name)) problems.push(`${name}: no dashboard generates it`);
  }
  return problems;
}

function main(argv: string[]): number {
  if (argv.includes('--check')) {
    const problems = differences();
    for (const p of problems) process.stderr.write(`dashboards/generated/${p}\n`);
    if (problems.length > 0) process.stderr.write('run: npx node dashboards/generate.ts\n');
    return problems.length === 0 ? 0 : 1;
  }
  mkdirSync(GENERATED_DIR, { recursive: true });
  const files = generatedFiles();
  for (const name of readdirSync(GENERATED_DIR)) if (name.endsWith('.json') && !files.has(name)) rmSync(join(GENERATED_DIR, name));
  for (const [name, text] of files) writeFileSync(join(GENERATED_DIR, name), text);
  process.stdout.write(`wrote ${files.size} dashboards to dashboards/generated/\n`);
  return 0;
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
