"""pyarrow and delta-rs reading deltameta's Arrow file lists (test/integration/arrow-files.test.ts).

    rows <stream>                        the stream read by pyarrow.ipc.open_stream: its
                                         schema ([name, type, nullable]) and rows, values
                                         made JSON-comparable (timestamps in microseconds,
                                         dates ISO, decimals as strings)
    compare <stream> <table-dir> <ver>   the stream against delta-rs's own
                                         get_add_actions(flatten=True) at that version,
                                         column by column: names, types, values (rows
                                         matched by path)
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
from deltalake import DeltaTable

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def comparable(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return (aware - EPOCH) // timedelta(microseconds=1)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def read_stream(path: str) -> pa.Table:
    with open(path, "rb") as source:
        return ipc.open_stream(source).read_all()


def rows(path: str) -> dict[str, Any]:
    table = read_stream(path)
    return {
        "schema": [[field.name, str(field.type), field.nullable] for field in table.schema],
        "rows": [{key: comparable(value) for key, value in row.items()} for row in table.to_pylist()],
    }


def compare(path: str, table_dir: str, version: int) -> dict[str, Any]:
    ours = read_stream(path)
    theirs = pa.table(DeltaTable(table_dir, version=version).get_add_actions(flatten=True))
    mismatches: list[str] = []
    for field in theirs.schema:
        if field.name not in ours.schema.names:
            mismatches.append(f"column {field.name} ({field.type}) missing")
            continue
        mine = ours.schema.field(field.name)
        if mine.type != field.type:
            mismatches.append(f"column {field.name}: {mine.type}, delta-rs {field.type}")
    ours_by_path = {row["path"]: row for row in ours.to_pylist()}
    theirs_rows = theirs.to_pylist()
    if sorted(ours_by_path) != sorted(row["path"] for row in theirs_rows):
        mismatches.append(f"paths differ: {len(ours_by_path)} vs delta-rs {len(theirs_rows)}")
    compared = 0
    for row in theirs_rows:
        mine = ours_by_path.get(row["path"])
        if mine is None:
            continue
        for name, value in row.items():
            if name in mine and comparable(mine[name]) != comparable(value):
                mismatches.append(f"{row['path']} {name}: {comparable(mine[name])!r}, delta-rs {comparable(value)!r}")
            compared += 1
    return {
        "mismatches": mismatches[:50],
        "compared": compared,
        "extra": [name for name in ours.schema.names if name not in theirs.schema.names],
        "rows": len(theirs_rows),
    }


def main() -> None:
    command = sys.argv[1]
    if command == "rows":
        result = rows(sys.argv[2])
    elif command == "compare":
        result = compare(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        raise SystemExit(f"unknown command {command}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
