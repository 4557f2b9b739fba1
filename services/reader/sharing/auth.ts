/**
 * A sharing request's recipient, from its `Authorization: Bearer <token>`
 * (RFC 6750), checked against the recipients' token hashes. Deny by default:
 * no header, another scheme, an unknown, revoked or expired token are all
 * 401 UNAUTHENTICATED. Independent of the /v1 tokens (access-hooks.ts skips
 * routes marked `sharing: true`) and always on, whatever DELTAMETA_READER_AUTH says.
 */
import type { FastifyRequest } from 'fastify';
import type { SharingRecipient } from '../../../shared/sharing/index.ts';
import type { SharingCatalog } from './catalog.ts';
import { SharingError } from './errors.ts';

/** A token as the CLI issues them is 43 characters; anything far longer is not worth hashing. */
const maxTokenLength = 512;

export function bearerTokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match?.[1];
}

export function authenticateRecipient(request: FastifyRequest, catalog: SharingCatalog): SharingRecipient {
  const token = bearerTokenOf(request);
  if (token === undefined) throw new SharingError('UNAUTHENTICATED', 'no bearer token: send Authorization: Bearer <token>, the bearerToken of your profile file');
  if (token.length > maxTokenLength) throw new SharingError('UNAUTHENTICATED', 'the bearer token is not valid');
  const check = catalog.checkToken(token);
  if (!check.ok) throw new SharingError('UNAUTHENTICATED', check.reason);
  return check.recipient;
}
