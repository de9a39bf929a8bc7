import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cliCommands, commandEnvNames, REPO_ROOT } from '../../deploy/tools/deploy-facts.ts';

/**
 * deploy/compose/docker-compose.yml checked without a Docker engine: what `docker compose config`
 * would not catch (ports that do not line up, subcommands and variables the code does not know)
 * and the basics it would. deploy/validate.sh also loads the file with compose-go.
 */

const COMPOSE_DIR = join(REPO_ROOT, 'deploy', 'compose');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number | boolean | null>;
  expose?: (string | number)[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  network_mode?: string;
}

const compose = parse(readFileSync(join(COMPOSE_DIR, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const names = Object.keys(services);
const prometheus = parse(readFileSync(join(COMPOSE_DIR, 'prometheus.yml'), 'utf8')) as {
  rule_files: string[];
  alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
  scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
};

/** Compose's `${VAR:-default}` → the default: what a fresh checkout runs with. */
function defaulted(value: string): string {
  return value.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1');
}

function env(service: Service): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, defaulted(String(v ?? ''))]));
}

/** The service whose network namespace `name` runs in (itself unless network_mode: service:X). */
function namespaceOwner(name: string): string {
  const mode = services[name]!.network_mode;
  return mode?.startsWith('service:') ? mode.slice('service:'.length) : name;
}

/** Ports a service declares it listens on: expose plus the container side of published ports. */
function declaredPorts(name: string): Set<number> {
  const s = services[name]!;
  const ports = new Set<number>((s.expose ?? []).map(Number));
  for (const p of s.ports ?? []) ports.add(Number(p.split(':').at(-1)!.split('/')[0]));
  return ports;
}

/** Ports the processes in a service's namespace actually listen on, from their own variables. */
function listeningPorts(owner: string): Set<number> {
  const ports = new Set<number>();
  for (const name of names.filter((n) => namespaceOwner(n) === owner && isFaasmeter(services[n]!))) {
    for (const [k, v] of Object.entries(env(services[name]!))) {
      if (/^(FAASMETER_[A-Z_]*PORT|PORT)$/.test(k)) ports.add(Number(v));
    }
  }
  return ports;
}

function isFaasmeter(service: Service): boolean {
  return service.build !== undefined || (service.image ?? '').startsWith('faasmeter:');
}

/** host:port references in a string: http://meter:9093, kafka:9092,other:9092, 127.0.0.1:8080. */
function references(value: string): { host: string; port: number }[] {
  return [...value.matchAll(/(?:^|[/,@\s])([a-z0-9.-]+):(\d{2,5})\b/g)].map((m) => ({ host: m[1]!, port: Number(m[2]) }));
}

describe('docker compose file', () => {
  it('pins every image to a version: no latest, no bare name', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.image, `${name} has no image`).toBeDefined();
      const [, tag] = s.image!.split(/:(?=[^/]+$)/);
      expect(tag, `${name}: ${s.image} has no tag`).toBeDefined();
      expect(tag, `${name}: ${s.image}`).not.toBe('latest');
    }
  });

  it('mounts only host paths that exist in the repository', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const volume of s.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (!source.startsWith('.') && !source.startsWith('/')) {
          expect(compose.volumes, `${name}: named volume ${source} is not declared`).toHaveProperty(source);
          continue;
        }
        const path = resolve(COMPOSE_DIR, source);
        expect(path.startsWith(REPO_ROOT), `${name}: ${source} is outside the repository`).toBe(true);
        expect(existsSync(path), `${name}: ${source} does not exist`).toBe(true);
      }
    }
  });

  it('names only existing services in depends_on and network_mode', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const dep of Object.keys(s.depends_on ?? {})) expect(names, `${name} depends on ${dep}`).toContain(dep);
      if (s.network_mode?.startsWith('service:')) expect(names).toContain(namespaceOwner(name));
    }
  });

  it('declares every port its processes listen on, on the service that owns the network namespace', () => {
    for (const name of names.filter((n) => isFaasmeter(services[n]!))) {
      const owner = namespaceOwner(name);
      for (const [k, v] of Object.entries(env(services[name]!))) {
        if (/^FAASMETER_[A-Z_]*PORT$/.test(k)) expect(declaredPorts(owner), `${name}: ${k}=${v} not in ${owner}'s expose`).toContain(Number(v));
      }
    }
  });

  it('points every host:port in the environment at a port the target service listens on', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [k, v] of Object.entries(env(s))) {
        for (const ref of references(v)) {
          const target = ref.host === '127.0.0.1' || ref.host === 'localhost' ? namespaceOwner(name) : ref.host;
          // Values that point outside the compose project (published host addresses) are not references.
          if (!names.includes(target)) continue;
          const ports = new Set([...declaredPorts(target), ...listeningPorts(target)]);
          expect(ports, `${name}: ${k}=${v} → ${target} listens on ${[...ports].join(', ')}`).toContain(ref.port);
        }
      }
    }
  });

  it('runs every faasmeter process from the one image with a subcommand the CLI has', () => {
    const commands = cliCommands();
    const faasmeter = Object.entries(services).filter(([, s]) => isFaasmeter(s));
    expect(new Set(faasmeter.map(([, s]) => s.image)).size).toBe(1);
    const subcommands = faasmeter.filter(([, s]) => s.entrypoint === undefined);
    expect(subcommands.map(([, s]) => s.command?.[0]).sort()).toEqual(expect.arrayContaining(['api', 'meter', 'migrate', 'proxy', 'topics']));
    for (const [name, s] of subcommands) {
      expect([...commands.keys()], `${name}: ${s.command?.join(' ')}`).toContain(s.command?.[0]);
    }
  });

  it('sets only FAASMETER_* variables that the subcommand reads', () => {
    for (const [name, s] of Object.entries(services).filter(([, x]) => isFaasmeter(x) && x.entrypoint === undefined)) {
      const known = commandEnvNames(s.command![0]!);
      // A subcommand whose code is not written yet cannot be checked.
      if (known === undefined) continue;
      for (const k of Object.keys(env(s)).filter((x) => x.startsWith('FAASMETER_'))) {
        expect(known.has(k) || k === 'FAASMETER_LOG_LEVEL', `${name} (faasmeter ${s.command![0]}) sets ${k}, which it never reads`).toBe(true);
      }
    }
  });

  it('publishes ports on the loopback address only', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const p of s.ports ?? []) expect(p, `${name} publishes ${p}`).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it('scrapes every faasmeter job the alert rules and dashboards select, at ports that listen', () => {
    const jobs = new Map(prometheus.scrape_configs.map((c) => [c.job_name, c.static_configs.flatMap((x) => x.targets)]));
    for (const job of ['faasmeter-proxy', 'faasmeter-meter', 'faasmeter-api', 'faasmeter-collector']) expect([...jobs.keys()]).toContain(job);
    const targets = [...jobs.entries()].filter(([job]) => job !== 'prometheus').flatMap(([, t]) => t);
    targets.push(...prometheus.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((c) => c.targets)));
    for (const target of targets) {
      const [host, port] = target.split(':');
      expect(names, target).toContain(host);
      expect(new Set([...declaredPorts(host!), ...listeningPorts(host!)]), target).toContain(Number(port));
    }
  });

  it('evaluates the repository alert rules where Prometheus mounts them', () => {
    const mount = services.prometheus!.volumes!.find((v) => v.startsWith('../../alerts/rules:'));
    expect(mount).toBeDefined();
    const inContainer = mount!.split(':')[1]!;
    expect(prometheus.rule_files).toContain(`${inContainer}/*.yml`);
  });

  it('gives Grafana the data source uids the dashboards use and mounts the dashboards where the provider reads', () => {
    const ours = parse(readFileSync(join(COMPOSE_DIR, 'grafana', 'datasources.yml'), 'utf8')) as { datasources: { uid: string; type: string }[] };
    const reference = parse(readFileSync(join(REPO_ROOT, 'dashboards', 'provisioning', 'datasources.yaml'), 'utf8')) as typeof ours;
    expect(ours.datasources.map((d) => [d.uid, d.type]).sort()).toEqual(reference.datasources.map((d) => [d.uid, d.type]).sort());
    const provider = parse(readFileSync(join(REPO_ROOT, 'dashboards', 'provisioning', 'dashboards.yaml'), 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    const mount = services.grafana!.volumes!.find((v) => v.startsWith('../../dashboards/generated:'));
    expect(mount?.split(':')[1]).toBe(provider.providers[0]!.options.path);
    expect(services.grafana!.environment).toHaveProperty('GF_INSTALL_PLUGINS', 'grafana-clickhouse-datasource');
  });
});
