"""Sandbox campaigns: enough of Braze's campaign objects for `/campaigns/list` and `/details` (ref. 7).

A seed gives at least `name`; everything else has Braze-like defaults. `last_edited` (and
`updated_at`) default to the creation time.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pipeline.braze.rules import parse_time
from pipeline.sandbox.users import iso_ms

_DEFAULTS: dict[str, Any] = {
    "tags": [],
    "teams": [],
    "archived": False,
    "draft": False,
    "enabled": True,
    "has_post_launch_draft": False,
    "is_api_campaign": False,
    "description": "",
    "schedule_type": "time_based",
    "channels": ["email"],
    "first_sent": None,
    "last_sent": None,
    "messages": {},
    "conversion_behaviors": [],
}


def parse_campaign(data: Any, order: int, now: datetime) -> dict[str, Any]:
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str) or not data["name"]:
        raise ValueError("a campaign needs a non-empty 'name'")
    unknown = sorted(set(data) - set(_DEFAULTS) - {"id", "name", "created_at", "updated_at", "last_edited"})
    if unknown:
        raise ValueError(f"campaign {data['name']!r}: unknown fields {unknown}")
    campaign = {**_DEFAULTS, **{k: v for k, v in data.items() if k in _DEFAULTS}}
    created = _time(data.get("created_at"), now)
    edited = _time(data.get("last_edited") or data.get("updated_at"), created)
    campaign.update(id=str(data.get("id") or uuid.uuid4()), name=data["name"], _order=order)
    campaign.update(created_at=iso_ms(created), updated_at=iso_ms(edited), _edited=edited)
    return campaign


def listing(campaign: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": campaign["id"],
        "last_edited": campaign["_edited"].isoformat(),
        "name": campaign["name"],
        "is_api_campaign": campaign["is_api_campaign"],
        "tags": campaign["tags"],
    }


def details(campaign: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in campaign.items() if not k.startswith("_") and k != "id"}


def _time(value: Any, default: datetime) -> datetime:
    if value is None:
        return default
    moment = parse_time(value)
    if moment is None:
        raise ValueError(f"campaign time {value!r} is not a date-time; use ISO 8601")
    return moment
