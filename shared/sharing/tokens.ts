/**
 * Recipients' bearer tokens and profile files. A token is 32 random bytes
 * (base64url, 43 characters); only its SHA-256 is stored. The profile file
 * (PROTOCOL.md, "Profile File Format") is the one place the token is written:
 * created, never overwritten, readable by its owner only (mode 0600).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { open } from 'node:fs/promises';

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Whether `token` hashes to `sha256` (compared in constant time). */
export function tokenMatches(token: string, sha256: Buffer): boolean {
  const presented = hashToken(token);
  return presented.length === sha256.length && timingSafeEqual(presented, sha256);
}

export interface SharingProfile {
  readonly shareCredentialsVersion: 1;
  readonly endpoint: string;
  readonly bearerToken: string;
  /** ISO 8601; absent when the token does not expire */
  readonly expirationTime?: string;
}

export function profileFor(endpoint: string, token: string, expiresAt: Date | null): SharingProfile {
  return {
    shareCredentialsVersion: 1, endpoint, bearerToken: token,
    ...(expiresAt === null ? {} : { expirationTime: expiresAt.toISOString() }),
  };
}

/** Creates `file` (refusing one that exists: EEXIST) with mode 0600 and the profile in it. */
export async function writeProfileFile(file: string, profile: SharingProfile): Promise<void> {
  const handle = await open(file, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(profile, null, 2)}\n`, 'utf8');
    await handle.chmod(0o600);
  } finally {
    await handle.close();
  }
}
