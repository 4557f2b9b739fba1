/**
 * One streaming connection to a logical replication slot (pgoutput through
 * pg-logical-replication), with the flush position owned by the caller.
 *
 * Library behaviours this wraps (pg-logical-replication 2.5):
 * - With `acknowledge.auto` off, a keepalive timer still acknowledges the
 *   last LSN the library *saw* unless `timeoutSeconds` is 0; that would move
 *   the slot past events not yet on Kafka. It is off here, so the only status
 *   updates are the ones `acknowledge` sends.
 * - `acknowledge(lsn)` reports lsn + 1 ("last byte received + 1"): the one
 *   caller, FlushPosition (flush-position.ts), compensates for it.
 * - The library remembers the last LSN it saw and would restart from it on
 *   a second subscribe of the same service, skipping what was never
 *   acknowledged; every connection here is a new service started from the
 *   slot's own position.
 * - `messages: true` (PostgreSQL 14+) delivers logical decoding messages,
 *   the table drops among them (drop-row.ts); the publication does not
 *   filter them, so the consumer keeps only its own prefix.
 */
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { lsnToBigInt, type Lsn } from '../../shared/replication/index.ts';
import type { StatusChannel } from './flush-position.ts';

export interface ReplicationStreamOptions {
  readonly postgresUrl: string;
  readonly slotName: string;
  readonly publicationName: string;
  readonly applicationName: string;
}

export interface ReplicationStreamHandlers {
  /** Each pgoutput message, in WAL order. Runs synchronously; a throw ends the stream. */
  onMessage(message: Pgoutput.Message): void;
  /** A primary keepalive: the server has sent everything decoded before `walEnd`. */
  onKeepalive(walEnd: bigint, replyRequested: boolean): void;
}

/** The parts of the library's internals pausing needs (it pauses the same socket itself for its flow control). */
interface ServiceInternals {
  _connection?: { stream?: { pause?: () => void; resume?: () => void } } | null;
}

export class ReplicationStream implements StatusChannel {
  /** Settles once the stream has stopped for any reason: an error, the server ending it, or close(). */
  readonly ended: Promise<Error | undefined>;
  private endWith: (reason: Error | undefined) => void = () => undefined;
  private open = true;

  private constructor(private readonly service: LogicalReplicationService) {
    this.ended = new Promise((resolve) => {
      this.endWith = (reason) => {
        this.open = false;
        resolve(reason);
      };
    });
  }

  /** Connects and starts streaming from the slot's confirmed position; resolves once the server streams. */
  static async open(options: ReplicationStreamOptions, handlers: ReplicationStreamHandlers): Promise<ReplicationStream> {
    const service = new LogicalReplicationService(
      { connectionString: options.postgresUrl, application_name: options.applicationName },
      { acknowledge: { auto: false, timeoutSeconds: 0 } },
    );
    const stream = new ReplicationStream(service);
    service.on('error', (error: Error) => stream.endWith(error));
    service.on('data', (_lsn: string, message: Pgoutput.Message) => {
      if (!stream.open) return;
      try {
        handlers.onMessage(message);
      } catch (error) {
        stream.endWith(error instanceof Error ? error : new Error(String(error)));
        void service.stop().catch(() => undefined);
      }
    });
    service.on('heartbeat', (lsn: string, _timestamp: number, shouldRespond: boolean) => {
      if (!stream.open) return;
      handlers.onKeepalive(lsnToBigInt(lsn), shouldRespond);
    });
    const started = new Promise<void>((resolve) => service.once('start', () => resolve()));
    // 0/0: the server starts at the slot's confirmed_flush_lsn, whatever this process saw before.
    service
      .subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: [options.publicationName], messages: true }), options.slotName, '0/0')
      .then(
        () => stream.endWith(new Error('the server ended the replication stream')),
        (error: unknown) => stream.endWith(error instanceof Error ? error : new Error(String(error))),
      );
    const first = await Promise.race([started.then(() => undefined), stream.ended.then((reason) => reason ?? new Error('closed'))]);
    if (first) {
      await service.destroy().catch(() => undefined);
      throw first;
    }
    return stream;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * A status update: `lsn` + 1 as written, flushed and applied (the slot may
   * forget everything before it). Only FlushPosition calls it.
   */
  acknowledge(lsn: Lsn, requestReply: boolean): void {
    if (!this.open) return;
    this.service.acknowledge(lsn, requestReply).catch(() => undefined);
  }

  /** Stops reading from the socket (backpressure); the server blocks once the socket buffers are full. */
  pause(): void {
    (this.service as unknown as ServiceInternals)._connection?.stream?.pause?.();
  }

  resume(): void {
    (this.service as unknown as ServiceInternals)._connection?.stream?.resume?.();
  }

  async close(): Promise<void> {
    this.endWith(undefined);
    await this.service.destroy().catch(() => undefined);
  }
}
