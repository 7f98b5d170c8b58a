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

from pipeline.sandbox import attributes, campaigns, segments
from pipeline.sandbox.demo import CAMPAIGNS, DEMO_PREFIX, SEGMENTS, demo_user
from pipeline.sandbox.documents import SeedError
from pipeline.sandbox.generated import DemoBase
from pipeline.sandbox.state import Sandbox
from pipeline.sandbox.upsert import upsert


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
    return upsert(sb.users, obj, sb.now())[1]


def add_demo(sb: Sandbox, count: int) -> int:
    """Add `count` demo users after any already there, plus the demo segments and campaigns once.

    The users are not stored: they are the generated base of the user store (`generated.py`),
    built from (seed, index) whenever they are read, so a million of them cost no memory until
    something changes one of them."""
    with sb.lock:
        before = sb.users.base.count if sb.users.base else 0
        base = DemoBase.grown(sb.users.base, count)
        clashes = [
            u
            for u in sb.users.with_external_prefix(DEMO_PREFIX)
            if (base.index_of_external(u.external_id or "") or 0) > before
        ]
        sb.users.set_base(base)
        for user in clashes:  # made before the demo users were seeded: the demo user updates it
            index = base.index_of_external(user.external_id or "")
            sb.users.claim(index, user)
            upsert(sb.users, demo_user(index), sb.now())
        for segment in SEGMENTS:
            if segment["id"] not in sb.segments:
                add_segment(sb, segment)
        for campaign in CAMPAIGNS:
            if campaign["id"] not in sb.campaigns:
                add_campaign(sb, campaign)
    return count
