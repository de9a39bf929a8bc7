/**
 * A collector stand-in in its own process, for crash and restart measurements: a delivery that
 * emits `deliveryEvent(run, i)` on command. The one argument is the delivery config as JSON
 * (plus `run`). Commands on stdin, one per line:
 *   emit <n>   emit n events at once, flush, answer `flushed <stats json>`
 *   rate <r>   emit r events per second until killed; every emitted seq is written as `e <seq>`
 *              right after its emit (synchronously, so after a SIGKILL the parent has them all)
 *   stop       stop the delivery, answer `stopped <stats json>`, exit 0
 * It answers `ready` once started.
 */
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createDelivery } from '../collector/delivery/index.ts';
import type { DeliveryConfigInput } from '../collector/delivery/index.ts';
import { createLogger } from '../common/log.ts';
import { createTelemetry } from '../common/telemetry.ts';
import { deliveryEvent } from './delivery-workload.ts';

const { run, ...config } = JSON.parse(process.argv[2] ?? '{}') as DeliveryConfigInput & { run: string };
const delivery = createDelivery(config, {
  log: createLogger('delivery-emitter', process.env.FAASMETER_LOG_LEVEL ?? 'silent'),
  meter: createTelemetry('delivery-emitter').meter,
});
const say = (line: string) => writeSync(1, `${line}\n`);
let next = 0;

await delivery.start();
say('ready');

for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.trim().split(/\s+/);
  if (command === 'emit') {
    const n = Number(arg);
    for (let i = 0; i < n; i += 1) delivery.emit(deliveryEvent(run, next++));
    await delivery.flush();
    say(`flushed ${JSON.stringify(delivery.stats())}`);
  } else if (command === 'rate') {
    const perSecond = Number(arg);
    const started = Date.now();
    const base = next;
    setInterval(() => {
      const due = base + Math.floor(((Date.now() - started) * perSecond) / 1000);
      while (next < due) {
        delivery.emit(deliveryEvent(run, next));
        say(`e ${next}`);
        next += 1;
      }
    }, 2);
  } else if (command === 'stop') {
    await delivery.stop();
    say(`stopped ${JSON.stringify(delivery.stats())}`);
    process.exit(0);
  }
}
