"""Sandbox segments: named filters over the sandbox's users.

Filter language (JSON):

- combinators: `{"all": [cond, ...]}` (and), `{"any": [cond, ...]}` (or), `{"not": cond}`;
  `{"all": []}` matches everyone;
- comparisons: `{"field": "custom_attributes.points", "op": "gte", "value": 100}` with ops
  `eq`, `ne`, `gt`, `gte`, `lt`, `lte`, `in` (value is a list), `contains` (substring of a
  string, or member of an array), `exists`, `not_exists` (no value);
- buckets: `{"random_bucket": [lo, hi]}`, inclusive, within 0..9999 (each user draws its
  random bucket at creation from the sandbox's seed).

Fields: any top-level profile field (`external_id`, `email`, `country`, `gender`, `created_at`,
`random_bucket`, `total_revenue`, ...), `custom_attributes.<name>[.<nested key>...]`,
`custom_events.<name>.count|first|last`, `purchases.<product_id>.count|first|last`,
`user_aliases.<alias_label>` (the alias name). A missing field fails every op but `ne` and
`not_exists`; a value of another type fails the comparison. Time fields compare with time
strings in any Braze time format.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.braze.rules import parse_time
from pipeline.sandbox.users import User, iso_ms

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "exists", "not_exists")
_MISSING = object()


class FilterError(ValueError):
    """A filter does not follow the language; the message points at the part and the fix."""


@dataclass
class Segment:
    id: str
    name: str
    filter: dict[str, Any]
    order: int
    created_at: datetime
    tags: list[str] = field(default_factory=list)
    description: str = ""
    teams: list[str] = field(default_factory=list)
    analytics_tracking_enabled: bool = False
    archived: bool = False

    def listing(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "analytics_tracking_enabled": self.analytics_tracking_enabled,
            "tags": self.tags,
        }

    def details(self) -> dict[str, Any]:
        return {
            "created_at": iso_ms(self.created_at),
            "updated_at": iso_ms(self.created_at),
            "name": self.name,
            "description": describe(self.filter),
            "text_description": self.description,
            "tags": self.tags,
            "teams": self.teams,
        }


def parse_segment(data: Any, order: int, now: datetime) -> Segment:
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str) or not data["name"]:
        raise FilterError("a segment needs a non-empty 'name' (and optionally id, filter, tags, description)")
    known = {"id", "name", "filter", "tags", "description", "teams", "analytics_tracking_enabled", "archived"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise FilterError(f"segment {data['name']!r}: unknown fields {unknown}; use {sorted(known)}")
    flt = data.get("filter", {"all": []})
    check(flt)
    return Segment(
        id=str(data.get("id") or uuid.uuid4()),
        name=data["name"],
        filter=flt,
        order=order,
        created_at=now,
        tags=list(data.get("tags", [])),
        description=str(data.get("description", "")),
        teams=list(data.get("teams", [])),
        analytics_tracking_enabled=bool(data.get("analytics_tracking_enabled", False)),
        archived=bool(data.get("archived", False)),
    )


def check(flt: Any, path: str = "filter") -> None:
    if not isinstance(flt, Mapping) or len(flt) == 0:
        raise FilterError(f"{path}: must be an object such as {{'all': [...]}} or {{'field', 'op', 'value'}}")
    if set(flt) in ({"all"}, {"any"}):
        conds = next(iter(flt.values()))
        if not isinstance(conds, list):
            raise FilterError(f"{path}: 'all'/'any' take a list of conditions")
        for i, cond in enumerate(conds):
            check(cond, f"{path}.{next(iter(flt))}[{i}]")
    elif set(flt) == {"not"}:
        check(flt["not"], f"{path}.not")
    elif set(flt) == {"random_bucket"}:
        rng = flt["random_bucket"]
        if not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(b, int) for b in rng)) or not (
            0 <= rng[0] <= rng[1] <= 9999
        ):
            raise FilterError(f"{path}: random_bucket takes [lo, hi] with 0 <= lo <= hi <= 9999")
    elif "field" in flt and "op" in flt:
        if not isinstance(flt["field"], str) or not flt["field"]:
            raise FilterError(f"{path}: 'field' must be a non-empty string")
        if flt["op"] not in OPS:
            raise FilterError(f"{path}: unknown op {flt['op']!r}; use one of {', '.join(OPS)}")
        if flt["op"] == "in" and not isinstance(flt.get("value"), list):
            raise FilterError(f"{path}: op 'in' needs a list 'value'")
        if flt["op"] not in ("exists", "not_exists") and "value" not in flt:
            raise FilterError(f"{path}: op {flt['op']!r} needs a 'value'")
    else:
        raise FilterError(f"{path}: unknown condition {dict(flt)}; use all/any/not/random_bucket or field+op+value")


def matches(flt: Mapping[str, Any], user: User) -> bool:
    if "all" in flt:
        return all(matches(c, user) for c in flt["all"])
    if "any" in flt:
        return any(matches(c, user) for c in flt["any"])
    if "not" in flt:
        return not matches(flt["not"], user)
    if "random_bucket" in flt:
        lo, hi = flt["random_bucket"]
        return lo <= user.random_bucket <= hi
    return _compare(resolve(user, flt["field"]), flt["op"], flt.get("value"))


def resolve(user: User, path: str) -> Any:
    head, _, rest = path.partition(".")
    if head == "custom_attributes":
        value: Any = user.custom
        for part in rest.split("."):
            value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
        return value
    if head in ("custom_events", "purchases"):
        name, _, key = rest.rpartition(".")
        summary = (user.events if head == "custom_events" else user.purchases).get(name)
        return summary.get(key, _MISSING) if summary else _MISSING
    if head == "user_aliases":
        return user.aliases.get(rest, _MISSING)
    direct = {
        "external_id": user.external_id,
        "braze_id": user.braze_id,
        "random_bucket": user.random_bucket,
        "created_at": user.created_at,
        "total_revenue": user.total_revenue if user.purchases else None,
    }
    value = direct[head] if head in direct else user.standard.get(head)
    return _MISSING if value is None else value


def _compare(actual: Any, op: str, wanted: Any) -> bool:
    if op == "exists":
        return actual is not _MISSING
    if op == "not_exists":
        return actual is _MISSING
    if actual is _MISSING:
        return op == "ne"
    if isinstance(actual, datetime):
        wanted = [parse_time(w) for w in wanted] if op == "in" else parse_time(wanted)
    try:
        if op == "eq":
            return bool(actual == wanted)
        if op == "ne":
            return bool(actual != wanted)
        if op == "in":
            return actual in wanted
        if op == "contains":
            return wanted in actual if isinstance(actual, str | list) else False
        if isinstance(actual, bool) or isinstance(wanted, bool) or wanted is None:
            return False
        return {"gt": actual > wanted, "gte": actual >= wanted, "lt": actual < wanted, "lte": actual <= wanted}[op]
    except TypeError:
        return False


def describe(flt: Mapping[str, Any]) -> str:
    """A human-readable description of the filters, as Braze's `description` field gives."""
    if "all" in flt:
        return " AND ".join(f"({describe(c)})" for c in flt["all"]) or "All users"
    if "any" in flt:
        return " OR ".join(f"({describe(c)})" for c in flt["any"]) or "No users"
    if "not" in flt:
        return f"NOT ({describe(flt['not'])})"
    if "random_bucket" in flt:
        lo, hi = flt["random_bucket"]
        return f"Random bucket number is between {lo} and {hi}"
    words = {"eq": "is", "ne": "is not", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in": "is one of",
             "contains": "contains", "exists": "is not blank", "not_exists": "is blank"}  # fmt: skip
    value = "" if flt["op"] in ("exists", "not_exists") else f" {flt.get('value')!r}"
    return f"{flt['field']} {words[flt['op']]}{value}"
