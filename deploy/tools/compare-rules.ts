/**
 * Compares the alert rules in a rendered PrometheusRule with Prometheus rule files: the chart must
 * ship exactly the rules alerts/generate.ts writes for the same thresholds. `--extract FILE` also
 * writes the rendered groups as a rule file (for promtool).
 *
 *   node deploy/tools/compare-rules.ts --rendered out.yaml [--extract rules.yml] rules.yml ...
 */
import { isDeepStrictEqual } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse, parseAllDocuments, stringify } from 'yaml';

interface Rule {
  alert?: string;
  record?: string;
}
interface Group {
  name: string;
  rules: Rule[];
}

function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { rendered: { type: 'string' }, extract: { type: 'string' } },
    allowPositionals: true,
  });
  if (!values.rendered) throw new Error('--rendered is required');
  const docs = parseAllDocuments(readFileSync(values.rendered, 'utf8')).map((d) => d.toJS() as { kind?: string; spec?: { groups: Group[] } } | null);
  const rules = docs.filter((d) => d?.kind === 'PrometheusRule');
  if (rules.length !== 1) {
    process.stderr.write(`${values.rendered}: expected one PrometheusRule, found ${rules.length}\n`);
    return 1;
  }
  const rendered = rules[0]!.spec!.groups;
  if (values.extract) writeFileSync(values.extract, stringify({ groups: rendered }, { lineWidth: 0 }));
  const expected = positionals.flatMap((file) => (parse(readFileSync(file, 'utf8')) as { groups: Group[] }).groups);
  if (isDeepStrictEqual(rendered, expected)) {
    const count = rendered.reduce((n, g) => n + g.rules.length, 0);
    process.stdout.write(`${values.rendered}: ${count} rules in ${rendered.length} groups, identical to ${positionals.join(' ')}\n`);
    return 0;
  }
  // Name the first difference: which group and rule, which field.
  for (let i = 0; i < Math.max(rendered.length, expected.length); i++) {
    const a = rendered[i];
    const b = expected[i];
    if (isDeepStrictEqual(a, b)) continue;
    if (!a || !b || a.name !== b.name || a.rules.length !== b.rules.length) {
      process.stderr.write(`group ${i}: chart has ${a?.name ?? '(none)'} with ${a?.rules.length ?? 0} rules, rule files ${b?.name ?? '(none)'} with ${b?.rules.length ?? 0}\n`);
      return 1;
    }
    for (let j = 0; j < a.rules.length; j++) {
      if (!isDeepStrictEqual(a.rules[j], b.rules[j])) {
        process.stderr.write(`group ${a.name}, rule ${j}:\n  chart:      ${JSON.stringify(a.rules[j])}\n  rule files: ${JSON.stringify(b.rules[j])}\n`);
        return 1;
      }
    }
  }
  return 1;
}

process.exitCode = main(process.argv.slice(2));
