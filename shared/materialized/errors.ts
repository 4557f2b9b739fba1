import { DeltametaError } from '../errors/index.ts';

/**
 * Thrown by liveFileLines when file_index cannot answer a version: the table
 * has no materialized state yet, or the version lies outside
 * [file_index_min_version, mv_version] (older than retention kept, or newer
 * than the watermark). Not a client error: the caller answers from the log
 * tables instead (snapshotLines), which hold every version from
 * log_start_version on.
 */
export class NotMaterializedError extends DeltametaError {
  readonly table: string;
  readonly version: number | undefined;
  /** the range file_index answers; undefined without state */
  readonly minVersion: number | undefined;
  readonly mvVersion: number | undefined;
  constructor(table: string, version: number | undefined, range: { minVersion: number; mvVersion: number } | undefined) {
    super(
      'NOT_MATERIALIZED',
      range
        ? `${table}: version ${version} is not materialized (file_index answers ${range.minVersion}..${range.mvVersion})`
        : `${table}: no materialized state yet`,
    );
    this.table = table;
    this.version = version;
    this.minVersion = range?.minVersion;
    this.mvVersion = range?.mvVersion;
  }
}
