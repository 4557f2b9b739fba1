"""delta-rs baselines for bench/reader.ts: per reader endpoint, the call a user would make.

    deltars_baselines.py <dir> --version V --partition COLUMN=VALUE [--repeat N]

Prints one JSON object: for each baseline, its call (as a user would write it)
and the median milliseconds over N runs. Every run builds a new DeltaTable, so
the log load is inside the timing, as a user pays it on each fresh read; only
`import deltalake` is outside (a user pays it once per process). Everything
runs in this one process, so the interpreter's start-up is not counted either.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Callable

from deltalake import DeltaTable


def median_ms(work: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('dir')
    parser.add_argument('--version', type=int, required=True, help='the version the time-travel baseline loads')
    parser.add_argument('--partition', required=True, help='COLUMN=VALUE: the partition the pruned baseline keeps')
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    path: str = args.dir
    column, _, value = args.partition.partition('=')
    filters = [(column, '=', value)]

    def summary() -> object:
        table = DeltaTable(path)
        return (table.schema(), table.version())

    baselines: dict[str, tuple[str, Callable[[], object]]] = {
        'summary': ('DeltaTable(path) + .schema() + .version()', summary),
        'addActions': ('DeltaTable(path).get_add_actions(flatten=True)', lambda: DeltaTable(path).get_add_actions(flatten=True)),
        'fileUris': ('DeltaTable(path).file_uris()', lambda: DeltaTable(path).file_uris()),
        'prunedFileUris': (
            f'DeltaTable(path).file_uris(partition_filters=[({column!r}, "=", {value!r})])',
            lambda: DeltaTable(path).file_uris(partition_filters=filters),
        ),
        'timeTravel': (
            f'DeltaTable(path, version={args.version}).get_add_actions(flatten=True)',
            lambda: DeltaTable(path, version=args.version).get_add_actions(flatten=True),
        ),
        'history': ('DeltaTable(path).history(100)', lambda: DeltaTable(path).history(100)),
    }
    result = {name: {'call': call, 'ms': median_ms(work, args.repeat)} for name, (call, work) in baselines.items()}
    print(json.dumps(result))


if __name__ == '__main__':
    main()
