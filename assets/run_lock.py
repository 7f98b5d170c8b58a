"""One writer, on the Dagster side: run tags, the instance settings we write, and dead CLI runs.

- Every run carries `profilesync/store: <storage root>`: the jobs as tags (so schedules and
  job backfills queue behind each other with the tag limit in `INSTANCE_SETTINGS`), and the
  runs of `profilesync run` too, so the daemon's queue also waits for those.
- A run of `profilesync run` also carries the host and pid of its process. A process killed with
  SIGKILL cannot record its end; `fail_dead_runs` finds such runs on this host, marks them failed
  in Dagster and appends them to the run history, so `profilesync runs` shows them. Runs the
  daemon launches are watched by Dagster's run monitoring (enabled in `INSTANCE_SETTINGS`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections.abc import Iterator

import dagster as dg

from assets.resources import store_at
from assets.run_summary import summarize_run
from pipeline.mapping import Connection
from pipeline.run_lock import POLL_SECONDS, RunLocked, holding, process_alive, process_start
from pipeline.runs import append_run
from pipeline.storage import StorageError

STORE_TAG = "profilesync/store"
CONNECTIONS_TAG = "profilesync/connections"
HOST_TAG, PID_TAG, PROCESS_START_TAG = "profilesync/host", "profilesync/pid", "profilesync/process_start"

# The dagster.yaml `profilesync run` writes into a new DAGSTER_HOME; README shows the same for yours.
INSTANCE_SETTINGS = """\
telemetry:
  enabled: false
concurrency:
  runs:
    tag_concurrency_limits:  # one run at a time per profile store (its connections share profiles)
      - key: profilesync/store
        value: {applyLimitPerUniqueValue: true}
        limit: 1
run_monitoring:  # fail runs whose worker is gone, where the run launcher can tell
  enabled: true
  poll_interval_seconds: 60
"""


def say(message: str) -> None:
    """What the lock has to tell: on stderr, so `--json` output stays clean."""
    print(message, file=sys.stderr, flush=True)


def store_value(connection: Connection) -> str:
    return connection.storage.root.rstrip("/")


def process_tags() -> dict[str, str]:
    """Who runs this in-process run: what `fail_dead_runs` checks later."""
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
        PROCESS_START_TAG: process_start(os.getpid()) or "",
    }


def refuse_if_dagster_runs_it(instance: dg.DagsterInstance, root: str, day: str, names: list[str]) -> None:
    """RunLocked when a run of this store and day (e.g. the schedule's) is in progress in the instance."""
    busy = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
            tags={STORE_TAG: root, "dagster/partition": day},
        ),
        limit=1,
    )
    if busy:
        run = busy[0]
        raise RunLocked(
            f"{', '.join(names)} {day} is being run by Dagster run {run.run_id} ({run.job_name}, {run.status.value}); "
            "wait for it to finish, or run again with --wait"
        )


def fail_dead_runs(instance: dg.DagsterInstance, connections: list[Connection]) -> list[str]:
    """Mark this host's `profilesync run` runs whose process is gone as failed; their run ids."""
    host = socket.gethostname()
    by_name = {c.name: c for c in connections}
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
            tags={HOST_TAG: host},
        )
    )
    failed = []
    for run in runs:
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if not pid or process_alive(pid, run.tags.get(PROCESS_START_TAG) or None):
            continue
        message = f"the process running it (pid {pid} on host {host}) was killed or died before the run ended"
        instance.report_run_failed(run, message)
        ended = instance.get_run_by_id(run.run_id) or run
        say(f"run {run.run_id} for {run.tags.get('dagster/partition', '?')} marked failed: {message}")
        for name in run.tags.get(CONNECTIONS_TAG, "").split(","):
            if name in by_name:
                connection = by_name[name]
                try:
                    append_run(store_at(connection.storage.root), summarize_run(instance, ended, connection))
                except StorageError as exc:  # Dagster has it as failed; the history says why it lacks it
                    say(f"run history of {name} not written: {exc}")
        failed.append(run.run_id)
    return failed


@contextlib.contextmanager
def day_lease(
    instance: dg.DagsterInstance, members: list[Connection], day: str, names: list[str], wait: bool
) -> Iterator[dict[str, str]]:
    """Hold the store's day for one run of `profilesync run`; yields the tags the run must carry."""
    root = store_value(members[0])
    with holding(store_at(root), day, names, wait=wait, say=say):
        told = False
        while True:
            try:
                refuse_if_dagster_runs_it(instance, root, day, names)
                break
            except RunLocked as exc:
                if not wait:
                    raise
                if not told:
                    say(f"waiting: {exc}")
                    told = True
                time.sleep(POLL_SECONDS)
        yield {STORE_TAG: root, **process_tags()}
