import { z } from 'zod';

/**
 * Every 4xx and 5xx leaves as `{ "error": { "code", "message", "field"?, "requestId" } }`. Codes
 * are stable snake_case a client can branch on; messages are for people and never carry a stack,
 * SQL, or another tenant's data. Details of a 5xx stay in the server log under the request id.
 */
export const ERROR_CODES = [
  'unauthorized',
  'tenant_forbidden',
  'admin_only',
  'tenant_required',
  'invalid_parameter',
  'unknown_parameter',
  'duplicate_parameter',
  'invalid_path',
  'invalid_range',
  'range_too_long',
  'period_not_ended',
  'not_found',
  'method_not_allowed',
  'rate_limited',
  'unavailable',
  'internal_error',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export const ErrorBody = z
  .strictObject({
    error: z.strictObject({
      code: z.enum(ERROR_CODES).describe('Stable, snake_case; branch on this.'),
      message: z.string().describe('For people; may change between versions.'),
      field: z
        .string()
        .optional()
        .describe('The offending input, as "query.<name>" or "path.<name>".'),
      requestId: z.string().describe('Also in the X-Request-Id header; quote it when reporting a problem.'),
    }),
  });

export type ErrorBody = z.infer<typeof ErrorBody>;

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly code: ErrorCode;
  readonly field: string | undefined;
  /** Extra response headers (Retry-After, Allow, WWW-Authenticate). */
  readonly headers: Record<string, string>;

  constructor(status: number, code: ErrorCode, message: string, options: { field?: string; headers?: Record<string, string> } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = options.field;
    this.headers = options.headers ?? {};
  }
}

export const badParameter = (field: string, message: string): ApiError => new ApiError(400, 'invalid_parameter', message, { field });
