import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { InvocationEvent, LifecycleEvent, ResourceEvent } from './events.ts';

/**
 * JSON Schema for producers in other languages, generated from the zod schemas so the two can
 * never disagree. `--check` fails when the committed files are stale (run by the unit suite).
 * JSON Schema cannot express "not too far in the future" or cross-field rules exactly; the
 * receivers still enforce them and name the field.
 */
const dir = join(import.meta.dirname, 'schemas');
const schemas = {
  'invocation.v1.schema.json': InvocationEvent,
  'lifecycle.v1.schema.json': LifecycleEvent,
  'resource.v1.schema.json': ResourceEvent,
};

export function renderSchemas(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, schema] of Object.entries(schemas)) {
    const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
    out[file] = `${JSON.stringify({ ...json, $id: `https://faasmeter.dev/schemas/${file}` }, null, 2)}\n`;
  }
  return out;
}

if (import.meta.main) {
  const check = process.argv.includes('--check');
  mkdirSync(dir, { recursive: true });
  let stale = 0;
  for (const [file, text] of Object.entries(renderSchemas())) {
    const path = join(dir, file);
    if (check) {
      let current: string;
      try {
        current = readFileSync(path, 'utf8');
      } catch {
        current = '';
      }
      if (current !== text) {
        stale += 1;
        process.stderr.write(`${path} is stale: run npm run contract:schemas\n`);
      }
    } else {
      writeFileSync(path, text);
      process.stdout.write(`wrote ${path}\n`);
    }
  }
  process.exitCode = stale > 0 ? 1 : 0;
}
