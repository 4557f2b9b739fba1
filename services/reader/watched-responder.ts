/**
 * The table routes' responder with the abandonment watch (snapshot-scope.ts)
 * entered only around what can reach PostgreSQL: the producer of a cache
 * miss and a whole-list stream. An answer from L1 or L2 never enters it, so
 * the hot path runs without promise hooks.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Produced } from './response-cache.ts';
import { watchedWhile } from './snapshot-scope.ts';
import { TableResponder, type TableAnswerKey } from './table-responder.ts';
import type { ResolvedVersion } from './version-resolution.ts';

export class WatchedTableResponder extends TableResponder {
  override answer(request: FastifyRequest, reply: FastifyReply, resolved: ResolvedVersion, key: TableAnswerKey, produce: () => Promise<Produced>): Promise<FastifyReply> {
    return super.answer(request, reply, resolved, key, () => watchedWhile(reply.raw, produce));
  }

  override streamWholeList(request: FastifyRequest, reply: FastifyReply, resolved: ResolvedVersion, canonical: string): Promise<boolean> {
    return watchedWhile(reply.raw, () => super.streamWholeList(request, reply, resolved, canonical));
  }
}
