/**
 * Clients of the stack's services, made one way everywhere: Redis (ioredis,
 * and the connection options BullMQ takes; the pipeline's instance and the
 * cache's) and Kafka (kafkajs).
 */
export { createCacheRedis, createRedis, unlinkMatching } from './redis.ts';
export { createKafka, type KafkaClientOptions } from './kafka.ts';
