"""Spark-written Delta tables kept as test fixtures (test/fixtures/spark/).

Spark is the reference the Delta protocol follows, and the one writer here
that puts deletion vectors on files and renames columns under column
mapping (delta-rs 1.6 does neither). It is not run by `npm test` (a JVM
Spark is minutes of download and start-up): this script wrote the fixtures
once, and the expected rows beside them are what Spark read back then.

Run it again only to change a fixture, in a venv of its own with pyspark and
Java 17 (delta-spark comes from Maven Central through spark.jars.packages):

    python3 -m venv /tmp/spark-venv
    /tmp/spark-venv/bin/pip install pyspark==3.5.3 pandas pyarrow
    /tmp/spark-venv/bin/python test/reference/spark_tables.py test/fixtures/spark

Writes <out>/dv-column-mapping/ (partitioned by `day`, column mapping
`name`, deletion vectors, a checkpoint at version 5) and
<out>/dv-column-mapping.expected.json: {"versions": {v: {"count", "rows"}}},
each version's rows as Spark reads them (`versionAsOf`), in sharing_rows'
comparable form, and "history": what each version did.

Writes <out>/features/ (deletion vectors, row tracking, in-commit
timestamps, v2 checkpoints every 3 versions; DELETE, UPDATE, MERGE,
OPTIMIZE) and <out>/features.expected.json: "snapshots" {v: {"protocol",
"metaData", "adds"}} as Spark's DeltaLog holds each version (allFiles, by
path), and "travel" [[ms, version or null]]: the version Spark resolves
for a timestamp (null: refused), at and around every commit's in-commit
timestamp.
"""

from __future__ import annotations

import calendar
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

from pyspark.sql import SparkSession  # noqa: E402

from sharing_rows import comparable_rows  # noqa: E402

DELTA_SPARK = "io.delta:delta-spark_2.12:3.3.2"


def session() -> SparkSession:
    return (
        SparkSession.builder.master("local[1]")
        .config("spark.jars.packages", DELTA_SPARK)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def write_dv_column_mapping(spark: SparkSession, path: str) -> list[str]:
    table = f"delta.`{path}`"
    steps = [
        # 0: the table, column mapping by name, deletion vectors on, a checkpoint every 5 versions
        f"""CREATE TABLE {table} (id BIGINT, name STRING, score DOUBLE, day STRING) USING delta PARTITIONED BY (day)
            TBLPROPERTIES ('delta.enableDeletionVectors' = 'true', 'delta.columnMapping.mode' = 'name',
                           'delta.checkpointInterval' = '5')""",
        # 1: 200 rows in two partitions, two files each
        f"""INSERT INTO {table} SELECT /*+ REPARTITION(2) */ id, concat('n', id), id * 1.5,
            CASE WHEN id % 2 = 0 THEN '2026-01-01' ELSE '2026-01-02' END FROM range(0, 200)""",
        # 2: deletion vectors on every file
        f"DELETE FROM {table} WHERE id % 10 = 3",
        # 3: an update: more rows deleted by vector, the new values in new files
        f"UPDATE {table} SET name = upper(name) WHERE id < 40",
        # 4: rename under column mapping: the files keep the physical name
        f"ALTER TABLE {table} RENAME COLUMN name TO label",
        # 5: more rows (the checkpoint version)
        f"INSERT INTO {table} SELECT id, concat('m', id), id * 0.5, '2026-01-03' FROM range(200, 260)",
        # 6: a second vector on files that have one (remove with the old vector, add with the new)
        f"DELETE FROM {table} WHERE id % 7 = 0",
    ]
    for statement in steps:
        spark.sql(statement)
    return [" ".join(statement.split()) for statement in steps]


def write_features(spark: SparkSession, path: str) -> list[str]:
    table = f"delta.`{path}`"
    steps = [
        # 0: deletion vectors, row tracking, in-commit timestamps, v2 checkpoints every 3 versions
        f"""CREATE TABLE {table} (id BIGINT, v STRING, day DATE) USING delta PARTITIONED BY (day)
            TBLPROPERTIES ('delta.enableDeletionVectors' = 'true', 'delta.enableRowTracking' = 'true',
                           'delta.enableInCommitTimestamps' = 'true', 'delta.checkpointPolicy' = 'v2',
                           'delta.checkpointInterval' = '3')""",
        f"""INSERT INTO {table} SELECT /*+ REPARTITION(2) */ id, concat('a', id),
            date_add(DATE'2026-01-01', CAST(id % 2 AS INT)) FROM range(0, 40)""",
        f"INSERT INTO {table} SELECT id, concat('b', id), DATE'2026-01-02' FROM range(40, 60)",
        f"DELETE FROM {table} WHERE id % 5 = 1",
        f"UPDATE {table} SET v = upper(v) WHERE id < 10",
        f"""MERGE INTO {table} t USING (SELECT id, concat('m', id) AS v, DATE'2026-01-03' AS day FROM range(55, 70)) s
            ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT *""",
        f"OPTIMIZE {table}",
        f"DELETE FROM {table} WHERE day = DATE'2026-01-01'",
    ]
    for statement in steps:
        spark.sql(statement)
    return [" ".join(statement.split()) for statement in steps]


def snapshots(spark: SparkSession, path: str, versions: int) -> dict[str, object]:
    """Each version as Spark's DeltaLog sees it: protocol, metaData, and the live add actions (allFiles), by path."""
    jvm = spark._jvm
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    none = jvm.scala.Option.empty()
    out: dict[str, object] = {}
    for version in range(versions):
        snapshot = log.getSnapshotAt(jvm.java.lang.Long.valueOf(version), none, none)
        adds = sorted((json.loads(line) for line in snapshot.allFiles().toJSON().collectAsList()), key=lambda add: (add["path"], json.dumps(add.get("deletionVector"), sort_keys=True)))
        out[str(version)] = {
            "protocol": json.loads(snapshot.protocol().json())["protocol"],
            "metaData": json.loads(snapshot.metadata().json())["metaData"],
            "adds": adds,
        }
    return out


def travel(spark: SparkSession, path: str) -> list[list[object]]:
    """Spark's answer (DeltaHistoryManager.getActiveCommitAtTime, as `TIMESTAMP AS OF` resolves) at each version's
    timestamp, a millisecond before, halfway to the next, a millisecond after the last: [ms, version or None]."""
    jvm = spark._jvm
    history = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path).history()
    commits = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").select("version", "timestamp").collect()
    times = sorted((row["version"], calendar.timegm(row["timestamp"].timetuple()) * 1000 + row["timestamp"].microsecond // 1000) for row in commits)
    probes: set[int] = set()
    for index, (_version, ms) in enumerate(times):
        probes.update((ms, ms - 1))
        if index + 1 < len(times):
            probes.add((ms + times[index + 1][1]) // 2)
    probes.add(times[-1][1] + 1)
    answers: list[list[object]] = []
    for probe in sorted(probes):
        try:
            answers.append([probe, history.getActiveCommitAtTime(jvm.java.sql.Timestamp(probe), False, True, False).version()])
        except Exception:  # noqa: BLE001 - Spark refuses a time outside the history: that is the answer
            answers.append([probe, None])
    return answers


def without_hadoop_checksums(path: str) -> None:
    """Hadoop's local file system writes `.<file>.crc` beside every data file: not part of the table."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            if name.startswith(".") and name.endswith(".crc"):
                os.remove(os.path.join(root, name))


def main() -> None:
    out = os.path.abspath(sys.argv[1])
    table = os.path.join(out, "dv-column-mapping")
    shutil.rmtree(table, ignore_errors=True)
    os.makedirs(out, exist_ok=True)
    features = os.path.join(out, "features")
    shutil.rmtree(features, ignore_errors=True)
    spark = session()
    history = write_dv_column_mapping(spark, table)
    versions = {}
    for version in range(1, len(history)):
        rows = [row.asDict() for row in spark.read.format("delta").option("versionAsOf", version).load(table).collect()]
        versions[str(version)] = {"count": len(rows), "rows": comparable_rows(rows)}
    feature_history = write_features(spark, features)
    expected_features = {"history": feature_history, "snapshots": snapshots(spark, features, len(feature_history)), "travel": travel(spark, features)}
    spark.stop()
    without_hadoop_checksums(table)
    without_hadoop_checksums(features)
    writer = f"pyspark 3.5.3, {DELTA_SPARK}"
    with open(os.path.join(out, "dv-column-mapping.expected.json"), "w") as file:
        json.dump({"writer": writer, "history": history, "versions": versions}, file, sort_keys=True)
        file.write("\n")
    with open(os.path.join(out, "features.expected.json"), "w") as file:
        json.dump({"writer": writer, **expected_features}, file, sort_keys=True)
        file.write("\n")


if __name__ == "__main__":
    main()
