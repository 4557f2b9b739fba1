import { z } from 'zod';
import { ConfigError } from '../errors/index.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/** One environment variable, validated; unset or empty means the default. A bad value names the variable. */
export function readVariable<T>(env: Env, variable: string, schema: z.ZodType<T>, fallback: T): T {
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallback;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((issue) => issue.message).join('; ');
    throw new ConfigError(variable, `${reason} (got ${JSON.stringify(raw)})`);
  }
  return parsed.data;
}

/** A feature switch: "on" or "off". */
export const onOff = z.enum(['on', 'off'], { message: 'must be "on" or "off"' }).transform((value) => value === 'on');
