"""The official Delta Sharing connector's side of test/integration/sharing-*.test.ts.

Run with the python of <checkout>/.venv/delta-sharing (test/support/delta-sharing.ts);
`url` is the connector's `<profile>#<share>.<schema>.<table>`. Prints one JSON
document: {"count", "rows"} (rows in sharing_rows' comparable form, omitted with
--count-only), {"version"}, or {"error": <HTTP status>, "message"} when the
server refused (the connector's HTTPError).

    load <url> [--version V] [--timestamp T] [--limit N] [--predicate JSON] [--delta] [--batches] [--count-only]
    changes <url> --start S --end E [--delta]
    version <url> [--starting-timestamp T]
    metadata <url>     get_table_metadata: {"metadata": {id, schemaString, partitionColumns, configuration}}
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys

import delta_sharing
from delta_sharing.rest_client import DataSharingRestClient
from requests.exceptions import HTTPError

from sharing_rows import comparable_rows, emit


# The connector retries a 5xx ten times with a doubling pause (minutes in all):
# twice is enough to show a server error to the test without hanging it.
_connector_init = DataSharingRestClient.__init__


def _init_with_fewer_retries(self, profile, num_retries=10):
    _connector_init(self, profile, num_retries=min(num_retries, 2))


DataSharingRestClient.__init__ = _init_with_fewer_retries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("url")
    parser.add_argument("--version", type=int)
    parser.add_argument("--timestamp")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--predicate")
    parser.add_argument("--delta", action="store_true")
    parser.add_argument("--batches", action="store_true", help="convert_in_batches=True: ParquetFile per file, not a dataset (3x faster on many small files)")
    parser.add_argument("--count-only", action="store_true")
    parser.add_argument("--start", type=int)
    parser.add_argument("--end", type=int)
    parser.add_argument("--starting-timestamp")
    args = parser.parse_args()
    # The kernel paths and convert_in_batches print progress on stdout: keep stdout for the one JSON document.
    noise = io.StringIO()
    try:
        with contextlib.redirect_stdout(noise):
            if args.command == "load":
                frame = delta_sharing.load_as_pandas(
                    args.url,
                    limit=args.limit,
                    version=args.version,
                    timestamp=args.timestamp,
                    jsonPredicateHints=args.predicate,
                    use_delta_format=True if args.delta else None,
                    convert_in_batches=args.batches,
                )
            elif args.command == "changes":
                frame = delta_sharing.load_table_changes_as_pandas(
                    args.url, starting_version=args.start, ending_version=args.end, use_delta_format=True if args.delta else None
                )
            elif args.command == "metadata":
                frame = None
                found = delta_sharing.get_table_metadata(args.url)
                version = None
            elif args.command == "version":
                frame = None
                version = delta_sharing.get_table_version(args.url, starting_timestamp=args.starting_timestamp)
            else:
                raise SystemExit(f"unknown command {args.command}")
    except HTTPError as error:
        emit({"error": error.response.status_code if error.response is not None else None, "message": str(error)})
        return
    if args.command == "metadata":
        fields = {"id": found.id, "schemaString": found.schema_string, "partitionColumns": list(found.partition_columns), "configuration": dict(found.configuration)}
        emit({"metadata": fields})
        return
    if frame is None:
        emit({"version": version})
        return
    records = frame.to_dict(orient="records")
    document = {"count": len(records), "columns": list(frame.columns)}
    if not args.count_only:
        document["rows"] = comparable_rows(records, drop=["_commit_timestamp"])
    emit(document)


if __name__ == "__main__":
    main()
    # Skip the interpreter's teardown (native threads of Arrow and the kernel can abort it after the answer).
    sys.stdout.flush()
    os._exit(0)
