"""Tables written by delta-rs with the protocol features it can write, for
test/reference/deltars-parity.test.ts (through test/support/deltars.ts).

    write <kind> <dir>          write one kind of table (KINDS below); prints
                                {"versions": n, "commitTimes": [ms per version],
                                 "notes": {...}} where notes record what the
                                writer observed (conflicts, retries)
    travel <dir> --at MS ...    delta-rs's time travel: for each timestamp (ms
                                since the epoch) the version
                                DeltaTable.load_as_version(datetime) loads, or
                                null when it refuses
    txns <dir> --apps ID ...    per version, each app id's transaction version
                                (DeltaTable.transaction_version), or null

What delta-rs 1.6.6 can and cannot write (checked by the writers below, which
fail loudly if a delta-rs upgrade changes it):
- column mapping `name` and `id`: created with the property; appends,
  DELETE, UPDATE, MERGE, SET TBLPROPERTIES, ADD CONSTRAINT, RESTORE and
  checkpoints work; ADD COLUMN, schema merge and OPTIMIZE are refused, and
  there is no rename or drop column at all.
- deletion vectors: `delta.enableDeletionVectors` puts the feature in the
  protocol, but DELETE and UPDATE rewrite files: no add carries a DV.
- row tracking: the property is refused at create; `add_feature(RowTracking)`
  writes a protocol with writer feature rowTracking (without domainMetadata)
  and every later write is refused. No baseRowId is ever written.
- in-commit timestamps: the property is refused at create, accepted by SET
  TBLPROPERTIES without the feature in the protocol, and no commitInfo gets an
  inCommitTimestamp; a table with the feature is read (with file times for
  travel) but not written. The ICT table here is therefore delta-rs's log with
  ICT enabled afterwards by rewriting its commits the way Spark writes them.
- checkpoints: classic single-file Parquet; with the v2Checkpoint feature
  (add_feature) the same file name holding a checkpointMetadata row, no
  sidecars. `delta.checkpointPolicy=v2` alone changes nothing.
- concurrent writers: its own conflict checker lets racing appends both land
  (retrying on the next version).

Every commit file's modification time is set afterwards to a fixed clock
(BASE_MS + 1000 * version, unless a kind says otherwise), so time travel is
deterministic: delta-rs reads commit file times, and real writes a few
milliseconds apart could tie at millisecond precision.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
from datetime import datetime, timezone
from typing import Any, Callable

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, TableFeatures, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

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


def append_worker(table_dir: str, worker: int, rounds: int, barrier: Any) -> None:
    for round_number in range(rounds):
        barrier.wait()
        batch = rows(1000 * (worker + 1) + 10 * round_number, 4)
        write_deltalake(
            table_dir,
            batch,
            mode="append",
            commit_properties=CommitProperties(app_transactions=[Transaction(app_id=f"writer-{worker}", version=round_number)]),
        )


def merge_worker(table_dir: str, rounds: int, barrier: Any, outcomes: Any) -> None:
    for round_number in range(rounds):
        barrier.wait()
        # Bounded: a conflict is retried from a fresh read at most three times.
        for attempt in range(4):
            table = DeltaTable(table_dir)
            source = rows(100 * round_number, 3, ("a",))
            try:
                table.merge(source, predicate="t.id = s.id AND t.part = 'a'", source_alias="s", target_alias="t").when_matched_update(
                    updates={"label": "'merged'"}
                ).when_not_matched_insert_all().execute()
                outcomes.append(f"round {round_number}: merged after {attempt} conflicts")
                break
            except CommitFailedError as error:
                outcomes.append(f"round {round_number}: conflict {str(error)[:120]}")
        else:
            raise SystemExit(f"merge round {round_number} conflicted four times")


def concurrent(table_dir: str) -> dict[str, Any]:
    write_deltalake(table_dir, rows(0, 9), partition_by=["part"])
    # spawn, not fork: delta-rs's runtime threads do not survive a fork.
    context = multiprocessing.get_context("spawn")
    rounds = 5
    barrier = context.Barrier(2)
    appenders = [context.Process(target=append_worker, args=(table_dir, worker, rounds, barrier)) for worker in (0, 1)]
    for process in appenders:
        process.start()
    for process in appenders:
        process.join(120)
        expect(process.exitcode == 0, f"an appender failed (exit {process.exitcode})")
    with context.Manager() as manager:
        outcomes = manager.list()
        barrier = context.Barrier(2)
        processes = [
            context.Process(target=merge_worker, args=(table_dir, 3, barrier, outcomes)),
            context.Process(target=append_worker, args=(table_dir, 2, 3, barrier)),
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(120)
            expect(process.exitcode == 0, f"a racing writer failed (exit {process.exitcode})")
        merge_outcomes = list(outcomes)
    table = DeltaTable(table_dir)
    table.create_checkpoint()
    write_deltalake(table, rows(500, 3), mode="append")
    table.update_incremental()
    raced = [
        version
        for version in range(1, table.version() + 1)
        if (read := read_commit(table_dir, version)[0]["commitInfo"].get("readVersion")) is not None and read < version - 1
    ]
    apps = {txn["appId"] for txn in actions_of(table_dir, "txn")}
    expect(apps == {"writer-0", "writer-1", "writer-2"}, f"txn app ids: {apps}")
    return {"mergeOutcomes": merge_outcomes, "commitsWithOlderReadVersion": raced, "appIds": sorted(apps)}


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


def write(kind: str, table_dir: str) -> dict[str, Any]:
    notes = KINDS[kind](table_dir)
    if kind == "tied-times":
        set_commit_times(table_dir, TIED_TIMES)
        times = TIED_TIMES
    elif kind == "in-commit-timestamps":
        times = [BASE_MS + 1000 * version for version in range(DeltaTable(table_dir).version() + 1)]
    else:
        times = fixed_clock(table_dir)
    return {"versions": DeltaTable(table_dir).version() + 1, "commitTimes": times, "notes": notes}


def travel(table_dir: str, timestamps: list[int]) -> list[int | None]:
    answers: list[int | None] = []
    for ms in timestamps:
        table = DeltaTable(table_dir)
        try:
            table.load_as_version(datetime.fromtimestamp(ms / 1000, timezone.utc))
        except DeltaError:
            answers.append(None)
            continue
        answers.append(table.version())
    return answers


def transactions(table_dir: str, apps: list[str]) -> list[dict[str, Any]]:
    """Per version (all of them: the writers keep every commit), each app id's txn version, or null."""
    latest = DeltaTable(table_dir).version()
    answers: list[dict[str, Any]] = []
    for version in range(latest + 1):
        table = DeltaTable(table_dir, version=version)
        answers.append({"version": version, "txns": {app: table.transaction_version(app) for app in apps}})
    return answers


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    writer = commands.add_parser("write")
    writer.add_argument("kind", choices=sorted(KINDS))
    writer.add_argument("dir")
    traveller = commands.add_parser("travel")
    traveller.add_argument("dir")
    traveller.add_argument("--at", type=int, nargs="+", required=True)
    txns = commands.add_parser("txns")
    txns.add_argument("dir")
    txns.add_argument("--apps", nargs="+", required=True)
    args = parser.parse_args(argv)
    result: object
    if args.command == "write":
        result = write(args.kind, args.dir)
    elif args.command == "travel":
        result = travel(args.dir, args.at)
    else:
        result = transactions(args.dir, args.apps)
    json.dump(result, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
