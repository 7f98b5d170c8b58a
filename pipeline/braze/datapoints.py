"""Data points one `/users/track` object costs, as Braze bills them (reference section 8).

Braze takes API data at face value: an unchanged value costs the same as a new one. The rules:

- every attribute key costs 1; setting it to `null` (removing it) costs 1; a standard attribute
  (e.g. `current_location`, `first_name`) costs 1 whatever its shape;
- identifiers (`external_id`, `user_alias`, `braze_id`) and the flags `_update_existing_only`
  and `_merge_objects` are free; `email` and `phone` are free only when they are the lookup key
  (no primary identifier in the object; with both, `email` is the lookup and `phone` is billed);
- `email_subscribe`, `push_subscribe`, `subscription_groups` and `push_tokens` are free;
- a whole array costs 1; `{"add": [...]}` / `{"remove": [...]}` cost 1 per value;
- a nested object costs 1 per leaf key (deeply); a whole array of objects costs the leaf keys of
  its items; `$add` costs the leaf keys of the items added, `$remove` 1 per item, `$update` the
  leaf keys of each `$new_object`;
- every event and every purchase object costs 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.braze.rules import (
    FLAGS,
    FREE_ATTRIBUTES,
    PRIMARY_IDENTIFIERS,
    STANDARD_ATTRIBUTES,
    lookup_identifier,
    value_kind,
)


def leaf_count(value: Any) -> int:
    """Leaf keys of a nested object; an empty object, a `$time` or a list is one leaf."""
    if isinstance(value, Mapping) and value and set(value) != {"$time"}:
        return sum(leaf_count(item) for item in value.values())
    return 1


def value_points(value: Any) -> int:
    """Data points of one custom (or billable standard) attribute value."""
    kind = value_kind(value)
    if kind == "array_ops":
        return sum(len(v) if isinstance(v, list) else 1 for v in value.values())
    if kind == "object":
        return leaf_count(value)
    if kind == "object_array":
        return sum(leaf_count(item) for item in value)
    if kind == "object_array_ops":
        points = 0
        for op, items in value.items():
            for item in items if isinstance(items, list) else [items]:
                if op == "$add":
                    points += leaf_count(item)
                elif op == "$update" and isinstance(item, Mapping):
                    points += leaf_count(item.get("$new_object", {}))
                else:
                    points += 1
        return points
    return 1


def attribute_points(obj: Mapping[str, Any]) -> int:
    """Data points of one attributes object."""
    lookup = lookup_identifier(obj)
    points = 0
    for key, value in obj.items():
        if key in PRIMARY_IDENTIFIERS or key in FLAGS or key in FREE_ATTRIBUTES or key == lookup:
            continue
        points += 1 if key in STANDARD_ATTRIBUTES else value_points(value)
    return points


def request_points(
    attributes: Iterable[Mapping[str, Any]] = (),
    events: Iterable[Any] = (),
    purchases: Iterable[Any] = (),
) -> int:
    """Data points of a whole `/users/track` body, if every object is applied."""
    return sum(attribute_points(obj) for obj in attributes) + len(list(events)) + len(list(purchases))
