import { z } from 'zod';
import { ErrorBody } from './errors.ts';

/**
 * A small OpenAPI 3.1 builder over the zod schemas the server validates with: parameters come
 * from the request schemas (io: input, so defaults make a field optional), bodies from the
 * response schemas (io: output). OpenAPI 3.1 uses JSON Schema 2020-12, which is what
 * z.toJSONSchema emits, so schemas go in unchanged apart from the `$schema` key.
 */

type JsonSchema = Record<string, unknown>;

export interface ResponseDoc {
  description: string;
  /** An application/json body checked against this schema. */
  json?: z.ZodType;
  /** A body of another media type, described by a plain string schema. */
  text?: { contentType: string };
  headers?: Record<string, { description: string; required?: boolean; schema: JsonSchema }>;
}

export interface OperationDoc {
  method: 'get' | 'post';
  /** OpenAPI path template, e.g. /v1/statements/{period}. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Needs `Authorization: Bearer <key>`. */
  auth: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  responses: Record<number, ResponseDoc>;
  /** Error statuses this operation can answer with, each with the shared Error body. */
  errors: number[];
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'The request does not match this document: a malformed, unknown or repeated parameter, or a limit exceeded.',
  401: 'No valid API key: missing, malformed, unknown or revoked.',
  403: 'The key may not do this: another tenant’s data, or an admin-only operation.',
  404: 'No such resource.',
  405: 'Method not allowed on this path (see the Allow header).',
  409: 'The request conflicts with the resource’s state.',
  422: 'Well-formed but not meaningful: a range that is empty, misaligned, too long, or a date that does not exist.',
  429: 'Too many requests for this key; retry after the Retry-After header’s seconds.',
  500: 'A bug on our side; the request id is in the body and the X-Request-Id header.',
  503: 'A dependency (ClickHouse) is unavailable; retry later.',
};

export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'throw' }) as JsonSchema;
  delete out.$schema;
  return out;
}

function parameters(schema: z.ZodObject | undefined, location: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const js = jsonSchema(schema, 'input');
  const properties = (js.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((js.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: location,
      required: location === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

const REQUEST_ID_HEADER = { description: 'Identifies this request in the server’s logs.', required: true, schema: { type: 'string' } };

function responses(op: OperationDoc): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const [status, doc] of Object.entries(op.responses)) {
    const content: Record<string, JsonSchema> = {};
    if (doc.json) content['application/json'] = { schema: jsonSchema(doc.json, 'output') };
    if (doc.text) content[doc.text.contentType] = { schema: { type: 'string' } };
    out[status] = {
      description: doc.description,
      headers: { 'X-Request-Id': REQUEST_ID_HEADER, ...doc.headers },
      ...(Object.keys(content).length > 0 ? { content } : {}),
    };
  }
  for (const status of op.errors) {
    const headers: Record<string, JsonSchema> = { 'X-Request-Id': REQUEST_ID_HEADER };
    if (status === 429) headers['Retry-After'] = { description: 'Seconds until a request will be accepted.', required: true, schema: { type: 'string', pattern: '^[0-9]+$' } };
    if (status === 405) headers.Allow = { description: 'The methods this path supports.', required: true, schema: { type: 'string' } };
    out[String(status)] = {
      description: ERROR_DESCRIPTIONS[status] ?? 'Error.',
      headers,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return out;
}

export function buildOpenApi(operations: readonly OperationDoc[], info: { title: string; version: string; description: string }): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of operations) {
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      operationId: op.operationId,
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      tags: op.tags,
      security: op.auth ? [{ apiKey: [] }] : [],
      parameters: [...parameters(op.params, 'path'), ...parameters(op.query, 'query')],
      responses: responses(op),
    };
  }
  return {
    openapi: '3.1.0',
    info,
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: { Error: jsonSchema(ErrorBody, 'output') },
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key from `faasmeter keys create`, sent as `Authorization: Bearer fm_…`.',
        },
      },
    },
  };
}
