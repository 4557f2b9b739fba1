/**
 * Clients of the stack's services, made one way everywhere: Redis (ioredis,
 * and the connection options BullMQ takes) and Kafka (kafkajs).
 */
export { createRedis, unlinkMatching } from './redis.ts';
export { createKafka, type KafkaClientOptions } from './kafka.ts';
