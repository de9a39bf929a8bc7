import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; FAASMETER_LOG_LEVEL=silent keeps test output readable. */
export function createLogger(component: string, level = process.env.FAASMETER_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { component, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
