import type { FaasEvent } from '../../contract/index.ts';

/**
 * Where collector parts hand their events. `emit` never blocks a user's request and never
 * throws: delivery (Kafka, else the disk spool) owns every failure from here on, and counts it.
 */
export interface EventSink {
  emit(event: FaasEvent): void;
}

/** Collects events in memory; for unit tests of parts that produce events. */
export class MemorySink implements EventSink {
  readonly events: FaasEvent[] = [];
  emit(event: FaasEvent): void {
    this.events.push(event);
  }
}
