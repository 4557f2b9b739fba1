"""The kinds of table deltars_parity.py writes with delta-rs (its docstring says
what delta-rs 1.6.6 can and cannot write, and what each kind holds)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Callable

import pyarrow as pa
from deltalake import DeltaTable, TableFeatures, write_deltalake
from deltalake.exceptions import DeltaError

BASE_MS = 1_709_251_200_000  # 2024-03-01T00:00:00Z
# ICTs sit far from the file times, so the two rules give different answers.
ICT_BASE_MS = BASE_MS + 3_600_000
ICT_ENABLED_AT = 4


def expect(condition: bool, what: str) -> None:
    # A writer that quietly stopped producing what it promises would make
    # the parity test check less than it claims.
    if not condition:
        raise SystemExit(f"deltars_parity: {what}")


def rows(start: int, count: int, parts: tuple[str, ...] = ("a", "b", "c")) -> pa.Table:
    ids = list(range(start, start + count))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "part": pa.array([parts[i % len(parts)] for i in ids]),
            "amount": pa.array([float(i * 7 % 101) for i in ids]),
            "label": pa.array([f"l{i % 5}" for i in ids]),
        }
    )


def log_path(table_dir: str, version: int) -> str:
    return os.path.join(table_dir, "_delta_log", f"{version:020d}.json")


def read_commit(table_dir: str, version: int) -> list[dict[str, Any]]:
    with open(log_path(table_dir, version)) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def actions_of(table_dir: str, kind: str) -> list[dict[str, Any]]:
    version = DeltaTable(table_dir).version()
    return [action[kind] for v in range(version + 1) for action in read_commit(table_dir, v) if kind in action]


def set_commit_times(table_dir: str, times: list[int]) -> None:
    for version, ms in enumerate(times):
        ns = ms * 1_000_000
        os.utime(log_path(table_dir, version), ns=(ns, ns))


def fixed_clock(table_dir: str) -> list[int]:
    versions = DeltaTable(table_dir).version() + 1
    times = [BASE_MS + 1000 * version for version in range(versions)]
    set_commit_times(table_dir, times)
    return times


# --------------------------------------------------------------------------
# Kinds


def column_mapping(table_dir: str, mode: str) -> dict[str, Any]:
    write_deltalake(table_dir, rows(0, 9), partition_by=["part"], configuration={"delta.columnMapping.mode": mode})
    table = DeltaTable(table_dir)
    write_deltalake(table, rows(9, 6), mode="append")  # v1
    write_deltalake(table, rows(15, 6), mode="append")  # v2
    metrics = table.delete("id = 4")  # v3: rewrites one file
    expect(metrics["num_removed_files"] == 1 and metrics["num_added_files"] == 1, f"delete rewrote nothing: {metrics}")
    table.update(updates={"amount": "1000.0"}, predicate="id = 10")  # v4
    source = rows(18, 6)
    table.merge(source, predicate="t.id = s.id", source_alias="s", target_alias="t").when_matched_update_all().when_not_matched_insert_all().execute()  # v5
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 60 days"})  # v6
    table.create_checkpoint()  # at v6
    table.alter.add_constraint({"id_not_negative": "id >= 0"})  # v7
    write_deltalake(table, rows(30, 6, ("b", "d")), mode="append")  # v8: a new partition value
    table.restore(5)  # v9: back to v5's files, metadata and protocol
    write_deltalake(table, rows(40, 3), mode="append")  # v10
    table.create_checkpoint()  # at v10
    write_deltalake(table, rows(50, 3), mode="append")  # v11
    refused: dict[str, str] = {}
    for name, attempt in (
        ("schema merge", lambda: write_deltalake(table, rows(60, 3).append_column("extra", pa.array([1, 2, 3])), mode="append", schema_mode="merge")),
        ("optimize", lambda: table.optimize.compact()),
    ):
        try:
            attempt()
        except DeltaError as error:
            refused[name] = str(error)
    expect(len(refused) == 2, f"delta-rs now writes {set(['schema merge', 'optimize']) - set(refused)} under column mapping: extend this table")
    table.update_incremental()
    expect(table.version() == 11, f"expected 12 versions, got {table.version() + 1}")
    partition_keys = {key for add in actions_of(table_dir, "add") for key in add["partitionValues"]}
    expect(all(key.startswith("col-") for key in partition_keys), f"partition values not keyed by physical names: {partition_keys}")
    return {"refused": refused}


def deletion_vectors(table_dir: str) -> dict[str, Any]:
    write_deltalake(table_dir, rows(0, 12), partition_by=["part"], configuration={"delta.enableDeletionVectors": "true"})
    table = DeltaTable(table_dir)
    write_deltalake(table, rows(12, 9), mode="append")  # v1
    table.delete("id = 3 OR id = 13")  # v2
    table.update(updates={"label": "'updated'"}, predicate="id < 6")  # v3
    table.create_checkpoint()  # at v3
    source = rows(20, 6)
    table.merge(source, predicate="t.id = s.id", source_alias="s", target_alias="t").when_matched_delete().when_not_matched_insert_all().execute()  # v4
    table.optimize.compact()  # v5
    write_deltalake(table, rows(40, 6), mode="append")  # v6
    table.delete("part = 'c'")  # v7: whole files removed
    table.create_checkpoint()  # at v7
    write_deltalake(table, rows(50, 3), mode="append")  # v8
    protocol = table.protocol()
    expect("deletionVectors" in (protocol.reader_features or []), f"no deletionVectors reader feature: {protocol}")
    with_dv = [add["path"] for add in actions_of(table_dir, "add") if add.get("deletionVector")]
    expect(not with_dv, f"delta-rs now writes deletion vectors ({with_dv}): compare them too")
    return {"deletionVectorsWritten": 0}


def v2_checkpoint(table_dir: str) -> dict[str, Any]:
    write_deltalake(table_dir, rows(0, 8), partition_by=["part"])
    table = DeltaTable(table_dir)
    write_deltalake(table, rows(8, 4), mode="append")  # v1
    table.alter.add_feature(TableFeatures.V2Checkpoint, allow_protocol_versions_increase=True)  # v2
    write_deltalake(table, rows(12, 4), mode="append")  # v3
    table.create_checkpoint()  # at v3
    table.delete("id = 2")  # v4
    write_deltalake(table, rows(16, 4, ("a",)), mode="overwrite", predicate="part = 'a'")  # v5
    table.create_checkpoint()  # at v5
    write_deltalake(table, rows(20, 4), mode="append")  # v6
    import pyarrow.parquet as pq

    checkpoint = pq.read_table(os.path.join(table_dir, "_delta_log", f"{5:020d}.checkpoint.parquet"))
    markers = [row for row in checkpoint.column("checkpointMetadata").to_pylist() if row is not None]
    expect(markers == [{"version": 5, "tags": None}] or markers == [{"version": 5}], f"checkpoint at 5 has no checkpointMetadata: {markers}")
    return {"checkpointMetadata": markers}


def concurrent(table_dir: str) -> dict[str, Any]:
    # Imported here: the racing writers live in their own module, which spawned processes import.
    from deltars_parity_concurrent import racing_writers

    return racing_writers(table_dir)


def schema_evolution(table_dir: str) -> dict[str, Any]:
    from deltalake import Field

    write_deltalake(table_dir, rows(0, 9), partition_by=["part"], configuration={"delta.enableChangeDataFeed": "true"})
    table = DeltaTable(table_dir)
    table.alter.add_columns([Field("note", "string", nullable=True)])  # v1
    with_note = rows(9, 6).append_column("note", pa.array([f"n{i}" for i in range(6)]))
    write_deltalake(table, with_note, mode="append")  # v2
    merged = with_note.append_column("score", pa.array([i * 1.5 for i in range(6)]))
    write_deltalake(table, merged.set_column(0, "id", pa.array(range(20, 26), pa.int64())), mode="append", schema_mode="merge")  # v3
    table.update(updates={"note": "'changed'"}, predicate="id = 1")  # v4: with a cdc file
    table.delete("id = 2")  # v5
    table.create_checkpoint()  # at v5
    table.optimize.compact()  # v6
    table.alter.set_table_description("evolved")  # v7
    replacement = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "part": pa.array(["a", "b", "a"]), "other": pa.array([True, False, True])})
    write_deltalake(table, replacement, mode="overwrite", schema_mode="overwrite")  # v8: a new schema
    write_deltalake(table, replacement, mode="append")  # v9
    table.update_incremental()
    expect([field.name for field in table.schema().fields] == ["id", "part", "other"], f"schema overwrite: {table.schema()}")
    expect(actions_of(table_dir, "cdc"), "no cdc action with the change data feed on")
    return {}


def refused_at_create(key: str) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        try:
            write_deltalake(scratch, rows(0, 1), configuration={key: "true"})
        except DeltaError as error:
            return str(error)
    raise SystemExit(f"deltars_parity: delta-rs now creates a table with {key}: write it here")


def ict_property(table_dir: str) -> dict[str, Any]:
    """delta.enableInCommitTimestamps=true without the inCommitTimestamp feature: ICT is not active (PROTOCOL.md: enablement needs the feature)."""
    refused = {"create with delta.enableInCommitTimestamps": refused_at_create("delta.enableInCommitTimestamps")}
    write_deltalake(table_dir, rows(0, 6), partition_by=["part"])
    table = DeltaTable(table_dir)
    # raise_if_not_exists=False: delta-rs's own check refuses the key as unparseable otherwise.
    table.alter.set_table_properties({"delta.enableInCommitTimestamps": "true"}, raise_if_not_exists=False)  # v1
    write_deltalake(table, rows(6, 3), mode="append")  # v2
    table.create_checkpoint()  # at v2
    write_deltalake(table, rows(9, 3), mode="append")  # v3
    table.update_incremental()
    expect(table.protocol().min_writer_version == 2, f"protocol changed: {table.protocol()}")
    expect(all("inCommitTimestamp" not in read_commit(table_dir, v)[0]["commitInfo"] for v in range(4)), "delta-rs now writes inCommitTimestamp")
    return {"refused": refused}


def row_tracking_feature(table_dir: str) -> dict[str, Any]:
    """A protocol naming rowTracking (without domainMetadata), which delta-rs then refuses to write to."""
    refused = {"create with delta.enableRowTracking": refused_at_create("delta.enableRowTracking")}
    write_deltalake(table_dir, rows(0, 6), partition_by=["part"])
    table = DeltaTable(table_dir)
    write_deltalake(table, rows(6, 3), mode="append")  # v1
    table.create_checkpoint()  # at v1
    table.alter.add_feature(TableFeatures.RowTracking, allow_protocol_versions_increase=True)  # v2
    try:
        write_deltalake(table, rows(12, 3), mode="append")
    except DeltaError as error:
        refused["append after add_feature(RowTracking)"] = str(error)
    expect(len(refused) == 2, "delta-rs now writes a rowTracking table: check baseRowId")
    table.update_incremental()
    expect(table.version() == 2, f"expected 3 versions, got {table.version() + 1}")
    return {"refused": refused}


def in_commit_timestamps(table_dir: str) -> dict[str, Any]:
    """delta-rs's log, with ICT enabled at ICT_ENABLED_AT as Spark does it (see the module note)."""
    write_deltalake(table_dir, rows(0, 6), partition_by=["part"])
    table = DeltaTable(table_dir)
    for version in range(1, 9):
        if version == 6:
            table.delete("id = 1")
        else:
            write_deltalake(table, rows(10 * version, 3), mode="append")
    table.update_incremental()
    last = table.version()
    metadata = next(action["metaData"] for action in read_commit(table_dir, 0) if "metaData" in action)
    ict = {version: ICT_BASE_MS + 700 * (version - ICT_ENABLED_AT) for version in range(ICT_ENABLED_AT, last + 1)}
    for version in range(ICT_ENABLED_AT, last + 1):
        actions = read_commit(table_dir, version)
        commit_info = actions[0]["commitInfo"]
        # inCommitTimestamp is the commitInfo's first field in Spark's writes; timestamp follows it.
        actions[0] = {"commitInfo": {"inCommitTimestamp": ict[version], **commit_info, "timestamp": ict[version]}}
        if version == ICT_ENABLED_AT:
            configuration = {
                **metadata["configuration"],
                "delta.enableInCommitTimestamps": "true",
                "delta.inCommitTimestampEnablementVersion": str(ICT_ENABLED_AT),
                "delta.inCommitTimestampEnablementTimestamp": str(ict[ICT_ENABLED_AT]),
            }
            # Spark keeps the features writer version 2 supported implicitly when it moves to version 7.
            protocol = {"minReaderVersion": 1, "minWriterVersion": 7, "writerFeatures": ["appendOnly", "invariants", "inCommitTimestamp"]}
            actions[1:1] = [{"protocol": protocol}, {"metaData": {**metadata, "configuration": configuration}}]
        with open(log_path(table_dir, version), "w") as handle:
            handle.write("".join(json.dumps(action, separators=(",", ":")) + "\n" for action in actions))
    DeltaTable(table_dir).create_checkpoint()  # delta-rs checkpoints what it reads, ICT included
    # File times: one second apart, the first ICT far after them, so before
    # enablement a time is a file time and after it an ICT.
    set_commit_times(table_dir, [BASE_MS + 1000 * version for version in range(last + 1)])
    return {"enabledAt": ICT_ENABLED_AT, "ict": {str(version): ms for version, ms in ict.items()}}


def tied_times(table_dir: str) -> dict[str, Any]:
    """Commit file times that tie and go back, as clocks and copies make them."""
    write_deltalake(table_dir, rows(0, 3))
    table = DeltaTable(table_dir)
    for version in range(1, 6):
        write_deltalake(table, rows(10 * version, 3), mode="append")
    return {}


TIED_TIMES = [BASE_MS, BASE_MS + 2000, BASE_MS + 2000, BASE_MS + 1500, BASE_MS + 4000, BASE_MS + 5000]

KINDS: dict[str, Callable[[str], dict[str, Any]]] = {
    "column-mapping-name": lambda table_dir: column_mapping(table_dir, "name"),
    "column-mapping-id": lambda table_dir: column_mapping(table_dir, "id"),
    "deletion-vectors": deletion_vectors,
    "v2-checkpoint": v2_checkpoint,
    "concurrent": concurrent,
    "schema-evolution": schema_evolution,
    "ict-property": ict_property,
    "row-tracking-feature": row_tracking_feature,
    "in-commit-timestamps": in_commit_timestamps,
    "tied-times": tied_times,
}


