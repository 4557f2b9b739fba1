/**
 * The local stack's service logins: one login role per stage, members of the migrations' NOLOGIN groups
 * (docs/security.md, "Roles"), created by the local stack with local
 * passwords (the name; loopback only). Production clusters create their own
 * with the SQL in docs/security.md. shared/stack creates them; tests, the
 * demo and `deltameta up` connect the reader with its own.
 */
export const localServiceLogins = {
  reader: { user: 'deltameta_reader', group: 'deltameta_read', replication: false },
  writer: { user: 'deltameta_writer', group: 'deltameta_write', replication: false },
  refresher: { user: 'deltameta_refresher', group: 'deltameta_refresh', replication: false },
  publisher: { user: 'deltameta_publisher', group: 'deltameta_cdc', replication: true },
} as const;

export type LocalServiceLogin = keyof typeof localServiceLogins;

/** `postgresUrl` (same host, port and database) connected as a local stack's service login. */
export function localLoginUrl(postgresUrl: string, login: LocalServiceLogin): string {
  const url = new URL(postgresUrl);
  url.username = localServiceLogins[login].user;
  url.password = localServiceLogins[login].user;
  return url.toString();
}

