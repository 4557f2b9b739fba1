/**
 * `deltameta sharing …`: the Delta Sharing configuration the reader serves
 * (docs/delta-sharing.md, shared/sharing): shares → schemas → tables or
 * prefixes, and recipients with a bearer token written only into their
 * profile file. The reader picks changes up within
 * DELTAMETA_READER_SHARING_RELOAD_MS. Wrong input: an error naming it,
 * exit 2, nothing changed.
 */
import { type Command, Option } from 'commander';
import { loadReaderConfig } from '../../shared/config/index.ts';
import { BadRequestError, DeltametaError } from '../../shared/errors/index.ts';
import { createRecipient, loadSharingConfig, revokeRecipient, shareTables, unshareTable, type SharingConfig } from '../../shared/sharing/index.ts';
import { withPool } from './options.ts';

const unitMs: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30d`, `12h`, `90m`, `3600s` → milliseconds; BAD_INPUT otherwise. */
export function parseExpiresIn(value: string): number {
  const match = /^([1-9]\d{0,6})([smhd])$/.exec(value.trim());
  const ms = match ? Number(match[1]) * (unitMs[match[2] ?? ''] ?? 0) : 0;
  if (!match || ms <= 0) throw new BadRequestError(`--expires-in must be a positive whole number of s, m, h or d (e.g. 30d), got ${JSON.stringify(value)}`);
  return ms;
}

function checkEndpoint(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new BadRequestError(`--endpoint must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BadRequestError(`--endpoint must be an http(s) URL, got ${JSON.stringify(value)}`);
  return value.replace(/\/+$/, '');
}

/** The local reader's sharing endpoint: its port and prefix as configured, else the defaults. */
function defaultEndpoint(): string {
  try {
    const config = loadReaderConfig();
    return `http://127.0.0.1:${config.port === 0 ? 8080 : config.port}${config.sharingPrefix}`;
  } catch {
    return 'http://127.0.0.1:8080/delta-sharing';
  }
}

export interface SharingDescription {
  shares: Array<{ name: string; id: string; schemas: Array<{ name: string; tables: Array<{ prefix: string } | { name: string | null; table: string | null; id: string }> }> }>;
  recipients: Array<{ name: string; shares: string[]; createdAt: string; expiresAt: string | null; revoked: boolean }>;
}

/** The configuration as the operator reads it: never a token or its hash. */
export function describeSharing(config: SharingConfig): SharingDescription {
  const shareName = new Map(config.shares.map((share) => [share.id, share.name]));
  return {
    shares: config.shares.map((share) => ({
      name: share.name, id: share.id,
      schemas: config.schemas.filter((schema) => schema.shareId === share.id).map((schema) => ({
        name: schema.name,
        tables: config.tables.filter((entry) => entry.shareId === share.id && entry.schema === schema.name)
          .map((entry) => (entry.prefix !== null ? { prefix: `${entry.prefix}*` } : { name: entry.sharedAs, table: entry.tableName, id: entry.entryId })),
      })),
    })),
    recipients: config.recipients.map((recipient) => ({
      name: recipient.name, shares: recipient.shareIds.map((id) => shareName.get(id) ?? id).sort(),
      createdAt: recipient.createdAt.toISOString(), expiresAt: recipient.expiresAt?.toISOString() ?? null, revoked: recipient.revoked,
    })),
  };
}

function printSharing(config: SharingConfig): void {
  const described = describeSharing(config);
  if (described.shares.length === 0) console.log('no shares');
  for (const share of described.shares) {
    console.log(`share ${share.name} (${share.id})`);
    for (const schema of share.schemas) {
      console.log(`  schema ${schema.name}`);
      for (const table of schema.tables) {
        if ('prefix' in table) console.log(`    prefix ${table.prefix}`);
        else console.log(`    table ${table.name}${table.name === table.table ? '' : ` (deltameta table ${table.table})`} (${table.id})`);
      }
    }
  }
  if (described.recipients.length === 0) console.log('no recipients');
  for (const recipient of described.recipients) {
    const state = recipient.revoked ? 'revoked' : recipient.expiresAt !== null && Date.parse(recipient.expiresAt) <= Date.now() ? 'expired' : 'active';
    console.log(`recipient ${recipient.name} [${state}] shares ${recipient.shares.join(',') || '-'} created ${recipient.createdAt} expires ${recipient.expiresAt ?? 'never'}`);
  }
}

export function registerSharingCommand(program: Command): void {
  const sharing = program
    .command('sharing')
    .description('Delta Sharing on the reader: shares, schemas, tables and recipients (docs/delta-sharing.md)')
    // Commander's own usage errors (a missing argument, an unknown option) exit 2 like every other bad input.
    .exitOverride((error) => {
      if (error.code === 'commander.help') throw new DeltametaError('BAD_INPUT', 'name a subcommand: share, unshare, recipient, revoke or list');
      if (error.exitCode !== 0) throw new DeltametaError('BAD_INPUT', error.message.replace(/^error: /, ''));
    });

  sharing
    .command('share')
    .description("add deltameta tables to a share's schema (both created when missing); a prefix ends with '*' (e.g. sales_*) and shares every table whose name starts with it, now and later")
    .argument('<share>', 'share name')
    .argument('<schema>', 'schema name in the share')
    .argument('<tables...>', 'deltameta table names or prefixes (ending with *)')
    .addOption(new Option('--as <name>', "the table's name in the share (one table only; default: its deltameta name)"))
    .action(async (share: string, schema: string, tables: string[], options: { as?: string }) => {
      const result = await withPool((pool) => shareTables(pool, share, schema, tables, options.as));
      for (const entry of result.unmatched) console.error(`deltameta: warning: ${entry} matches no deltameta table now (shared anyway: it appears once such a table exists)`);
      if (result.added.length > 0) console.log(`${share}.${schema}: added ${result.added.join(', ')}`);
      if (result.existing.length > 0) console.log(`${share}.${schema}: already shared ${result.existing.join(', ')}`);
    });

  sharing
    .command('unshare')
    .description("remove a table (by its name in the share or its deltameta name) or a prefix (ending with '*') from a share's schema")
    .argument('<share>', 'share name')
    .argument('<schema>', 'schema name in the share')
    .argument('<table>', 'table or prefix')
    .action(async (share: string, schema: string, table: string) => {
      await withPool((pool) => unshareTable(pool, share, schema, table));
      console.log(`${share}.${schema}: removed ${table}`);
    });

  sharing
    .command('recipient')
    .description('create a recipient with a new bearer token, granted the shares; the token is written only into the profile file (mode 0600)')
    .argument('<name>', 'recipient name')
    .addOption(new Option('--share <shares>', 'share names, comma-separated').makeOptionMandatory())
    .addOption(new Option('--profile <file>', 'profile file to create (never overwritten)').makeOptionMandatory())
    .addOption(new Option('--endpoint <url>', "the reader's sharing URL as the recipient reaches it (default: this machine's reader, http://127.0.0.1:8080/delta-sharing)"))
    .addOption(new Option('--expires-in <duration>', 'token lifetime, e.g. 30d, 12h (default: no expiry)'))
    .action(async (name: string, options: { share: string; profile: string; endpoint?: string; expiresIn?: string }) => {
      const shares = options.share.split(',').map((share) => share.trim()).filter((share) => share !== '');
      const endpoint = checkEndpoint(options.endpoint ?? defaultEndpoint());
      const expiresAt = options.expiresIn === undefined ? null : new Date(Date.now() + parseExpiresIn(options.expiresIn));
      await withPool((pool) => createRecipient(pool, { name, shares, endpoint, profileFile: options.profile, expiresAt }));
      console.log(`recipient ${name}: shares ${shares.join(', ')}; profile written to ${options.profile} (endpoint ${endpoint}${expiresAt ? `, expires ${expiresAt.toISOString()}` : ''})`);
    });

  sharing
    .command('revoke')
    .description("revoke a recipient's token (the reader refuses it within DELTAMETA_READER_SHARING_RELOAD_MS)")
    .argument('<recipient>', 'recipient name')
    .action(async (recipient: string) => {
      const revoked = await withPool((pool) => revokeRecipient(pool, recipient));
      console.log(revoked ? `recipient ${recipient}: revoked` : `recipient ${recipient}: was already revoked`);
    });

  sharing
    .command('list')
    .description('the shares, their schemas and tables, and the recipients (never their tokens)')
    .addOption(new Option('--json', 'as one JSON document'))
    .action(async (options: { json?: boolean }) => {
      const config = await withPool((pool) => loadSharingConfig(pool));
      if (options.json === true) console.log(JSON.stringify(describeSharing(config), null, 2));
      else printSharing(config);
    });
}
