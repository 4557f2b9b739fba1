"""Timings for bench/sharing.ts: the official Delta Sharing connector against
deltameta's reader, and delta-rs loading the same _delta_log.

    sharing_client.py connector --profile P --table SHARE.SCHEMA.TABLE --case query|version|metadata
        [--format parquet|delta] [--predicate COLUMN=VALUE] [--limit-hint N] [--repeat N] [--raw N]
    sharing_client.py deltars DIR [--repeat N] [--partition COLUMN=VALUE]

connector (run with the delta-sharing venv's python): one
`delta_sharing.rest_client.DataSharingRestClient(profile)` (keep-alive
session, no retries: a refused request fails the run instead of being
retried into a slower figure), then `--repeat` timed calls:
  query:    list_files_in_table(table[, jsonPredicateHints][, limitHint]), the call
            load_as_pandas makes before it reads data. parquet: the connector parses every
            line into protocol, metadata and AddFile objects; delta (its
            set_delta_format_header, as for tables with advanced features): it keeps the
            lines, and each is json.loads'ed here (what delta-kernel does next) inside the timing.
  version:  query_table_version(table)
  metadata: query_table_metadata(table)
The first call's time is `samples[0]`. `--raw N` adds N requests of the same
call through the same session that read the (inflated) body and parse nothing:
the server's and the transfer's share. Prints {"samples", "rawSamples", "files",
"version", "bytes", "cacheStatus", "serverTiming"} (the last two: the headers of
the last raw answer).

deltars (run with delta-rs's python): each baseline `--repeat` times, each run
a fresh DeltaTable (the log load inside the timing). Prints {"partition":
"COLUMN=VALUE", "version", "baselines": {name: {"call", "samples", "count"}}};
without --partition, the partition is the first add's value.

Interpreter start-up and imports are outside every timing (a user pays them
once per process), as in bench/deltars_baselines.py.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Callable


def timed(work: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return (time.perf_counter() - started) * 1000, result


def connector(args: argparse.Namespace) -> None:
    from delta_sharing.protocol import DeltaSharingProfile, Table
    from delta_sharing.rest_client import DataSharingRestClient

    client = DataSharingRestClient(DeltaSharingProfile.read_from_file(args.profile), num_retries=0)
    share, schema, name = args.table.split('.')
    table = Table(name=name, share=share, schema=schema)
    hints: dict[str, object] = {}
    if args.predicate:
        column, _, value = args.predicate.partition('=')
        hints['jsonPredicateHints'] = json.dumps({'op': 'equal', 'children': [
            {'op': 'column', 'name': column, 'valueType': 'string'},
            {'op': 'literal', 'value': value, 'valueType': 'string'},
        ]})
    if args.limit_hint is not None:
        hints['limitHint'] = args.limit_hint
    if args.format == 'delta':
        client.set_delta_format_header()

    def query() -> tuple[int, int]:
        response = client.list_files_in_table(table, **hints)
        if args.format == 'parquet':
            return len(response.add_files), response.delta_table_version
        lines = [json.loads(line) for line in response.lines if line]
        return sum(1 for line in lines if 'file' in line), response.delta_table_version

    def version() -> tuple[int, int]:
        return 0, client.query_table_version(table).delta_table_version

    def metadata() -> tuple[int, int]:
        response = client.query_table_metadata(table)
        return 0, response.delta_table_version

    work = {'query': query, 'version': version, 'metadata': metadata}[args.case]
    samples: list[float] = []
    files = table_version = 0
    for _ in range(args.repeat):
        ms, (files, table_version) = timed(work)  # type: ignore[misc]
        samples.append(ms)
    raw_samples: list[float] = []
    size = 0
    seen: dict[str, str] = {}
    base = client._profile.endpoint  # the profile's endpoint, as the client builds its URLs
    path = f'/shares/{share}/schemas/{schema}/tables/{name}'
    for _ in range(args.raw):
        def raw() -> int:
            client._auth_credential_provider.add_auth_header(client._session)
            if args.case == 'query':
                response = client._session.post(f'{base}{path}/query', json=hints)
            else:
                response = client._session.get(f'{base}{path}/{args.case}')
            response.raise_for_status()
            for header in ('cache-status', 'server-timing'):
                seen[header] = response.headers.get(header, '')
            return len(response.content)
        ms, size = timed(raw)  # type: ignore[assignment]
        raw_samples.append(ms)
    client.close()
    print(json.dumps({
        'samples': samples, 'rawSamples': raw_samples, 'files': files, 'version': table_version, 'bytes': size,
        'cacheStatus': seen.get('cache-status', ''), 'serverTiming': seen.get('server-timing', ''),
    }))


def deltars(args: argparse.Namespace) -> None:
    from deltalake import DeltaTable

    path: str = args.dir
    if args.partition:
        column, _, value = args.partition.partition('=')
    else:
        actions = DeltaTable(path).get_add_actions(flatten=True)
        column = next(name[len('partition.'):] for name in actions.column_names if name.startswith('partition.'))
        value = next(v for v in actions.column(f'partition.{column}').to_pylist() if v is not None)
    predicate = [(column, '=', value)]

    def metadata() -> int:
        table = DeltaTable(path)
        table.metadata()
        table.protocol()
        table.schema()
        return table.version()

    baselines: dict[str, tuple[str, Callable[[], int]]] = {
        'addActions': ('DeltaTable(path).get_add_actions(flatten=True)', lambda: DeltaTable(path).get_add_actions(flatten=True).num_rows),
        'fileUris': ('DeltaTable(path).file_uris()', lambda: len(DeltaTable(path).file_uris())),
        'prunedFileUris': (
            f'DeltaTable(path).file_uris(file_pruning_predicate=[({column!r}, "=", {value!r})])',
            lambda: len(DeltaTable(path).file_uris(file_pruning_predicate=predicate)),
        ),
        'version': ('DeltaTable(path).version()', lambda: DeltaTable(path).version()),
        'metadata': ('DeltaTable(path) + .metadata() + .protocol() + .schema()', metadata),
    }
    result: dict[str, dict[str, object]] = {}
    for name, (call, work) in baselines.items():
        samples: list[float] = []
        count = 0
        for _ in range(args.repeat):
            ms, count = timed(work)  # type: ignore[assignment]
            samples.append(ms)
        result[name] = {'call': call, 'samples': samples, 'count': count}
    print(json.dumps({'partition': f'{column}={value}', 'version': DeltaTable(path).version(), 'baselines': result}))


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest='command', required=True)
    one = commands.add_parser('connector')
    one.add_argument('--profile', required=True)
    one.add_argument('--table', required=True, help='share.schema.table')
    one.add_argument('--case', choices=['query', 'version', 'metadata'], required=True)
    one.add_argument('--format', choices=['parquet', 'delta'], default='parquet')
    one.add_argument('--predicate', help='COLUMN=VALUE: a jsonPredicateHints equality on a string column')
    one.add_argument('--limit-hint', type=int)
    one.add_argument('--repeat', type=int, default=1)
    one.add_argument('--raw', type=int, default=0)
    other = commands.add_parser('deltars')
    other.add_argument('dir')
    other.add_argument('--repeat', type=int, default=3)
    other.add_argument('--partition')
    args = parser.parse_args()
    connector(args) if args.command == 'connector' else deltars(args)


if __name__ == '__main__':
    main()
