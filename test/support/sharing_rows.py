"""Rows in one comparable JSON form, for the Delta Sharing tests.

Imported by both sides of test/integration/sharing-*.test.ts: delta-rs's
(sharing_tables.py, in <checkout>/.venv, Arrow values from to_pylist) and
the official connector's (sharing_connector.py, in .venv/delta-sharing,
pandas values). Pure Python, no third-party import, so each venv loads it
as is. A value becomes: int, float (NaN as None), str, bool or None; a date
`YYYY-MM-DD`; a timestamp microseconds since the epoch (naive read as UTC);
Decimal its string; bytes hex. Rows are dicts sorted by their JSON text, so
two sides compare as multisets.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterable

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def plain(value: Any) -> Any:
    # numpy / pandas scalars (int64, float64, Timestamp, NaT) expose item() or to_pydatetime()
    if value is None:
        return None
    if hasattr(value, "to_pydatetime") and not isinstance(value, datetime):
        try:
            value = value.to_pydatetime()
        except ValueError:
            return None
    if type(value).__name__ == "NaTType":
        return None
    if hasattr(value, "item") and not isinstance(value, (bool, int, float, str, bytes)):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, (int, str)):
        return value
    # datetime is a date subclass: test it first.
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return (aware - EPOCH) // timedelta(microseconds=1)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    raise SystemExit(f"no comparable form for a {type(value).__name__}: {value!r}")


def comparable_rows(rows: Iterable[dict[str, Any]], drop: Iterable[str] = ()) -> list[dict[str, Any]]:
    dropped = set(drop)
    out = [{name: plain(value) for name, value in row.items() if name not in dropped} for row in rows]
    return sorted(out, key=lambda row: json.dumps(row, sort_keys=True))


def emit(document: Any) -> None:
    print(json.dumps(document, sort_keys=True, allow_nan=False))
