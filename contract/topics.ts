import type { EventType, FaasEvent } from './events.ts';
import { INVOCATION_TYPE, LIFECYCLE_TYPE, RESOURCE_TYPE } from './events.ts';

/** Kafka topics are part of the wire contract: versioned with the event types they carry. */
export const TOPICS = {
  invocations: 'faasmeter.invocations.v1',
  lifecycle: 'faasmeter.lifecycle.v1',
  resources: 'faasmeter.resources.v1',
  deadletter: 'faasmeter.deadletter.v1',
} as const;

export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];

const topicByType: Record<EventType, TopicName> = {
  [INVOCATION_TYPE]: TOPICS.invocations,
  [LIFECYCLE_TYPE]: TOPICS.lifecycle,
  [RESOURCE_TYPE]: TOPICS.resources,
};

export function topicFor(type: EventType): TopicName {
  return topicByType[type];
}

/**
 * The Kafka key is a pure function of the event, so a re-sent event always lands on the
 * partition of its original and one meter sees both. Invocations spread by id; instance
 * events keep per-instance order because idle time and counters are computed in sequence.
 */
export function partitionKey(event: FaasEvent): string {
  switch (event.type) {
    case INVOCATION_TYPE:
      return event.id;
    case LIFECYCLE_TYPE:
    case RESOURCE_TYPE:
      return `${event.data.tenant}/${event.data.instance}`;
  }
}
