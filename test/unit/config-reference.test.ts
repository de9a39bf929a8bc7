import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliCommands, commandEnvNames, REPO_ROOT } from '../../deploy/tools/deploy-facts.ts';
import { COMMANDS, commandVariables, REFERENCE_FILE, renderConfigReference } from '../../docs/generate-config-reference.ts';

/**
 * docs/configuration.md is generated from the configuration schemas. These tests keep it current
 * and keep the schemas complete: a variable the code reads but no schema (or the generator's list
 * of development-tool variables) defines would be undocumented.
 */

// Ends on a letter or digit: `FAASMETER_CLICKHOUSE_*` in prose names a family, not a variable.
const VARIABLE = /\bFAASMETER_[A-Z0-9_]*[A-Z0-9]\b/g;

// Tests set variables of their own (and of the suites' helpers); shell scripts of the local stack
// are documented in deploy/local-stack/README.md, which the reference links.
const SKIPPED_DIRS = new Set(['node_modules', '.git', '.stack', '.venv', 'coverage', 'test']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return SKIPPED_DIRS.has(entry.name) ? [] : sourceFiles(path);
    return entry.isFile() && entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The variables the committed reference documents: the first cell of its table rows. */
function documented(): Set<string> {
  const text = readFileSync(REFERENCE_FILE, 'utf8');
  return new Set([...text.matchAll(/^\| `(FAASMETER_[A-Z0-9_]+)`/gm)].map((m) => m[1]!));
}

describe('configuration reference (docs/configuration.md)', () => {
  it('is exactly what docs/generate-config-reference.ts renders from the schemas now', () => {
    expect(readFileSync(REFERENCE_FILE, 'utf8'), 'docs/configuration.md is stale: run npm run docs:config and commit the result').toBe(
      renderConfigReference(),
    );
  });

  it('has a section for every CLI subcommand, in the order of cli/faasmeter.ts', () => {
    expect(COMMANDS.map((c) => c.command)).toEqual([...cliCommands().keys()]);
  });

  it('documents every FAASMETER_ variable that non-test TypeScript names', () => {
    const known = documented();
    const missing: string[] = [];
    for (const file of sourceFiles(REPO_ROOT)) {
      for (const [name] of readFileSync(file, 'utf8').matchAll(VARIABLE)) {
        if (!known.has(name)) missing.push(`${name} (${relative(REPO_ROOT, file)})`);
      }
    }
    expect(
      [...new Set(missing)],
      'undocumented variables: define them in the schema the command parses (with .describe()), then run npm run docs:config',
    ).toEqual([]);
  });

  it("gives each subcommand exactly the FAASMETER_ variables that the code it loads names", () => {
    for (const entry of COMMANDS) {
      const named = [...(commandEnvNames(entry.command) ?? [])].filter((n) => !n.endsWith('_')).sort();
      expect([...commandVariables(entry).keys()].sort(), `faasmeter ${entry.command}: its schemas in docs/generate-config-reference.ts`).toEqual(named);
    }
  });
});
