"""What `profilesync run` checks before it starts Dagster, so an expected problem is one message.

A bad day, invalid connection files, an unset key variable or a store folder that cannot be
written would otherwise surface as a failed Dagster run (or a traceback) pages later. Each
problem here names the input and the fix, and `NotReady` carries all of them at once.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from pipeline.mapping import (
    FOLDER_VARIABLE,
    Connection,
    MappingsFolderMissing,
    MappingsInvalid,
    load_connections,
    mappings_folder,
)

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class NotReady(ValueError):
    """The run cannot start; the message says why and what to do."""


def parse_day(text: str, option: str = "--date") -> str:
    """`text` as a YYYY-MM-DD day, or NotReady naming the option and the form."""
    try:
        if _DAY.fullmatch(text.strip()):
            return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        pass
    raise NotReady(f"{option} {text} is not a day; write YYYY-MM-DD, e.g. 2026-11-01")


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def check_day(day: str, connections: list[Connection]) -> None:
    """NotReady unless `day` is a partition of every connection: from its start_date to today (UTC)."""
    parsed, last = date.fromisoformat(parse_day(day)), date.fromisoformat(today())
    for connection in connections:
        if not connection.start_date <= parsed <= last:
            raise NotReady(
                f"{day} is outside connection {connection.name}'s partitions "
                f"({connection.start_date} to today, {last}); pick a day in that range"
            )


def sharded_refusal(connections: list[Connection], verb: str) -> str | None:
    """Why `profilesync <verb>` refuses these connections: a sharded store (`storage.shards` > 1)
    runs only through Dagster's jobs so far; None when none is sharded."""
    for c in connections:
        if c.storage.shards > 1:
            where = f" ({c.source})" if c.source else ""
            return (
                f"profilesync {verb} cannot handle a sharded store yet: connection {c.name} sets storage.shards: "
                f"{c.storage.shards}{where}; run its Dagster jobs {c.name}_sync and {c.name}_shards, or set shards: 1"
            )
    return None


def unsharded(connections: list[Connection], verb: str) -> list[Connection]:
    """`connections`, or NotReady when one of them has a sharded store (`sharded_refusal`)."""
    refusal = sharded_refusal(connections, verb)
    if refusal:
        raise NotReady(refusal)
    return connections


def loaded_connections() -> list[Connection]:
    """Every connection file, or NotReady saying what is wrong with the folder or the files."""
    try:
        connections = load_connections()
    except MappingsFolderMissing as exc:
        raise NotReady(str(exc)) from None
    except MappingsInvalid as exc:
        raise NotReady(f"{exc}\nfix the connection files (`profilesync validate` lists every error)") from None
    if not connections:
        raise NotReady(
            f"no connection files in {mappings_folder()}; add one (see README: Connection files), "
            f"or set {FOLDER_VARIABLE} to the folder that holds them"
        )
    return connections


def ready_connections(day: str) -> list[Connection]:
    """The connections a run of `day` can start with, or NotReady listing every problem and its fix."""
    from pipeline.mapping.environment import check_environment

    connections = loaded_connections()
    active = [c for c in connections if c.enabled]
    if not active:
        names = ", ".join(c.name for c in connections)
        raise NotReady(f"every connection is disabled ({names}); set enabled: true in the one to run")
    check_day(day, active)
    problems = check_environment(active, writable=True)
    if problems:
        raise NotReady("\n".join(str(p) for p in problems))
    return connections
