/**
 * Checks on rendered Helm output that Kubernetes' schemas cannot make (kubeconform checks the
 * shapes): the chart's own rules.
 *  - security: every pod non-root with the runtime's seccomp profile, no host namespaces; every
 *    container without privilege escalation or privileged mode, all capabilities dropped and none
 *    added, a read-only root file system; hostPath volumes mounted read-only only;
 *  - every container has a memory request and limit and a CPU request; faasmeter's long-running
 *    containers have liveness on /healthz and readiness on /readyz;
 *  - faasmeter containers run one image and a subcommand cli/faasmeter.ts knows, and set only
 *    FAASMETER_* variables that subcommand reads (deploy/tools/deploy-facts.ts);
 *  - the pricing ConfigMap's plans.json is accepted by the meter's own parser;
 *  - Services select pods and name container ports that exist; ServiceMonitors name Service ports.
 *
 *   node deploy/tools/check-manifests.ts rendered.yaml ...
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { parsePricingConfig } from '../../meter/pricing/plan.ts';
import { cliCommands, commandEnvNames } from './deploy-facts.ts';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return */
// Manifests are untyped YAML; each check reads the few fields it needs.
type Obj = any;

const LONG_RUNNING = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);
/** Read by common code in every process, or set for a sidecar that is not a faasmeter subcommand. */
const ALWAYS_ALLOWED = new Set(['FAASMETER_LOG_LEVEL']);

export function checkManifests(docs: Obj[]): string[] {
  const problems: string[] = [];
  const commands = cliCommands();
  const images = new Set<string>();
  const podTemplates: { owner: string; kind: string; template: Obj }[] = [];
  for (const doc of docs) {
    const owner = `${doc.kind}/${doc.metadata?.name}`;
    const template = doc.kind === 'Job' || LONG_RUNNING.has(doc.kind) ? doc.spec?.template : undefined;
    if (template) podTemplates.push({ owner, kind: doc.kind, template });
  }

  for (const { owner, kind, template } of podTemplates) {
    const pod = template.spec ?? {};
    const psc = pod.securityContext ?? {};
    if (psc.runAsNonRoot !== true) problems.push(`${owner}: pod securityContext.runAsNonRoot must be true`);
    if (psc.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${owner}: pod seccompProfile must be RuntimeDefault`);
    for (const ns of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[ns] === true) problems.push(`${owner}: ${ns} must not be used`);
    const hostPathVolumes = new Set((pod.volumes ?? []).filter((v: Obj) => v.hostPath).map((v: Obj) => v.name as string));
    const containers: Obj[] = [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
    for (const c of containers) {
      const where = `${owner} container ${c.name}`;
      const sc = c.securityContext ?? {};
      if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation must be false`);
      if (sc.privileged === true) problems.push(`${where}: must not be privileged`);
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem must be true`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where}: must drop ALL capabilities`);
      if ((sc.capabilities?.add ?? []).length > 0) problems.push(`${where}: must add no capabilities`);
      for (const m of c.volumeMounts ?? []) {
        if (hostPathVolumes.has(m.name) && m.readOnly !== true) problems.push(`${where}: hostPath volume ${m.name} must be mounted readOnly`);
      }
      const r = c.resources ?? {};
      if (!r.requests?.memory || !r.limits?.memory || !r.requests?.cpu) problems.push(`${where}: needs requests.cpu, requests.memory and limits.memory`);

      const isFaasmeter = Array.isArray(c.args) && typeof c.args[0] === 'string' && c.command === undefined;
      if (!isFaasmeter) continue;
      images.add(c.image as string);
      const command = c.args[0] as string;
      if (!commands.has(command)) {
        problems.push(`${where}: "${command}" is not a faasmeter subcommand (${[...commands.keys()].join(', ')})`);
        continue;
      }
      const known = commandEnvNames(command);
      for (const e of c.env ?? []) {
        const name = e.name as string;
        if (!name.startsWith('FAASMETER_') || ALWAYS_ALLOWED.has(name)) continue;
        // A subcommand whose code is not written yet cannot be checked; the others must know the name.
        if (known && !known.has(name)) problems.push(`${where}: faasmeter ${command} reads no ${name}`);
      }
      if (LONG_RUNNING.has(kind) && !pod.initContainers?.includes(c)) {
        if (c.livenessProbe?.httpGet?.path !== '/healthz') problems.push(`${where}: livenessProbe must GET /healthz`);
        if (c.readinessProbe?.httpGet?.path !== '/readyz') problems.push(`${where}: readinessProbe must GET /readyz`);
      }
    }
  }
  if (images.size > 1) problems.push(`faasmeter containers use several images: ${[...images].join(', ')}`);

  for (const doc of docs.filter((d) => d.kind === 'ConfigMap' && d.data?.['plans.json'] !== undefined)) {
    try {
      parsePricingConfig(JSON.parse(doc.data['plans.json'] as string), `ConfigMap/${doc.metadata.name}`);
    } catch (error) {
      problems.push(`ConfigMap/${doc.metadata.name}: plans.json is rejected by the meter: ${(error as Error).message}`);
    }
  }
  for (const doc of docs.filter((d) => d.kind === 'ConfigMap')) {
    const bytes = Buffer.byteLength(JSON.stringify(doc.data ?? {}));
    if (bytes > 1024 * 1024) problems.push(`ConfigMap/${doc.metadata.name}: ${bytes} bytes exceeds the 1 MiB ConfigMap limit`);
  }

  const services = docs.filter((d) => d.kind === 'Service');
  for (const svc of services) {
    const selector: Record<string, string> = svc.spec?.selector ?? {};
    const matches = podTemplates.filter(({ template }) => Object.entries(selector).every(([k, v]) => template.metadata?.labels?.[k] === v));
    if (matches.length === 0) {
      problems.push(`Service/${svc.metadata.name}: selects no pod`);
      continue;
    }
    const portNames = new Set(matches.flatMap(({ template }) => (template.spec.containers ?? []).flatMap((c: Obj) => (c.ports ?? []).map((p: Obj) => p.name))));
    for (const p of svc.spec.ports ?? []) {
      if (typeof p.targetPort === 'string' && !portNames.has(p.targetPort)) problems.push(`Service/${svc.metadata.name}: targetPort ${p.targetPort} is no container port`);
    }
  }
  for (const sm of docs.filter((d) => d.kind === 'ServiceMonitor')) {
    const selector: Record<string, string> = sm.spec?.selector?.matchLabels ?? {};
    const selected = services.filter((s) => Object.entries(selector).every(([k, v]) => s.metadata?.labels?.[k] === v));
    if (selected.length === 0) problems.push(`ServiceMonitor/${sm.metadata.name}: selects no Service`);
    for (const ep of sm.spec?.endpoints ?? []) {
      if (!selected.some((s) => (s.spec.ports ?? []).some((p: Obj) => p.name === ep.port))) problems.push(`ServiceMonitor/${sm.metadata.name}: no selected Service has a port named ${ep.port}`);
    }
  }
  return problems;
}

function main(files: string[]): number {
  let failed = 0;
  for (const file of files) {
    const docs = parseAllDocuments(readFileSync(file, 'utf8'))
      .map((d): Obj => d.toJS())
      .filter((d) => d !== null && typeof d === 'object');
    const problems = checkManifests(docs);
    for (const p of problems) process.stderr.write(`${file}: ${p}\n`);
    if (problems.length > 0) failed += 1;
    else process.stdout.write(`${file}: ${docs.length} objects follow the chart's rules\n`);
  }
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
