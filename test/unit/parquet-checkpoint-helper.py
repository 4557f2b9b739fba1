"""Independent Parquet/Delta implementations for test/unit/parquet-checkpoint.test.ts.

pyarrow and delta-rs (Python `deltalake`) check that the checkpoints we write
are readable by other engines, and produce files from other writers for our
reader. Every command prints one JSON document on stdout.

    probe                        exit 0 if pyarrow and deltalake import
    inspect FILE                 row count and Arrow types pyarrow reads
    table-files TABLE            version and live files as delta-rs replays them
    deltars-table TABLE          a partitioned table written and checkpointed by delta-rs
    nested FILE PAGE_VERSION CODEC DICTIONARY
                                 random nested columns; prints each row as our reader must see it
    stats-parsed FILE            adds with stats only as a struct (writeStatsAsStruct)
"""
import datetime
import json
import os
import random
import sys


def probe():
    import deltalake  # noqa: F401
    import pyarrow  # noqa: F401
    return {"ok": True}


def inspect(file):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(file)
    add_type = table.schema.field("add").type
    partition_values = add_type.field("partitionValues").type
    adds = [row for row in table.column("add").to_pylist() if row is not None]
    return {
        "rows": table.num_rows,
        "columns": table.schema.names,
        "partitionValuesType": str(partition_values),
        "partitionValuesIsMap": pa.types.is_map(partition_values),
        "adds": len(adds),
        # map entries as pyarrow decodes them: a list of [key, value] pairs
        "firstAddPartitionValues": [list(entry) for entry in adds[0]["partitionValues"]] if adds else None,
        "rowGroups": pq.ParquetFile(file).metadata.num_row_groups,
    }


def table_files(table):
    import deltalake

    dt = deltalake.DeltaTable(table)
    # deltalake < 1.0 has files(); 1.x only file_uris() (absolute)
    if hasattr(dt, "files"):
        files = list(dt.files())
    else:
        root = os.path.abspath(table).rstrip("/") + "/"
        files = [uri[len(root):] if uri.startswith(root) else uri for uri in dt.file_uris()]
    return {"version": dt.version(), "files": sorted(files)}


def deltars_table(table):
    import deltalake
    import pyarrow as pa

    data = pa.table({
        "id": pa.array([1, 2, 3], pa.int64()),
        "p": pa.array(["x", None, "y"]),
        "d": pa.array([1, 2, 3], pa.date32()),
    })
    deltalake.write_deltalake(table, data, partition_by=["p"])
    deltalake.write_deltalake(table, data, partition_by=["p"], mode="append")
    dt = deltalake.DeltaTable(table)
    dt.create_checkpoint()
    return {"version": dt.version()}


def normalize(value, arrow_type):
    """What readParquetActions must yield for a decoded value: null struct fields
    omitted, map entries as an object keeping null values, lists as arrays."""
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_struct(arrow_type):
        out = {}
        for field in arrow_type:
            item = normalize(value[field.name], field.type)
            if item is not None:
                out[field.name] = item
        return out
    if pa.types.is_map(arrow_type):
        return {str(key): normalize(item, arrow_type.item_type) for key, item in value}
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return [normalize(item, arrow_type.value_type) for item in value]
    return value


def nested(file, page_version, codec, dictionary):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(20240601)
    string_map = pa.map_(pa.string(), pa.string())
    weird_type = pa.struct([
        ("a", pa.list_(pa.struct([("x", pa.int64()), ("y", pa.map_(pa.string(), pa.list_(pa.string())))]))),
        ("b", pa.map_(pa.string(), pa.struct([("p", pa.int32()), ("q", pa.string())]))),
        ("c", pa.list_(pa.list_(pa.int64()))),
        ("d", pa.string()),
        ("e", pa.bool_()),
        ("f", pa.float64()),
        ("g", pa.list_(pa.string())),
        ("h", pa.struct([("deep", pa.struct([("deeper", pa.list_(pa.int32()))]))])),
    ])
    schema = pa.schema([
        ("checkpointMetadata", pa.struct([("version", pa.int64()), ("tags", string_map)])),
        ("sidecar", pa.struct([("path", pa.string()), ("sizeInBytes", pa.int64()),
                               ("modificationTime", pa.int64()), ("tags", string_map)])),
        ("weird", weird_type),
        ("other", pa.list_(pa.string())),
        ("plain", pa.int64()),
    ])

    def maybe(p, make):
        return make() if rng.random() < p else None

    def text():
        return rng.choice(["", "a", "ünïcødé", "x" * rng.randint(1, 40), "10", "2", "with space"])

    def strings():
        return [maybe(0.8, text) for _ in range(rng.randint(0, 4))]

    def smap():
        return [(f"k{i}", maybe(0.7, text)) for i in range(rng.randint(0, 3))]

    def weird():
        return {
            "a": maybe(0.7, lambda: [maybe(0.8, lambda: {
                "x": maybe(0.7, lambda: rng.randint(-2**62, 2**62)),
                "y": maybe(0.7, lambda: [(f"m{i}", maybe(0.7, strings)) for i in range(rng.randint(0, 3))]),
            }) for _ in range(rng.randint(0, 3))]),
            "b": maybe(0.7, lambda: [(f"s{i}", maybe(0.7, lambda: {"p": maybe(0.7, lambda: rng.randint(-2**31, 2**31 - 1)), "q": maybe(0.7, text)}))
                                     for i in range(rng.randint(0, 3))]),
            "c": maybe(0.7, lambda: [maybe(0.8, lambda: [maybe(0.8, lambda: rng.randint(0, 10**6)) for _ in range(rng.randint(0, 3))])
                                     for _ in range(rng.randint(0, 3))]),
            "d": maybe(0.7, text),
            "e": maybe(0.7, lambda: rng.random() < 0.5),
            "f": maybe(0.7, lambda: rng.choice([0.1, -2.5, 1e300, 3.0, rng.random()])),
            "g": maybe(0.7, strings),
            "h": maybe(0.7, lambda: {"deep": maybe(0.7, lambda: {"deeper": maybe(0.7, lambda: [rng.randint(0, 9) for _ in range(rng.randint(0, 3))])})}),
        }

    rows = []
    for i in range(3000):
        rows.append({
            "checkpointMetadata": maybe(0.2, lambda: {"version": rng.randint(0, 10**12), "tags": maybe(0.5, smap)}),
            "sidecar": maybe(0.3, lambda: {"path": f"{i}.parquet", "sizeInBytes": rng.randint(0, 2**40),
                                           "modificationTime": 1700000000000 + i, "tags": maybe(0.5, smap)}),
            "weird": maybe(0.6, weird),
            "other": maybe(0.3, strings),
            "plain": maybe(0.5, lambda: i),
        })
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, file, row_group_size=700, data_page_size=512, data_page_version=page_version,
                   compression=codec, use_dictionary=dictionary == "true")

    # Independent of the generator above: decode the file back with pyarrow.
    expected = []
    for row in pq.read_table(file).to_pylist():
        actions = []
        for field in schema:
            # a primitive top-level column is not an action column
            if field.name == "plain" or row[field.name] is None:
                continue
            actions.append([field.name, normalize(row[field.name], field.type)])
        expected.append(actions)
    return {"rows": expected, "rowGroups": pq.ParquetFile(file).metadata.num_row_groups}


def stats_parsed(file):
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = pa.struct([("id", pa.int64()), ("d", pa.date32()), ("ts", pa.timestamp("us", tz="UTC"))])
    add_type = pa.struct([
        ("path", pa.string()),
        ("partitionValues", pa.map_(pa.string(), pa.string())),
        ("size", pa.int64()),
        ("modificationTime", pa.int64()),
        ("dataChange", pa.bool_()),
        ("stats", pa.string()),
        ("tags", pa.map_(pa.string(), pa.string())),
        ("partitionValues_parsed", pa.struct([("p", pa.string())])),
        ("stats_parsed", pa.struct([
            ("numRecords", pa.int64()),
            ("minValues", values),
            ("maxValues", values),
            ("nullCount", pa.struct([("id", pa.int64()), ("d", pa.int64()), ("ts", pa.int64())])),
        ])),
    ])
    ts = datetime.datetime(2024, 1, 2, 3, 4, 5, 6789, tzinfo=datetime.timezone.utc)
    parsed = {
        "numRecords": 3,
        "minValues": {"id": 1, "d": datetime.date(2024, 1, 2), "ts": ts},
        "maxValues": {"id": 9, "d": datetime.date(2024, 2, 3), "ts": None},
        "nullCount": {"id": 0, "d": 0, "ts": 1},
    }
    rows = [
        {"add": {"path": "p=x/a.parquet", "partitionValues": [("p", "x")], "size": 10, "modificationTime": 5,
                 "dataChange": False, "stats": None, "tags": None, "partitionValues_parsed": {"p": "x"},
                 "stats_parsed": parsed}},
        {"add": {"path": "p=x/b.parquet", "partitionValues": [("p", "x")], "size": 11, "modificationTime": 6,
                 "dataChange": False, "stats": '{"numRecords":7}', "tags": None,
                 "partitionValues_parsed": {"p": "x"}, "stats_parsed": parsed}},
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([("add", add_type)])), file)
    return {"rows": len(rows)}


COMMANDS = {
    "probe": probe,
    "inspect": inspect,
    "table-files": table_files,
    "deltars-table": deltars_table,
    "nested": nested,
    "stats-parsed": stats_parsed,
}

if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])))
