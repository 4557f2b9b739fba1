/**
 * The CDC's own settings (DELTAMETA_* variables, validated once; the slot,
 * publication and topic names are the pipeline's, in shared/config):
 * - DELTAMETA_CDC_STANDBY_RETRY_MS: how often an instance standing by (the
 *   slot is held by another instance's walsender: PostgreSQL streams a slot
 *   to one connection at a time) tries to take the slot, so it takes over
 *   within about this long after the active instance dies. Default 1000.
 */
import { z } from 'zod';
import { readVariable, type Env } from '../../shared/config/index.ts';

export interface CdcConfig {
  readonly standbyRetryMs: number;
}

const positiveInt = z.coerce.number().int().positive('must be a positive integer');

export function loadCdcConfig(env: Env = process.env): CdcConfig {
  return {
    standbyRetryMs: readVariable(env, 'DELTAMETA_CDC_STANDBY_RETRY_MS', positiveInt, 1000),
  };
}
