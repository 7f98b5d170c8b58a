"""One writer: a lease per profile store and day, so two runs of the same day exclude each other.

Connections that share a storage root share their profiles, so the unit of exclusion is the
store, not the connection: a lease at `locks/runs/<day>.json` in the store names its holder
(host, pid, when, which connections). It is created only if absent and replaced or deleted only
if unchanged since read, with the store's compare-and-swap (`write_if`/`delete_if`): S3's
conditional requests across machines, a folder lock on one machine for a local store.

What it guarantees: two runs of one store and day never both hold the lease. A lease whose
holder is gone is taken over, with a message: on the holder's own host when its process no
longer exists (or the pid now belongs to a younger process); from another host only when it is
older than `PROFILESYNC_LEASE_HOURS` (default 24), since a process elsewhere cannot be probed. A run
that really lasts longer than that can therefore be joined by a second one; raise the limit
for such stores.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline import layout
from pipeline.storage import ObjectNotFound, ObjectStore

LEASE_HOURS_ENV = "PROFILESYNC_LEASE_HOURS"
DEFAULT_LEASE_HOURS = 24.0
POLL_SECONDS = 2.0


class RunLocked(RuntimeError):
    """Another run holds the day; the message names it and what to do."""


@dataclass(frozen=True)
class Lease:
    token: str
    host: str
    pid: int
    process_start: str | None  # the pid's start time, so a reused pid is not mistaken for the holder
    started_at: str
    day: str
    connections: list[str]

    def describe(self) -> str:
        since = datetime.fromisoformat(self.started_at).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"pid {self.pid} on host {self.host} since {since} (connections {', '.join(self.connections)})"


def _stat(pid: int) -> list[str] | None:
    """Fields 3 onwards of `/proc/<pid>/stat` (Linux), after the command name; None when unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """When `pid` started, in clock ticks since boot (Linux); None when unknown or gone."""
    fields = _stat(pid)
    return fields[19] if fields else None  # field 22


def process_alive(pid: int, started: str | None) -> bool:
    """Whether `pid` on this host is still the process that was recorded."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc: existing is all we can tell
    return fields[0] != "Z" and (started is None or fields[19] == started)  # a zombie has ended


def stale_reason(lease: Lease, now: datetime, host: str | None = None) -> str | None:
    """Why the lease no longer protects a live run, or None while its holder may be running."""
    if lease.host == (host or socket.gethostname()):
        if not process_alive(lease.pid, lease.process_start):
            return f"its process (pid {lease.pid}) is gone"
        return None
    hours = float(os.environ.get(LEASE_HOURS_ENV) or DEFAULT_LEASE_HOURS)
    if now - datetime.fromisoformat(lease.started_at) > timedelta(hours=hours):
        return f"it is older than {hours:g} hours ({LEASE_HOURS_ENV})"
    return None


def _new_lease(day: str, connections: list[str]) -> Lease:
    return Lease(
        token=uuid.uuid4().hex,
        host=socket.gethostname(),
        pid=os.getpid(),
        process_start=process_start(os.getpid()),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        day=day,
        connections=sorted(connections),
    )


def _read(store: ObjectStore, key: str) -> tuple[Lease | None, str] | None:
    """The current lease and its version; (None, version) when unreadable; None when absent."""
    try:
        data, version = store.read_versioned(key)
    except ObjectNotFound:
        return None
    try:
        return Lease(**json.loads(data)), version
    except (ValueError, TypeError):
        return None, version


def acquire(
    store: ObjectStore, day: str, connections: list[str], wait: bool = False, say: Callable[[str], None] = print
) -> Lease:
    """Hold the store's day, taking over a stale lease; RunLocked (or waiting) while another holds it."""
    key = layout.run_lease(day)
    mine = _new_lease(day, connections)
    data = json.dumps(asdict(mine), indent=2).encode()
    waiting = False
    while True:
        if store.write_if(key, data, None):
            return mine
        found = _read(store, key)
        if found is None:
            continue  # released between our write and our read
        current, version = found
        reason = "it cannot be read" if current is None else stale_reason(current, datetime.now(UTC))
        if reason is not None:
            if store.write_if(key, data, version):
                held_by = "an unreadable lease" if current is None else current.describe()
                say(f"took over the lease of {day} at {store.uri(key)} from {held_by}: {reason}")
                return mine
            continue  # someone else changed it first; look again
        assert current is not None
        if not wait:
            raise RunLocked(
                f"{', '.join(mine.connections)} {day} is being run by {current.describe()}; wait for it, "
                f"or run again with --wait; if that process is gone, delete {store.uri(key)}"
            )
        if not waiting:
            say(f"waiting for {current.describe()} to finish {day}")
            waiting = True
        time.sleep(POLL_SECONDS)


def release(store: ObjectStore, lease: Lease) -> None:
    """Give the day back, only if the lease is still ours (it may have been taken over)."""
    key = layout.run_lease(lease.day)
    found = _read(store, key)
    if found is not None and found[0] is not None and found[0].token == lease.token:
        store.delete_if(key, found[1])


@contextlib.contextmanager
def holding(
    store: ObjectStore, day: str, connections: list[str], wait: bool = False, say: Callable[[str], None] = print
) -> Iterator[Lease]:
    lease = acquire(store, day, connections, wait=wait, say=say)
    try:
        yield lease
    finally:
        release(store, lease)


@contextlib.contextmanager
def folder_lock(folder: Path, name: str = ".profilesync.lock") -> Iterator[None]:
    """An exclusive OS lock on `folder/name` for this machine's processes, e.g. a Dagster home's setup."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)
