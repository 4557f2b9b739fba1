/**
 * The sharing configuration as the routes ask it: the recipient a token
 * belongs to, the shares a recipient was granted, a share's schemas and
 * table entries. Built once per load (config-cache.ts); lookups are maps.
 * A share the recipient has no grant for is answered exactly like one that
 * does not exist (404): a recipient cannot probe the names of other shares.
 */
import { hashToken, type SharingConfig, type SharingRecipient, type SharingShare, type SharingTableEntry } from '../../../shared/sharing/index.ts';
import { resourceMissing } from './errors.ts';
import { timingSafeEqual } from 'node:crypto';

export type TokenCheck =
  | { readonly ok: true; readonly recipient: SharingRecipient }
  | { readonly ok: false; readonly reason: string };

export class SharingCatalog {
  private readonly recipientsByHash = new Map<string, SharingRecipient>();
  private readonly sharesByName = new Map<string, SharingShare>();
  private readonly schemasByShare = new Map<string, string[]>();
  private readonly entriesByShare = new Map<string, SharingTableEntry[]>();

  constructor(readonly config: SharingConfig) {
    for (const recipient of config.recipients) this.recipientsByHash.set(recipient.tokenSha256.toString('hex'), recipient);
    for (const share of config.shares) this.sharesByName.set(share.name, share);
    for (const schema of config.schemas) {
      const list = this.schemasByShare.get(schema.shareId) ?? [];
      list.push(schema.name);
      this.schemasByShare.set(schema.shareId, list);
    }
    for (const list of this.schemasByShare.values()) list.sort();
    for (const entry of config.tables) {
      const list = this.entriesByShare.get(entry.shareId) ?? [];
      list.push(entry);
      this.entriesByShare.set(entry.shareId, list);
    }
  }

  /** Who `token` is, if anyone may use it now: an unknown, revoked or expired token is refused with the reason. */
  checkToken(token: string, now: number = Date.now()): TokenCheck {
    const hash = hashToken(token);
    const recipient = this.recipientsByHash.get(hash.toString('hex'));
    if (!recipient || !timingSafeEqual(hash, recipient.tokenSha256)) return { ok: false, reason: 'the bearer token is not valid' };
    if (recipient.revoked) return { ok: false, reason: 'the bearer token was revoked' };
    if (recipient.expiresAt !== null && recipient.expiresAt.getTime() <= now) {
      return { ok: false, reason: `the bearer token expired at ${recipient.expiresAt.toISOString()}` };
    }
    return { ok: true, recipient };
  }

  /** The shares granted to `recipient`, by name. */
  sharesOf(recipient: SharingRecipient): SharingShare[] {
    const granted = new Set(recipient.shareIds);
    return this.config.shares.filter((share) => granted.has(share.id));
  }

  /** The share named `name` (case-insensitive) if granted to `recipient`; else 404, whether or not it exists. */
  shareOf(recipient: SharingRecipient, name: string): SharingShare {
    const share = this.sharesByName.get(name.toLowerCase());
    if (!share || !recipient.shareIds.includes(share.id)) throw resourceMissing(`share '${name}' does not exist or is not shared with this recipient`);
    return share;
  }

  schemasOf(share: SharingShare): readonly string[] {
    return this.schemasByShare.get(share.id) ?? [];
  }

  /** `schema` (case-insensitive) of `share`, by its configured name; 404 when the share has none such. */
  schemaOf(share: SharingShare, name: string): string {
    const schema = this.schemasOf(share).find((candidate) => candidate === name.toLowerCase());
    if (schema === undefined) throw resourceMissing(`schema '${name}' does not exist in share '${share.name}'`);
    return schema;
  }

  /** The share's table entries, of one schema or all. */
  entriesOf(share: SharingShare, schema?: string): readonly SharingTableEntry[] {
    const entries = this.entriesByShare.get(share.id) ?? [];
    return schema === undefined ? entries : entries.filter((entry) => entry.schema === schema);
  }
}
