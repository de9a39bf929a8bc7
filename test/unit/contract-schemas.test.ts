import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { INVOCATION_TYPE, LIFECYCLE_TYPE, parseEvent, RESOURCE_TYPE } from '../../contract/index.ts';
import { FIXTURE_NOW_MS, invalidFixtures, validFixtures } from '../../contract/fixtures/fixtures.ts';
import { renderSchemas } from '../../contract/generate-json-schemas.ts';

/**
 * The JSON Schema files are what producers in other languages validate against, so they must be
 * current and must agree with the receiver on every fixture, except where JSON Schema (as
 * generated from zod) cannot say what the receiver checks. Those cases are listed here, and the
 * list is checked both ways so it cannot go stale.
 */
const RECEIVER_ONLY: Record<string, string> = {
  'start-far-in-future': 'relative to the receiver clock, which a schema does not know',
  'time-far-in-future': 'relative to the receiver clock, which a schema does not know',
  'time-before-2000': 'a date-time string has no minimum in JSON Schema',
  'init-duration-on-warm-call': 'cross-field rule (cold decides whether initDurationMs may appear); zod refinements are not exported',
  'stopped-without-reason': 'cross-field rule (phase decides whether stopReason is required); zod refinements are not exported',
  'ready-with-stop-reason': 'cross-field rule (phase decides whether stopReason is allowed); zod refinements are not exported',
};

const schemaDir = new URL('../../contract/schemas/', import.meta.url);
const fileByType: Record<string, string> = {
  [INVOCATION_TYPE]: 'invocation.v1.schema.json',
  [LIFECYCLE_TYPE]: 'lifecycle.v1.schema.json',
  [RESOURCE_TYPE]: 'resource.v1.schema.json',
};

function committed(file: string): string {
  return readFileSync(new URL(file, schemaDir), 'utf8');
}

// Strict mode fails on any keyword Ajv does not understand, so a schema that other validators
// would silently half-apply is caught here.
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats.default(ajv);
const validators: Record<string, ValidateFunction> = Object.fromEntries(
  Object.entries(fileByType).map(([type, file]) => [type, ajv.compile(JSON.parse(committed(file)) as object)]),
);

function schemaErrors(type: string, event: unknown): ErrorObject[] {
  const validate = validators[type]!;
  return validate(event) ? [] : [...(validate.errors ?? [])];
}

/** Ajv's `/data/durationMs` as the receiver's `data.durationMs`, plus the property a `required` error names. */
function ajvFields(errors: ErrorObject[]): string[] {
  return errors.map((e) => {
    const path = e.instancePath.split('/').filter(Boolean);
    if (e.keyword === 'required') path.push((e.params as { missingProperty: string }).missingProperty);
    return path.join('.');
  });
}

describe('generated JSON Schema files', () => {
  it('the committed schema files are exactly what renderSchemas() generates (run npm run contract:schemas)', () => {
    const rendered = renderSchemas();
    const onDisk = readdirSync(schemaDir).filter((f) => f.endsWith('.schema.json')).sort();
    expect(onDisk).toEqual(Object.keys(rendered).sort());
    for (const [file, text] of Object.entries(rendered)) expect(committed(file), file).toBe(text);
  });

  it('each schema is draft 2020-12, has a stable $id and pins its event type', () => {
    for (const [type, file] of Object.entries(fileByType)) {
      const schema = JSON.parse(committed(file)) as { $schema: string; $id: string; properties: { type: { const: string } } };
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(schema.$id).toBe(`https://faasmeter.dev/schemas/${file}`);
      expect(schema.properties.type.const).toBe(type);
    }
  });
});

describe('JSON Schema agrees with the receiver on the fixtures', () => {
  const valid = validFixtures();
  const invalid = invalidFixtures();

  it.each(valid.map((f) => [f.name, f] as const))('valid fixture %s validates against its JSON Schema', (_, fixture) => {
    const errors = schemaErrors(fixture.event.type as string, fixture.event);
    expect(ajv.errorsText(errors.length > 0 ? errors : null)).toBe('No errors');
  });

  const checkable = invalid.filter((f) => !(f.name in RECEIVER_ONLY));

  it.each(checkable.map((f) => [f.name, f] as const))('invalid fixture %s fails every JSON Schema', (_, fixture) => {
    for (const type of Object.keys(fileByType)) {
      expect(validators[type]!(fixture.event), `${fixture.name} against ${fileByType[type]}`).toBe(false);
    }
  });

  it.each(checkable.map((f) => [f.name, f] as const))('the schema for the intended type of %s names the same field as the receiver', (_, fixture) => {
    const event = fixture.event as { type?: unknown };
    // A fixture that breaks `type` itself has no intended schema; the invocation one stands in.
    const type = typeof event.type === 'string' && event.type in fileByType ? event.type : INVOCATION_TYPE;
    expect(ajvFields(schemaErrors(type, fixture.event))).toContain(fixture.field);
  });

  it('the receiver-only list names real invalid fixtures that JSON Schema indeed accepts', () => {
    const names = new Set(invalid.map((f) => f.name));
    for (const name of Object.keys(RECEIVER_ONLY)) {
      expect(names.has(name), `${name} is not an invalid fixture`).toBe(true);
      const fixture = invalid.find((f) => f.name === name)!;
      const type = (fixture.event as { type: string }).type;
      // If the schema starts rejecting it, the rule became expressible: take it off the list.
      expect(schemaErrors(type, fixture.event), name).toEqual([]);
      expect(parseEvent(fixture.event, { nowMs: FIXTURE_NOW_MS }).ok, name).toBe(false);
    }
  });

  it('string limits count code points in both the receiver and JSON Schema, so emoji names agree at the limit', () => {
    // A producer validating with the schema alone must get the receiver's answer at the boundary.
    const fixture = valid.find((f) => f.name === 'invocation-warm-http')!;
    const withRevision = (revision: string) => {
      const event = structuredClone(fixture.event) as { data: { revision: string } };
      event.data.revision = revision;
      return event;
    };
    const atLimit = withRevision('🚀'.repeat(128));
    expect(atLimit.data.revision).toHaveLength(256);
    expect(schemaErrors(INVOCATION_TYPE, atLimit)).toEqual([]);
    expect(parseEvent(atLimit, { nowMs: FIXTURE_NOW_MS }).ok).toBe(true);
    const over = withRevision('🚀'.repeat(129));
    expect(ajvFields(schemaErrors(INVOCATION_TYPE, over))).toContain('data.revision');
    const result = parseEvent(over, { nowMs: FIXTURE_NOW_MS });
    expect(result.ok ? [] : result.errors.map((e) => e.field)).toContain('data.revision');
  });
});
