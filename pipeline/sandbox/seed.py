"""Seed documents: users, segments and campaigns put into a sandbox without the REST API.

A seed file (JSON or YAML) or `POST /_sandbox/seed` body:
`{"users": [...], "segments": [...], "campaigns": [...], "demo_users": 10000}`.

Users may be export-shaped (`custom_attributes`, `user_aliases`, `custom_events`, `created_at`,
`braze_id`, ... as in reference 4.4) or track-shaped (custom attributes at the top level); both
can be mixed in one object. A user that already exists (same braze_id, external_id, alias, or
email when it has no other identifier) is updated, else created. Seeding charges no data points
and no rate limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.braze import rules
from pipeline.sandbox import attributes, campaigns, segments
from pipeline.sandbox.demo import CAMPAIGNS, SEGMENTS, demo_users
from pipeline.sandbox.documents import SeedError
from pipeline.sandbox.state import Sandbox
from pipeline.sandbox.users import EXTRA_FIELDS, User

_EXPORT_ONLY = ("braze_id", "created_at", "user_aliases", "custom_attributes", "custom_events", "purchases",
                "total_revenue", "random_bucket", "last_coordinates", "external_id", "user_alias")  # fmt: skip


def apply_seed(sb: Sandbox, document: Any, source: str = "seed") -> dict[str, int]:
    if not isinstance(document, Mapping):
        raise SeedError(f"{source}: expected an object with users, segments, campaigns or demo_users")
    unknown = sorted(set(document) - {"users", "segments", "campaigns", "demo_users"})
    if unknown:
        raise SeedError(f"{source}: unknown keys {unknown}; use users, segments, campaigns, demo_users")
    counts = {"users_created": 0, "users_updated": 0, "segments": 0, "campaigns": 0}
    with sb.lock:
        if document.get("demo_users"):
            counts["users_created"] += add_demo(sb, int(document["demo_users"]))
        for key, value in upsert_users(sb, document.get("users", []), f"{source}: users").items():
            counts[key] += value
        for index, data in enumerate(document.get("segments", [])):
            add_segment(sb, data, f"{source}: segments[{index}]")
            counts["segments"] += 1
        for index, data in enumerate(document.get("campaigns", [])):
            add_campaign(sb, data, f"{source}: campaigns[{index}]")
            counts["campaigns"] += 1
    return counts


def add_segment(sb: Sandbox, data: Any, where: str = "segment") -> segments.Segment:
    try:
        segment = segments.parse_segment(data, sb.next_order(), sb.now())
    except segments.FilterError as exc:
        raise SeedError(f"{where}: {exc}") from None
    sb.segments[segment.id] = segment
    return segment


def add_campaign(sb: Sandbox, data: Any, where: str = "campaign") -> dict[str, Any]:
    try:
        campaign = campaigns.parse_campaign(data, sb.next_order(), sb.now())
    except ValueError as exc:
        raise SeedError(f"{where}: {exc}") from None
    sb.campaigns[campaign["id"]] = campaign
    return campaign


def upsert_users(sb: Sandbox, users: Any, where: str = "users") -> dict[str, int]:
    if not isinstance(users, list):
        raise SeedError(f"{where}: expected a list of user objects")
    counts = {"users_created": 0, "users_updated": 0}
    for index, obj in enumerate(users):
        try:
            created = upsert_user(sb, obj)
        except (attributes.Invalid, SeedError, TypeError, ValueError) as exc:
            raise SeedError(f"{where}[{index}]: {exc}") from None
        counts["users_created" if created else "users_updated"] += 1
    return counts


def upsert_user(sb: Sandbox, obj: Any) -> bool:
    """Create or update one user from an export- or track-shaped object; True when created."""
    if not isinstance(obj, Mapping):
        raise SeedError("a user must be an object")
    aliases = list(obj.get("user_aliases") or []) + ([obj["user_alias"]] if obj.get("user_alias") else [])
    for alias in aliases:
        if rules.alias_error(alias):
            raise SeedError(rules.alias_error(alias))
    if obj.get("external_id") is not None and rules.external_id_error(obj["external_id"]):
        raise SeedError(rules.external_id_error(obj["external_id"]))
    user = _existing(sb, obj, aliases)
    track_part = {k: v for k, v in obj.items() if k not in _EXPORT_ONLY and k not in EXTRA_FIELDS}
    ops = attributes.plan(track_part, user, None)
    for name, value in (obj.get("custom_attributes") or {}).items():
        op = attributes.custom_op(name, value, user)
        if op:
            ops.append(op)
    created = user is None
    if user is None:
        when = rules.parse_time(obj.get("created_at", "").replace(" UTC", "")) if obj.get("created_at") else None
        user = sb.users.create(when or sb.now(), obj.get("braze_id"), obj.get("random_bucket"))
    if obj.get("external_id") is not None:
        sb.users.set_external_id(user, obj["external_id"])
    for alias in aliases:
        sb.users.add_alias(user, alias["alias_label"], alias["alias_name"])
    attributes.apply(sb.users, user, ops)
    _summaries(user.events, obj.get("custom_events"))
    _summaries(user.purchases, obj.get("purchases"))
    if obj.get("total_revenue") is not None:
        user.total_revenue = float(obj["total_revenue"])
    if obj.get("last_coordinates") is not None:
        user.standard["last_coordinates"] = list(obj["last_coordinates"])
    user.extra.update({k: obj[k] for k in EXTRA_FIELDS if k in obj})
    return created


def _existing(sb: Sandbox, obj: Mapping[str, Any], aliases: list[dict[str, str]]) -> User | None:
    if obj.get("braze_id") and obj["braze_id"] in sb.users.by_braze:
        return sb.users.by_braze[obj["braze_id"]]
    if obj.get("external_id") is not None:
        return sb.users.get_external(obj["external_id"])
    for alias in aliases:
        user = sb.users.get_alias(alias["alias_label"], alias["alias_name"])
        if user:
            return user
    if not aliases and isinstance(obj.get("email"), str):
        return sb.users.get_email(obj["email"])
    return None


def _summaries(target: dict[str, dict[str, Any]], items: Any) -> None:
    for item in items or []:
        first, last = rules.parse_time(item.get("first")), rules.parse_time(item.get("last"))
        if not item.get("name") or first is None or last is None:
            raise SeedError(f"summary {item!r} needs name, first and last times, and count")
        target[item["name"]] = {"first": first, "last": last, "count": int(item.get("count", 1))}


def add_demo(sb: Sandbox, count: int) -> int:
    """Add `count` demo users after any already there, plus the demo segments and campaigns once."""
    with sb.lock:
        start = sum(1 for u in sb.users if (u.external_id or "").startswith("demo-")) + 1
        for user in demo_users(count, start):
            upsert_user(sb, user)
        for segment in SEGMENTS:
            if segment["id"] not in sb.segments:
                add_segment(sb, segment)
        for campaign in CAMPAIGNS:
            if campaign["id"] not in sb.campaigns:
                add_campaign(sb, campaign)
    return count
