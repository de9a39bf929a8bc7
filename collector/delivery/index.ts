export type { EventSink } from './sink.ts';
export { MemorySink } from './sink.ts';
export type { Delivery, DeliveryDeps, DeliveryState, DeliveryStats, DropReason } from './delivery.ts';
export { createDelivery } from './delivery.ts';
export type { DeliveryConfig, DeliveryConfigInput, DeliveryEnv } from './config.ts';
export {
  DeliveryConfigSchema,
  DeliveryEnvSchema,
  defaultSpoolDir,
  deliveryConfigFromEnv,
  deliveryConfigFromParsedEnv,
  deliveryEnvShape,
  parseDeliveryConfig,
} from './config.ts';
export type { OverflowPolicy, FsyncPolicy, SpoolBatch, SpoolOptions, SpoolStats } from './spool.ts';
export { Spool, SpoolLockedError } from './spool.ts';
