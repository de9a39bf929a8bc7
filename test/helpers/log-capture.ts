import { Writable } from 'node:stream';
import pino from 'pino';

/** A pino logger whose JSON lines tests can read back, to assert what an operator would see. */
export class LogCapture {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly logger = pino(
    { level: 'debug' },
    new Writable({
      write: (chunk: Buffer, _enc, done) => {
        this.lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );

  messages(): string[] {
    return this.lines.map((l) => String(l.msg));
  }
}
