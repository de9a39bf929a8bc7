import { parseArgs } from 'node:util';
import { DEFAULT_KAFKA_BROKERS } from '../common/config.ts';
import { createLogger } from '../common/log.ts';
import { createKafka } from './client.ts';
import { defaultTopics, ensureTopics } from './topics.ts';

export async function runTopicsCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      brokers: { type: 'string', default: env.FAASMETER_KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS },
      partitions: { type: 'string', default: env.FAASMETER_TOPIC_PARTITIONS ?? '6' },
      prefix: { type: 'string', default: env.FAASMETER_TOPIC_PREFIX ?? '' },
    },
  });
  const partitions = Number(values.partitions);
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1000) {
    throw new Error(`--partitions must be a whole number from 1 to 1000, got "${values.partitions}"`);
  }
  const log = createLogger('topics');
  const kafka = createKafka({ brokers: values.brokers.split(','), clientId: 'faasmeter-topics' }, log);
  const created = await ensureTopics(kafka, defaultTopics(partitions, values.prefix));
  process.stdout.write(created.length > 0 ? `created ${created.join(', ')}\n` : 'all topics exist\n');
  return 0;
}
