"""One export- or track-shaped user object written into a user store: what seeding does per user.

Kept apart from `seed.py` so the generated demo base (`generated.py`) can build a user exactly
the way seeding it would, without importing the seeding of whole documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pipeline.braze import rules
from pipeline.sandbox import attributes
from pipeline.sandbox.documents import SeedError
from pipeline.sandbox.users import EXTRA_FIELDS, User, UserStore

_EXPORT_ONLY = ("braze_id", "created_at", "user_aliases", "custom_attributes", "custom_events", "purchases",
                "total_revenue", "random_bucket", "last_coordinates", "external_id", "user_alias")  # fmt: skip


def upsert(store: UserStore, obj: Any, now: datetime) -> tuple[User, bool]:
    """Create or update one user from an export- or track-shaped object; (user, created)."""
    if not isinstance(obj, Mapping):
        raise SeedError("a user must be an object")
    aliases = list(obj.get("user_aliases") or []) + ([obj["user_alias"]] if obj.get("user_alias") else [])
    for alias in aliases:
        if rules.alias_error(alias):
            raise SeedError(rules.alias_error(alias))
    if obj.get("external_id") is not None and rules.external_id_error(obj["external_id"]):
        raise SeedError(rules.external_id_error(obj["external_id"]))
    user = _existing(store, obj, aliases)
    track_part = {k: v for k, v in obj.items() if k not in _EXPORT_ONLY and k not in EXTRA_FIELDS}
    ops = attributes.plan(track_part, user, None)
    for name, value in (obj.get("custom_attributes") or {}).items():
        op = attributes.custom_op(name, value, user)
        if op:
            ops.append(op)
    created = user is None
    if user is None:
        when = rules.parse_time(obj.get("created_at", "").replace(" UTC", "")) if obj.get("created_at") else None
        user = store.create(when or now, obj.get("braze_id"), obj.get("random_bucket"))
    if obj.get("external_id") is not None:
        store.set_external_id(user, obj["external_id"])
    for alias in aliases:
        store.add_alias(user, alias["alias_label"], alias["alias_name"])
    attributes.apply(store, user, ops)
    _summaries(user.events, obj.get("custom_events"))
    _summaries(user.purchases, obj.get("purchases"))
    if obj.get("total_revenue") is not None:
        user.total_revenue = float(obj["total_revenue"])
    if obj.get("last_coordinates") is not None:
        user.standard["last_coordinates"] = list(obj["last_coordinates"])
    user.extra.update({k: obj[k] for k in EXTRA_FIELDS if k in obj})
    return user, created


def _existing(store: UserStore, obj: Mapping[str, Any], aliases: list[dict[str, str]]) -> User | None:
    if obj.get("braze_id") and obj["braze_id"] in store.by_braze:
        return store.by_braze[obj["braze_id"]]
    if obj.get("external_id") is not None:
        return store.get_external(obj["external_id"])
    for alias in aliases:
        user = store.get_alias(alias["alias_label"], alias["alias_name"])
        if user:
            return user
    if not aliases and isinstance(obj.get("email"), str):
        return store.get_email(obj["email"])
    return None


def _summaries(target: dict[str, dict[str, Any]], items: Any) -> None:
    for item in items or []:
        first, last = rules.parse_time(item.get("first")), rules.parse_time(item.get("last"))
        if not item.get("name") or first is None or last is None:
            raise SeedError(f"summary {item!r} needs name, first and last times, and count")
        target[item["name"]] = {"first": first, "last": last, "count": int(item.get("count", 1))}
