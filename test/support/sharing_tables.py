"""delta-rs's side of the Delta Sharing tests (test/integration/sharing-*.test.ts).

Run with the python of <checkout>/.venv (ensureDeltaRs); prints one JSON
document (sharing_rows.emit). Writes the tables the tests share, with real
Parquet data, and says what delta-rs reads from them: the reference the
official connector's answers through deltameta are compared with.

    write-partitioned <dir>       5 versions, partitioned by region: appends,
                                  a delete that rewrites files, a predicate
                                  overwrite; a second boundary between v2 and v3
    write-cdf <dir>               change data feed on: inserts, an update, a
                                  delete and a merge (delta-rs writes _change_data)
    write-many <dir> --files N    one commit of N files (N partitions of 3 rows)
    read <dir> [--version V]      the rows at V (latest when omitted)
    as-of <dir> --timestamp ISO   the version delta-rs loads for a timestamp
    cdf <dir> --start S --end E   load_cdf's rows (without _commit_timestamp)
    files <dir>                   the live files: partition values, size, records
    commits <dir>                 each version's commit file mtime (ms)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, datetime, timedelta

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from sharing_rows import comparable_rows, emit, plain

EVENTS = pa.schema([("id", pa.int64()), ("region", pa.string()), ("amount", pa.float64()), ("note", pa.string()), ("day", pa.date32())])
REGIONS = ("eu", "us", "asia")


def events(ids: range | list[int], regions: tuple[str, ...] = REGIONS) -> pa.Table:
    ids = list(ids)
    return pa.table(
        {
            "id": ids,
            "region": [regions[i % len(regions)] for i in ids],
            "amount": [i * 1.5 for i in ids],
            "note": [None if i % 7 == 0 else f"note {i}" for i in ids],
            "day": [date(2026, 1, 1) + timedelta(days=i % 30) for i in ids],
        },
        schema=EVENTS,
    )


def commits(table_dir: str) -> list[dict[str, int]]:
    log = os.path.join(table_dir, "_delta_log")
    out = []
    for name in sorted(os.listdir(log)):
        if name.endswith(".json") and name[:20].isdigit() and len(name) == 25:
            out.append({"version": int(name[:20]), "mtimeMs": os.stat(os.path.join(log, name)).st_mtime_ns // 1_000_000})
    return out


def write_partitioned(table_dir: str) -> None:
    write_deltalake(table_dir, events(range(0, 300)), partition_by=["region"])  # v0
    write_deltalake(table_dir, events(range(300, 500)), mode="append")  # v1
    write_deltalake(table_dir, events(range(500, 600)), mode="append")  # v2
    # v3 lands in the next wall-clock second: a whole-second timestamp lies between v2 and v3.
    time.sleep(1.1 - time.time() % 1.0)
    DeltaTable(table_dir).delete("id >= 100 AND id < 130")  # v3: rewrites the v0 files
    write_deltalake(table_dir, events(range(1000, 1050), ("asia",)), mode="overwrite", predicate="region = 'asia'")  # v4
    emit({"commits": commits(table_dir)})


CHANGES = pa.schema([("id", pa.int64()), ("kind", pa.string()), ("score", pa.int64())])


def changes(ids: list[int], score: int | None = None) -> pa.Table:
    return pa.table(
        {"id": ids, "kind": ["even" if i % 2 == 0 else "odd" for i in ids], "score": [score if score is not None else i * 10 for i in ids]},
        schema=CHANGES,
    )


def write_cdf(table_dir: str) -> None:
    write_deltalake(table_dir, changes(list(range(0, 20))), partition_by=["kind"], configuration={"delta.enableChangeDataFeed": "true"})  # v0
    write_deltalake(table_dir, changes(list(range(20, 30))), mode="append")  # v1
    DeltaTable(table_dir).update(updates={"score": "score + 100"}, predicate="id < 5")  # v2
    DeltaTable(table_dir).delete("id >= 25")  # v3
    (
        DeltaTable(table_dir)
        .merge(source=changes([3, 40], score=999), predicate="t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )  # v4
    emit({"commits": commits(table_dir)})


def write_many(table_dir: str, files: int) -> None:
    ids = list(range(files * 3))
    data = pa.table({"id": ids, "bucket": [f"b{i % files:05d}" for i in ids], "value": [i * 2 for i in ids]})
    write_deltalake(table_dir, data, partition_by=["bucket"])
    emit({"commits": commits(table_dir)})


def read(table_dir: str, version: int | None) -> None:
    table = DeltaTable(table_dir, version=version)
    rows = table.to_pyarrow_table().to_pylist()
    emit({"version": table.version(), "count": len(rows), "rows": comparable_rows(rows)})


def as_of(table_dir: str, timestamp: str) -> None:
    table = DeltaTable(table_dir)
    table.load_as_version(datetime.fromisoformat(timestamp.replace("Z", "+00:00")))
    emit({"version": table.version()})


def cdf(table_dir: str, start: int, end: int) -> None:
    rows = pa.table(DeltaTable(table_dir).load_cdf(starting_version=start, ending_version=end)).to_pylist()
    emit({"count": len(rows), "rows": comparable_rows(rows, drop=["_commit_timestamp"])})


def files(table_dir: str) -> None:
    out = []
    for row in pa.table(DeltaTable(table_dir).get_add_actions(flatten=False)).to_pylist():
        out.append(
            {
                "partitionValues": {name: None if value is None else str(plain(value)) for name, value in (row.get("partition") or {}).items()},
                "size": row["size_bytes"],
                "numRecords": row.get("num_records"),
            }
        )
    emit({"files": out})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("dir")
    parser.add_argument("--version", type=int)
    parser.add_argument("--timestamp")
    parser.add_argument("--start", type=int)
    parser.add_argument("--end", type=int)
    parser.add_argument("--files", type=int)
    args = parser.parse_args()
    if args.command == "write-partitioned":
        write_partitioned(args.dir)
    elif args.command == "write-cdf":
        write_cdf(args.dir)
    elif args.command == "write-many":
        write_many(args.dir, args.files)
    elif args.command == "read":
        read(args.dir, args.version)
    elif args.command == "as-of":
        as_of(args.dir, args.timestamp)
    elif args.command == "cdf":
        cdf(args.dir, args.start, args.end)
    elif args.command == "files":
        files(args.dir)
    elif args.command == "commits":
        emit({"commits": commits(args.dir)})
    else:
        raise SystemExit(f"unknown command {args.command}")


if __name__ == "__main__":
    main()
    # Skip the interpreter's teardown: Arrow's and delta-rs's native threads
    # sometimes abort it ("terminate called without an active exception",
    # exit 134) after the answer is printed.
    sys.stdout.flush()
    os._exit(0)
