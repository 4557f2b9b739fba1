/**
 * The local stack's service logins: one login role per stage, a member of the
 * migrations' NOLOGIN group (docs/security.md, "Roles"), with a local password
 * (its name; the cluster listens on loopback only). They are created by
 * infra/postgres/service-logins.sql (run by `deltameta stack up` and by
 * docker-compose's postgres), whose names these must match; production
 * clusters create their own. Tests, the demo and `deltameta up` connect the
 * reader with its own.
 */
const localLoginUsers = {
  reader: 'deltameta_reader',
  writer: 'deltameta_writer',
  refresher: 'deltameta_refresher',
  /** the CDC: publishes commits to Kafka (a replication login) */
  publisher: 'deltameta_publisher',
  /** services/follower: imports followed tables' logs */
  follower: 'deltameta_follower',
  /** services/publisher: writes owned tables' logs as _delta_log files */
  logPublisher: 'deltameta_log_publisher',
  /** services/committer: commits through the HTTP API, the log tables only */
  committer: 'deltameta_committer',
} as const;

export type LocalServiceLogin = keyof typeof localLoginUsers;

/** `postgresUrl` (same host, port and database) connected as a local stack's service login. */
export function localLoginUrl(postgresUrl: string, login: LocalServiceLogin): string {
  const url = new URL(postgresUrl);
  url.username = localLoginUsers[login];
  url.password = localLoginUsers[login];
  return url.toString();
}
