/**
 * The pipeline watch: measures, from outside the stages it watches, how far
 * each one is behind, so the alerts keep seeing a stage that stopped (a
 * stopped process takes its own gauges with it):
 * - `deltameta_kafka_consumer_lag_messages{group}`: for every consumer group
 *   with committed offsets on the commits topic (the invalidator's own, the
 *   publisher's, any subscriber's), the messages not committed yet, summed
 *   over partitions (a partition the group never committed counts whole);
 * - `deltameta_queue_jobs{queue,state}` and
 *   `deltameta_queue_oldest_waiting_age_seconds{queue}` of the refresh queue
 *   (the refresher exports the same while it runs);
 * - `deltameta_cdc_replication_lag_bytes` of the run's slot (the CDC exports
 *   the same while it runs). Alerts and panels take the max over sources.
 * The groups are listed again every `groupsRelistMs`; a group gone from the
 * broker (deleted) loses its series.
 */
import type { Admin, Kafka } from 'kafkajs';
import type { Queue } from 'bullmq';
import type { Pool } from 'pg';
import { Gauge, type Registry } from 'prom-client';
import type { Config } from '../../shared/config/index.ts';
import { consumerGroupLags, groupsReadingTopic, queueDepth, slotLag } from '../../shared/contracts/index.ts';
import type { Logger } from '../../shared/logging/index.ts';
import type { QueueMetrics } from '../../shared/metrics/index.ts';
import type { InvalidatorConfig } from './config.ts';

export interface PipelineWatchDeps {
  readonly kafka: Kafka;
  readonly pool: Pool;
  readonly refreshQueue: Queue;
  readonly registry: Registry;
  readonly queueMetrics: QueueMetrics;
  readonly logger: Logger;
}

export const consumerLagMetricName = 'deltameta_kafka_consumer_lag_messages';
export const slotLagMetricName = 'deltameta_cdc_replication_lag_bytes';

export class PipelineWatch {
  private readonly admin: Admin;
  private readonly lag: Gauge<'group'>;
  private readonly slotLagBytes: Gauge;
  private groups = new Set<string>();
  private listedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private tick: Promise<void> = Promise.resolve();
  private lastOk = false;
  private busy = false;

  constructor(private readonly config: Config, private readonly own: InvalidatorConfig, private readonly deps: PipelineWatchDeps) {
    this.admin = deps.kafka.admin();
    // invalidatorMetrics() registers the unlabelled gauge of old: the watch's labelled one replaces it.
    deps.registry.removeSingleMetric(consumerLagMetricName);
    deps.registry.removeSingleMetric(slotLagMetricName);
    this.lag = new Gauge({
      name: consumerLagMetricName, help: 'Messages on the commits topic not yet committed by the consumer group, over its partitions', labelNames: ['group'] as const,
      registers: [deps.registry],
    });
    this.slotLagBytes = new Gauge({
      name: slotLagMetricName, help: 'WAL bytes between the server\'s position and the slot\'s confirmed flush position (measured by the pipeline watch)', registers: [deps.registry],
    });
  }

  async start(): Promise<void> {
    await this.admin.connect();
    await this.measure();
    this.timer = setInterval(() => {
      // A measurement slower than the interval is not overlapped by the next one.
      if (this.busy) return;
      this.busy = true;
      this.tick = this.measure().finally(() => {
        this.busy = false;
      });
    }, this.own.watchIntervalMs);
  }

  /** Whether the last measurement succeeded (for /readyz detail). */
  get healthy(): boolean {
    return this.lastOk;
  }

  /** Each figure on its own: PostgreSQL down must not freeze the consumer lag, nor Kafka down the queue's age. */
  private async measure(): Promise<void> {
    const results = await Promise.allSettled([this.measureGroups(), this.measureQueue(), this.measureSlot()]);
    const failed = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
    this.lastOk = failed.length === 0;
    for (const error of failed) this.deps.logger.warn({ err: error }, 'pipeline watch: could not measure');
  }

  private async measureGroups(): Promise<void> {
    const topic = this.config.pipeline.commitsTopic;
    if (Date.now() - this.listedAt >= this.own.groupsRelistMs) await this.listGroups(topic);
    for (const [group, behind] of await consumerGroupLags(this.admin, topic, this.groups)) this.lag.set({ group }, behind);
  }

  private async measureQueue(): Promise<void> {
    const depth = await queueDepth(this.deps.refreshQueue);
    for (const [state, count] of Object.entries(depth.counts)) this.deps.queueMetrics.jobs.set({ queue: this.deps.refreshQueue.name, state }, count);
    this.deps.queueMetrics.oldestWaitingAgeSeconds.set({ queue: this.deps.refreshQueue.name }, depth.oldestWaitingAgeSeconds);
  }

  private async measureSlot(): Promise<void> {
    const slot = await slotLag(this.deps.pool, this.config.pipeline.slotName);
    if (slot?.lagBytes !== null && slot?.lagBytes !== undefined) this.slotLagBytes.set(slot.lagBytes);
  }

  /** The groups with an offset committed on the topic, and always the invalidator's own. */
  private async listGroups(topic: string): Promise<void> {
    const found = await groupsReadingTopic(this.admin, topic, [this.config.pipeline.consumerGroup]);
    for (const group of this.groups) if (!found.has(group)) this.lag.remove({ group });
    this.groups = found;
    this.listedAt = Date.now();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.tick;
    await this.admin.disconnect();
  }
}
