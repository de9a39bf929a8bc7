/**
 * Facts about the code that deployment files must agree with, read from the sources themselves:
 * the CLI's subcommands, the files each one loads, the FAASMETER_* variables those files read and
 * the npm packages they import. Used by test/unit/compose*.test.ts and deploy/tools/check-manifests.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(REPO_ROOT, 'cli', 'faasmeter.ts');

/** Subcommand → the module its `load` imports (absolute path), from cli/faasmeter.ts's command table. */
export function cliCommands(): Map<string, string> {
  const text = readFileSync(CLI, 'utf8');
  const commands = new Map<string, string>();
  for (const m of text.matchAll(/^ {2}([a-z][a-z-]*): \{\s*summary: [^\n]*\n\s*load: async \(\) => \(await import\('([^']+)'\)\)/gm)) {
    commands.set(m[1]!, resolve(dirname(CLI), m[2]!));
  }
  if (commands.size === 0) throw new Error('no subcommands found in cli/faasmeter.ts: its command table changed shape');
  return commands;
}

const IMPORT = /(?:^|[^\w.])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

function specifiers(text: string): { spec: string; typeOnly: boolean }[] {
  const out: { spec: string; typeOnly: boolean }[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2]!;
    out.push({ spec, typeOnly: /^\s*(?:[^\w.])?(?:import|export)\s+type\s/.test(m[0]) });
  }
  return out;
}

/**
 * Every repository file reachable from `entry` through relative imports (type-only imports too:
 * Node loads none of them, but they must exist for the type checker, not for the image, so they
 * are left out). Missing targets are returned separately rather than thrown.
 */
export function moduleClosure(entry: string): { files: Set<string>; missing: string[]; packages: Set<string> } {
  const files = new Set<string>();
  const missing: string[] = [];
  const packages = new Set<string>();
  const pending = [resolve(entry)];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    if (!existsSync(file)) {
      missing.push(relative(REPO_ROOT, file));
      continue;
    }
    files.add(file);
    for (const { spec, typeOnly } of specifiers(readFileSync(file, 'utf8'))) {
      if (typeOnly) continue;
      if (spec.startsWith('.')) pending.push(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { files, missing, packages };
}

/** Every file the CLI can load, over all subcommands. */
export function cliClosure(): { files: Set<string>; missing: string[]; packages: Set<string> } {
  const all = { files: new Set<string>(), missing: [] as string[], packages: new Set<string>() };
  for (const entry of [CLI, ...cliCommands().values()]) {
    const c = moduleClosure(entry);
    c.files.forEach((f) => all.files.add(f));
    c.packages.forEach((p) => all.packages.add(p));
    all.missing.push(...c.missing);
  }
  return all;
}

/**
 * FAASMETER_* variables a subcommand can read: every such name in the files it loads. Undefined
 * when the subcommand's module does not exist (yet).
 */
export function commandEnvNames(command: string): Set<string> | undefined {
  const entry = cliCommands().get(command);
  if (entry === undefined) throw new Error(`unknown subcommand ${command}`);
  if (!existsSync(entry)) return undefined;
  const names = new Set<string>();
  for (const file of moduleClosure(entry).files) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bFAASMETER_[A-Z0-9_]+\b/g)) names.add(m[0]);
  }
  return names;
}

export interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  version: string;
}

export function packageJson(): PackageJson {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;
}
