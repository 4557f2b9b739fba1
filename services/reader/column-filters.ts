/**
 * Column mapping for the filters of GET /v1/tables/{name}/files: a client
 * names columns by their logical names (the schema's, as metaData's
 * partitionColumns does); add.partitionValues and stats — in the log, in
 * file_index and in partition_summary alike — are keyed by physical names
 * (PROTOCOL.md "Column Mapping"). So the filters are translated once per
 * answer, against the metaData in force at the version answered, and
 * file-filters.ts then matches the stored keys as they are: a rename needs no
 * rewrite of materialized state, and an old version is filtered by the names
 * it had.
 *
 * Without column mapping the names are the keys and pass through unchanged
 * (a name no column has matches as it always did: no file has that key).
 * With it a name that is not a column of the schema at that version —
 * unknown, or dropped by then — is a 400 naming it: its physical key may
 * still sit in old files, and matching whatever a guessed name happens to
 * equal would be wrong either way.
 */
import type { PoolClient } from '../../shared/db/index.ts';
import { columnMappingModeKey, columnNames, physicalColumnPath, type MetadataAction } from '../../shared/delta/index.ts';
import { BadRequestError } from '../../shared/errors/index.ts';
import { hasFilters, type FileFilters, type PartitionFilter, type StatsBound } from './file-filters.ts';

/**
 * The metaData in force at a version, only when it maps columns (a table
 * without mapping never ships its schema here). serves: delta_metadata
 * primary key (table_id, version): one backward probe.
 */
const mappedMetadataAtSql = `
  SELECT version, CASE WHEN configuration ->> '${columnMappingModeKey}' IN ('name', 'id') THEN action END AS action
    FROM deltameta.delta_metadata WHERE table_id = $1 AND version <= $2 ORDER BY version DESC LIMIT 1`;

function unknownColumn(filterKey: string, column: string, version: number): BadRequestError {
  return new BadRequestError(`${filterKey}: the table has no column "${column}" at version ${version} (filters name columns by their logical names)`);
}

/** A stats path's physical spelling (shared/delta physicalColumnPath: nested struct fields by their own physical names). */
function physicalStatsPath(bound: StatsBound, metadata: MetadataAction, version: number): string[] {
  const physical = physicalColumnPath(metadata, bound.path);
  if (physical === undefined) throw unknownColumn(`stats.${bound.path.join('.')}.${bound.op}`, bound.path.join('.'), version);
  return physical;
}

/** The filters with physical names, as `metadata` (in force at `version`) maps them; unchanged without column mapping. */
export function physicalFilters(filters: FileFilters, metadata: MetadataAction | null, version: number): FileFilters {
  if (!metadata || !hasFilters(filters)) return filters;
  const names = columnNames(metadata);
  if (names.mode === 'none') return filters;
  const partitions: PartitionFilter[] = filters.partitions.map((filter) => {
    const column = names.physicalByLogical.get(filter.column);
    if (column === undefined) throw unknownColumn(`partition.${filter.column}`, filter.column, version);
    return { column, value: filter.value };
  });
  const stats: StatsBound[] = filters.stats.map((bound) => ({ ...bound, path: physicalStatsPath(bound, metadata, version) }));
  return { partitions, stats };
}

/** physicalFilters against the metaData in force at `version`, read in the answer's snapshot. */
export async function physicalFiltersAt(client: PoolClient, tableId: number, version: number, filters: FileFilters): Promise<FileFilters> {
  if (!hasFilters(filters)) return filters;
  const { rows } = await client.query<{ action: string | null }>(mappedMetadataAtSql, [tableId, version]);
  const action = rows[0]?.action;
  return action ? physicalFilters(filters, JSON.parse(action) as MetadataAction, version) : filters;
}
