import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_KAFKA_BROKERS, parseConfig } from '../common/config.ts';
import { createLogger } from '../common/log.ts';
import { createKafka } from './client.ts';
import { defaultTopics, ensureTopics } from './topics.ts';

/**
 * The variables `faasmeter topics` reads. Plain strings: each is only the default of the flag of
 * the same meaning, and what the flag ends up with is checked once, below.
 */
export const TopicsEnvSchema = z.object({
  FAASMETER_KAFKA_BROKERS: z.string().default(DEFAULT_KAFKA_BROKERS).describe('Kafka bootstrap brokers, comma-separated host:port; `--brokers` overrides it'),
  FAASMETER_TOPIC_PARTITIONS: z
    .string()
    .default('6')
    .describe('Partitions of each topic created, a whole number from 1 to 1000: the ceiling on meter replicas; `--partitions` overrides it'),
  FAASMETER_TOPIC_PREFIX: z.string().default('').describe("Prepended to every topic name; must match the other commands' prefix; `--prefix` overrides it"),
});

export async function runTopicsCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const config = parseConfig(TopicsEnvSchema, env, 'topics configuration');
  const { values } = parseArgs({
    args: argv,
    options: {
      brokers: { type: 'string', default: config.FAASMETER_KAFKA_BROKERS },
      partitions: { type: 'string', default: config.FAASMETER_TOPIC_PARTITIONS },
      prefix: { type: 'string', default: config.FAASMETER_TOPIC_PREFIX },
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
