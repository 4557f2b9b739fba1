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

The kinds are written by deltars_parity_tables.py (the racing writers by
deltars_parity_concurrent.py). What delta-rs 1.6.6 can and cannot write
(checked by those writers, which
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
import sys
from datetime import datetime, timezone
from typing import Any

from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from deltars_parity_tables import BASE_MS, KINDS, TIED_TIMES, fixed_clock, set_commit_times


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
