/**
 * The publisher's life as one value. The transitions, and what moves along each:
 *
 *   idle     → starting   start()
 *   starting → running    the slot streams
 *   starting → stopped    setup failed: start() rejects, connections are closed
 *   starting → failed     a row that cannot become an event, or a bug
 *   running  → failed     (the same)
 *   idle | starting | running | failed → draining             stop()
 *   idle | starting | running | failed | draining → aborting  abort()
 *   starting | draining | aborting → stopped                  disconnected
 *
 * A failure while draining or aborting is recorded (it halts sending) without
 * a move; a stop() after abort() changes nothing.
 */
export type PublisherState = 'idle' | 'starting' | 'running' | 'failed' | 'draining' | 'aborting' | 'stopped';

const allowedMoves: Readonly<Record<PublisherState, readonly PublisherState[]>> = {
  idle: ['starting', 'draining', 'aborting'],
  starting: ['running', 'failed', 'draining', 'aborting', 'stopped'],
  running: ['failed', 'draining', 'aborting'],
  failed: ['draining', 'aborting'],
  draining: ['aborting', 'stopped'],
  aborting: ['stopped'],
  stopped: [],
};

export class PublisherLifecycle {
  private current: PublisherState = 'idle';
  private halt: Error | undefined;
  private readonly stopController = new AbortController();
  private readonly discardController = new AbortController();

  get state(): PublisherState {
    return this.current;
  }

  /** Moves to `next` if the diagram above allows it; false (and no move) otherwise. */
  moveTo(next: PublisherState): boolean {
    if (!allowedMoves[this.current].includes(next)) return false;
    this.current = next;
    if (this.stopping) this.stopController.abort();
    if (this.discarding) this.discardController.abort();
    return true;
  }

  /** Messages from the slot are taken (and keepalives may move the flush position). */
  get receiving(): boolean {
    return this.current === 'starting' || this.current === 'running';
  }

  /** Nothing more is received; no connection is retried. */
  get stopping(): boolean {
    return this.current === 'draining' || this.current === 'aborting' || this.current === 'stopped';
  }

  /** Aborts when `stopping` turns true: ends the setup and connection backoffs at once. */
  get stopSignal(): AbortSignal {
    return this.stopController.signal;
  }

  /**
   * Nothing more is published or acknowledged: abort() was called, or
   * everything is closed (an aborted send may still be in flight then).
   */
  get discarding(): boolean {
    return this.current === 'aborting' || this.current === 'stopped';
  }

  /** Aborts when `discarding` turns true: ends a send's backoff (a graceful stop waits for Kafka instead). */
  get discardSignal(): AbortSignal {
    return this.discardController.signal;
  }

  /** Why the publisher halted, if it did. */
  get failure(): Error | undefined {
    return this.halt;
  }

  /** A send may start: not halted, not discarding. */
  get maySend(): boolean {
    return this.halt === undefined && !this.discarding;
  }

  /**
   * Records why the publisher halts and stops receiving; returns the error
   * the first time, undefined after (only the first failure is reported).
   */
  fail(error: unknown): Error | undefined {
    if (this.halt) return undefined;
    this.halt = error instanceof Error ? error : new Error(String(error));
    if (this.receiving) this.moveTo('failed');
    return this.halt;
  }
}
