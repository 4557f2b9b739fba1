import { Kafka, logLevel, type RetryOptions } from 'kafkajs';
import { kafkaLogCreator, type Logger } from '../logging/index.ts';

export interface KafkaClientOptions {
  readonly brokers: readonly string[];
  /** the client id brokers see (and log); one per process role */
  readonly clientId: string;
  /** where kafkajs' own logs go (through pino); without one kafkajs is silent */
  readonly logger?: Logger;
  readonly retry?: RetryOptions;
  readonly connectionTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
}

/**
 * The one way a deltameta process makes a kafkajs client: kafkajs' logs go
 * through the process's pino logger (or nowhere), and the retry policy is the
 * caller's decision, stated where the client is made.
 */
export function createKafka(options: KafkaClientOptions): Kafka {
  return new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    ...(options.logger ? { logLevel: logLevel.WARN, logCreator: kafkaLogCreator(options.logger) } : { logLevel: logLevel.NOTHING }),
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.connectionTimeoutMs !== undefined ? { connectionTimeout: options.connectionTimeoutMs } : {}),
    ...(options.requestTimeoutMs !== undefined ? { requestTimeout: options.requestTimeoutMs } : {}),
  });
}
