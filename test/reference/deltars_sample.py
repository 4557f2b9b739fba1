"""The multi-version sample table that delta-rs writes for the reference tests.

deltars.py's `write-sample` command runs write_sample; split out so the
reader (deltars.py) stays about what delta-rs reports.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

# Data values come only from the seed; the wall clock appears nowhere in the
# data (commitInfo timestamps and file UUIDs still vary, which is expected).
BASE_TIME = datetime(2024, 3, 1, tzinfo=timezone.utc)
DELETE_BELOW = 15.0
SCHEMA = pa.schema(
    [
        ("date", pa.string()),
        ("id", pa.int64()),
        ("amount", pa.float64()),
        ("label", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("is_valid", pa.bool_()),
    ]
)
WITH_NOTE = SCHEMA.append(pa.field("note", pa.string()))
LABELS = ["alpha", "beta", "gamma", "delta", "epsilon"]


class SampleData:
    """Seeded row batches with ids that never repeat across commits."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.next_id = 1

    def batch(self, rows_per_date: dict[str, int], with_note: bool = False) -> pa.Table:
        columns: dict[str, list[object]] = {name: [] for name in (WITH_NOTE if with_note else SCHEMA).names}
        for date, count in rows_per_date.items():
            day = datetime.fromisoformat(date).replace(tzinfo=timezone.utc)
            for row in range(count):
                columns["date"].append(date)
                columns["id"].append(self.next_id)
                self.next_id += 1
                # Every partition's batch gets one amount below DELETE_BELOW
                # and the rest above it, so the data-predicate delete later
                # has to rewrite files (remove + add of the survivors)
                # whatever the seed, rather than drop or keep them whole.
                low = row == 0
                amount = self.rng.uniform(0, DELETE_BELOW) if low else self.rng.uniform(DELETE_BELOW, 1000)
                columns["amount"].append(round(amount, 2))
                columns["label"].append(self.rng.choice(LABELS))
                columns["event_time"].append(day + timedelta(seconds=self.rng.randrange(86_400)))
                # The first two rows differ so a delete on is_valid also keeps survivors.
                columns["is_valid"].append(row != 1 and self.rng.random() < 0.8)
                if with_note:
                    columns["note"].append(f"note-{self.rng.randrange(10_000)}")
        return pa.table(columns, schema=WITH_NOTE if with_note else SCHEMA)


def expect(condition: bool, what: str) -> None:
    # The sample promises its callers removes, rewrites and a compaction;
    # if a delta-rs upgrade quietly turned an operation into a no-op, the
    # sample would stop testing what it claims to, so fail loudly instead.
    if not condition:
        raise SystemExit(f"write-sample: {what}")


def write_sample(table_dir: str, seed: int) -> dict[str, object]:
    data = SampleData(seed)
    d1, d2, d3, d4, d5 = (f"2024-03-0{day}" for day in range(1, 6))

    # v0: create, partitioned by a string date.
    write_deltalake(
        table_dir,
        data.batch({d1: 6, d2: 5, d3: 4}),
        partition_by=["date"],
        mode="error",
        name="deltameta_sample",
        description=f"delta-rs reference sample, seed {seed}",
    )
    table = DeltaTable(table_dir)

    def append(rows_per_date: dict[str, int], with_note: bool = False) -> None:
        write_deltalake(table, data.batch(rows_per_date, with_note), mode="append")

    # v1-v4: small appends spread over partitions, so partitions pile up
    # several small files each for the compaction to merge.
    append({d1: 4, d2: 3})
    append({d2: 5, d3: 3, d4: 4})
    append({d1: 3, d3: 5})
    append({d2: 4, d4: 3})

    # v5: replace one partition by predicate: removes all its files, adds one.
    write_deltalake(table, data.batch({d2: 7}), mode="overwrite", predicate=f"date = '{d2}'")
    table.update_incremental()
    table.create_checkpoint()  # in the middle: at v5

    # v6: more appends after the checkpoint.
    append({d1: 5, d3: 4, d4: 3})

    # v7: a data-predicate delete, which rewrites the files it touches (all
    # of one partition's, merged into one) and leaves the others alone.
    metrics = table.delete(f"date = '{d1}' AND amount < {DELETE_BELOW}")
    expect(metrics["num_removed_files"] > 0 and metrics["num_added_files"] > 0, f"delete did not rewrite files: {metrics}")

    # v8
    append({d1: 3, d4: 4})

    # v9: compaction: many small files out, fewer larger ones in.
    metrics = table.optimize.compact()
    expect(metrics["numFilesRemoved"] > metrics["numFilesAdded"] > 0, f"compaction merged nothing: {metrics}")

    # v10: schema evolution: a new column merged in, so a metaData action.
    write_deltalake(table, data.batch({d3: 4, d5: 5}, with_note=True), mode="append", schema_mode="merge")
    table.update_incremental()
    expect("note" in [field.name for field in table.schema().fields], "schema merge added no column")

    # v11, v12
    append({d1: 4, d5: 3}, with_note=True)
    write_deltalake(table, data.batch({d4: 6}, with_note=True), mode="overwrite", predicate=f"date = '{d4}'")
    table.update_incremental()
    # The second checkpoint deliberately sits two commits before the end, as
    # on any real table between checkpoints: a reader has to combine it with
    # a JSON tail holding both adds and removes.
    table.create_checkpoint()  # at v12

    # v13, v14: the tail after the last checkpoint.
    append({d2: 4, d5: 2}, with_note=True)
    metrics = table.delete(f"is_valid = false AND date = '{d5}'")
    expect(metrics["num_removed_files"] > 0, f"tail delete removed nothing: {metrics}")

    table.update_incremental()
    return {"versions": table.version() + 1}
