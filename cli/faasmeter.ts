#!/usr/bin/env node
/**
 * One CLI, one subcommand per process. Each subcommand lives beside the code it runs and is
 * loaded lazily, so `faasmeter proxy` never pays for the meter's dependencies.
 */
type Command = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number | void>;

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  migrate: {
    summary: 'apply ClickHouse migrations (idempotent, safe from two processes)',
    load: async () => (await import('../clickhouse/migrate-command.ts')).runMigrateCommand,
  },
  topics: {
    summary: 'create the Kafka topics with explicit partitions and retention',
    load: async () => (await import('../kafka/topics-command.ts')).runTopicsCommand,
  },
  proxy: {
    summary: 'sidecar HTTP proxy in front of one function: per-call events, cold starts',
    load: async () => (await import('../collector/proxy/command.ts')).runProxyCommand,
  },
  agent: {
    summary: 'node agent: cgroup (v2, v1, hybrid) resource samples and instance lifecycle',
    load: async () => (await import('../collector/agent/command.ts')).runAgentCommand,
  },
  receivers: {
    summary: 'OTLP/HTTP, Lambda Telemetry API and CloudEvents ingest receivers',
    load: async () => (await import('../collector/receivers/command.ts')).runReceiversCommand,
  },
  meter: {
    summary: 'Kafka consumer group: validate, dedupe, price, write to ClickHouse',
    load: async () => (await import('../meter/command.ts')).runMeterCommand,
  },
  api: {
    summary: 'billing API (usage, statements, cold starts, right-sizing)',
    load: async () => (await import('../api/command.ts')).runApiCommand,
  },
  keys: {
    summary: 'create, list and revoke billing API keys',
    load: async () => (await import('../api/keys-command.ts')).runKeysCommand,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: faasmeter <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(): Promise<number> {
  const [name, ...argv] = process.argv.slice(2);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`faasmeter: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const run = await command.load();
  return (await run(argv, process.env)) ?? 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? (error.name === 'ConfigError' ? error.message : (error.stack ?? error.message)) : String(error);
    process.stderr.write(`faasmeter: ${message}\n`);
    // Exit now: a long-lived command that failed to start (say, the meter while ClickHouse is
    // down) has servers and clients open that would keep a process alive that does nothing,
    // where a supervisor should see it die and restart it.
    process.exit(1);
  },
);
