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

Writes <out>/dv-column-mapping/ (the table: partitioned by `day`, column
mapping `name`, deletion vectors, a checkpoint at version 5) and
<out>/dv-column-mapping.expected.json: {"versions": {v: {"count", "rows"}}},
each version's rows as Spark reads them (`versionAsOf`), in sharing_rows'
comparable form, and "history": what each version did.
"""

from __future__ import annotations

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
    spark = session()
    history = write_dv_column_mapping(spark, table)
    versions = {}
    for version in range(1, len(history)):
        rows = [row.asDict() for row in spark.read.format("delta").option("versionAsOf", version).load(table).collect()]
        versions[str(version)] = {"count": len(rows), "rows": comparable_rows(rows)}
    spark.stop()
    without_hadoop_checksums(table)
    with open(os.path.join(out, "dv-column-mapping.expected.json"), "w") as file:
        json.dump({"writer": f"pyspark 3.5.3, {DELTA_SPARK}", "history": history, "versions": versions}, file, indent=1, sort_keys=True)
        file.write("\n")


if __name__ == "__main__":
    main()
