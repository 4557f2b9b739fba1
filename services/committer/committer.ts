/**
 * A running committer: its pool (the committer's login, sessions bounded)
 * and its HTTP server, started after the role check and stopped in order.
 * services/committer/main.ts runs one; tests run one in-process
 * (startCommitter).
 */
import { createPool, type Pool } from '../../shared/db/index.ts';
import { InternalError } from '../../shared/errors/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import { closeHttpServer } from '../../shared/service/index.ts';
import { buildCommitterApp } from './committer-app.ts';
import type { CommitterConfig } from './config.ts';
import type { CommitterMetrics } from './metrics.ts';
import { checkCommitterRole } from './role-check.ts';
import { WriteAccess } from './write-tokens.ts';

export interface CommitterOptions {
  readonly config: CommitterConfig;
  readonly logger: Logger;
  readonly metrics: CommitterMetrics;
  /** access control; default: from config (the tokens file, or anonymous) */
  readonly access?: WriteAccess;
}

export class Committer {
  readonly pool: Pool;
  readonly access: WriteAccess;
  private readonly app: ReturnType<typeof buildCommitterApp>;
  private listeningPort: number | undefined;

  constructor(private readonly options: CommitterOptions) {
    const { config } = options;
    // The tokens first: a bad file refuses the start before any connection is opened.
    this.access = options.access ?? (config.tokensFile !== undefined ? WriteAccess.fromFile(config.tokensFile) : WriteAccess.anonymous());
    this.pool = createPool(config.postgresUrl, {
      max: config.poolMax, applicationName: 'deltameta-committer',
      acquireTimeoutMs: config.pgAcquireTimeoutMs, statementTimeoutMs: config.pgStatementTimeoutMs, idleInTransactionTimeoutMs: config.pgIdleInTransactionTimeoutMs,
    });
    this.pool.on('error', (error) => options.logger.warn({ err: error }, 'idle PostgreSQL connection failed'));
    this.app = buildCommitterApp({ pool: this.pool, access: this.access, config, logger: options.logger, metrics: options.metrics });
  }

  get port(): number {
    if (this.listeningPort === undefined) throw new InternalError('the committer is not listening (port read before start())');
    return this.listeningPort;
  }

  /** Refuses (ConfigError) a role that can write beyond the log tables; then listens. */
  async start(): Promise<void> {
    try {
      await checkCommitterRole(this.pool);
    } catch (error) {
      // Refused before anything started: close what the constructor opened, so a refused start leaves no handle.
      await Promise.all([this.pool.end(), this.app.close()]);
      throw error;
    }
    await this.app.listen({ port: this.options.config.port, host: this.options.config.host });
    const address = this.app.server.address();
    this.listeningPort = typeof address === 'object' && address ? address.port : this.options.config.port;
  }

  async readiness(): Promise<{ ready: boolean; detail: Record<string, unknown> }> {
    await this.pool.query('SELECT 1');
    return { ready: this.listeningPort !== undefined, detail: { port: this.listeningPort, auth: this.access.enabled } };
  }

  /** Stop taking requests, finish the commits in flight, then close connections (every connection after `closeGraceMs`). */
  async stop(closeGraceMs = 5_000): Promise<void> {
    await closeHttpServer(this.app, closeGraceMs);
    await this.pool.end();
  }
}

/** A started committer (tests, the benchmark). */
export async function startCommitter(options: CommitterOptions): Promise<Committer> {
  const committer = new Committer(options);
  await committer.start();
  return committer;
}
