"""Client-visible reader latency for bench/reader.ts: what a Python user waits for.

    reader_client.py --port P --route R --format json|ndjson|arrow [--repeat N] [--warmup W]

Times, per request, the whole way to something usable, as a user of delta-rs
gets a pyarrow table from get_add_actions: the HTTP GET on one keep-alive
connection, gzip inflated where the reader sent it, then
  json:   json.loads of the body (summary), of each line (history)
  ndjson: the add lines parsed into a pyarrow table (pyarrow.json.read_json)
  arrow:  the IPC stream read into a pyarrow table (pyarrow.ipc.open_stream)
Prints one JSON object: {"samples": [ms, ...], "rows": n, "bytes": wire bytes}.
The interpreter's start-up and imports are outside the timing (a user pays
them once per process), as in bench/deltars_baselines.py.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import time
import zlib

import pyarrow.ipc
import pyarrow.json

ACCEPT = {'json': 'application/json', 'ndjson': 'application/x-ndjson', 'arrow': 'application/vnd.apache.arrow.stream'}


def fetch(connection: http.client.HTTPConnection, route: str, fmt: str) -> tuple[int, int]:
    """One request; returns (rows, wire bytes)."""
    connection.request('GET', route, headers={'Accept': ACCEPT[fmt], 'Accept-Encoding': 'gzip'})
    response = connection.getresponse()
    wire = response.read()
    if response.status != 200:
        raise SystemExit(f'{route}: HTTP {response.status}: {wire[:200]!r}')
    body = zlib.decompress(wire, 16 + zlib.MAX_WBITS) if response.getheader('Content-Encoding') == 'gzip' else wire
    if fmt == 'json':
        # /commits answers JSON lines: each parsed, as a user of history() gets a list of dicts.
        if (response.getheader('Content-Type') or '').startswith('application/x-ndjson'):
            return len([json.loads(line) for line in body.splitlines() if line]), len(wire)
        json.loads(body)
        return 1, len(wire)
    if fmt == 'ndjson':
        if not body:
            return 0, len(wire)
        return pyarrow.json.read_json(io.BytesIO(body)).num_rows, len(wire)
    return pyarrow.ipc.open_stream(body).read_all().num_rows, len(wire)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--route', required=True)
    parser.add_argument('--format', choices=sorted(ACCEPT), required=True)
    parser.add_argument('--repeat', type=int, default=1)
    parser.add_argument('--warmup', type=int, default=0)
    args = parser.parse_args()
    connection = http.client.HTTPConnection('127.0.0.1', args.port, timeout=600)
    rows = wire = 0
    for _ in range(args.warmup):
        fetch(connection, args.route, args.format)
    samples = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        rows, wire = fetch(connection, args.route, args.format)
        samples.append((time.perf_counter() - started) * 1000)
    connection.close()
    print(json.dumps({'samples': samples, 'rows': rows, 'bytes': wire}))


if __name__ == '__main__':
    main()
