"""delta-rs as an independent reference for deltameta's Delta log handling.

The TypeScript side (test/support/deltars.ts) runs this with the python of the
project's .venv, where infra/python/requirements.txt pins `deltalake`, and
reads one JSON document from stdout. Anything that goes wrong is raised, so
the traceback lands on stderr with a non-zero exit and the caller's error
shows it: a reference that guesses is worse than none.

    state <dir> [--version V]   the table at V (latest when omitted): version,
                                metadata, protocol, every live add action and
                                its deletion vector, in the comparable form
                                test/reference/comparable-state.ts documents
    all-versions <dir>          the same for every version delta-rs can load
    write-sample <dir> --seed S write a realistic multi-version table
    write-dv-files <dir>        write the DV files a generated log names
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable

from deltars_dv_files import write_dv_files
from deltars_sample import write_sample


# --------------------------------------------------------------------------
# Reading

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def comparable(value: Any) -> Any:
    """An Arrow value as JSON, in the form comparable-state.ts gives the log's strings."""
    # datetime is a date subclass: test it first.
    if isinstance(value, datetime):
        # timestamp_ntz arrives naive; its wall-clock digits are read as UTC
        # on both sides, so naive and aware compare by the same digits.
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return (aware - EPOCH) // timedelta(microseconds=1)
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise SystemExit(f"no comparable form for a {type(value).__name__}: {value!r}")


def comparable_stats(values: dict[str, Any] | None) -> dict[str, Any]:
    # delta-rs has a struct field for every indexed column and fills it with
    # null where a file's stats JSON has no entry (older files after a schema
    # merge); the log has no entry. Both sides drop nulls and empty structs.
    out: dict[str, Any] = {}
    for name, value in (values or {}).items():
        if isinstance(value, dict):
            nested = comparable_stats(value)
            if nested:
                out[name] = nested
        elif value is not None:
            out[name] = comparable(value)
    return out


def deletion_vectors(table: DeltaTable) -> dict[str, dict[str, int]]:
    """Per live file (decoded relative path): how many rows its DV deletes and the first one."""
    # deletion_vectors() gives no descriptor, only each file's keep mask
    # (one bool per row, False where deleted), keyed by an absolute URI,
    # and it reads every DV file to build it.
    root = table.table_uri.rstrip("/") + "/"
    found: dict[str, dict[str, int]] = {}
    for row in pa.table(table.deletion_vectors()).to_pylist():
        uri = row["filepath"]
        if not uri.startswith(root):
            raise SystemExit(f"deletion vector of {uri}, outside the table {root}")
        deleted = [index for index, keep in enumerate(row["selection_vector"]) if not keep]
        key = unquote(uri[len(root) :])
        if key in found or not deleted:
            raise SystemExit(f"deletion vector of {uri}: listed twice or deletes nothing")
        found[key] = {"cardinality": len(deleted), "firstDeletedRow": deleted[0]}
    return found


def live_files(table: DeltaTable) -> list[dict[str, Any]]:
    # get_add_actions()'s `path` column is the add action's `path` string
    # verbatim as the log (or checkpoint) holds it: URL-encoded, and not even
    # re-normalised (a hand-written `%3a` stays lower-case, a raw space stays
    # a space). file_uris() is the other candidate, but it returns decoded
    # absolute filesystem paths, which would need re-encoding and could not
    # reproduce a writer's own encoding choices. delta-rs also reconciles
    # add/remove by this exact string, so the log form is the one to compare.
    # Not exposed at all: dataChange, tags, baseRowId,
    # defaultRowCommitVersion, clusteringProvider, stats' tightBounds and the
    # DV descriptor itself.
    dvs = deletion_vectors(table)
    files = []
    for row in pa.table(table.get_add_actions(flatten=False)).to_pylist():
        files.append(
            {
                "path": row["path"],
                # Typed by the schema here (Utf8, Int64, Date32, ...); None
                # stays None: a null partition value is a value.
                "partitionValues": {name: comparable(value) for name, value in (row.get("partition") or {}).items()},
                "size": row["size_bytes"],
                "modificationTime": row["modification_time"],
                "numRecords": row.get("num_records"),
                "minValues": comparable_stats(row.get("min")),
                "maxValues": comparable_stats(row.get("max")),
                "nullCount": comparable_stats(row.get("null_count")),
                "deletionVector": dvs.pop(unquote(row["path"]), None),
            }
        )
    if dvs:
        raise SystemExit(f"deletion vectors of files that are not live: {sorted(dvs)}")
    return sorted(files, key=lambda file: file["path"])


def sorted_or_none(features: list[str] | None) -> list[str] | None:
    # Features are a set: the order a writer lists them in carries nothing.
    return None if features is None else sorted(features)


def table_state(table_dir: str, version: int | None) -> dict[str, object]:
    table = DeltaTable(table_dir, version=version)
    metadata = table.metadata()
    protocol = table.protocol()
    return {
        "version": table.version(),
        "metadata": {
            "id": metadata.id,
            "name": metadata.name,
            "description": metadata.description,
            "partitionColumns": list(metadata.partition_columns),
            "configuration": dict(metadata.configuration),
            "createdTime": metadata.created_time,
            "schema": json.loads(table.schema().to_json()),
        },
        "protocol": {
            "minReaderVersion": protocol.min_reader_version,
            "minWriterVersion": protocol.min_writer_version,
            "readerFeatures": sorted_or_none(protocol.reader_features),
            "writerFeatures": sorted_or_none(protocol.writer_features),
        },
        "files": live_files(table),
    }


COMMIT = re.compile(r"^(\d{20})\.json$")
# Classic single-file, multi-part (`.checkpoint.0000000001.0000000003.parquet`)
# and v2 (`.checkpoint.<uuid>.parquet|json`) checkpoints all start this way.
# A multi-part checkpoint with a part missing is not detected here; delta-rs
# would then fail to load that version and the error reaches the caller.
CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint\.(?:.+\.)?(?:parquet|json)$")


def loadable_versions(table_dir: str) -> list[int]:
    """Versions whose state can be rebuilt from what is left in _delta_log.

    Log cleanup deletes old commit files, so version v is loadable only from
    a checkpoint at some c <= v followed by every commit c+1..v, or from every
    commit 0..v. Trying every version and swallowing load errors instead
    would also hide genuine delta-rs failures, which must not pass silently.
    """
    log_dir = os.path.join(table_dir, "_delta_log")
    commits: set[int] = set()
    checkpoints: set[int] = set()
    for name in os.listdir(log_dir):
        if match := COMMIT.match(name):
            commits.add(int(match.group(1)))
        elif match := CHECKPOINT.match(name):
            checkpoints.add(int(match.group(1)))
    if not commits and not checkpoints:
        raise SystemExit(f"{log_dir} holds no commits or checkpoints")
    latest = max(commits | checkpoints)
    versions: list[int] = []
    previous_loadable = False
    for version in range(latest + 1):
        loadable = version in checkpoints or (
            version in commits and (version == 0 or previous_loadable)
        )
        if loadable:
            versions.append(version)
        previous_loadable = loadable
    return versions


def all_versions(table_dir: str) -> list[dict[str, object]]:
    # A fresh DeltaTable per version rather than load_as_version() on one
    # object: each answer is then built the way a cold reader builds it.
    return [table_state(table_dir, version) for version in loadable_versions(table_dir)]


# --------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    state = commands.add_parser("state", help="the table at one version")
    state.add_argument("dir")
    state.add_argument("--version", type=int, default=None)
    every = commands.add_parser("all-versions", help="the table at every loadable version")
    every.add_argument("dir")
    sample = commands.add_parser("write-sample", help="write a multi-version sample table")
    sample.add_argument("dir")
    sample.add_argument("--seed", type=int, required=True)
    dv_files = commands.add_parser("write-dv-files", help="write the DV files the JSON commits name")
    dv_files.add_argument("dir")
    args = parser.parse_args(argv)

    if args.command == "state":
        result: object = table_state(args.dir, args.version)
    elif args.command == "all-versions":
        result = all_versions(args.dir)
    elif args.command == "write-dv-files":
        result = write_dv_files(args.dir)
    else:
        result = write_sample(args.dir, args.seed)
    # One JSON document on stdout and nothing else: the caller parses it
    # whole. NaN or Infinity would not be JSON: fail instead of printing them.
    json.dump(result, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
