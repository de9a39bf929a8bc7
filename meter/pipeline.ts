import type { FaasEvent, ContractError } from '../contract/index.ts';
import { formatErrors, parseEventJson, TOPICS } from '../contract/index.ts';
import type { ConsumedRecord } from '../kafka/consumer.ts';

/**
 * Each step of the pipeline returns an explicit outcome; every outcome is counted. A producer
 * can never make the meter crash: anything it sends ends as a valid event or a dead letter.
 */
export type DeadLetterReason =
  | 'empty_value'
  | 'invalid_json'
  | 'invalid_event'
  | 'wrong_topic'
  | 'unknown_tenant'
  | 'too_large';

export interface DeadLetter {
  record: ConsumedRecord;
  reason: DeadLetterReason;
  step: 'decode' | 'validate' | 'route' | 'price';
  detail: string;
}

export type Decoded = { kind: 'event'; event: FaasEvent; record: ConsumedRecord } | { kind: 'dead'; dead: DeadLetter };

/** A contract event is a few hundred bytes; anything this large is hostile or broken. */
export const MAX_RECORD_BYTES = 256 * 1024;

function expectedTopicSuffix(event: FaasEvent): string {
  switch (event.type) {
    case 'dev.faasmeter.invocation.v1':
      return TOPICS.invocations;
    case 'dev.faasmeter.lifecycle.v1':
      return TOPICS.lifecycle;
    case 'dev.faasmeter.resource.v1':
      return TOPICS.resources;
  }
}

function jsonError(errors: ContractError[]): boolean {
  return errors.length === 1 && errors[0]?.field === '' && errors[0].message.startsWith('is not valid JSON');
}

export function decodeRecord(record: ConsumedRecord, nowMs: number): Decoded {
  const dead = (reason: DeadLetterReason, step: DeadLetter['step'], detail: string): Decoded => ({
    kind: 'dead',
    dead: { record, reason, step, detail },
  });
  if (!record.value || record.value.length === 0) return dead('empty_value', 'decode', 'record has no value');
  if (record.value.length > MAX_RECORD_BYTES) {
    return dead('too_large', 'decode', `record is ${record.value.length} bytes; the limit is ${MAX_RECORD_BYTES}`);
  }
  const parsed = parseEventJson(record.value, { nowMs });
  if (!parsed.ok) {
    const detail = formatErrors(parsed.errors).slice(0, 1000);
    return jsonError(parsed.errors) ? dead('invalid_json', 'decode', detail) : dead('invalid_event', 'validate', detail);
  }
  if (!record.topic.endsWith(expectedTopicSuffix(parsed.value))) {
    return dead('wrong_topic', 'route', `${parsed.value.type} does not belong on ${record.topic}`);
  }
  return { kind: 'event', event: parsed.value, record };
}
