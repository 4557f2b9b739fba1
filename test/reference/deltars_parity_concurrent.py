"""Racing writers for deltars_parity.py's `concurrent` kind: separate Python
processes committing through delta-rs's own conflict checker."""

from __future__ import annotations

import multiprocessing
from typing import Any

from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError

from deltars_parity_tables import actions_of, expect, read_commit, rows


# A partner that died leaves the other waiting at the barrier: waits are bounded
# (BrokenBarrierError ends the worker with an error), and workers are daemons
# that the parent terminates before it reports a failure, so nothing outlives
# the run or holds its output pipe open.
BARRIER_TIMEOUT_S = 60
JOIN_TIMEOUT_S = 120


def append_worker(table_dir: str, worker: int, rounds: int, barrier: Any) -> None:
    for round_number in range(rounds):
        barrier.wait(BARRIER_TIMEOUT_S)
        batch = rows(1000 * (worker + 1) + 10 * round_number, 4)
        # delta-rs's append can itself lose to the racing merge ("a concurrent transaction deleted data this
        # operation read"): retried like the merge, bounded, so a lost round fails the run instead of the barrier.
        for attempt in range(8):
            try:
                write_deltalake(
                    table_dir,
                    batch,
                    mode="append",
                    commit_properties=CommitProperties(app_transactions=[Transaction(app_id=f"writer-{worker}", version=round_number)]),
                )
                break
            except CommitFailedError:
                if attempt == 7:
                    raise


def merge_worker(table_dir: str, rounds: int, barrier: Any, outcomes: Any) -> None:
    for round_number in range(rounds):
        barrier.wait(BARRIER_TIMEOUT_S)
        # Bounded: a conflict is retried from a fresh read at most seven times (one partner append per round).
        for attempt in range(8):
            table = DeltaTable(table_dir)
            source = rows(100 * round_number, 3, ("a",))
            try:
                table.merge(source, predicate="t.id = s.id AND t.part = 'a'", source_alias="s", target_alias="t").when_matched_update(
                    updates={"label": "'merged'"}
                ).when_not_matched_insert_all().execute()
                outcomes.append(f"round {round_number}: merged after {attempt} conflicts")
                break
            except CommitFailedError as error:
                outcomes.append(f"round {round_number}: conflict {str(error)[:120]}")
        else:
            raise SystemExit(f"merge round {round_number} conflicted eight times")


def run_all(processes: list[Any], what: str) -> None:
    """Starts the processes, waits for each (bounded), and terminates every one still alive before failing."""
    for process in processes:
        process.daemon = True
        process.start()
    try:
        for process in processes:
            process.join(JOIN_TIMEOUT_S)
            expect(process.exitcode == 0, f"{what} failed (exit {process.exitcode})")
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(5)


def racing_writers(table_dir: str) -> dict[str, Any]:
    write_deltalake(table_dir, rows(0, 9), partition_by=["part"])
    # spawn, not fork: delta-rs's runtime threads do not survive a fork.
    context = multiprocessing.get_context("spawn")
    rounds = 5
    barrier = context.Barrier(2)
    run_all([context.Process(target=append_worker, args=(table_dir, worker, rounds, barrier)) for worker in (0, 1)], "an appender")
    with context.Manager() as manager:
        outcomes = manager.list()
        barrier = context.Barrier(2)
        run_all(
            [
                context.Process(target=merge_worker, args=(table_dir, 3, barrier, outcomes)),
                context.Process(target=append_worker, args=(table_dir, 2, 3, barrier)),
            ],
            "a racing writer",
        )
        merge_outcomes = list(outcomes)
    table = DeltaTable(table_dir)
    table.create_checkpoint()
    write_deltalake(table, rows(500, 3), mode="append")
    table.update_incremental()
    raced = [
        version
        for version in range(1, table.version() + 1)
        if (read := read_commit(table_dir, version)[0]["commitInfo"].get("readVersion")) is not None and read < version - 1
    ]
    apps = {txn["appId"] for txn in actions_of(table_dir, "txn")}
    expect(apps == {"writer-0", "writer-1", "writer-2"}, f"txn app ids: {apps}")
    return {"mergeOutcomes": merge_outcomes, "commitsWithOlderReadVersion": raced, "appIds": sorted(apps)}


