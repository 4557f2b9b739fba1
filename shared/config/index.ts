/**
 * Configuration is read from DELTAMETA_* environment variables once per
 * process (call `loadConfig()` in a main, pass the result down), validated,
 * and fails fast naming the variable that is wrong. Numbers carry their unit
 * in their name. Defaults live here and nowhere else.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError } from '../errors/index.ts';

/** The checkout this code runs from: where `sql/`, `infra/` and the default stack folder are. */
export const projectRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface StackPorts {
  readonly postgresPort: number;
  readonly redisPort: number;
  readonly kafkaPort: number;
  readonly kafkaControllerPort: number;
}

export interface Config {
  /** Connection string of the metadata database. Default: the local stack's. */
  readonly postgresUrl: string;
  /** Redis URL. Default: the local stack's. */
  readonly redisUrl: string;
  /** Kafka bootstrap brokers. Default: the local stack's. */
  readonly kafkaBrokers: readonly string[];
  /** Where `stack up` keeps data, logs and pid files. Default: `<checkout>/.stack` (git-ignored). */
  readonly stackDir: string;
  /** Where downloaded Kafka jars are cached, shared by all checkouts. Default: `~/.cache/deltameta`. */
  readonly cacheDir: string;
  readonly stack: StackPorts;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Upper bound for any one service of the stack to become healthy. Default 120 s (Kafka's JVM is the slow one). */
  readonly stackStartTimeoutMs: number;
}

const defaults = {
  postgresPort: 55432,
  redisPort: 56379,
  kafkaPort: 59092,
  kafkaControllerPort: 59093,
} as const;

type Env = Readonly<Record<string, string | undefined>>;

function read<T>(env: Env, variable: string, schema: z.ZodType<T>, fallback: T): T {
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((issue) => issue.message).join('; ');
    throw new ConfigError(variable, `${reason} (got ${JSON.stringify(raw)})`);
  }
  return parsed.data;
}

const port = z.coerce.number().int().min(1, 'must be a port number').max(65535, 'must be a port number');
const positiveMs = z.coerce.number().int().positive('must be a positive number of milliseconds');
const postgresUrlSchema = z
  .string()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// URL');
const redisUrlSchema = z.string().refine((value) => /^rediss?:\/\//.test(value), 'must be a redis:// URL');
const brokersSchema = z
  .string()
  .transform((value) => value.split(',').map((broker) => broker.trim()).filter(Boolean))
  .refine(
    (brokers) => brokers.length > 0 && brokers.every((broker) => /^[^:\s]+:\d+$/.test(broker)),
    'must be a comma-separated list of host:port',
  );
const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function loadConfig(env: Env = process.env): Config {
  const stack: StackPorts = {
    postgresPort: read(env, 'DELTAMETA_PG_PORT', port, defaults.postgresPort),
    redisPort: read(env, 'DELTAMETA_REDIS_PORT', port, defaults.redisPort),
    kafkaPort: read(env, 'DELTAMETA_KAFKA_PORT', port, defaults.kafkaPort),
    kafkaControllerPort: read(env, 'DELTAMETA_KAFKA_CONTROLLER_PORT', port, defaults.kafkaControllerPort),
  };
  const home = env['HOME'] ?? '/tmp';
  return {
    postgresUrl: read(
      env,
      'DELTAMETA_PG_URL',
      postgresUrlSchema,
      `postgres://deltameta:deltameta@127.0.0.1:${stack.postgresPort}/deltameta`,
    ),
    redisUrl: read(env, 'DELTAMETA_REDIS_URL', redisUrlSchema, `redis://127.0.0.1:${stack.redisPort}`),
    kafkaBrokers: read(env, 'DELTAMETA_KAFKA_BROKERS', brokersSchema, [`127.0.0.1:${stack.kafkaPort}`]),
    stackDir: path.resolve(read(env, 'DELTAMETA_STACK_DIR', z.string(), path.join(projectRoot, '.stack'))),
    cacheDir: path.resolve(read(env, 'DELTAMETA_CACHE_DIR', z.string(), path.join(home, '.cache', 'deltameta'))),
    stack,
    logLevel: read(env, 'DELTAMETA_LOG_LEVEL', logLevelSchema, 'info'),
    stackStartTimeoutMs: read(env, 'DELTAMETA_STACK_START_TIMEOUT_MS', positiveMs, 120_000),
  };
}

/** The same URL pointed at another database of the same server (test databases, the template). */
export function withDatabase(postgresUrl: string, database: string): string {
  const url = new URL(postgresUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
