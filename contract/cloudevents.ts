import { z } from 'zod';

/**
 * The CloudEvents 1.0 envelope every faasmeter event travels in. Only the attributes we rely on
 * are required; extension attributes and unknown fields are ignored, as the contract promises.
 */
export const EVENT_ID_MAX = 128;

// Ids are idempotency keys end to end: printable ASCII keeps them safe as Kafka keys, log fields
// and ClickHouse sort keys without normalisation surprises.
export const eventId = z
  .string()
  .min(1, 'must not be empty')
  .max(EVENT_ID_MAX, `must be at most ${EVENT_ID_MAX} characters`)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

export const envelopeShape = {
  specversion: z.literal('1.0'),
  id: eventId,
  source: z.string().min(1, 'must not be empty').max(512, 'must be at most 512 characters'),
  time: z.iso.datetime({ offset: true, message: 'must be an RFC 3339 timestamp' }),
  subject: z.string().max(512).optional(),
  datacontenttype: z.literal('application/json').optional(),
};
