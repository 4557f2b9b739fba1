"""Deletion-vector files for tables whose log names DVs that were never written.

The project's generator (`deltameta gen`, shared/delta/table-generator.ts)
writes DV descriptors into the log but no DV files, and delta-rs 1.6 cannot
write DVs itself (its DELETE rewrites files even with
delta.enableDeletionVectors). delta-rs reads a DV's file as soon as it is
asked for deletion vectors, so without the files it fails with
`Kernel error: File not found: <table>/deletion_vector_<uuid>.bin`. This
writes, for each `u` descriptor the JSON commits name, the file it points to
in the format of PROTOCOL.md ("Deletion Vector Format"), holding exactly
`cardinality` deleted rows starting at a row chosen per DV, so that what
delta-rs then reports (which rows are deleted) identifies the descriptor.
"""

from __future__ import annotations

import json
import os
import re
import struct
import uuid
import zlib
from typing import Any

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
COMMIT = re.compile(r"^\d{20}\.json$")
DV_MAGIC = 1681511377
DV_FORMAT_VERSION = 1
# Roaring's portable format: the cookie of a bitmap that has run containers.
ROARING_SERIAL_COOKIE = 12347
# A run container holds row indexes below 2^16 (one container, key 0).
MAX_ROWS = 1 << 16


def z85_decode(text: str) -> bytes:
    if len(text) % 5 != 0:
        raise SystemExit(f"write-dv-files: z85 text of {len(text)} characters: {text!r}")
    out = bytearray()
    for start in range(0, len(text), 5):
        value = 0
        for char in text[start : start + 5]:
            value = value * 85 + Z85.index(char)
        if value >= 1 << 32:
            # 85^5 > 2^32: five characters can spell more than four bytes.
            raise SystemExit(f"write-dv-files: {text!r} is no z85 encoding (group {text[start : start + 5]!r} exceeds 32 bits)")
        out += struct.pack(">I", value)
    return bytes(out)


def dv_file(table_dir: str, path_or_inline_dv: str) -> str:
    # `<random prefix><20 z85 characters of a UUID>`; the prefix is a folder.
    prefix, encoded = path_or_inline_dv[:-20], path_or_inline_dv[-20:]
    name = f"deletion_vector_{uuid.UUID(bytes=z85_decode(encoded))}.bin"
    return os.path.join(table_dir, prefix, name)


def bitmap(first_row: int, cardinality: int) -> bytes:
    """magic + a RoaringTreemap (one 32-bit bucket, key 0) holding first_row..first_row+cardinality-1 as one run."""
    last_row = first_row + cardinality - 1
    return b"".join(
        [
            struct.pack("<I", DV_MAGIC),
            struct.pack("<Q", 1),  # buckets
            struct.pack("<I", 0),  # bucket key (high 32 bits)
            struct.pack("<I", ROARING_SERIAL_COOKIE),  # | (containers - 1) << 16, with one container
            bytes([0b1]),  # container 0 is a run container
            struct.pack("<HH", 0, cardinality - 1),  # container key, cardinality - 1
            struct.pack("<HHH", 1, first_row, last_row - first_row),  # one run: start, length - 1
        ]
    )


def add_descriptors(table_dir: str) -> list[tuple[dict[str, Any], int | None]]:
    """Every distinct DV an add action of a JSON commit names, with the add's numRecords."""
    log_dir = os.path.join(table_dir, "_delta_log")
    found: dict[tuple[str, int | None], tuple[dict[str, Any], int | None]] = {}
    for name in sorted(os.listdir(log_dir)):
        if not COMMIT.match(name):
            continue
        with open(os.path.join(log_dir, name), encoding="utf-8") as commit:
            for line in commit:
                add = json.loads(line).get("add") if line.strip() else None
                descriptor = add.get("deletionVector") if add else None
                if not descriptor:
                    continue
                stats = json.loads(add["stats"]) if add.get("stats") else {}
                found[(descriptor["pathOrInlineDv"], descriptor.get("offset"))] = (descriptor, stats.get("numRecords"))
    return list(found.values())


def write_dv_files(table_dir: str) -> list[dict[str, object]]:
    # Only JSON commits are read: a DV first named by a checkpoint gets no
    # file, and delta-rs then fails loudly on it rather than passing.
    written: list[dict[str, object]] = []
    files_seen: set[str] = set()
    for ordinal, (descriptor, records) in enumerate(add_descriptors(table_dir)):
        if descriptor["storageType"] != "u":
            raise SystemExit(f"write-dv-files: only storageType 'u' is written, got {descriptor}")
        target = dv_file(table_dir, descriptor["pathOrInlineDv"])
        if target in files_seen:
            raise SystemExit(f"write-dv-files: two DVs share {target}; one DV per file is all this writes")
        files_seen.add(target)
        cardinality = int(descriptor["cardinality"])
        rows = min(records if records is not None else MAX_ROWS, MAX_ROWS)
        if not 0 < cardinality <= rows:
            raise SystemExit(f"write-dv-files: cardinality {cardinality} does not fit a file of {rows} rows: {descriptor}")
        # Rows differ from one DV to the next, so a file paired with another
        # file's DV (of the same cardinality) still reads differently.
        first_row = (ordinal * 37) % (rows - cardinality + 1)
        data = bitmap(first_row, cardinality)
        size = int(descriptor["sizeInBytes"])
        if len(data) > size:
            raise SystemExit(f"write-dv-files: the bitmap needs {len(data)} bytes, the descriptor says {size}: {descriptor}")
        # The generator's sizeInBytes is a made-up number larger than this
        # bitmap; delta-rs checks the size prefix against it, then
        # deserializes the bitmap from the front and ignores the zero padding.
        data += bytes(size - len(data))
        offset = descriptor.get("offset")
        offset = 1 if offset is None else int(offset)
        if offset < 1:
            raise SystemExit(f"write-dv-files: offset {offset} overlaps the format version byte: {descriptor}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as out:
            out.write(bytes([DV_FORMAT_VERSION]) + bytes(offset - 1))
            out.write(struct.pack(">I", len(data)) + data + struct.pack(">I", zlib.crc32(data)))
        written.append({"descriptor": descriptor, "firstDeletedRow": first_row})
    return written
