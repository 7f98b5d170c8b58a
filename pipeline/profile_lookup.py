"""Find one profile in a day's snapshot, for `profilesync profiles show`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline import layout
from pipeline.mapping import load_connections
from pipeline.preflight import sharded_refusal
from pipeline.profiles import find_profile, read_snapshot
from pipeline.storage import ObjectStore, open_store


class ProfileLookupError(LookupError):
    """The store, the day or the profile is not there; the message says which."""


def lookup(
    kind: str,
    value: str,
    *,
    day: str | None,
    connection: str | None,
    open_at: Callable[[str], ObjectStore] = open_store,
) -> tuple[str, dict[str, Any]]:
    """The day and the profile; `open_at` opens the store (the CLI's reaches S3 through its S3Resource)."""
    connections = load_connections()
    chosen = [c for c in connections if connection in (None, c.name) and c.imports]
    if not chosen:
        names = ", ".join(c.name for c in connections if c.imports) or "none"
        raise ProfileLookupError(f"no connection {connection!r} with import goals; connections with profiles: {names}")
    refusal = sharded_refusal(chosen[:1], "profiles show")
    if refusal:
        raise ProfileLookupError(refusal)
    store = open_at(chosen[0].storage.root)
    if day is None:
        day = layout.latest_day_before(store, layout.PROFILES_FOLDER, layout.PROFILES_MANIFEST, "9999-12-31")
        if day is None:
            raise ProfileLookupError(f"{store.root} holds no profile snapshot yet; run `profilesync run` first")
    snapshot = read_snapshot(store, day)
    if snapshot is None:
        raise ProfileLookupError(f"{store.root} has no complete profile snapshot for {day}")
    profile = find_profile(snapshot, kind, value)
    if profile is None:
        kinds = ", ".join(sorted(snapshot.identifiers["kind"].unique().to_list())) or "none"
        raise ProfileLookupError(f"no profile has {kind}={value} on {day} in {store.root} (identifier kinds: {kinds})")
    return day, profile
