/**
 * Apache Kafka in KRaft mode (one combined broker+controller), run from the
 * official broker jars on Maven Central with the machine's Java 17: no
 * Docker engine, no tarball. infra/kafka/pom.xml pins the version; the jars
 * are resolved once and cached per pom content.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createKafka } from '../clients/index.ts';
import { projectRoot, type Config } from '../config/index.ts';
import { StackError } from '../errors/index.ts';
import { waitUntil } from '../service/index.ts';
import { tcpAnswers } from './health.ts';
import { isAlive, livePid, removeFile, spawnDaemon, stopPid } from './process.ts';
import { findOnPath, installSystemPackages, javaMajorVersion, run, runVisible } from './system.ts';
import type { ServiceStatus, StackService } from './types.ts';

const kafkaInfra = path.join(projectRoot, 'infra/kafka');

export class KafkaService implements StackService {
  readonly name = 'kafka' as const;
  private readonly dir: string;

  constructor(private readonly config: Config) {
    this.dir = path.join(config.stackDir, 'kafka');
  }

  private get pidFile(): string {
    return path.join(this.dir, 'kafka.pid');
  }

  private get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  private get logPath(): string {
    return path.join(this.config.stackDir, 'logs', 'kafka.log');
  }

  private get address(): string {
    return `127.0.0.1:${this.config.stack.kafkaPort}`;
  }

  async status(): Promise<ServiceStatus> {
    const pid = livePid(this.pidFile);
    const answers = await kafkaAnswers([this.address]);
    const state = pid !== undefined ? (answers ? 'running' : 'unhealthy') : answers ? 'reused' : 'stopped';
    const detail = `controller 127.0.0.1:${this.config.stack.kafkaControllerPort}`;
    return { service: this.name, state, address: this.address, pid, logPath: this.logPath, dataDir: this.dataDir, detail };
  }

  async up(): Promise<ServiceStatus> {
    const before = await this.status();
    if (before.state === 'running' || before.state === 'reused') return before;
    if (before.state === 'unhealthy' && before.pid !== undefined) {
      // A broker still starting (another `stack up` racing us) gets the chance to finish.
      await this.waitReady(before.pid);
      return this.status();
    }
    if (await tcpAnswers(this.config.stack.kafkaControllerPort)) {
      throw new StackError(this.name, `port ${this.config.stack.kafkaControllerPort} (controller) is taken by another process`);
    }
    const java = await ensureJava();
    const libDir = await ensureKafkaJars(this.config.cacheDir);
    mkdirSync(this.dataDir, { recursive: true });
    const propertiesPath = path.join(this.dir, 'server.properties');
    writeFileSync(propertiesPath, this.serverProperties());
    const classpath = `${libDir}/*`;
    const jvm = [
      '-Xms256m', '-Xmx1g', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${path.join(kafkaInfra, 'log4j.properties')}`,
      '-cp', classpath,
    ];
    if (!existsSync(path.join(this.dataDir, 'meta.properties'))) {
      const format = () => run(java, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', newClusterId(), '-c', propertiesPath, '--ignore-formatted']);
      try {
        // Once more after a failure: seen to fail once on a fresh clone (cause not recorded then; the message now carries it).
        await format().catch(format);
      } catch (error) {
        // execFile's error carries the tool's output: the reason is there, not in the exit code.
        const output = error instanceof Error ? `${(error as { stderr?: string }).stderr ?? ''}${(error as { stdout?: string }).stdout ?? ''}`.trim().split('\n').slice(-5).join(' | ') : '';
        throw new StackError(this.name, `formatting the KRaft storage in ${this.dataDir} failed${output ? `: ${output}` : ''}`, { cause: error });
      }
    }
    const pid = spawnDaemon({ command: java, args: [...jvm, 'kafka.Kafka', propertiesPath], logPath: this.logPath, pidFile: this.pidFile });
    await this.waitReady(pid);
    return this.status();
  }

  async down(): Promise<ServiceStatus> {
    const pid = livePid(this.pidFile);
    if (pid !== undefined) {
      // SIGTERM runs the broker's controlled shutdown, which flushes its logs.
      await stopPid(pid, 45_000);
      removeFile(this.pidFile);
    }
    return this.status();
  }

  private async waitReady(pid: number): Promise<void> {
    try {
      await waitUntil(`kafka on ${this.address}`, () => kafkaAnswers([this.address]), {
        timeoutMs: this.config.stackStartTimeoutMs,
        intervalMs: 500,
        whileAlive: () => isAlive(pid),
      });
    } catch (error) {
      throw new StackError(this.name, 'did not become ready', { cause: error, logPath: this.logPath });
    }
  }

  private serverProperties(): string {
    const values: Record<string, string> = {
      brokerPort: String(this.config.stack.kafkaPort),
      controllerPort: String(this.config.stack.kafkaControllerPort),
      dataDir: this.dataDir,
    };
    return readFileSync(path.join(kafkaInfra, 'server.properties'), 'utf8').replace(/\$\{(\w+)\}/g, (_, key: string) => {
      const value = values[key];
      if (value === undefined) throw new StackError('kafka', `server.properties names an unknown placeholder \${${key}}`);
      return value;
    });
  }
}

/** A KRaft cluster id: 16 random bytes, base64url without padding (Kafka's Uuid format). */
function newClusterId(): string {
  return randomBytes(16).toString('base64url');
}

async function ensureJava(): Promise<string> {
  let major = await javaMajorVersion();
  if (major === undefined || major < 17) {
    await installSystemPackages(['openjdk-17-jre-headless'], major === undefined ? 'Java is not installed' : `Java ${major} is too old (17+)`);
    major = await javaMajorVersion();
  }
  if (major === undefined || major < 17) throw new StackError('kafka', 'Java 17 or later is needed on PATH');
  return 'java';
}

/**
 * Copies the broker jars out of the local Maven repository (fetching them
 * from Maven Central the first time) into a cache folder named by the pom's
 * hash, built in a temporary folder and renamed into place so that an
 * interrupted download never leaves half a classpath.
 */
export async function ensureKafkaJars(cacheDir: string): Promise<string> {
  const pom = path.join(kafkaInfra, 'pom.xml');
  const digest = createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 16);
  const target = path.join(cacheDir, `kafka-${digest}`);
  const libDir = path.join(target, 'lib');
  if (existsSync(path.join(target, 'complete'))) return libDir;
  if (!findOnPath('mvn')) await installSystemPackages(['maven'], 'Maven is needed once to fetch the Kafka broker jars');
  const staging = `${target}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  process.stderr.write(`deltameta: fetching the Kafka broker jars (once, cached in ${target})\n`);
  try {
    await runVisible('mvn', [
      '-q', '-B', '-f', pom, 'dependency:copy-dependencies',
      `-DoutputDirectory=${path.join(staging, 'lib')}`, '-DincludeScope=runtime',
    ]);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw new StackError('kafka', 'resolving the broker jars with Maven failed', { cause: error });
  }
  writeFileSync(path.join(staging, 'complete'), `${new Date().toISOString()}\n`);
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  return libDir;
}

/** A broker that answers a metadata request with at least one live broker. */
export async function kafkaAnswers(brokers: readonly string[]): Promise<boolean> {
  const [host, port] = (brokers[0] ?? '').split(':');
  if (!(await tcpAnswers(Number(port), host))) return false;
  const kafka = createKafka({ clientId: 'deltameta-health', brokers, connectionTimeoutMs: 1000, requestTimeoutMs: 2000, retry: { retries: 0 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
