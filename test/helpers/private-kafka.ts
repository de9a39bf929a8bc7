import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { freePort } from '../../common/net.ts';
import { patchRequestQueue } from '../../kafka/request-queue-patch.ts';

// Its clients are made here, not by kafka/client.ts: they need the same fix (kafka/request-queue-patch.ts).
patchRequestQueue();

/**
 * A Kafka node owned by one test file: the local stack's jars, its own temp directory and free
 * ports, KRaft single node (broker + controller), formatted on first start. Outage tests stop
 * and kill it at will without disturbing the shared broker other suites use.
 */
export interface PrivateKafka {
  readonly brokers: string[];
  readonly dir: string;
  /** Where the `relayedListener` listens (forward the relay here); undefined without that option. */
  readonly relayedListener: string | undefined;
  /** Starts the JVM (formats storage the first time); resolves once topics list and every partition has a leader. */
  start(): Promise<void>;
  /** SIGTERM (controlled shutdown) and wait for the process to exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the process to exit. */
  kill(): Promise<void>;
  running(): boolean;
  /** Stops if running and removes the directory. */
  destroy(): Promise<void>;
  /** A kafkajs client for this node (admin, consumers) with quiet logs. */
  client(clientId?: string): Kafka;
}

const repoDir = join(import.meta.dirname, '..', '..');
const stackDir = process.env.FAASMETER_STACK_DIR ?? join(repoDir, '.stack');
const libsDir = join(stackDir, 'kafka', 'libs');

function runJava(args: string[], logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = openSync(logFile, 'a');
    const child = spawn('java', args, { stdio: ['ignore', out, out] });
    closeSync(out);
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`java ${args.at(-3) ?? ''} exited ${code}; see ${logFile}`))));
  });
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export interface PrivateKafkaOptions {
  heap?: string;
  readyTimeoutMs?: number;
  /**
   * A second listener that advertises a relay's port instead of its own. Clients bootstrapped
   * through the relay then reach the broker only through it, so cutting the relay cuts one
   * client off while the broker stays up for everyone on `brokers`.
   */
  relayedListener?: { advertisedPort: number };
}

export async function createPrivateKafka(options: PrivateKafkaOptions = {}): Promise<PrivateKafka> {
  if (!existsSync(join(libsDir, '.fetched'))) {
    throw new Error(`Kafka jars not found in ${libsDir}; run: npm run stack:up (it fetches them once)`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'faasmeter-private-kafka-'));
  const port = await freePort();
  const controllerPort = await freePort();
  const brokers = [`127.0.0.1:${port}`];
  const relayed = options.relayedListener ? { port: await freePort(), advertisedPort: options.relayedListener.advertisedPort } : undefined;
  const properties = join(dir, 'server.properties');
  const logFile = join(dir, 'kafka.out');
  const toolsLog4j = join(dir, 'tools-log4j.properties');
  const brokerLog4j = join(dir, 'log4j.properties');
  await writeFile(
    properties,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${relayed ? `,RELAYED://127.0.0.1:${relayed.port}` : ''}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}${relayed ? `,RELAYED://127.0.0.1:${relayed.advertisedPort}` : ''}`,
      'controller.listener.names=CONTROLLER',
      `listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${relayed ? ',RELAYED:PLAINTEXT' : ''}`,
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${join(dir, 'data')}`,
      'num.partitions=3',
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
      // A restart after SIGKILL must not wait out the dead registration's session (see up.sh).
      'broker.session.timeout.ms=3000',
      'broker.heartbeat.interval.ms=1000',
      '',
    ].join('\n'),
  );
  await writeFile(toolsLog4j, 'log4j.rootLogger=WARN, stderr\nlog4j.appender.stderr=org.apache.log4j.ConsoleAppender\nlog4j.appender.stderr.Target=System.err\nlog4j.appender.stderr.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n\n');
  await writeFile(
    brokerLog4j,
    `log4j.rootLogger=INFO, file\nlog4j.appender.file=org.apache.log4j.FileAppender\nlog4j.appender.file.File=${join(dir, 'server.log')}\nlog4j.appender.file.layout=org.apache.log4j.PatternLayout\nlog4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\nlog4j.logger.kafka.request.logger=WARN\nlog4j.logger.org.apache.kafka.clients.NetworkClient=WARN\n`,
  );

  let child: ChildProcess | undefined;
  let formatted = false;
  // A JVM must never outlive the test process, whatever way that process ends.
  const reap = () => child?.kill('SIGKILL');
  process.once('exit', reap);

  const client = (clientId = 'private-kafka') =>
    new Kafka({
      clientId,
      brokers,
      connectionTimeout: 1_000,
      requestTimeout: 5_000,
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2_000 },
      logLevel: logLevel.NOTHING,
    });

  async function ready(deadline: number): Promise<void> {
    const probe = new Kafka({ clientId: 'private-kafka-probe', brokers, connectionTimeout: 500, requestTimeout: 2_000, retry: { retries: 0 }, logLevel: logLevel.NOTHING });
    for (;;) {
      if (!child || child.exitCode !== null) {
        const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n');
        throw new Error(`private Kafka exited during start-up (${dir}):\n${tail}`);
      }
      const admin = probe.admin();
      try {
        await admin.connect();
        // Ready means every partition's leader answers (ListOffsets): right after a restart the
        // node names itself leader but still refuses produce requests for partitions it is
        // loading, and kafkajs then retries the whole request, duplicating the partitions that
        // succeeded (see collector/delivery/README.md).
        const topics = (await admin.listTopics()).filter((t) => !t.startsWith('__'));
        for (const topic of topics) await admin.fetchTopicOffsets(topic);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`private Kafka at ${brokers[0]} not ready in time (${dir})`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }
  }

  async function halt(signal: NodeJS.Signals): Promise<void> {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    current.kill(signal);
    if (!(await exited(current, 30_000))) {
      current.kill('SIGKILL');
      await exited(current, 10_000);
    }
    child = undefined;
  }

  return {
    brokers,
    dir,
    relayedListener: relayed ? `127.0.0.1:${relayed.port}` : undefined,
    client,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
      const classpath = join(libsDir, '*');
      if (!formatted && !existsSync(join(dir, 'data', 'meta.properties'))) {
        // A KRaft cluster id is 16 random bytes, base64url without padding. One in 64 starts
        // with "-", which StorageTool's argument parser takes for an option, so draw again.
        let clusterId = randomBytes(16).toString('base64url');
        while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
        await runJava(
          ['-Xmx256m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', `-Dlog4j.configuration=file:${toolsLog4j}`, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties],
          logFile,
        );
      }
      formatted = true;
      const out = openSync(logFile, 'a');
      child = spawn(
        'java',
        [
          ...(options.heap ?? '-Xms256m -Xmx512m').split(' '),
          '-server',
          '-XX:+UseG1GC',
          '-XX:MaxGCPauseMillis=20',
          '-Djava.awt.headless=true',
          `-Dkafka.logs.dir=${dir}`,
          `-Dlog4j.configuration=file:${brokerLog4j}`,
          '-cp',
          classpath,
          'kafka.Kafka',
          properties,
        ],
        { stdio: ['ignore', out, out] },
      );
      closeSync(out);
      await ready(deadline);
    },
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    async destroy() {
      await halt('SIGTERM');
      process.removeListener('exit', reap);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ReadRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string;
  value: string;
  headers: Record<string, string>;
}

/**
 * Reads topics from the beginning until `expected` records arrived and nothing more came for
 * `settleMs`, so duplicates beyond the expected count are seen too.
 */
export async function readTopics(
  kafka: Kafka,
  topics: string[],
  { expected, timeoutMs = 60_000, settleMs = 2_000 }: { expected: number; timeoutMs?: number; settleMs?: number },
): Promise<ReadRecord[]> {
  const consumer = kafka.consumer({ groupId: `reader-${randomBytes(6).toString('hex')}`, maxWaitTimeInMs: 200 });
  const records: ReadRecord[] = [];
  let lastAt = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ topic, partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = String(v);
        records.push({ topic, partition, offset: Number(message.offset), key: message.key?.toString() ?? '', value: message.value?.toString() ?? '', headers });
        lastAt = Date.now();
        return Promise.resolve();
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !(records.length >= expected && Date.now() - lastAt >= settleMs)) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return records;
  } finally {
    await consumer.disconnect();
  }
}
