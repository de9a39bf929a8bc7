import pino from 'pino';
import type { Logger } from 'pino';
import { z } from 'zod';
import { parseConfig } from './config.ts';

export type { Logger };

/** Read by every command that logs; FAASMETER_LOG_LEVEL=silent keeps test output readable. */
export const LogEnvSchema = z.object({
  FAASMETER_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Least severe level written; logs are JSON lines on stdout'),
});

/** Structured JSON logs on stdout, at the level FAASMETER_LOG_LEVEL names unless `level` is given. */
export function createLogger(component: string, level: string = parseConfig(LogEnvSchema, process.env, 'log configuration').FAASMETER_LOG_LEVEL): Logger {
  return pino({ level, base: { component, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
