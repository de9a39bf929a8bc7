/**
 * Writes alerts/rules/faasmeter.yml from alerts/rules.ts and a thresholds file; `--check` writes
 * nothing and fails when the committed file differs from what the code generates.
 *
 *   npx node alerts/generate.ts [--check] [--thresholds <file.json>] [--out <file.yml>]
 *
 * `--thresholds` with `--out` renders a deployment's own rule file from its own values.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildRuleGroups, renderRuleFile } from './rules.ts';
import { loadThresholds } from './thresholds.ts';

export const RULE_FILE = join(import.meta.dirname, 'rules', 'faasmeter.yml');

export function generatedRuleFile(thresholdsPath?: string): string {
  return renderRuleFile(buildRuleGroups(loadThresholds(thresholdsPath)));
}

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: { check: { type: 'boolean', default: false }, thresholds: { type: 'string' }, out: { type: 'string' } },
  });
  const out = values.out ?? RULE_FILE;
  const text = generatedRuleFile(values.thresholds);
  if (values.check) {
    if (existsSync(out) && readFileSync(out, 'utf8') === text) return 0;
    process.stderr.write(`${out} differs from what alerts/rules.ts and the thresholds generate; run: npx node alerts/generate.ts\n`);
    return 1;
  }
  writeFileSync(out, text);
  process.stdout.write(`wrote ${out}\n`);
  return 0;
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
