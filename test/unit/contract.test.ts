import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ParseResult } from '../../contract/index.ts';
import {
  Architecture,
  EVENT_ID_MAX,
  formatErrors,
  INVOCATION_TYPE,
  InvocationData,
  InvocationEvent,
  LIFECYCLE_TYPE,
  LifecycleData,
  MAX_DURATION_MS,
  MAX_MEMORY_MB,
  parseEvent,
  parseEventJson,
  Phase,
  RESOURCE_TYPE,
  ResourceData,
  StartupTimings,
  Status,
  StopReason,
  Trigger,
} from '../../contract/index.ts';
import { FIXTURE_NOW_MS, invalidFixtures, validFixtures } from '../../contract/fixtures/fixtures.ts';

// Every check runs against the fixtures' fixed receiver clock, so nothing here depends on today.
const NOW_MS = FIXTURE_NOW_MS;
const MINUTE_MS = 60_000;

type Json = Record<string, unknown>;
const REMOVE = Symbol('remove');

function parse(input: unknown): ParseResult<unknown> {
  return parseEvent(input, { nowMs: NOW_MS });
}

function errorFields(result: ParseResult<unknown>): string[] {
  return result.ok ? [] : result.errors.map((e) => e.field);
}

function expectRejected(input: unknown, field: string): void {
  const result = parse(input);
  expect(result.ok, `expected a rejection naming ${field}`).toBe(false);
  expect(errorFields(result)).toContain(field);
}

function expectAccepted(input: unknown): unknown {
  const result = parse(input);
  if (!result.ok) expect.fail(`expected acceptance, got: ${formatErrors(result.errors)}`);
  return result.value;
}

/** A copy of `event` with the dotted `path` set to `value`, or removed. */
function withField(event: Json, path: string, value: unknown): Json {
  const copy = structuredClone(event);
  const keys = path.split('.');
  let target = copy;
  for (const key of keys.slice(0, -1)) target = target[key] as Json;
  const last = keys.at(-1)!;
  if (value === REMOVE) delete target[last];
  else target[last] = value;
  return copy;
}

const iso = (ms: number) => new Date(ms).toISOString();

// Base events carry every optional field too, so a test that breaks one field breaks only it.
function invocation(): Json {
  return {
    specversion: '1.0',
    id: '01a0c450-5878-703d-a57c-4950cab58ba5',
    source: 'faasmeter/proxy/checkout-api-00042-deployment-7d9f8b6c5d-x2k4q',
    type: INVOCATION_TYPE,
    time: iso(NOW_MS - 4_976),
    subject: 'checkout-api',
    datacontenttype: 'application/json',
    data: {
      tenant: 'acme-prod',
      function: 'checkout-api',
      revision: 'checkout-api-00042',
      instance: 'checkout-api-00042-deployment-7d9f8b6c5d-x2k4q',
      trigger: 'http',
      startMs: NOW_MS - 5_000,
      durationMs: 23.84,
      status: 'success',
      httpStatus: 200,
      cold: false,
      waitMs: 0.31,
      memoryMb: 512,
      maxMemoryUsedMb: 143,
      cpuMs: 11.5,
      arch: 'x86_64',
      requestBytes: 1_834,
      responseBytes: 5_120,
    },
  };
}

function coldInvocation(): Json {
  const event = withField(invocation(), 'data.cold', true);
  return withField(event, 'data.initDurationMs', 1_422.5);
}

function lifecycle(phase: Phase = 'ready'): Json {
  const instance = 'thumbnailer-00007-deployment-5c8d7f9b4-m7tzp';
  const timeMs = NOW_MS - 60_000;
  return {
    specversion: '1.0',
    id: `${instance}:${phase}:${timeMs}`,
    source: 'faasmeter/kube-watcher/globex',
    type: LIFECYCLE_TYPE,
    time: iso(timeMs),
    subject: 'thumbnailer',
    datacontenttype: 'application/json',
    data: {
      tenant: 'globex',
      function: 'thumbnailer',
      revision: 'thumbnailer-00007',
      instance,
      phase,
      timeMs,
      ...(phase === 'stopped' ? { stopReason: 'scale_to_zero' } : {}),
      timings: { runtimeInitMs: 412.5, appInitMs: 1_380.25, firstRequestWaitMs: 119 },
      provisioned: true,
      memoryMb: 1_024,
      arch: 'arm64',
    },
  };
}

function resource(): Json {
  const instance = 'thumbnailer-00007-deployment-5c8d7f9b4-m7tzp';
  const timeMs = NOW_MS - 10_000;
  return {
    specversion: '1.0',
    id: `${instance}:r:${timeMs}`,
    source: `faasmeter/cgroup-sampler/${instance}`,
    type: RESOURCE_TYPE,
    time: iso(timeMs),
    subject: 'thumbnailer',
    datacontenttype: 'application/json',
    data: {
      tenant: 'globex',
      function: 'thumbnailer',
      revision: 'thumbnailer-00007',
      instance,
      timeMs,
      cpuUsageUs: 48_213_377,
      cpuThrottledUs: 1_204_500,
      memoryCurrentBytes: 183_500_800,
      memoryPeakBytes: 201_326_592,
      oomKills: 0,
    },
  };
}

const bases: Record<string, () => Json> = {
  invocation,
  lifecycle: () => lifecycle(),
  resource,
};

const article = (kind: string) => (kind === 'invocation' ? `an ${kind}` : `a ${kind}`);

const dataKeys: Record<string, string[]> = {
  [INVOCATION_TYPE]: Object.keys(InvocationData.shape),
  [LIFECYCLE_TYPE]: Object.keys(LifecycleData.shape),
  [RESOURCE_TYPE]: Object.keys(ResourceData.shape),
};
const envelopeKeys = Object.keys(InvocationEvent.shape);

function pick(value: unknown, keys: string[]): Json {
  return Object.fromEntries(Object.entries(value as Json).filter(([key]) => keys.includes(key)));
}

/** What a receiver should hand on: the event with every field the contract does not know removed. */
function knownFieldsOnly(event: Json): Json {
  const out = pick(event, envelopeKeys);
  const data = pick(event.data, dataKeys[event.type as string] ?? []);
  if (data.timings !== undefined) data.timings = pick(data.timings, Object.keys(StartupTimings.shape));
  return { ...out, data };
}

describe('contract fixtures', () => {
  const valid = validFixtures();
  const invalid = invalidFixtures();

  it.each(valid.map((f) => [f.name, f] as const))('valid fixture %s is accepted as-is, minus unknown fields', (_, fixture) => {
    expect(expectAccepted(fixture.event)).toStrictEqual(knownFieldsOnly(fixture.event));
  });

  it.each(invalid.map((f) => [f.name, f] as const))('invalid fixture %s is rejected and the errors name its field', (_, fixture) => {
    expectRejected(fixture.event, fixture.field);
  });

  it('unknown envelope, data and timings fields in the fixtures are accepted and dropped', () => {
    const withExtras = valid.filter((f) => f.name.endsWith('-with-unknown-fields'));
    expect(withExtras.map((f) => f.name)).toEqual(['invocation-with-unknown-fields', 'lifecycle-ready-with-unknown-fields']);
    const inv = expectAccepted(withExtras[0]!.event) as Json;
    // The fixture really carries the extras; otherwise this test would prove nothing.
    expect(withExtras[0]!.event).toHaveProperty('traceparent');
    expect(withExtras[0]!.event.data).toHaveProperty('billedDurationMs');
    expect(inv).not.toHaveProperty('traceparent');
    expect(inv).not.toHaveProperty('knativearrivaltime');
    expect(inv.data).not.toHaveProperty('billedDurationMs');
    expect(inv.data).not.toHaveProperty('labels');
    const lc = expectAccepted(withExtras[1]!.event) as { data: { timings: Json } };
    expect(withExtras[1]!.event.data).toHaveProperty('timings.imagePullMs');
    expect(lc.data.timings).not.toHaveProperty('imagePullMs');
    expect(lc.data).not.toHaveProperty('clusterName');
  });

  it('the valid fixtures show every event type, status, architecture, phase and stop reason', () => {
    const events = valid.map((f) => f.event as { type: string; data: Json });
    const seen = (type: string, key: string) =>
      new Set(events.filter((e) => e.type === type).map((e) => e.data[key]).filter((v) => v !== undefined));
    expect(new Set(events.map((e) => e.type))).toEqual(new Set([INVOCATION_TYPE, LIFECYCLE_TYPE, RESOURCE_TYPE]));
    expect(seen(INVOCATION_TYPE, 'status')).toEqual(new Set(Status.options));
    expect(seen(INVOCATION_TYPE, 'arch')).toEqual(new Set(Architecture.options));
    expect(seen(LIFECYCLE_TYPE, 'phase')).toEqual(new Set(Phase.options));
    expect(seen(LIFECYCLE_TYPE, 'stopReason')).toEqual(new Set(StopReason.options));
    expect(seen(INVOCATION_TYPE, 'cold')).toEqual(new Set([true, false]));
  });

  it('every invalid fixture names a field and says why', () => {
    expect(invalid.length).toBeGreaterThan(0);
    for (const fixture of invalid) {
      expect(fixture.field, fixture.name).not.toBe('');
      expect(fixture.because, fixture.name).not.toBe('');
    }
  });
});

describe('required fields', () => {
  // Written out rather than derived, so making a field optional is a deliberate contract change.
  const required: Record<string, string[]> = {
    invocation: [
      'tenant', 'function', 'revision', 'instance', 'trigger', 'startMs', 'durationMs', 'status', 'cold',
      'memoryMb', 'arch', 'requestBytes', 'responseBytes',
    ],
    lifecycle: ['tenant', 'function', 'revision', 'instance', 'phase', 'timeMs'],
    resource: ['tenant', 'function', 'instance', 'timeMs', 'cpuUsageUs', 'cpuThrottledUs', 'memoryCurrentBytes', 'memoryPeakBytes', 'oomKills'],
  };
  const envelope = ['specversion', 'id', 'source', 'time', 'type', 'data'];
  const shapes = { invocation: InvocationData.shape, lifecycle: LifecycleData.shape, resource: ResourceData.shape };

  it.each(Object.keys(required))('the required %s data fields are exactly the documented ones', (kind) => {
    const shape = shapes[kind as keyof typeof shapes] as Record<string, { safeParse(v: unknown): { success: boolean } }>;
    const actual = Object.entries(shape).filter(([, schema]) => !schema.safeParse(undefined).success).map(([key]) => key);
    expect(actual.sort()).toEqual([...required[kind]!].sort());
  });

  const cases = Object.entries(required).flatMap(([kind, fields]) => [
    ...envelope.map((field) => [article(kind), field, kind] as const),
    ...fields.map((field) => [article(kind), `data.${field}`, kind] as const),
  ]);

  it.each(cases)('%s event without %s is rejected and the error names that field', (_, field, kind) => {
    expectRejected(withField(bases[kind]!(), field, REMOVE), field);
  });

  it.each(Object.keys(bases))('an event of type %s with every optional field removed is still accepted', (kind) => {
    const base = bases[kind]!();
    const data = base.data as Json;
    const minimal = {
      ...pick(base, envelope),
      data: pick(data, required[kind]!),
    };
    expectAccepted(minimal);
  });
});

describe('enumerations', () => {
  const documented: Array<[string, readonly string[]]> = [
    ['trigger', Trigger.options],
    ['status', Status.options],
    ['arch', Architecture.options],
  ];

  it('the enumerations hold exactly the values the architecture documents', () => {
    expect(Trigger.options).toEqual(['http', 'pubsub', 'timer', 'datasource', 'other']);
    expect(Status.options).toEqual(['success', 'error', 'timeout']);
    expect(Architecture.options).toEqual(['x86_64', 'arm64']);
    expect(Phase.options).toEqual(['created', 'ready', 'first_request', 'stopped']);
    expect(StopReason.options).toEqual(['scale_to_zero', 'oom', 'evicted', 'error', 'deploy']);
  });

  it.each(documented.flatMap(([key, values]) => values.map((v) => [key, v] as const)))(
    'invocation %s "%s" is accepted',
    (key, value) => {
      expectAccepted(withField(invocation(), `data.${key}`, value));
    },
  );

  it.each(StopReason.options)('a stopped instance with stopReason "%s" is accepted', (reason) => {
    expectAccepted(withField(lifecycle('stopped'), 'data.stopReason', reason));
  });

  it.each(Phase.options)('lifecycle phase "%s" is accepted', (phase) => {
    expectAccepted(lifecycle(phase));
  });

  const unknown: Array<[string, string, unknown, () => Json]> = [
    ['trigger', 'data.trigger', 'lambda-url', invocation],
    ['trigger (case matters)', 'data.trigger', 'HTTP', invocation],
    ['status', 'data.status', 'failed', invocation],
    ['arch (kernel name)', 'data.arch', 'aarch64', invocation],
    ['arch (Go name)', 'data.arch', 'amd64', invocation],
    ['lifecycle arch', 'data.arch', 'riscv64', () => lifecycle()],
    ['phase', 'data.phase', 'starting', () => lifecycle()],
    ['stopReason', 'data.stopReason', 'crashed', () => lifecycle('stopped')],
    ['type (future version)', 'type', 'dev.faasmeter.invocation.v2', invocation],
    ['type (foreign)', 'type', 'com.amazonaws.lambda.platform.report', invocation],
    ['specversion 0.3', 'specversion', '0.3', invocation],
    ['specversion as a number', 'specversion', 1.0, invocation],
    ['datacontenttype', 'datacontenttype', 'text/plain', invocation],
  ];

  it.each(unknown)('an unknown %s is rejected and names %s', (_, field, value, base) => {
    expectRejected(withField(base(), field, value), field);
  });
});

describe('numeric bounds', () => {
  const durations: Array<[() => Json, string]> = [
    [invocation, 'data.durationMs'],
    [coldInvocation, 'data.initDurationMs'],
    [invocation, 'data.waitMs'],
    [invocation, 'data.cpuMs'],
    [() => lifecycle(), 'data.timings.runtimeInitMs'],
    [() => lifecycle(), 'data.timings.appInitMs'],
    [() => lifecycle(), 'data.timings.firstRequestWaitMs'],
  ];

  it.each(durations.map(([b, f]) => [f, b] as const))('a negative %s is rejected and names it', (field, base) => {
    expectRejected(withField(base(), field, -1), field);
    expectRejected(withField(base(), field, -0.001), field);
  });

  it.each(durations.map(([b, f]) => [f, b] as const))('%s over 24 hours is rejected, exactly 24 hours accepted', (field, base) => {
    expectRejected(withField(base(), field, MAX_DURATION_MS + 1), field);
    expectAccepted(withField(base(), field, MAX_DURATION_MS));
  });

  it.each(durations.map(([b, f]) => [f, b] as const))('%s of zero or a fraction of a millisecond is accepted', (field, base) => {
    expectAccepted(withField(base(), field, 0));
    expectAccepted(withField(base(), field, 0.125));
  });

  const times: Array<[() => Json, string]> = [
    [invocation, 'data.startMs'],
    [() => lifecycle(), 'data.timeMs'],
    [resource, 'data.timeMs'],
  ];

  it.each(times.map(([b, f]) => [f, b] as const))('a non-integer %s is rejected', (field, base) => {
    expectRejected(withField(base(), field, NOW_MS - 5_000.5), field);
  });

  it.each(times.map(([b, f]) => [f, b] as const))('%s sent in seconds instead of milliseconds is rejected as before 2000', (field, base) => {
    const result = parse(withField(base(), field, Math.floor(NOW_MS / 1000)));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(formatErrors(result.errors)).toMatch(new RegExp(`${field.replace('.', '\\.')}: .*2000`));
  });

  it.each(times.map(([b, f]) => [f, b] as const))('%s more than 10 minutes in the future is rejected, 9 minutes ahead accepted', (field, base) => {
    expectRejected(withField(base(), field, NOW_MS + 10 * MINUTE_MS + 1), field);
    expectRejected(withField(base(), field, NOW_MS + 11 * MINUTE_MS), field);
    expectAccepted(withField(base(), field, NOW_MS + 9 * MINUTE_MS));
    expectAccepted(withField(base(), field, NOW_MS + 10 * MINUTE_MS));
  });

  it.each(Object.keys(bases))('an envelope time of a %s event more than 10 minutes in the future is rejected, 9 minutes ahead accepted', (kind) => {
    const base = bases[kind]!;
    expectRejected(withField(base(), 'time', iso(NOW_MS + 10 * MINUTE_MS + 1_000)), 'time');
    expectAccepted(withField(base(), 'time', iso(NOW_MS + 9 * MINUTE_MS)));
  });

  it('the future check honours the time zone offset of the envelope time', () => {
    // 16:24:20+02:00 is 14:24:20Z, 11 minutes after the receiver clock (14:13:20Z).
    expectRejected(withField(invocation(), 'time', '2026-09-21T16:24:20+02:00'), 'time');
    expectAccepted(withField(invocation(), 'time', '2026-09-21T16:13:20+02:00'));
  });

  it('an envelope time before 2000 (an unset clock) is rejected', () => {
    expectRejected(withField(invocation(), 'time', '1970-01-01T00:00:00Z'), 'time');
  });

  it.each([
    ['without an offset', '2026-09-21T14:13:15.023'],
    ['without seconds', '2026-09-21T14:13Z'],
    ['with a space for T', '2026-09-21 14:13:15Z'],
    ['on a day that does not exist', '2026-02-30T14:13:15Z'],
    ['as epoch milliseconds', NOW_MS],
    ['as an empty string', ''],
  ])('an envelope time %s is rejected', (_, value) => {
    expectRejected(withField(invocation(), 'time', value), 'time');
  });

  const memory: Array<[() => Json, string]> = [
    [invocation, 'data.memoryMb'],
    [invocation, 'data.maxMemoryUsedMb'],
    [() => lifecycle(), 'data.memoryMb'],
  ];

  it.each(memory.map(([b, f]) => [f, b] as const))('%s of 0, a fraction, negative or over the limit is rejected', (field, base) => {
    for (const value of [0, 0.5, 127.5, -128, MAX_MEMORY_MB + 1]) expectRejected(withField(base(), field, value), field);
    expectAccepted(withField(base(), field, 1));
    expectAccepted(withField(base(), field, MAX_MEMORY_MB));
  });

  const counters: Array<[() => Json, string]> = [
    [invocation, 'data.requestBytes'],
    [invocation, 'data.responseBytes'],
    [resource, 'data.cpuUsageUs'],
    [resource, 'data.cpuThrottledUs'],
    [resource, 'data.memoryCurrentBytes'],
    [resource, 'data.memoryPeakBytes'],
    [resource, 'data.oomKills'],
  ];

  it.each(counters.map(([b, f]) => [f, b] as const))('a negative, fractional or unsafe-integer %s is rejected', (field, base) => {
    for (const value of [-1, 0.5, 2 ** 53]) expectRejected(withField(base(), field, value), field);
    expectAccepted(withField(base(), field, 0));
    expectAccepted(withField(base(), field, Number.MAX_SAFE_INTEGER));
  });

  it('httpStatus outside 100..599 or fractional is rejected; the edges and absence are accepted', () => {
    for (const value of [0, 99, 600, 200.5, -200]) expectRejected(withField(invocation(), 'data.httpStatus', value), 'data.httpStatus');
    expectAccepted(withField(invocation(), 'data.httpStatus', 100));
    expectAccepted(withField(invocation(), 'data.httpStatus', 599));
    expectAccepted(withField(invocation(), 'data.httpStatus', REMOVE));
  });
});

describe('identifiers and names', () => {
  it.each(['function', 'revision', 'instance'])('a %s name with a lone surrogate is rejected, since it cannot be stored as UTF-8', (field) => {
    expectRejected(withField(invocation(), `data.${field}`, 'checkout-\ud800'), `data.${field}`);
  });

  const printable = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join('');

  it.each([
    ['empty', ''],
    ['129 characters', 'a'.repeat(EVENT_ID_MAX + 1)],
    ['containing a space', '01a0c450 5878'],
    ['containing a tab', '01a0c450\t5878'],
    ['containing a non-breaking space', '01a0c450\u00a05878'],
    ['containing non-ASCII', 'facture-é-01a0c450'],
    ['containing a NUL', '01a0c450\u0000'],
    ['a number', 42],
  ])('an event id that is %s is rejected', (_, id) => {
    expectRejected(withField(invocation(), 'id', id), 'id');
  });

  it('an event id of 128 printable ASCII characters, punctuation included, is accepted', () => {
    const id = (printable + printable).slice(0, EVENT_ID_MAX);
    expect(id).toHaveLength(128);
    expect(expectAccepted(withField(invocation(), 'id', id))).toHaveProperty('id', id);
  });

  it.each([
    ['empty', ''],
    ['with a space', 'acme prod'],
    ['with a slash', 'acme/prod'],
    ['starting with a dash', '-acme'],
    ['starting with a dot', '.acme'],
    ['with non-ASCII letters', 'ácme'],
    ['with a newline', 'acme\n'],
    ['129 characters long', 'a'.repeat(129)],
  ])('a tenant %s is rejected', (_, tenant) => {
    for (const base of Object.values(bases)) expectRejected(withField(base(), 'data.tenant', tenant), 'data.tenant');
  });

  it.each(['acme-prod', 'org_1:team.eu-west-1', 'A', 'a'.repeat(128)])('tenant "%s" is accepted', (tenant) => {
    expectAccepted(withField(invocation(), 'data.tenant', tenant));
  });

  const controls: Array<[string, string]> = [
    ['a newline', 'checkout-api\n'],
    ['a carriage return', 'checkout-api\r'],
    ['a tab', 'checkout\tapi'],
    ['a NUL', 'checkout\u0000api'],
    ['an ANSI escape', '\u001b[31mcheckout-api'],
    ['DEL', 'checkout-api\u007f'],
    ['a C1 control (NEL)', 'checkout\u0085api'],
  ];
  const nameFields: Array<[() => Json, string]> = [
    [invocation, 'data.function'],
    [invocation, 'data.revision'],
    [invocation, 'data.instance'],
    [() => lifecycle(), 'data.function'],
    [resource, 'data.instance'],
  ];

  it.each(controls)('a name containing %s is rejected (it would corrupt logs and dashboards)', (_, value) => {
    for (const [base, field] of nameFields) expectRejected(withField(base(), field, value), field);
  });

  it.each([
    ['non-ASCII letters', 'función-ñandú'],
    ['CJK', '画像-リサイズ'],
    ['a Lambda log stream', '2026/09/21/[$LATEST]4b1f0c9e2d7a4f6b8c3e5a1d9f0b2c4e'],
    ['spaces', 'nightly report'],
  ])('names with %s are accepted', (_, value) => {
    for (const [base, field] of nameFields) expectAccepted(withField(base(), field, value));
  });

  it.each([
    ['data.function', 256],
    ['data.revision', 128],
    ['data.instance', 256],
  ])('%s longer than %i characters is rejected', (field, max) => {
    expectRejected(withField(invocation(), field, 'f'.repeat(max + 1)), field);
    expectAccepted(withField(invocation(), field, 'f'.repeat(max)));
  });

  it('an empty source is rejected', () => {
    expectRejected(withField(invocation(), 'source', ''), 'source');
  });
});

describe('cross-field rules', () => {
  it('initDurationMs on a warm call is rejected and names data.initDurationMs', () => {
    expectRejected(withField(invocation(), 'data.initDurationMs', 812.6), 'data.initDurationMs');
  });

  it('initDurationMs on a cold call is accepted, and a cold call may omit it', () => {
    expectAccepted(coldInvocation());
    expectAccepted(withField(coldInvocation(), 'data.initDurationMs', REMOVE));
  });

  it('a stopped lifecycle event without stopReason is rejected and names data.stopReason', () => {
    expectRejected(withField(lifecycle('stopped'), 'data.stopReason', REMOVE), 'data.stopReason');
  });

  it.each(['created', 'ready', 'first_request'] as const)('a %s lifecycle event with a stopReason is rejected and names data.stopReason', (phase) => {
    expectRejected(withField(lifecycle(phase), 'data.stopReason', 'deploy'), 'data.stopReason');
  });

  it('a cross-field error is reported together with the other field errors', () => {
    const event = withField(withField(invocation(), 'data.initDurationMs', 5), 'data.durationMs', -1);
    const result = parse(event);
    expect(errorFields(result)).toEqual(expect.arrayContaining(['data.durationMs', 'data.initDurationMs']));
  });
});

describe('wrong JSON types', () => {
  it.each([
    ['a string duration', 'data.durationMs', '23.84', invocation],
    ['a string start time', 'data.startMs', '2026-09-21T14:13:15Z', invocation],
    ['a number tenant', 'data.tenant', 42, invocation],
    ['a string boolean for cold', 'data.cold', 'false', invocation],
    ['a number for cold', 'data.cold', 0, invocation],
    ['a string memory size', 'data.memoryMb', '512', invocation],
    ['a string HTTP status', 'data.httpStatus', '200', invocation],
    // Go and Java producers emit null for unset pointers; the contract wants the field left out.
    ['null for an optional field', 'data.httpStatus', null, invocation],
    ['null for a required field', 'data.oomKills', null, resource],
    ['double-encoded data', 'data', JSON.stringify(invocation().data), invocation],
    ['an array for timings', 'data.timings', [412.5], () => lifecycle()],
    ['a string boolean for provisioned', 'data.provisioned', 'true', () => lifecycle()],
    ['an array for data', 'data', [], resource],
  ] as Array<[string, string, unknown, () => Json]>)('%s is rejected and names %s', (_, field, value, base) => {
    expectRejected(withField(base(), field, value), field);
  });

  it.each([
    ['null', null],
    ['a number', 42],
    ['a string', 'dev.faasmeter.invocation.v1'],
    ['an array of events', [invocation()]],
    ['an empty object', {}],
  ])('a whole payload that is %s is rejected with an error, not a throw', (_, input) => {
    const result = parse(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.length).toBeGreaterThan(0);
  });
});

describe('parseEventJson', () => {
  const json = (value: unknown) => JSON.stringify(value);
  const parseJson = (raw: string | Uint8Array) => parseEventJson(raw, { nowMs: NOW_MS });

  function expectJsonError(raw: string | Uint8Array): void {
    const result = parseJson(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors).toHaveLength(1);
      expect(result.errors[0]).toMatchObject({ field: '', message: expect.stringMatching(/^is not valid JSON/) as unknown });
    }
  }

  it('a valid event decodes from a string, a Buffer and a Uint8Array', () => {
    const text = json(invocation());
    for (const raw of [text, Buffer.from(text), new TextEncoder().encode(text)]) {
      const result = parseJson(raw);
      expect(result.ok).toBe(true);
    }
  });

  it('JSON that starts with a UTF-8 byte-order mark decodes like the same JSON without it', () => {
    const text = json(invocation());
    expect(parseJson(`\ufeff${text}`).ok).toBe(true);
    expect(parseJson(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])).ok).toBe(true);
  });

  it('a Uint8Array view into a larger buffer decodes only its own bytes', () => {
    // Kafka clients hand out slices of a shared network buffer; reading the whole buffer would mix records.
    const event = new TextEncoder().encode(json(invocation()));
    const before = new TextEncoder().encode('{"garbage":');
    const backing = new Uint8Array(before.length + event.length + 7);
    backing.set(before, 0);
    backing.set(event, before.length);
    backing.set(new TextEncoder().encode('trailer'), before.length + event.length);
    const result = parseJson(backing.subarray(before.length, before.length + event.length));
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.value.id).toBe(invocation().id);
  });

  it.each([
    ['an empty string', ''],
    ['a truncated object', json(invocation()).slice(0, 40)],
    ['single-quoted JSON', "{'specversion':'1.0'}"],
    ['NaN', 'NaN'],
    ['two concatenated events', json(invocation()) + json(invocation())],
  ])('%s returns a JSON error instead of throwing', (_, raw) => {
    expectJsonError(raw);
  });

  it('bad bytes (Buffer, Uint8Array, invalid UTF-8) return a JSON error instead of throwing', () => {
    expectJsonError(Buffer.from('{"specversion":'));
    expectJsonError(new Uint8Array([0xff, 0xfe, 0x00, 0x7b]));
    expectJsonError(new Uint8Array(0));
  });

  it('valid JSON that is not an event object returns a contract error', () => {
    for (const raw of ['null', '42', '"event"', '[]', 'true']) {
      const result = parseJson(raw);
      expect(result.ok, raw).toBe(false);
    }
  });

  it('a 1 MB garbage string or buffer returns an error instead of throwing', () => {
    let state = 12_345;
    const garbage = Array.from({ length: 1024 * 1024 }, () => {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      return String.fromCharCode(32 + (state % 95));
    }).join('');
    expectJsonError(garbage);
    expectJsonError(Buffer.from(garbage));
    expectJsonError('['.repeat(1024 * 1024));
  });

  it('deeply nested JSON is rejected as a non-event, not a stack overflow', () => {
    const depth = 100_000;
    const result = parseJson(`${'{"data":'.repeat(depth)}1${'}'.repeat(depth)}`);
    expect(result.ok).toBe(false);
  });

  it.each([
    ['null (a Kafka tombstone)', null],
    ['undefined', undefined],
    ['a number', 42],
    ['an ArrayBuffer', new ArrayBuffer(4)],
    ['a plain object', { value: '{}' }],
  ])('input that is %s from untyped JavaScript returns an error instead of throwing', (_, raw) => {
    expectJsonError(raw as unknown as string);
  });
});

describe('a producer can never make parseEvent throw', () => {
  function wellFormed(result: ParseResult<unknown>): boolean {
    if (result.ok) return true;
    return result.errors.length > 0 && result.errors.every((e) => typeof e.field === 'string' && typeof e.message === 'string' && e.message !== '');
  }

  it('for arbitrary JSON values and arbitrary JavaScript values, parseEvent returns ok or a non-empty list of named errors', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.anything()), (value) => wellFormed(parseEvent(value, { nowMs: NOW_MS }))),
      { numRuns: 1_000 },
    );
  });

  it('replacing any one field of a valid event with an arbitrary JSON value never throws', () => {
    const paths = [
      ...envelopeKeys.filter((k) => k !== 'data'),
      ...Object.keys((invocation().data as Json)).map((k) => `data.${k}`),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue(), (path, value) => wellFormed(parse(withField(invocation(), path, value)))),
      { numRuns: 1_000 },
    );
  });

  it('arbitrary strings and bytes never make parseEventJson throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array().map((b) => Buffer.from(b)), fc.jsonValue().map((v) => JSON.stringify(v) ?? '')), (raw) =>
        wellFormed(parseEventJson(raw, { nowMs: NOW_MS })),
      ),
      { numRuns: 1_000 },
    );
  });

  it('arbitrary unknown fields on the envelope and data are accepted and dropped', () => {
    const known = new Set([...envelopeKeys, ...Object.keys(InvocationData.shape)]);
    const extras = fc.dictionary(
      fc.string().filter((k) => !known.has(k)),
      fc.jsonValue(),
      { maxKeys: 5 },
    );
    fc.assert(
      fc.property(extras, extras, (onEnvelope, onData) => {
        const base = invocation();
        const event = { ...onEnvelope, ...base, data: { ...onData, ...(base.data as Json) } };
        const result = parse(event);
        return result.ok && isDeepStrictEqual(result.value, base);
      }),
      { numRuns: 300 },
    );
  });
});
