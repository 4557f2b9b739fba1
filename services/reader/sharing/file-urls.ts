/**
 * Signed file URLs for Delta Sharing: the `url` of each `file` line is
 * something a recipient fetches WITHOUT its bearer token, so the URL itself
 * is the credential, short-lived and bound to one file of one table.
 *
 * `FileUrlSigner` is the pluggable part. The default, `HmacFileUrlSigner`,
 * issues URLs served by the reader itself (file-route.ts):
 * `<baseUrl>/files/<payload>?X-Databricks-Signature=<mac>`, where the
 * payload carries the table id, the file's path relative to the table
 * location and the expiry, and the MAC is an HMAC-SHA256 over it. The
 * reader looks the location up again when the URL is fetched, so a token
 * names no filesystem path the reader has not been told about, and a table
 * moved or dropped stops serving its URLs.
 *
 * An object-store signer implements the same interface without the reader
 * in the data path: an S3 presigner would turn `tableLocation`
 * (`s3://bucket/prefix`) plus `path` into a bucket and key, and return
 * `getSignedUrl(s3, new GetObjectCommand({ Bucket, Key }), { expiresIn:
 * ceil((expiresAtMs - now) / 1000) })` (@aws-sdk/s3-request-presigner);
 * GCS and Azure (SAS) likewise. The encoder takes whatever string it returns.
 *
 * The key, DELTAMETA_READER_SHARING_URL_KEY, must be at least 32 bytes.
 * Unset, each process draws a random key: fine for ONE reader (its URLs are
 * checked by the process that issued them, and a restart only invalidates
 * URLs that live minutes anyway), wrong for several readers behind a load
 * balancer: a URL issued by one would be refused (403) by the others, so
 * they must all be given the same key.
 */
import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { readVariable, type Env } from '../../../shared/config/index.ts';

/** What a signer is told about one file. `path` is the Delta action's path: relative (URL-encoded) or an absolute URI. */
export interface SignableFile {
  readonly tableId: string;
  readonly tableLocation: string;
  readonly path: string;
  readonly size: number;
}

/** Turns a file of a table into a URL a client can fetch until `expiresAtMs` (ms since the epoch). */
export interface FileUrlSigner {
  sign(file: SignableFile, expiresAtMs: number): Promise<string>;
  /**
   * Set when the URL of a file is a function of the file, the expiry and this
   * text only (no randomness, no clock): answers signed by it may then be
   * kept in the cache levels under it. A signer without it is never cached.
   */
  readonly cacheKey?: string;
  /** `sign` without a promise, for signers that need no I/O (a long list signs faster) */
  signNow?(file: SignableFile, expiresAtMs: number): string;
}

/** What a token grants: one file of one table until an instant. */
export interface FileClaims {
  readonly tableId: string;
  /** relative to the table location, decoded (a filesystem path with `/` separators) */
  readonly path: string;
  readonly expiresAtMs: number;
}

export type FileTokenProblem = 'malformed' | 'signature' | 'expired' | 'path';

/** A token that grants nothing: malformed, signed with another key or altered, expired, or naming a path outside the table. */
export class FileTokenError extends Error {
  constructor(readonly problem: FileTokenProblem, message: string) {
    super(message);
    this.name = 'FileTokenError';
  }
}

export const sharingUrlKeyVariable = 'DELTAMETA_READER_SHARING_URL_KEY';
const minimumKeyBytes = 32;

const keySchema = z.string().refine((text) => Buffer.byteLength(text, 'utf8') >= minimumKeyBytes, {
  message: `must be at least ${minimumKeyBytes} bytes`,
});

/** One random key per process when none is configured (see the module comment for why only one reader may rely on it). */
const processKey = randomBytes(minimumKeyBytes);

/**
 * The HMAC key: DELTAMETA_READER_SHARING_URL_KEY (UTF-8 bytes, at least 32;
 * a shorter one is a ConfigError naming the variable), else this process's
 * random key.
 */
export function sharingUrlKey(env: Env): Buffer {
  const configured = readVariable<string | undefined>(env, sharingUrlKeyVariable, keySchema, undefined);
  return configured === undefined ? processKey : Buffer.from(configured, 'utf8');
}

/** The directory a table location names: a filesystem path or a `file:` URL. Anything else is not served by the reader. */
export function locationDirectory(location: string): string {
  if (/^file:/i.test(location)) return fileURLToPath(location);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new FileTokenError('path', `table location ${location} is not on local or mounted storage`);
  }
  return location;
}

/** An empty, `.` or `..` segment anywhere (a leading or trailing `/`, `//`, `/./`, `/../`). */
const badSegment = /(?:^|\/)\.{0,2}(?:\/|$)/;

/**
 * Checks a decoded relative path: not empty, not absolute, no `.`/`..`/empty
 * segment, no NUL, no backslash (a Windows separator). Returns it
 * normalised to `/` separators; FileTokenError('path') otherwise.
 */
export function checkedRelativePath(relative: string): string {
  const bad = relative.includes('\0') || relative.includes('\\') || badSegment.test(relative);
  if (bad) throw new FileTokenError('path', `file path ${JSON.stringify(relative)} is not inside the table location`);
  return relative;
}

/**
 * The decoded path of a Delta action's `path`, relative to the table
 * location: a relative path is URL-decoded (the Delta protocol stores it
 * RFC 2396-encoded); an absolute `file:` URI must lie under the location.
 */
export function relativeFilePath(tableLocation: string, actionPath: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(actionPath)) {
    if (!/^file:/i.test(actionPath)) throw new FileTokenError('path', `file ${actionPath} is not on local or mounted storage`);
    const absolute = path.resolve(fileURLToPath(actionPath));
    const root = path.resolve(locationDirectory(tableLocation));
    const relative = path.relative(root, absolute);
    if (relative.startsWith('..') || path.isAbsolute(relative)) {
      throw new FileTokenError('path', `file ${actionPath} is not inside the table location`);
    }
    return checkedRelativePath(relative.split(path.sep).join('/'));
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(actionPath);
  } catch {
    throw new FileTokenError('path', `file path ${JSON.stringify(actionPath)} is not valid URL encoding`);
  }
  return checkedRelativePath(decoded);
}

const tokenVersion = 'f1';
const claimsSchema = z.tuple([z.literal(tokenVersion), z.string().min(1), z.string().min(1), z.number().int()]);

/**
 * HMAC-SHA256 (RFC 2104) over one-shot `crypto.hash` calls with the padded
 * keys made once: createHmac builds a native object per call, ~3 µs, which
 * was half the signing time of a million-file list; this is ~1.7 µs. The
 * same bytes as createHmac('sha256', key) (test/unit/sharing-file-urls).
 */
export class HmacSha256 {
  private readonly inner: Buffer;
  private readonly outer: Buffer;

  constructor(key: Buffer) {
    const blockBytes = 64;
    const block = key.length > blockBytes ? hash('sha256', key, 'buffer') : key;
    this.inner = Buffer.alloc(blockBytes, 0x36);
    this.outer = Buffer.alloc(blockBytes, 0x5c);
    for (let index = 0; index < block.length; index++) {
      this.inner[index] = (this.inner[index] as number) ^ (block[index] as number);
      this.outer[index] = (this.outer[index] as number) ^ (block[index] as number);
    }
  }

  digest(message: string): Buffer {
    const inner = hash('sha256', Buffer.concat([this.inner, Buffer.from(message, 'utf8')]), 'buffer');
    return hash('sha256', Buffer.concat([this.outer, inner]), 'buffer');
  }
}

/** One HmacSha256 per key buffer (keys live as long as the reader). */
const macs = new WeakMap<Buffer, HmacSha256>();

function mac(key: Buffer, payload: string): Buffer {
  let keyed = macs.get(key);
  if (keyed === undefined) {
    keyed = new HmacSha256(key);
    macs.set(key, keyed);
  }
  return keyed.digest(payload);
}

/** A token's payload and MAC, base64url; the payload is `["f1", tableId, path, expiresAtMs]` as JSON. */
function signedClaims(key: Buffer, claims: FileClaims): { payload: string; mac: string } {
  const payload = Buffer.from(JSON.stringify([tokenVersion, claims.tableId, claims.path, claims.expiresAtMs]), 'utf8').toString('base64url');
  return { payload, mac: mac(key, payload).toString('base64url') };
}

/** `<payload>.<mac>` (signedClaims). */
export function issueFileToken(key: Buffer, claims: FileClaims): string {
  const signed = signedClaims(key, claims);
  return `${signed.payload}.${signed.mac}`;
}

/**
 * The claims of a token, verified: the MAC first (constant-time, so an
 * altered token learns nothing from timing), then the expiry, then the path
 * shape. FileTokenError naming the problem otherwise.
 */
export function openFileToken(key: Buffer, token: string, nowMs: number): FileClaims {
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.')) throw new FileTokenError('malformed', 'the file URL is malformed');
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = mac(key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new FileTokenError('signature', 'the file URL has a bad signature: it was altered, or issued with another key');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw new FileTokenError('malformed', 'the file URL is malformed');
  }
  const claims = claimsSchema.safeParse(parsed);
  if (!claims.success) throw new FileTokenError('malformed', 'the file URL is malformed');
  const [, tableId, relative, expiresAtMs] = claims.data;
  if (nowMs >= expiresAtMs) {
    throw new FileTokenError('expired', `the file URL expired at ${new Date(expiresAtMs).toISOString()}`);
  }
  return { tableId, path: checkedRelativePath(relative), expiresAtMs };
}

/**
 * The query parameter that carries a token's MAC in a file URL:
 * `<base>/files/<payload>?X-Databricks-Signature=<mac>`. The name is not
 * ours to choose freely: delta-kernel-rs, which the official connector reads
 * `responseformat=delta` answers with, fetches an http(s) `path` only when
 * its query has a signature parameter it knows (X-Amz-Signature, sp,
 * X-Goog-Credential, X-Databricks-Signature, …), and otherwise looks the
 * URL's path up on the local filesystem. Of those names this is the one that
 * claims no cloud object store. Clients treat the URL as opaque.
 */
export const fileSignatureParam = 'X-Databricks-Signature';

/**
 * The token of a file URL's path tail and MAC parameter: `<payload>` with the
 * MAC as a parameter, or the whole token in the path (`<payload>.<mac>`, the
 * form of URLs issued before the parameter; they live minutes, but a rolling
 * upgrade serves some). Both at once, or neither MAC, is malformed.
 */
export function fileTokenOf(pathTail: string, signature: string | undefined): string {
  const inPath = pathTail.includes('.');
  if (inPath === (signature !== undefined)) throw new FileTokenError('malformed', 'the file URL is malformed');
  return signature === undefined ? pathTail : `${pathTail}.${signature}`;
}

/** The token of a whole file URL issued by HmacFileUrlSigner (tests, tools). */
export function fileTokenOfUrl(url: string): string {
  const parsed = new URL(url);
  return fileTokenOf(parsed.pathname.slice(parsed.pathname.lastIndexOf('/') + 1), parsed.searchParams.get(fileSignatureParam) ?? undefined);
}

export interface HmacFileUrlSignerOptions {
  /** where file-route.ts is mounted, as clients reach it: `https://host/delta-sharing` (no trailing slash needed) */
  readonly baseUrl: string;
  readonly key: Buffer;
}

/** The default signer: URLs served by the reader's own `/files/:token` route. */
export class HmacFileUrlSigner implements FileUrlSigner {
  private readonly baseUrl: string;
  private readonly key: Buffer;
  private checkedLocation: string | undefined;
  readonly cacheKey: string;

  constructor(options: HmacFileUrlSignerOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.key = options.key;
    // The key named without being revealed: readers with other keys sign other URLs.
    this.cacheKey = `${this.baseUrl}/files/?${fileSignatureParam} ${createHmac('sha256', options.key).update('cache key id').digest('base64url').slice(0, 16)}`;
  }

  sign(file: SignableFile, expiresAtMs: number): Promise<string> {
    try {
      return Promise.resolve(this.signNow(file, expiresAtMs));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** The same, synchronously: a list of a million files signs without a promise per file. */
  signNow(file: SignableFile, expiresAtMs: number): string {
    // One check per location, not per file: a list's files share theirs.
    if (file.tableLocation !== this.checkedLocation) {
      locationDirectory(file.tableLocation);
      this.checkedLocation = file.tableLocation;
    }
    const relative = relativeFilePath(file.tableLocation, file.path);
    const signed = signedClaims(this.key, { tableId: file.tableId, path: relative, expiresAtMs });
    return `${this.baseUrl}/files/${signed.payload}?${fileSignatureParam}=${signed.mac}`;
  }
}
