"""Deterministic demo data: N users, a few segments and campaigns, the same on every run.

Users `demo-000001`... carry standard fields, custom attributes (`points` 0..1000, `tier`,
`tags`, a nested `preferences` object, `last_order_at`), and event and purchase summaries.
Segments (fixed ids, so mappings can name them): "All users", "Loyal users" (points >= 500),
"Gold tier", "Sample 10%" (random buckets 0..999). Three campaigns, one archived.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

DEMO_SEED = 7
DEMO_PREFIX = "demo-"  # external ids demo-000001, ...
ALL_USERS_SEGMENT = "5e9f0d3c-0000-4000-8000-000000000001"
LOYAL_USERS_SEGMENT = "5e9f0d3c-0000-4000-8000-000000000002"
GOLD_TIER_SEGMENT = "5e9f0d3c-0000-4000-8000-000000000003"
SAMPLE_SEGMENT = "5e9f0d3c-0000-4000-8000-000000000004"

SEGMENTS: list[dict[str, Any]] = [
    {"id": ALL_USERS_SEGMENT, "name": "All users", "filter": {"all": []}, "tags": ["demo"]},
    {
        "id": LOYAL_USERS_SEGMENT,
        "name": "Loyal users",
        "filter": {"field": "custom_attributes.points", "op": "gte", "value": 500},
        "tags": ["demo", "loyalty"],
        "description": "Members with at least 500 loyalty points",
    },
    {
        "id": GOLD_TIER_SEGMENT,
        "name": "Gold tier",
        "filter": {"all": [{"field": "custom_attributes.tier", "op": "eq", "value": "gold"}]},
        "tags": ["demo", "loyalty"],
    },
    {"id": SAMPLE_SEGMENT, "name": "Sample 10%", "filter": {"random_bucket": [0, 999]}, "tags": ["demo"]},
]
CAMPAIGNS: list[dict[str, Any]] = [
    {"id": "c0a1b2c3-0000-4000-8000-000000000001", "name": "Welcome series", "tags": ["onboarding"],
     "created_at": "2026-01-02T09:00:00Z"},
    {"id": "c0a1b2c3-0000-4000-8000-000000000002", "name": "Loyalty rewards", "tags": ["loyalty"],
     "channels": ["email", "ios_push"], "created_at": "2026-02-01T09:00:00Z"},
    {"id": "c0a1b2c3-0000-4000-8000-000000000003", "name": "Winter sale 2025", "archived": True,
     "created_at": "2025-12-01T09:00:00Z"},
]  # fmt: skip

_FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Emma", "Farah", "Goran", "Hana", "Ivan", "Jun", "Kofi", "Lena"]
_LAST = ["Silva", "Okafor", "Müller", "Tanaka", "Novak", "Haddad", "Larsen", "Rossi", "Kim", "Dubois"]
_PLACES = [("US", "en", "America/New_York"), ("DE", "de", "Europe/Berlin"), ("FR", "fr", "Europe/Paris"),
           ("JP", "ja", "Asia/Tokyo"), ("BR", "pt", "America/Sao_Paulo"), ("GB", "en", "Europe/London")]  # fmt: skip
_TAGS = ["sports", "books", "travel", "music", "food", "tech"]
_BASE = datetime(2025, 6, 1, tzinfo=UTC)


def demo_users(count: int, start: int = 1, seed: int = DEMO_SEED) -> list[dict[str, Any]]:
    """`count` export-shaped users, numbered from `start`; user i is the same whatever `count` is."""
    return [demo_user(i, seed) for i in range(start, start + count)]


def demo_braze_id(bits: int, i: int) -> str:
    """24 hex digits: 16 drawn from the user's generator, then the index, so the id finds the user."""
    return f"{bits >> 64:016x}{i:08x}"


def demo_user(i: int, seed: int = DEMO_SEED) -> dict[str, Any]:
    """Demo user number `i` (1-based), export-shaped; a pure function of (seed, i)."""
    drawn = demo_profile(i, seed)
    custom, login = dict(drawn["custom_attributes"]), drawn["login"]
    custom["last_order_at"] = custom["last_order_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
    user = {k: v for k, v in drawn.items() if k not in ("login", "custom_attributes")}
    user["created_at"] = drawn["created_at"].strftime("%Y-%m-%d %H:%M:%S.000 UTC")
    user["custom_attributes"] = custom
    user["custom_events"] = [
        {"name": "login", "first": _iso(login["first"]), "last": _iso(login["last"]), "count": login["count"]}
    ]
    return user


def demo_profile(i: int, seed: int = DEMO_SEED) -> dict[str, Any]:
    """Demo user `i` as the sandbox stores it: `demo_user` with times as datetimes, and `login`."""
    rng = random.Random(seed * 1_000_003 + i)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    country, language, zone = rng.choice(_PLACES)
    points = rng.randrange(1001)
    created = _BASE + timedelta(minutes=i * 7)
    ordered = created + timedelta(days=rng.randrange(1, 200), seconds=rng.randrange(86_400))
    return {
        "external_id": f"{DEMO_PREFIX}{i:06d}",
        "braze_id": demo_braze_id(rng.getrandbits(128), i),
        "random_bucket": rng.randrange(10_000),
        "created_at": created,
        "first_name": first,
        "last_name": last,
        "email": f"{first.lower().replace('é', 'e')}.{last.lower().replace('ü', 'u')}.{i}@example.com",
        "country": country,
        "language": language,
        "time_zone": zone,
        "gender": rng.choice(["F", "M", "O", "N", "P"]),
        "dob": f"{rng.randrange(1950, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        "email_subscribe": rng.choice(["opted_in", "subscribed", "unsubscribed"]),
        "custom_attributes": {
            "points": points,
            "tier": "gold" if points >= 800 else "silver" if points >= 400 else "bronze",
            "tags": rng.sample(_TAGS, rng.randrange(0, 4)),
            "preferences": {"newsletter": rng.random() < 0.5, "channel": rng.choice(["email", "push", "sms"])},
            "last_order_at": ordered,
        },
        "login": {"first": created, "last": ordered, "count": rng.randrange(1, 60)},
    }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
