/**
 * Turns Kubernetes' own published OpenAPI (api/openapi-spec/swagger.json of the k8s.io/kubernetes
 * Go module) and CustomResourceDefinition YAML (prometheus-operator's CRDs) into the JSON-schema
 * layout kubeconform reads from a directory, so kubeconform never downloads schemas at run time:
 *
 *   <out>/v<kube-version>-standalone-strict/<kind>-<group>-<version>.json   (core: <kind>-<version>.json)
 *
 * where <group> is the group's first dot-separated part, as kubeconform's `{{ .KindSuffix }}`
 * spells it. Each file stands alone: the kind's schema plus, under `definitions`, every
 * definition it reaches (recursive types such as JSONSchemaProps stay references). The output is
 * strict the way kubectl validates: an object schema that lists its properties rejects any other
 * key (`additionalProperties: false`), unless it says it preserves unknown fields; so does the root.
 * Like the openapi2jsonschema tool kubeconform documents, int-or-string becomes string|integer and
 * a resource Quantity string|number (YAML `cpu: 1` is a number). Descriptions are dropped.
 *
 *   node deploy/tools/k8s-schemas.ts --swagger swagger.json --kube-version 1.37.2 \
 *     --crd a.yaml --crd b.yaml --out .stack/tools/k8s-schemas
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const INT_OR_STRING: JsonObject = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
const QUANTITY: JsonObject = { oneOf: [{ type: 'string' }, { type: 'number' }] };
const QUANTITY_DEFINITION = 'io.k8s.apimachinery.pkg.api.resource.Quantity';

/** The file name kubeconform looks for: `{{ .ResourceKind }}{{ .KindSuffix }}.json`. */
export function schemaFileName(kind: string, group: string, version: string): string {
  const suffix = group === '' ? `-${version}` : `-${group.split('.')[0]}-${version}`;
  return `${kind}${suffix}.json`.toLowerCase();
}

/**
 * One schema node, rewritten: refs kept (and collected), int-or-string and nullable made explicit,
 * objects with listed properties closed. `refs` receives every definition name referenced.
 */
export function convertNode(node: Json, refs: Set<string>): Json {
  if (Array.isArray(node)) return node.map((n) => convertNode(n, refs));
  if (!isObject(node)) return node;
  const ref = node.$ref;
  if (typeof ref === 'string') {
    const name = ref.replace(/^#\/definitions\//, '');
    refs.add(name);
    return { $ref: `#/definitions/${name}` };
  }
  if (node.format === 'int-or-string') return { ...INT_OR_STRING };
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'description') continue;
    // `properties` maps names to schemas and `definitions` is rebuilt by the caller: their keys
    // are not schema keywords, so only their values are converted.
    if ((key === 'properties' || key === 'patternProperties') && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convertNode(v, refs)]));
      continue;
    }
    out[key] = convertNode(value, refs);
  }
  if (node.nullable === true && typeof node.type === 'string') out.type = [node.type, 'null'];
  if (node['x-kubernetes-int-or-string'] === true && out.anyOf === undefined && out.oneOf === undefined) {
    delete out.type;
    Object.assign(out, INT_OR_STRING);
  }
  const preserves = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (isObject(node.properties) && node.additionalProperties === undefined && !preserves) out.additionalProperties = false;
  return out;
}

interface Gvk {
  group: string;
  version: string;
  kind: string;
}

function gvks(definition: JsonObject): Gvk[] {
  const list = definition['x-kubernetes-group-version-kind'];
  if (!Array.isArray(list)) return [];
  const text = (v: Json | undefined) => (typeof v === 'string' ? v : '');
  return list.filter(isObject).map((g) => ({ group: text(g.group), version: text(g.version), kind: text(g.kind) }));
}

/** Every definition of the Kubernetes OpenAPI v2 document that names exactly one kind → one file. */
export function kubernetesSchemas(swagger: JsonObject): Map<string, JsonObject> {
  const definitions = swagger.definitions;
  if (!isObject(definitions)) throw new Error('swagger.json has no definitions');
  const converted = new Map<string, { schema: Json; refs: Set<string> }>();
  const convertDefinition = (name: string) => {
    let entry = converted.get(name);
    if (!entry) {
      const raw = definitions[name];
      if (raw === undefined) throw new Error(`swagger.json: #/definitions/${name} is referenced but missing`);
      const refs = new Set<string>();
      entry = { schema: name === QUANTITY_DEFINITION ? { ...QUANTITY } : convertNode(raw, refs), refs };
      converted.set(name, entry);
    }
    return entry;
  };
  const files = new Map<string, JsonObject>();
  for (const [name, raw] of Object.entries(definitions)) {
    if (!isObject(raw)) continue;
    const kinds = gvks(raw);
    // Shared meta types (DeleteOptions, WatchEvent) name dozens of kinds and are never manifests.
    if (kinds.length !== 1) continue;
    const { group, version, kind } = kinds[0]!;
    const root = convertDefinition(name);
    const reached = new Map<string, Json>();
    const pending = [...root.refs];
    while (pending.length > 0) {
      const next = pending.pop()!;
      if (reached.has(next)) continue;
      const entry = convertDefinition(next);
      reached.set(next, entry.schema);
      pending.push(...entry.refs);
    }
    const schema = root.schema as JsonObject;
    files.set(schemaFileName(kind, group, version), {
      ...schema,
      ...(reached.size > 0 ? { definitions: Object.fromEntries([...reached].sort(([a], [b]) => a.localeCompare(b))) } : {}),
    });
  }
  return files;
}

/** Every served version of every CustomResourceDefinition in the YAML text → one file. */
export function crdSchemas(yamlText: string, source: string): Map<string, JsonObject> {
  const files = new Map<string, JsonObject>();
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]!.message}`);
    const crd = doc.toJS() as Json;
    if (!isObject(crd) || crd.kind !== 'CustomResourceDefinition' || !isObject(crd.spec)) continue;
    const { group, names, versions } = crd.spec;
    if (typeof group !== 'string' || !isObject(names) || typeof names.kind !== 'string' || !Array.isArray(versions)) {
      throw new Error(`${source}: CustomResourceDefinition without spec.group, spec.names.kind or spec.versions`);
    }
    for (const version of versions) {
      if (!isObject(version) || typeof version.name !== 'string' || !isObject(version.schema)) continue;
      const schema = version.schema.openAPIV3Schema;
      if (!isObject(schema)) continue;
      files.set(schemaFileName(names.kind, group, version.name), convertNode(schema, new Set()) as JsonObject);
    }
  }
  return files;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      swagger: { type: 'string' },
      'kube-version': { type: 'string' },
      crd: { type: 'string', multiple: true, default: [] },
      out: { type: 'string' },
    },
  });
  const { swagger, out } = values;
  const kubeVersion = values['kube-version'];
  if (!swagger || !out || !kubeVersion) throw new Error('usage: k8s-schemas.ts --swagger FILE --kube-version X.Y.Z [--crd FILE ...] --out DIR');
  const dir = join(out, `v${kubeVersion.replace(/^v/, '')}-standalone-strict`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files = kubernetesSchemas(JSON.parse(readFileSync(swagger, 'utf8')) as JsonObject);
  const core = files.size;
  for (const file of values.crd) {
    for (const [name, schema] of crdSchemas(readFileSync(file, 'utf8'), file)) files.set(name, schema);
  }
  for (const [name, schema] of files) writeFileSync(join(dir, name), JSON.stringify(schema));
  process.stdout.write(`${core} Kubernetes and ${files.size - core} custom resource schemas written to ${dir}\n`);
}

if (import.meta.main) main();
