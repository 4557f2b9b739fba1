/**
 * Errors are values with a code. Each class says when it is thrown; one map
 * turns codes into process exit codes (exitCodeByErrorCode, below) and one
 * into HTTP problem responses (services/reader/errors.ts, problemFor).
 */

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'STACK_FAILED'
  | 'SYSTEM_PACKAGE_MISSING'
  | 'MIGRATION_FAILED'
  | 'BAD_INPUT'
  | 'COMMIT_CONFLICT'
  | 'TABLE_FOLLOWED'
  | 'NOT_FOUND'
  | 'VERSION_GONE'
  | 'NOT_MATERIALIZED'
  | 'TIMED_OUT'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'INTERNAL';

export class DeltametaError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Thrown by `loadConfig` when an environment variable is missing or malformed. */
export class ConfigError extends DeltametaError {
  readonly variable: string;
  constructor(variable: string, reason: string) {
    super('CONFIG_INVALID', `${variable}: ${reason}`);
    this.variable = variable;
  }
}

/** Thrown by the local stack manager when a service cannot be started, stopped or reached. */
export class StackError extends DeltametaError {
  readonly service: string;
  readonly logPath: string | undefined;
  constructor(service: string, message: string, options?: { cause?: unknown; logPath?: string }) {
    const hint = options?.logPath ? ` (log: ${options.logPath})` : '';
    super('STACK_FAILED', `${service}: ${message}${hint}`, options);
    this.service = service;
    this.logPath = options?.logPath;
  }
}

/** Thrown when a system package is needed and cannot be installed by us (not root, not Debian). */
export class SystemPackageMissingError extends DeltametaError {
  readonly packages: readonly string[];
  constructor(packages: readonly string[], why: string) {
    super(
      'SYSTEM_PACKAGE_MISSING',
      `${why}; install it with: sudo apt-get install -y ${packages.join(' ')}`,
    );
    this.packages = packages;
  }
}

/**
 * Thrown when a migration file cannot be applied (nothing of that migration
 * is kept), or is misnamed or changed after it was applied: with the
 * database's error as `cause`, or our own `reason`.
 */
export class MigrationError extends DeltametaError {
  readonly file: string;
  constructor(file: string, failure: { cause: unknown } | { reason: string }) {
    const reason = 'reason' in failure ? failure.reason : failure.cause instanceof Error ? failure.cause.message : String(failure.cause);
    super('MIGRATION_FAILED', `migration ${file} failed: ${reason}`, 'cause' in failure ? { cause: failure.cause } : undefined);
    this.file = file;
  }
}

/**
 * Thrown when a Delta log or an action is malformed or contradicts itself
 * (a bad JSON line, a gap in versions, a missing checkpoint part, an add
 * whose partition values do not match the table's partition columns). Names
 * the file and, where there is one, the line.
 */
export class LogFormatError extends DeltametaError {
  readonly file: string;
  readonly line: number | undefined;
  constructor(file: string, line: number | undefined, reason: string, options?: { cause?: unknown }) {
    super('BAD_INPUT', `${file}${line !== undefined ? `:${line}` : ''}: ${reason}`, options);
    this.file = file;
    this.line = line;
  }
}

/**
 * A log file refused to protect the process, not found damaged: a value or
 * size over a limit (input-limits.ts), a path out of the table's log, a page
 * inflating past what it declared (a gzip bomb). A crafted checkpoint must
 * fail the read, never be passed over as damage (shared/delta checkpoint-read.ts).
 */
export class InputRefusedError extends LogFormatError {}

/** Thrown for a request that is wrong in itself (an unknown option value, an impossible version). */
export class BadRequestError extends DeltametaError {
  constructor(message: string) {
    super('BAD_INPUT', message);
  }
}

/**
 * Thrown when a table uses a Delta table feature deltameta does not
 * implement for what is asked (reading: import, replay, snapshot; writing:
 * commit): names every such feature. The table is fine; deltameta is not
 * the client for it (docs/delta-log.md, "Table features").
 */
export class UnsupportedFeatureError extends DeltametaError {
  readonly features: readonly string[];
  readonly access: 'read' | 'write';
  readonly where: string;
  constructor(where: string, access: 'read' | 'write', features: readonly string[], reason: string) {
    super('BAD_INPUT', `${where}: deltameta does not support ${access === 'read' ? 'reading' : 'writing'} table feature${features.length === 1 ? '' : 's'} ${features.join(', ')}: ${reason}`);
    this.features = features;
    this.access = access;
    this.where = where;
  }
}

/** Thrown when a table, or a version of it, does not exist. */
export class NotFoundError extends DeltametaError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/** Thrown when a version existed but is older than what the log retains (HTTP 410). */
export class VersionGoneError extends DeltametaError {
  readonly table: string;
  readonly version: number;
  readonly oldestVersion: number;
  constructor(table: string, version: number, oldestVersion: number) {
    super('VERSION_GONE', `${table}: version ${version} is before the oldest retained version ${oldestVersion}`);
    this.table = table;
    this.version = version;
    this.oldestVersion = oldestVersion;
  }
}

/**
 * Thrown when stored state or the code contradicts itself (a version the
 * log tables hold without its commit row, a page bound without its page, a
 * precondition a caller broke): a bug or drift, never the request's fault.
 */
/** Thrown when something waited on did not happen within its bound (a service's /readyz, a graceful stop, a topic's leaders). */
export class TimedOutError extends DeltametaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TIMED_OUT', message, options);
  }
}

export class InternalError extends DeltametaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INTERNAL', message, options);
  }
}

export type ConflictReason =
  | 'metadata-changed'
  | 'protocol-changed'
  | 'concurrent-delete-delete'
  | 'concurrent-delete-read'
  | 'concurrent-transaction'
  | 'concurrent-append'
  | 'concurrent-domain-metadata'
  | 'table-exists';

/**
 * Thrown when a commit lost the race for its version and Delta's conflict
 * rules say it cannot be rebased onto the winner (CLI exit code 3). Blind
 * appends never get here: they are rebased and retried.
 */
export class CommitConflictError extends DeltametaError {
  readonly table: string;
  readonly reason: ConflictReason;
  readonly readVersion: number;
  readonly winningVersion: number;
  constructor(table: string, reason: ConflictReason, readVersion: number, winningVersion: number, detail: string) {
    super('COMMIT_CONFLICT', `${table}: commit conflict (${reason}) with version ${winningVersion}, read at ${readVersion}: ${detail}`);
    this.table = table;
    this.reason = reason;
    this.readVersion = readVersion;
    this.winningVersion = winningVersion;
  }
}

/**
 * Thrown when a commit targets a followed table (sql/000011_table_kinds.sql):
 * its _delta_log at `location` is the authority, so a version can only come
 * from there (services/follower), never from a commit through deltameta.
 * HTTP 409; CLI exit code 2, like other refused input.
 */
export class TableFollowedError extends DeltametaError {
  readonly table: string;
  readonly location: string;
  constructor(table: string, location: string) {
    super('TABLE_FOLLOWED', `${table}: the table is followed from ${location}: its _delta_log there is the authority, so commits go to that log (or hand the table over first: deltameta handover --table ${table} --to owned)`);
    this.table = table;
    this.location = location;
  }
}

/** Thrown when a request carries no bearer token, or one that matches no configured token (HTTP 401). */
export class UnauthorizedError extends DeltametaError {
  constructor(message: string) {
    super('UNAUTHORIZED', message);
  }
}

/** Thrown when the request's token does not cover the table (HTTP 403); `tokenKind` names the kind in the message ("token", "write token"). */
export class ForbiddenError extends DeltametaError {
  readonly table: string;
  readonly tokenName: string;
  constructor(tokenName: string, table: string, tokenKind = 'token') {
    super('FORBIDDEN', `${tokenKind} ${JSON.stringify(tokenName)} does not cover table ${JSON.stringify(table)}`);
    this.table = table;
    this.tokenName = tokenName;
  }
}

/** Process exit codes for the CLI, by error code. 3 is reserved for commit conflicts (docs/design.md). */
export const exitCodeByErrorCode: Readonly<Record<ErrorCode, number>> = {
  CONFIG_INVALID: 2,
  BAD_INPUT: 2,
  NOT_FOUND: 4,
  VERSION_GONE: 4,
  COMMIT_CONFLICT: 3,
  TABLE_FOLLOWED: 2,
  STACK_FAILED: 5,
  SYSTEM_PACKAGE_MISSING: 5,
  MIGRATION_FAILED: 6,
  // Something waited on (a service's readiness, its stop, a topic's leaders) did not happen in time.
  TIMED_OUT: 5,
  // Access control (the reader's 401 and 403): a client that is not allowed.
  UNAUTHORIZED: 7,
  FORBIDDEN: 7,
  // Internal conditions, not the caller's fault: 1, as for any unexpected failure.
  // (NOT_MATERIALIZED: the caller should have answered from the log tables instead.)
  NOT_MATERIALIZED: 1,
  INTERNAL: 1,
};

export function exitCodeFor(error: unknown): number {
  return error instanceof DeltametaError ? exitCodeByErrorCode[error.code] : 1;
}
