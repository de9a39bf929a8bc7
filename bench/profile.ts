/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went, in the meter's own
 * terms: each sample is charged to the innermost frame on its stack that belongs to a known
 * stage, so JSON.parse under decodeRecord counts as decoding and gzip under kafkajs as Kafka.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const STAGES: { stage: string; match: (f: CallFrame) => boolean }[] = [
  { stage: 'idle (waiting on Kafka or ClickHouse)', match: (f) => f.functionName === '(idle)' },
  { stage: 'garbage collection', match: (f) => f.functionName === '(garbage collector)' },
  { stage: 'decode + validate (JSON.parse, zod)', match: (f) => f.functionName === 'decodeRecord' || /\/contract\/|\/zod\//.test(f.url) },
  { stage: 'price (meter/pricing)', match: (f) => f.url.includes('/meter/pricing/') },
  { stage: 'build rows (meter/rows.ts)', match: (f) => f.url.endsWith('/meter/rows.ts') },
  { stage: 'ClickHouse client (serialise, HTTP)', match: (f) => /\/clickhouse\/|@clickhouse/.test(f.url) },
  { stage: 'Kafka client (fetch, decompress, protocol)', match: (f) => f.url.includes('kafkajs') },
  { stage: 'consumer glue (kafka/consumer.ts)', match: (f) => f.url.endsWith('/kafka/consumer.ts') },
  { stage: 'writer (dedup, batching)', match: (f) => f.url.endsWith('/meter/writer.ts') },
  { stage: 'telemetry and logs', match: (f) => /@opentelemetry|pino/.test(f.url) },
];
const OTHER = 'other (Node runtime)';
const STARTUP = 'start-up (loading modules)';
const isLoader = (f: CallFrame) => f.url.startsWith('node:internal/modules/');

export function summariseProfile(profile: CpuProfile, topFunctions = 12): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const loadingOf = new Map<number, boolean>();
  // Whatever runs while a module loads (OpenTelemetry's constant tables, say) is start-up cost.
  const loading = (id: number): boolean => {
    let known = loadingOf.get(id);
    if (known === undefined) {
      const up = parent.get(id);
      known = isLoader(byId.get(id)!.callFrame) || (up !== undefined && loading(up));
      loadingOf.set(id, known);
    }
    return known;
  };
  const stageOf = new Map<number, string>();
  const innermost = (id: number): string => {
    const known = stageOf.get(id);
    if (known) return known;
    const own = STAGES.find((s) => s.match(byId.get(id)!.callFrame))?.stage;
    const up = parent.get(id);
    const stage = own ?? (up === undefined ? OTHER : innermost(up));
    stageOf.set(id, stage);
    return stage;
  };
  const stageFor = (id: number): string => (loading(id) ? STARTUP : innermost(id));
  const stageUs = new Map<string, number>();
  const selfUs = new Map<number, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    totalUs += dt;
    stageUs.set(stageFor(id), (stageUs.get(stageFor(id)) ?? 0) + dt);
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  });
  const idleUs = stageUs.get(STAGES[0]!.stage) ?? 0;
  const busyUs = Math.max(1, totalUs - idleUs);
  const ms = (us: number) => (us / 1000).toFixed(0);
  const stages = [...stageUs]
    .filter(([stage]) => stage !== STAGES[0]!.stage)
    .sort((a, b) => b[1] - a[1])
    .map(([stage, us]) => `| ${stage} | ${ms(us)} ms | ${((us / busyUs) * 100).toFixed(1)} % |`);
  const bySelf = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') continue;
    const file = f.url.replace(/^file:\/\/.*?\/(node_modules\/)?/, '');
    const label = `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
    bySelf.set(label, (bySelf.get(label) ?? 0) + us);
  }
  const top = [...bySelf]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topFunctions)
    .map(([label, us]) => `| \`${label}\` | ${ms(us)} ms | ${((us / busyUs) * 100).toFixed(1)} % |`);
  return `Profiled ${ms(totalUs)} ms, of which ${ms(idleUs)} ms idle; shares below are of the ${ms(busyUs)} ms busy.

| stage | CPU | share |
| --- | --- | --- |
${stages.join('\n')}

| hottest functions (self time) | CPU | share |
| --- | --- | --- |
${top.join('\n')}`;
}
