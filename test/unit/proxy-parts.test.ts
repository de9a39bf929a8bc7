import { parse as parseUuid, validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { endToEndHeaders, triggerOf } from '../../collector/proxy/headers.ts';
import { RequestIdPicker } from '../../collector/proxy/request-id.ts';
import { uuidv7 } from '../../collector/proxy/uuid7.ts';

describe('proxy header rules', () => {
  it('drops hop-by-hop fields and those the Connection header names, keeping order and case', () => {
    const raw = ['Host', 'fn', 'Connection', 'keep-alive, X-Hop', 'X-Hop', '1', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Proxy-Connection', 'close', 'X-End', '2'];
    expect(endToEndHeaders(raw)).toEqual(['Host', 'fn', 'X-End', '2']);
  });

  it('maps CloudEvents to pubsub, the Knative ping source to timer, everything else to http', () => {
    expect(triggerOf({})).toBe('http');
    expect(triggerOf({ 'ce-type': 'com.example.created' })).toBe('pubsub');
    expect(triggerOf({ 'ce-type': 'dev.knative.sources.ping' })).toBe('timer');
    expect(triggerOf({ 'content-type': 'application/cloudevents+json; charset=utf-8' })).toBe('pubsub');
    expect(triggerOf({ 'content-type': 'application/json' })).toBe('http');
  });

  it('takes the first valid id in header order and refuses an id it used recently', () => {
    const picker = new RequestIdPicker(['x-request-id', 'ce-id'], 2);
    expect(picker.pick({ 'x-request-id': 'not valid', 'ce-id': 'ce-1' })).toBe('ce-1');
    expect(picker.pick({ 'x-request-id': 'r-1' })).toBe('r-1');
    expect(picker.pick({ 'x-request-id': 'r-1' })).toBeUndefined();
    expect(picker.pick({ 'x-request-id': 'r-2' })).toBe('r-2');
    // Remembering is bounded: after two newer ids, the oldest is forgotten.
    expect(picker.pick({ 'ce-id': 'ce-1' })).toBe('ce-1');
    expect(picker.pick({ 'x-request-id': '' })).toBeUndefined();
    expect(picker.pick({ 'x-request-id': 'é' })).toBeUndefined();
  });
});

describe('proxy UUIDv7', () => {
  it('encodes the millisecond timestamp, version 7 and the RFC 9562 variant', () => {
    for (const ms of [0, 1, 0xffffffff, 1_795_424_302_501, 2 ** 48 - 1]) {
      const id = uuidv7(ms);
      expect(validate(id), id).toBe(true);
      expect(version(id)).toBe(7);
      const bytes = parseUuid(id);
      expect(bytes[8]! >> 6).toBe(0b10);
      expect(bytes.slice(0, 6).reduce((acc, b) => acc * 256 + b, 0)).toBe(ms);
    }
  });

  it('gives distinct ids within one millisecond across pool refills', () => {
    const ids = new Set(Array.from({ length: 5_000 }, () => uuidv7(1_795_424_302_501)));
    expect(ids.size).toBe(5_000);
  });
});
