/**
 * Which instance of its service a process is, when several run side by side
 * (`deltameta up --instances reader=2`, the chaos fleet): DELTAMETA_INSTANCE,
 * a short name like `reader#2` (letters, digits, `#._:-`, at most 64).
 * Unset (one instance) changes nothing: no log field, the plain client names.
 * Set, every log line carries `instance`, and the names a service gives
 * itself towards Kafka (clientId) and Redis (connection name) end with it,
 * so the broker's group members and `CLIENT LIST` tell instances apart.
 */
import { z } from 'zod';
import { readVariable, type Env } from '../config/index.ts';
import type { Logger } from '../logging/index.ts';

const instanceSchema = z.string().max(64, 'must be at most 64 characters').regex(/^[A-Za-z0-9#._:-]+$/, 'must be letters, digits and #._:- only');

/** DELTAMETA_INSTANCE, validated; undefined when unset. */
export function instanceId(env: Env = process.env): string | undefined {
  return readVariable<string | undefined>(env, 'DELTAMETA_INSTANCE', instanceSchema, undefined);
}

/** `name` for one instance, `name.<instance>` (with `#` as `-`) when DELTAMETA_INSTANCE is set: a Kafka clientId, a Redis connection name. */
export function instanceClientName(name: string, env: Env = process.env): string {
  const id = instanceId(env);
  return id === undefined ? name : `${name}.${id.replaceAll('#', '-')}`;
}

/** The service's root logger with the `instance` field on every line, when DELTAMETA_INSTANCE is set. */
export function withInstance(logger: Logger, env: Env = process.env): Logger {
  const id = instanceId(env);
  return id === undefined ? logger : logger.child({ instance: id });
}
