/**
 * The project's own PostgreSQL cluster: initdb into a project-local folder,
 * wal_level=logical (infra/postgres/deltameta.conf), listening on 127.0.0.1
 * only. PostgreSQL refuses to run as root, so as root the cluster belongs to
 * the Debian package's `postgres` user.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { projectRoot, type Config } from '../config/index.ts';
import { StackError } from '../errors/index.ts';
import { waitUntil } from '../service/index.ts';
import { tcpAnswers } from './health.ts';
import { livePid } from './process.ts';
import { findPostgresBinDir, installSystemPackages, isRoot, run } from './system.ts';
import type { ServiceStatus, StackService } from './types.ts';

const serverUser = 'postgres';
/** The local stack's superuser and its password (a development cluster on loopback only). */
export const localSuperuser = { user: 'deltameta', password: 'deltameta', database: 'deltameta' } as const;

export class PostgresService implements StackService {
  readonly name = 'postgres' as const;
  private readonly port: number;
  /** `.stack/postgres`: the cluster's folder, or a symlink to it (see prepareRoot). */
  private readonly localRoot: string;

  constructor(private readonly config: Config) {
    this.port = config.stack.postgresPort;
    this.localRoot = path.join(config.stackDir, 'postgres');
  }

  /** The real folder: paths handed to the server must not pass through a folder it cannot enter. */
  private get root(): string {
    try {
      return lstatSync(this.localRoot).isSymbolicLink() ? readlinkSync(this.localRoot) : this.localRoot;
    } catch {
      return this.localRoot;
    }
  }

  private get dataDir(): string {
    return path.join(this.root, 'data');
  }

  private get logPath(): string {
    return path.join(this.root, 'postgres.log');
  }

  private get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async status(): Promise<ServiceStatus> {
    const pid = livePid(path.join(this.dataDir, 'postmaster.pid'));
    const answers = await this.answers();
    const state = pid !== undefined ? (answers ? 'running' : 'unhealthy') : answers ? 'reused' : 'stopped';
    return { service: this.name, state, address: this.address, pid, logPath: this.logPath, dataDir: this.dataDir };
  }

  async up(): Promise<ServiceStatus> {
    const before = await this.status();
    if (before.state === 'running') {
      // A stack started by an older checkout may lack the service logins, and a
      // start interrupted after pg_ctl (a failed install beside it) the database.
      await this.ensureDatabase();
      await this.ensureServiceLogins();
      return before;
    }
    if (before.state === 'reused') {
      await this.checkReusable();
      return before;
    }
    const bin = await this.binDir();
    this.prepareRoot();
    if (!existsSync(path.join(this.dataDir, 'PG_VERSION'))) await this.initdb(bin);
    // Checked at every start, not only after initdb: a start interrupted between the two left a cluster without it (wal_level=replica).
    this.includeProjectSettings();
    // Re-copied at every start so that edits to the settings apply at the next restart.
    copyFileSync(path.join(projectRoot, 'infra/postgres/deltameta.conf'), path.join(this.dataDir, 'deltameta.conf'));
    this.chownToServer(path.join(this.dataDir, 'deltameta.conf'));
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.root}`;
    try {
      await this.asServer(path.join(bin, 'pg_ctl'), [
        '-D', this.dataDir, '-l', this.logPath, '-o', options, '-w', '-t', String(Math.ceil(this.config.stackStartTimeoutMs / 1000)), 'start',
      ]);
    } catch (error) {
      throw new StackError(this.name, 'pg_ctl start failed', { cause: error, logPath: this.logPath });
    }
    await waitUntil(`postgres on ${this.address}`, () => this.answers(), { timeoutMs: this.config.stackStartTimeoutMs });
    await this.ensureDatabase();
    await this.ensureServiceLogins();
    return this.status();
  }

  async down(): Promise<ServiceStatus> {
    const before = await this.status();
    if (before.pid === undefined) return before;
    const bin = await this.binDir();
    await this.asServer(path.join(bin, 'pg_ctl'), ['-D', this.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
    return this.status();
  }

  private async binDir(): Promise<string> {
    let bin = findPostgresBinDir();
    if (!bin) {
      await installSystemPackages(['postgresql'], 'PostgreSQL 15 or later is not installed');
      bin = findPostgresBinDir();
    }
    if (!bin) throw new StackError(this.name, 'PostgreSQL 15 or later not found under /usr/lib/postgresql after installing it');
    return bin;
  }

  /**
   * As root the server runs as `postgres`, which must be able to reach the
   * data folder. A checkout under a folder only root may enter (a `mktemp -d`
   * clone is 0700) cannot hold it; then the cluster lives under /var/tmp and
   * `.stack/postgres` is a symlink to it, so the checkout still finds it.
   */
  private prepareRoot(): void {
    mkdirSync(this.config.stackDir, { recursive: true });
    const exists = existsSync(this.localRoot) || isSymlink(this.localRoot);
    if (isRoot() && !exists && !this.serverCanReach(this.config.stackDir)) {
      const digest = createHash('sha256').update(this.config.stackDir).digest('hex').slice(0, 12);
      const outside = `/var/tmp/deltameta-postgres-${digest}`;
      mkdirSync(outside, { recursive: true, mode: 0o700 });
      symlinkSync(outside, this.localRoot);
    }
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    this.chownToServer(this.root);
  }

  private serverCanReach(dir: string): boolean {
    // `test -x` as the server user fails when any folder above `dir` is closed to it.
    return spawnSync('runuser', ['-u', serverUser, '--', 'test', '-x', dir], { stdio: 'ignore' }).status === 0;
  }

  private chownToServer(target: string): void {
    if (!isRoot()) return;
    const { uid, gid } = serverIds();
    chownSync(target, uid, gid);
  }

  private async initdb(bin: string): Promise<void> {
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    this.chownToServer(this.dataDir);
    const passwordFile = path.join(this.root, 'initdb.pw');
    writeFileSync(passwordFile, `${localSuperuser.password}\n`, { mode: 0o600 });
    this.chownToServer(passwordFile);
    try {
      await this.asServer(path.join(bin, 'initdb'), [
        '-D', this.dataDir, '-U', localSuperuser.user, `--pwfile=${passwordFile}`,
        '--auth-local=trust', '--auth-host=scram-sha-256', '--encoding=UTF8', '--locale=C',
      ]);
    } catch (error) {
      throw new StackError(this.name, `initdb into ${this.dataDir} failed`, { cause: error });
    }
  }

  /** postgresql.conf includes the project's settings (infra/postgres/deltameta.conf, copied beside it). */
  private includeProjectSettings(): void {
    const conf = path.join(this.dataDir, 'postgresql.conf');
    const text = readFileSync(conf, 'utf8');
    if (!/^include_if_exists = 'deltameta\.conf'$/m.test(text)) writeFileSync(conf, `${text}\ninclude_if_exists = 'deltameta.conf'\n`);
  }

  private asServer(command: string, args: readonly string[]): Promise<unknown> {
    return isRoot() ? run('runuser', ['-u', serverUser, '--', command, ...args]) : run(command, args);
  }

  private async answers(): Promise<boolean> {
    if (!(await tcpAnswers(this.port))) return false;
    const client = new pg.Client({
      host: '127.0.0.1', port: this.port, user: localSuperuser.user, password: localSuperuser.password,
      database: 'postgres', connectionTimeoutMillis: 2000,
    });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** A PostgreSQL we did not start must still be one the configured URL can use with logical replication. */
  private async checkReusable(): Promise<void> {
    const client = new pg.Client({ connectionString: this.config.postgresUrl, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      const { rows } = await client.query<{ wal_level: string }>('SHOW wal_level');
      if (rows[0]?.wal_level !== 'logical') {
        throw new StackError(this.name, `the PostgreSQL already on ${this.address} has wal_level=${rows[0]?.wal_level}; logical is required`);
      }
    } catch (error) {
      if (error instanceof StackError) throw error;
      throw new StackError(this.name, `port ${this.port} answers but is not a PostgreSQL the configured URL can use`, { cause: error });
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** infra/postgres/service-logins.sql: the stage logins tests, the demo and `deltameta up` connect with. */
  private async ensureServiceLogins(): Promise<void> {
    const client = new pg.Client({
      host: '127.0.0.1', port: this.port, user: localSuperuser.user, password: localSuperuser.password, database: 'postgres',
    });
    await client.connect();
    try {
      await client.query(readFileSync(path.join(projectRoot, 'infra/postgres/service-logins.sql'), 'utf8'));
    } finally {
      await client.end();
    }
  }

  private async ensureDatabase(): Promise<void> {
    const client = new pg.Client({
      host: '127.0.0.1', port: this.port, user: localSuperuser.user, password: localSuperuser.password, database: 'postgres',
    });
    await client.connect();
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [localSuperuser.database]);
      if (rowCount === 0) await client.query(`CREATE DATABASE ${localSuperuser.database}`);
    } finally {
      await client.end();
    }
  }
}

function isSymlink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

function serverIds(): { uid: number; gid: number } {
  const result = spawnSync('id', ['-u', serverUser], { encoding: 'utf8' });
  const groupResult = spawnSync('id', ['-g', serverUser], { encoding: 'utf8' });
  const uid = Number(result.stdout.trim());
  const gid = Number(groupResult.stdout.trim());
  if (result.status !== 0 || !Number.isInteger(uid)) {
    throw new StackError('postgres', `running as root needs the system user "${serverUser}" (from the postgresql package)`);
  }
  return { uid, gid };
}
