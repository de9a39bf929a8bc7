/**
 * Writes docs/configuration.md from the zod schemas the commands parse, so the reference cannot
 * drift from the code: names, types, defaults and whether a variable is required come from
 * z.toJSONSchema, descriptions from each field's `.describe()`. A field without a description
 * stops the generator. `--check` fails when the committed file is stale (the unit suite checks
 * the same).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ApiConfigSchema } from '../api/config.ts';
import { clickhouseEnvShape, SqlRecordEnvSchema } from '../clickhouse/config.ts';
import { MigrateEnvSchema } from '../clickhouse/migrate-command.ts';
import { AgentEnvSchema } from '../collector/agent/config.ts';
import { PROXY_FALLBACKS, PROXY_FLAGS, ProxyEnvSchema } from '../collector/proxy/config.ts';
import { ReceiversEnvSchema } from '../collector/receivers/config.ts';
import type { EnvFallback } from '../common/config.ts';
import { LogEnvSchema } from '../common/log.ts';
import { TopicsEnvSchema } from '../kafka/topics-command.ts';
import { MeterConfigSchema } from '../meter/config.ts';
import { PricingConfigSchema } from '../meter/pricing/plan.ts';

export const REFERENCE_FILE = join(import.meta.dirname, 'configuration.md');

export interface CommandReference {
  command: string;
  /** How the command takes its settings, said before its table. */
  intro: string;
  /** Every schema the command parses its environment with, in table order. */
  schemas: readonly z.ZodObject[];
  /** The variables listed, when the command validates more than it uses. */
  listed?: readonly string[];
  fallbacks?: Readonly<Record<string, EnvFallback>>;
  /** Flag → the variable it overrides. */
  flags?: Readonly<Record<string, string>>;
}

const DELIVERY_NOTE =
  'The `FAASMETER_KAFKA_*`, `FAASMETER_TOPIC_PREFIX`, `FAASMETER_SPOOL_*` and `FAASMETER_DELIVERY_*` variables configure delivery (Kafka and the disk spool), the same for every collector; [collector/delivery/README.md](../collector/delivery/README.md) explains the trade-offs.';

/** In the CLI's order (cli/faasmeter.ts); the unit test checks that every subcommand is here. */
export const COMMANDS: readonly CommandReference[] = [
  {
    command: 'migrate',
    intro: 'Applies the pending ClickHouse migrations. The flags `--url` and `--database` override the variables of the same meaning.',
    schemas: [MigrateEnvSchema, SqlRecordEnvSchema],
  },
  {
    command: 'topics',
    intro: 'Creates the Kafka topics that do not exist yet; existing topics are never changed. The flags `--brokers`, `--partitions` and `--prefix` override the variables.',
    schemas: [TopicsEnvSchema, LogEnvSchema],
  },
  {
    command: 'proxy',
    intro: `The sidecar in front of one function. A flag shown beside a variable overrides it. When an identity variable is unset, the platform's own variables (Knative, the Kubernetes downward API) are used, in the order the Default column gives. ${DELIVERY_NOTE}`,
    schemas: [ProxyEnvSchema, LogEnvSchema],
    fallbacks: PROXY_FALLBACKS,
    flags: PROXY_FLAGS,
  },
  {
    command: 'agent',
    intro: `The node agent. Environment variables only; \`--once\` samples once and prints the events instead of sending them. ${DELIVERY_NOTE}`,
    schemas: [AgentEnvSchema, LogEnvSchema],
  },
  {
    command: 'receivers',
    intro: `OTLP/HTTP, Lambda Telemetry API and CloudEvents ingest. Environment variables only. ${DELIVERY_NOTE}`,
    schemas: [ReceiversEnvSchema, LogEnvSchema],
  },
  {
    command: 'meter',
    intro: 'The Kafka consumer group that validates, dedupes, prices and writes to ClickHouse. Environment variables only.',
    schemas: [MeterConfigSchema, SqlRecordEnvSchema, LogEnvSchema],
  },
  {
    command: 'api',
    intro: 'The billing API, with `/metrics`, `/healthz` and `/readyz` on the same port. Environment variables only. [api.md](api.md) describes the limits it enforces.',
    schemas: [ApiConfigSchema, SqlRecordEnvSchema, LogEnvSchema],
  },
  {
    command: 'keys',
    intro: "Creates, lists and revokes billing API keys. It parses the api's whole configuration, so an invalid value of any [api](#faasmeter-api) variable stops it too, but uses only these:",
    schemas: [ApiConfigSchema, SqlRecordEnvSchema],
    listed: [...Object.keys(clickhouseEnvShape), 'FAASMETER_API_KEY_PEPPER', ...Object.keys(SqlRecordEnvSchema.shape)],
  },
];

/**
 * Variables that only development tools read. They parse no schema, so their rows are written
 * here; the unit test fails when a tool names a variable that is documented nowhere.
 */
const DEVELOPMENT_VARIABLES: readonly { name: string; readBy: string; default: string; description: string }[] = [
  { name: 'FAASMETER_STACK_DIR', readBy: '`npm run demo`, the local stack', default: '`<repo>/.stack`', description: 'Where the local stack and the demo keep data and logs' },
  { name: 'FAASMETER_DEMO_WAVES', readBy: '`npm run demo`', default: '`4`', description: 'Scale-to-zero waves the demo drives' },
  { name: 'FAASMETER_DEMO_WAVE_MS', readBy: '`npm run demo`', default: '`25000`', description: 'Length of one wave, in ms' },
  { name: 'FAASMETER_BENCH_RESULTS', readBy: '`npm run bench`', default: '`bench/RESULTS.md`', description: 'File the benchmarks append their figures to' },
  { name: 'FAASMETER_BENCH_RUN', readBy: '`npm run bench`', default: '—', description: "Label of the run, written beside each section's commit and machine" },
  {
    name: 'FAASMETER_CHROMIUM',
    readBy: '`dashboards/screenshot.ts`',
    default: '—',
    description: 'Chromium binary for dashboard screenshots; unset: `/usr/bin/chromium`, `chromium-browser` or `google-chrome`',
  },
];

interface JsonSchema {
  type?: string;
  title?: string;
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: readonly unknown[];
  anyOf?: readonly JsonSchema[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: readonly string[];
  propertyNames?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
}

// Transforms and refinements are not JSON Schema; what matters here is the value as written
// (input) and, for defaults given after a transform, the value the program uses (output).
const toJson = (schema: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;

const code = (text: string) => `\`${text}\``;

function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.map(cell).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

function anchor(heading: string): string {
  return `#${heading.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')}`;
}

function numberType(s: JsonSchema): string {
  const kind = s.type === 'integer' ? 'integer' : 'number';
  const max = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined;
  if (s.exclusiveMinimum !== undefined) return `${kind} > ${s.exclusiveMinimum}${max === undefined ? '' : `, ≤ ${max}`}`;
  if (s.minimum !== undefined && max !== undefined) return `${kind} ${s.minimum}–${max}`;
  if (s.minimum !== undefined) return `${kind} ≥ ${s.minimum}`;
  if (max !== undefined) return `${kind} ≤ ${max}`;
  return kind;
}

function stringType(s: JsonSchema): string {
  if (s.format === 'uri') return 'URL';
  const length =
    s.maxLength !== undefined ? ` of ${s.minLength ?? 0}–${s.maxLength} characters` : s.minLength !== undefined && s.minLength > 1 ? ` of ≥ ${s.minLength} characters` : '';
  if (s.pattern !== undefined) return `string${length} matching ${code(s.pattern)}`;
  if (length !== '') return `string${length}`;
  return s.minLength === 1 ? 'non-empty string' : 'string';
}

/** A short phrase for what a value must be; `quote` writes a literal as the reader would type it. */
function typeText(s: JsonSchema, quote: (value: unknown) => string, titled = true): string {
  if (titled && s.title !== undefined) return s.type === 'object' ? `[${s.title}](${anchor(s.title)})` : s.title;
  if (s.anyOf) return s.anyOf.map((a) => typeText(a, quote)).join(' or ');
  if (s.const !== undefined) return quote(s.const);
  if (s.enum) return s.enum.map(quote).join(', ');
  switch (s.type) {
    case 'integer':
    case 'number':
      return numberType(s);
    case 'string':
      return stringType(s);
    case 'array':
      return `list of ${s.minItems ? `≥ ${s.minItems} ` : ''}${s.items ? typeText(s.items, quote) : 'values'}`;
    case 'object':
      if (s.propertyNames && typeof s.additionalProperties === 'object') {
        return `object: ${typeText(s.propertyNames, quote)} → ${typeText(s.additionalProperties, quote)}`;
      }
      return 'object';
    default:
      return s.type ?? 'any value';
  }
}

function describedOrThrow(s: JsonSchema, where: string): string {
  if (s.description === undefined || s.description.trim() === '') {
    throw new Error(`${where} has no description: give its schema a .describe() (the reference is generated from it)`);
  }
  return s.description;
}

const envQuote = (value: unknown) => code(String(value));

function envDefault(value: unknown): string {
  if (value === undefined) return '—';
  if (value === '') return 'empty';
  if (Array.isArray(value)) return code(value.join(','));
  return code(typeof value === 'string' ? value : JSON.stringify(value));
}

function fallbackText(fallback: EnvFallback): string {
  return [...fallback.variables.map(code), ...(fallback.otherwise ? [fallback.otherwise.what] : [])].join(', else ');
}

interface EnvField {
  input: JsonSchema;
  output: JsonSchema;
  required: boolean;
}

/** Every variable the command's schemas define, in order; a variable in two schemas is a mistake. */
export function commandVariables(entry: CommandReference): Map<string, EnvField> {
  const fields = new Map<string, EnvField>();
  for (const schema of entry.schemas) {
    const input = toJson(schema, 'input');
    const output = toJson(schema, 'output');
    for (const [name, property] of Object.entries(input.properties ?? {})) {
      if (fields.has(name)) throw new Error(`faasmeter ${entry.command}: ${name} is defined by two of its schemas`);
      fields.set(name, { input: property, output: output.properties?.[name] ?? {}, required: input.required?.includes(name) ?? false });
    }
  }
  return fields;
}

function commandSection(entry: CommandReference): string {
  const fields = commandVariables(entry);
  const flagOf = new Map(Object.entries(entry.flags ?? {}).map(([flag, variable]) => [variable, flag]));
  const rows = (entry.listed ?? [...fields.keys()]).map((name) => {
    const field = fields.get(name);
    if (!field) throw new Error(`faasmeter ${entry.command}: lists ${name}, which none of its schemas defines`);
    const flag = flagOf.get(name);
    const fallback = entry.fallbacks?.[name];
    const required = !field.required ? 'no' : fallback === undefined ? 'yes' : fallback.otherwise ? 'no' : 'yes, unless a fallback is set';
    return [
      `${code(name)}${flag === undefined ? '' : ` (${code(`--${flag}`)})`}`,
      typeText(field.input, envQuote),
      fallback ? fallbackText(fallback) : envDefault(field.input.default ?? field.output.default),
      required,
      describedOrThrow(field.input, `faasmeter ${entry.command}: ${name}`),
    ];
  });
  return `## faasmeter ${entry.command}\n\n${entry.intro}\n\n${table(['Variable', 'Type', 'Default', 'Required', 'Description'], rows)}`;
}

/** The pricing file: one table per titled object (the file, Plan, Tier), then the titled value types. */
function pricingSection(): string {
  const root = toJson(PricingConfigSchema, 'input');
  const objects: { title: string; schema: JsonSchema }[] = [];
  const valueTypes = new Map<string, string>();
  const jsonQuote = (value: unknown) => code(JSON.stringify(value));

  const visit = (s: JsonSchema): void => {
    if (s.title !== undefined) {
      if (s.type === 'object') {
        if (!objects.some((o) => o.title === s.title)) objects.push({ title: s.title, schema: s });
      } else {
        const structural = typeText(s, jsonQuote, false);
        const known = valueTypes.get(s.title);
        if (known !== undefined && known !== structural) throw new Error(`pricing file: two value types are titled "${s.title}"`);
        valueTypes.set(s.title, structural);
      }
    }
    for (const child of [...(s.anyOf ?? []), s.items, s.propertyNames, typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined]) {
      if (child) visit(child);
    }
  };

  const rows = (object: JsonSchema, prefix: string, where: string): string[][] =>
    Object.entries(object.properties ?? {}).flatMap(([key, s]) => {
      const path = `${prefix}${key}`;
      visit(s);
      const row = [
        code(path),
        typeText(s, jsonQuote),
        s.default === undefined ? '—' : jsonQuote(s.default),
        object.required?.includes(key) ? 'yes' : 'no',
        describedOrThrow(s, `${where}: ${path}`),
      ];
      const inline = s.title === undefined && s.type === 'object' && s.properties ? s : undefined;
      const inlineItems = s.type === 'array' && s.items?.title === undefined && s.items?.properties ? s.items : undefined;
      if (inline) return [row, ...rows(inline, `${path}.`, where)];
      if (inlineItems) return [row, ...rows(inlineItems, `${path}[].`, where)];
      return [row];
    });

  const header = ['Field', 'Type', 'Default', 'Required', 'Description'];
  let out = `## Pricing file\n\nJSON, read once at start-up by \`faasmeter meter\` and \`faasmeter api\` from \`FAASMETER_PRICING_FILE\` (example: [deploy/config/plans.example.json](../deploy/config/plans.example.json)). ${describedOrThrow(root, 'pricing file')} Required means required within the object that holds the field.\n\n`;
  out += table(header, rows(root, '', 'pricing file'));
  for (let i = 0; i < objects.length; i += 1) {
    const { title, schema } = objects[i]!;
    out += `\n### ${title}\n\n${describedOrThrow(schema, `pricing file: ${title}`)}\n\n${table(header, rows(schema, '', `pricing file: ${title}`))}`;
  }
  if (valueTypes.size > 0) {
    out += `\n### Value types\n\n${table(['Type', 'Written as'], [...valueTypes].map(([title, structural]) => [title, structural]))}`;
  }
  return out;
}

function developmentSection(): string {
  return `## Development tools

Not part of the CLI and parsed by no schema. The demo, the benchmarks and the dashboard preview
also read \`FAASMETER_KAFKA_BROKERS\`, \`FAASMETER_CLICKHOUSE_URL\` and \`FAASMETER_LOG_LEVEL\` as the
commands do. The local stack's scripts take their own variables (ports, services, timeouts):
[deploy/local-stack/README.md](../deploy/local-stack/README.md).

${table(
  ['Variable', 'Read by', 'Default', 'Description'],
  DEVELOPMENT_VARIABLES.map((v) => [code(v.name), v.readBy, v.default, v.description]),
)}`;
}

export function renderConfigReference(): string {
  const contents = [...COMMANDS.map((c) => `[${c.command}](${anchor(`faasmeter ${c.command}`)})`), '[pricing file](#pricing-file)', '[development tools](#development-tools)'];
  const sections = [...COMMANDS.map(commandSection), pricingSection(), developmentSection()];
  return `<!-- Generated by docs/generate-config-reference.ts from the configuration schemas: edit those, then run npm run docs:config. -->
# Configuration reference

Every faasmeter command reads its settings from environment variables, parsed once at start-up by
the zod schema beside the command; an invalid value stops the process with an error that names
the variable. This file is generated from those schemas, so it lists every variable each command
reads, and nothing else.

- **Type**: what the value must be; ranges are inclusive, numbers are written in decimal.
- **Default**: what applies when the variable is unset; "—" means nothing.
- **Required**: whether the command refuses to start without it.

Every process also exposes \`/metrics\`, \`/healthz\` and \`/readyz\` and stops cleanly on SIGTERM
([operations.md](operations.md)).

Sections: ${contents.join(' · ')}

${sections.join('\n')}`;
}

if (import.meta.main) {
  const text = renderConfigReference();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(REFERENCE_FILE, 'utf8');
    } catch {
      // A missing file is stale like any other.
    }
    if (current !== text) {
      process.stderr.write(`${REFERENCE_FILE} is stale: run npm run docs:config\n`);
      process.exitCode = 1;
    }
  } else {
    writeFileSync(REFERENCE_FILE, text);
    process.stdout.write(`wrote ${REFERENCE_FILE}\n`);
  }
}
