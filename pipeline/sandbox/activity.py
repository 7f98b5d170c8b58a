"""Event and purchase objects of `/users/track` (reference 3.6), summarised as exports show them.

A profile keeps, per event name and per product, the first and last time and a count, which is
what `custom_events` and `purchases` hold in a segment export (reference 4.4); purchases add
`price * quantity` to `total_revenue`. Future times are replaced by the current time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pipeline.braze import rules
from pipeline.sandbox.attributes import Invalid
from pipeline.sandbox.users import User

_RESERVED_EVENT_PROPERTIES = frozenset({"time", "event_name"})
_RESERVED_PURCHASE_PROPERTIES = frozenset({"time", "product_id", "quantity", "event_name", "price", "currency"})
_MAX_PURCHASE_PROPERTIES_BYTES = 50 * 1024


def check_event(obj: Mapping[str, Any], now: datetime) -> tuple[str, datetime]:
    name = obj.get("name")
    if not isinstance(name, str) or not name or len(name) > rules.MAX_STRING_CHARS:
        raise Invalid(f"'name' is required: a string of 1 to {rules.MAX_STRING_CHARS} characters")
    _properties(obj.get("properties"), _RESERVED_EVENT_PROPERTIES, rules.MAX_NESTED_BYTES)
    return name, _time(obj, now)


def check_purchase(obj: Mapping[str, Any], now: datetime) -> tuple[str, datetime, float, int]:
    product = obj.get("product_id")
    if not isinstance(product, str) or not product or len(product) > rules.MAX_STRING_CHARS:
        raise Invalid(f"'product_id' is required: a string of 1 to {rules.MAX_STRING_CHARS} characters")
    if not isinstance(obj.get("currency"), str) or not re.fullmatch(r"[A-Z]{3}", obj["currency"]):
        raise Invalid("'currency' is required: an ISO 4217 code such as 'USD'")
    price = obj.get("price")
    if not isinstance(price, int | float) or isinstance(price, bool):
        raise Invalid("'price' is required: a number")
    quantity = obj.get("quantity", 1)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= rules.MAX_PURCHASE_QUANTITY:
        raise Invalid(f"'quantity' must be an integer from 1 to {rules.MAX_PURCHASE_QUANTITY}")
    _properties(obj.get("properties"), _RESERVED_PURCHASE_PROPERTIES, _MAX_PURCHASE_PROPERTIES_BYTES)
    return product, _time(obj, now), float(price), quantity


def record(summaries: dict[str, dict[str, Any]], name: str, moment: datetime, count: int) -> None:
    entry = summaries.get(name)
    if entry is None:
        summaries[name] = {"first": moment, "last": moment, "count": count}
    else:
        entry["first"] = min(entry["first"], moment)
        entry["last"] = max(entry["last"], moment)
        entry["count"] += count


def apply_purchase(user: User, product: str, moment: datetime, price: float, quantity: int) -> None:
    record(user.purchases, product, moment, quantity)
    user.total_revenue += price * quantity


def _time(obj: Mapping[str, Any], now: datetime) -> datetime:
    moment = rules.parse_time(obj.get("time"))
    if moment is None:
        raise Invalid("'time' is required: an ISO 8601 date-time such as 2026-01-05T10:00:00Z")
    return min(moment, now)


def _properties(props: Any, reserved: frozenset[str], max_bytes: int) -> None:
    if props is None:
        return
    if not isinstance(props, Mapping):
        raise Invalid("'properties' must be an object")
    import json

    if len(json.dumps(props).encode()) > max_bytes:
        raise Invalid(f"'properties' is larger than {max_bytes // 1024} KB")
    for key, value in props.items():
        if not key or len(key) > rules.MAX_STRING_CHARS or key.startswith("$") or key in reserved:
            raise Invalid(f"property name {key!r} is empty, too long, starts with '$' or is reserved")
        if isinstance(value, str) and len(value) > rules.MAX_STRING_CHARS:
            raise Invalid(f"property {key!r} is longer than {rules.MAX_STRING_CHARS} characters")
