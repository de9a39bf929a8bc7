import { z } from 'zod';
import { parseConfig } from '../../common/config.ts';
import type { DeliveryEnv } from '../delivery/index.ts';
import { deliveryEnvShape } from '../delivery/index.ts';

const MiB = 1024 * 1024;

/** `faasmeter receivers` reads only environment variables; collector/receivers/README.md lists them. */
export const ReceiversEnvSchema = z.object({
  ...deliveryEnvShape,
  FAASMETER_RECEIVERS_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Address the receivers listen on; loopback by default so that a receiver without ingest keys is not reachable from elsewhere by accident'),
  FAASMETER_RECEIVERS_PORT: z.coerce
    .number()
    .int('must be a whole number')
    .min(0)
    .max(65535, 'must be a port number (0-65535)')
    .default(4318)
    .describe("Port the receivers listen on; 4318 is OTLP/HTTP's registered port, so exporters work with only the host changed"),
  FAASMETER_RECEIVERS_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024, 'must be at least 1024')
    .max(256 * MiB)
    .default(5 * MiB)
    .describe('Largest request body, as sent and again after gzip/deflate decompression; larger: 413'),
  FAASMETER_INGEST_KEYS_FILE: z
    .string()
    .min(1)
    .optional()
    .describe('JSON file (e.g. a mounted Secret) of ingest keys as `[{"sha256": "<64 hex>", "tenant": "acme"}]`; with any key, every request needs one'),
  FAASMETER_INGEST_KEYS: z.string().min(1).optional().describe('The same JSON inline; merged with the file\'s keys'),
});

export type ReceiversEnv = z.output<typeof ReceiversEnvSchema> & DeliveryEnv;

export function receiversEnv(env: NodeJS.ProcessEnv): Readonly<ReceiversEnv> {
  return parseConfig(ReceiversEnvSchema, env, 'receivers configuration');
}
