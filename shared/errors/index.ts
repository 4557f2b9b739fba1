/**
 * Errors are values with a code. Each class says when it is thrown; one place
 * (the CLI's exit-code map, later the reader's problem+json handler) turns
 * codes into process exit codes and HTTP responses.
 */

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'STACK_FAILED'
  | 'SYSTEM_PACKAGE_MISSING'
  | 'MIGRATION_FAILED'
  | 'BAD_INPUT'
  | 'COMMIT_CONFLICT'
  | 'NOT_FOUND';

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

/** Thrown when a migration file cannot be applied; nothing of that migration is kept. */
export class MigrationError extends DeltametaError {
  readonly file: string;
  constructor(file: string, options: { cause: unknown }) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super('MIGRATION_FAILED', `migration ${file} failed: ${reason}`, options);
    this.file = file;
  }
}

/** Process exit codes for the CLI, by error code. 3 is reserved for commit conflicts (DESIGN.md). */
export const exitCodeByErrorCode: Readonly<Record<ErrorCode, number>> = {
  CONFIG_INVALID: 2,
  BAD_INPUT: 2,
  NOT_FOUND: 4,
  COMMIT_CONFLICT: 3,
  STACK_FAILED: 5,
  SYSTEM_PACKAGE_MISSING: 5,
  MIGRATION_FAILED: 6,
};

export function exitCodeFor(error: unknown): number {
  return error instanceof DeltametaError ? exitCodeByErrorCode[error.code] : 1;
}
