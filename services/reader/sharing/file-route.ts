/**
 * GET and HEAD `/files/<payload>?X-Databricks-Signature=<mac>` (and the
 * older `/files/<payload>.<mac>`): the files behind the signed URLs of
 * file-urls.ts. No bearer token: the URL is the credential, so the route is
 * marked by its config (`sharing: true`, which the reader's /v1 access hook
 * skips) and authenticates nobody. Refusals, as `{"errorCode","message"}`
 * (no body for HEAD):
 * - 403 PERMISSION_DENIED: an expired token, an altered one (or one signed
 *   with another key), a malformed one, or one naming a path outside the
 *   table location: `..`, absolute, or a symlink whose real path leaves the
 *   real location (both sides resolved with realpath);
 * - 404 RESOURCE_DOES_NOT_EXIST: a table the reader no longer knows, a
 *   location or file that is missing, or that is not a regular file.
 * The protocol defines no errors for file URLs (they are normally cloud
 * presigned URLs); the codes are the protocol's error codes of its REST API.
 *
 * Serving is @fastify/send (Fastify's maintained fork of `send`): byte
 * ranges (`bytes=a-b`, `bytes=a-`, `bytes=-n`, so a Parquet reader's footer
 * seek works) answered 206 with Content-Range, an unsatisfiable range 416,
 * If-Range, ETag, Last-Modified, Content-Length, Accept-Ranges: bytes.
 * Several ranges in one request are not refused: they are answered 200 with
 * the whole file, as RFC 9110 allows a server that ignores Range.
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import send from '@fastify/send';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FileTokenError, fileSignatureParam, fileTokenOf, locationDirectory, openFileToken } from './file-urls.ts';

export interface SharingFileRouteOptions {
  /** the HMAC key the URLs were signed with (sharingUrlKey in file-urls.ts) */
  readonly key: Buffer;
  /** the location of a table by id, or undefined when the reader does not know (or no longer shares) it */
  readonly resolveLocation: (tableId: string) => Promise<string | undefined>;
  /** the longest body one range response sends; a longer range is answered shorter (206, true Content-Range). Unset: no cap. */
  readonly maxRangeBytes?: number;
  /** the clock, ms since the epoch (tests) */
  readonly now?: () => number;
}

/**
 * The route config: `sharing: true` is what the reader's /v1 access hook
 * skips (isSharingRoute in index.ts, used by access-hooks.ts), and unlike
 * the other sharing routes this one never asks for a recipient's token;
 * `signedFileUrl: true` names it (isSignedFileRequest).
 */
const signedFileConfig = { sharing: true, signedFileUrl: true };

/** Whether the request matched the signed-file route (the access hook lets it through without a token). */
export function isSignedFileRequest(request: FastifyRequest): boolean {
  return (request.routeOptions.config as { signedFileUrl?: boolean } | undefined)?.signedFileUrl === true;
}

type Refusal = { status: 403 | 404; errorCode: 'PERMISSION_DENIED' | 'RESOURCE_DOES_NOT_EXIST'; message: string };

const denied = (message: string): Refusal => ({ status: 403, errorCode: 'PERMISSION_DENIED', message });
const missing = (message: string): Refusal => ({ status: 404, errorCode: 'RESOURCE_DOES_NOT_EXIST', message });

function refuse(request: FastifyRequest, reply: FastifyReply, refusal: Refusal): FastifyReply {
  reply.code(refusal.status).header('cache-control', 'no-store');
  if (request.method === 'HEAD') return reply.send();
  return reply.header('content-type', 'application/json').send(JSON.stringify({ errorCode: refusal.errorCode, message: refusal.message }));
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The real path of the file a token names, checked to lie under the real location; a Refusal otherwise. */
async function realFile(location: string, relative: string): Promise<string | Refusal> {
  let root: string;
  try {
    root = await realpath(locationDirectory(location));
  } catch (error) {
    if (error instanceof FileTokenError) return denied(error.message);
    if (isMissing(error)) return missing('the table location does not exist');
    throw error;
  }
  let real: string;
  try {
    real = await realpath(path.resolve(root, ...relative.split('/')));
  } catch (error) {
    if (isMissing(error)) return missing('the file does not exist');
    throw error;
  }
  const inside = path.relative(root, real);
  if (inside === '' || inside.startsWith('..') || path.isAbsolute(inside)) return denied('the file is not inside the table location');
  const info = await stat(real);
  if (!info.isFile()) return missing('the file does not exist');
  return real;
}

async function serve(request: FastifyRequest, reply: FastifyReply, options: SharingFileRouteOptions): Promise<FastifyReply> {
  const signature = (request.query as Record<string, unknown> | undefined)?.[fileSignatureParam];
  let claims;
  try {
    if (signature !== undefined && typeof signature !== 'string') throw new FileTokenError('malformed', 'the file URL is malformed');
    const token = fileTokenOf((request.params as { '*'?: string })['*'] ?? '', signature);
    claims = openFileToken(options.key, token, (options.now ?? Date.now)());
  } catch (error) {
    if (error instanceof FileTokenError) return refuse(request, reply, denied(error.message));
    throw error;
  }
  const location = await options.resolveLocation(claims.tableId);
  if (location === undefined) return refuse(request, reply, missing('the table is not shared'));
  const file = await realFile(location, claims.path);
  if (typeof file !== 'string') return refuse(request, reply, file);

  // The path handed to send is the one checked above: its directory as the
  // root, its name encoded (send decodes the path as a URL).
  const result = await send(request.raw, `/${encodeURIComponent(path.basename(file))}`, {
    root: path.dirname(file),
    dotfiles: 'allow',
    index: false,
    extensions: false,
    cacheControl: false,
    contentType: false,
    ...(options.maxRangeBytes === undefined ? {} : { maxContentRangeChunkSize: options.maxRangeBytes }),
  });
  if (result.type !== 'file' && result.statusCode !== 416) {
    result.stream.destroy();
    return refuse(request, reply, result.statusCode === 404 || result.type === 'directory' ? missing('the file does not exist') : denied('the file cannot be served'));
  }
  reply.code(result.statusCode).headers(result.headers);
  // Each URL is private to its recipient and expires: shared caches must not keep it.
  reply.header('cache-control', 'private, no-transform');
  if (result.type === 'file') reply.header('content-type', 'application/octet-stream');
  return reply.send(result.stream);
}

/**
 * Registers GET and HEAD `/files/<token>` on `app` (a Fastify plugin: call it
 * directly, or `app.register(sharingFileRoute, { prefix, ...options })`).
 */
export function sharingFileRoute(app: FastifyInstance, options: SharingFileRouteOptions): Promise<void> {
  app.route({
    method: ['GET', 'HEAD'],
    // a wildcard, not `:token`: a parameter is capped at the router's
    // maxParamLength (100 by default, 256 in the reader), a token is longer
    url: '/files/*',
    config: signedFileConfig,
    schema: { hide: true },
    handler: (request, reply) => serve(request, reply, options),
  });
  return Promise.resolve();
}
