"""Profile values as Braze values: typed, canonical, and checked against Braze's limits.

Everything an export goal compares or sends is canonical JSON text (sorted keys, no spaces),
so equal values are equal strings and a diff never sends a value that only looks different.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pipeline.braze import rules
from pipeline.push.frames import canonical, identity_text

SUBSCRIPTION_ATTRIBUTES = ("email_subscribe", "push_subscribe")


class InvalidValue(ValueError):
    """A value Braze would refuse; the message is the dead-letter reason."""


def to_braze(value: Any) -> Any:
    """A Python value read from a Parquet profile, as the JSON value Braze expects.

    Datetimes become ISO 8601 in UTC with `Z` (Braze's preferred time format), dates
    `YYYY-MM-DD`, decimals floats; lists and structs keep their shape. Infinity and NaN are
    kept as they are, so `check` refuses them: made into "no value" they would be sent as
    `null`, which deletes the attribute in Braze.
    """
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): to_braze(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_braze(v) for v in value]
    return value


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def check(attribute: str, value: Any) -> Any:
    """`value` made ready for `attribute` (arrays de-duplicated), or InvalidValue with the reason."""
    bad = _non_finite(value)
    if bad is not None:
        raise InvalidValue(
            f"not a finite number ({bad}); JSON has no such number and Braze would store null, "
            "deleting the attribute (a sum that overflowed?)"
        )
    if attribute == "email" and not rules.is_valid_email(value):
        raise InvalidValue(f"{value!r} is not an e-mail address Braze accepts (EMAIL_BAD_FORMAT)")
    if attribute == "phone" and not rules.is_valid_phone(value):
        raise InvalidValue(f"{value!r} is not a phone number Braze accepts (E.164, e.g. +15555550123)")
    if attribute in SUBSCRIPTION_ATTRIBUTES and (not isinstance(value, str) or value not in rules.SUBSCRIPTION_STATES):
        states = ", ".join(sorted(rules.SUBSCRIPTION_STATES))
        raise InvalidValue(f"{attribute} must be one of {states}, not {value!r}")
    if attribute == "dob" and rules.parse_dob(value) is None:
        raise InvalidValue(f"dob must be YYYY-MM-DD, not {value!r}")
    if isinstance(value, str) and len(value) > rules.MAX_STRING_CHARS:
        raise InvalidValue(f"text of {len(value)} characters; Braze keeps at most {rules.MAX_STRING_CHARS}")
    if isinstance(value, list):
        if any(isinstance(item, Mapping) for item in value):
            if len(canonical(value).encode()) > rules.MAX_NESTED_BYTES:
                raise InvalidValue(f"array of objects over {rules.MAX_NESTED_BYTES // 1024} KB")
            return value
        unique = list(dict.fromkeys(canonical(item) for item in value))
        if len(unique) > rules.MAX_ARRAY_ITEMS:
            raise InvalidValue(f"array of {len(unique)} distinct values; Braze keeps at most {rules.MAX_ARRAY_ITEMS}")
        for item in value:
            if isinstance(item, str) and len(item) > rules.MAX_STRING_CHARS:
                raise InvalidValue(f"array item of {len(item)} characters; at most {rules.MAX_STRING_CHARS}")
        return [json.loads(item) for item in unique]
    if isinstance(value, Mapping):
        size = len(canonical(value).encode())
        if size > rules.MAX_NESTED_BYTES:
            raise InvalidValue(f"nested object of {size} bytes; Braze keeps at most {rules.MAX_NESTED_BYTES}")
        bad = [key for key in _keys(value) if "." in key or "$" in key or " " in key or len(key) > 255]
        if bad:
            raise InvalidValue(f"nested keys {bad[:3]} contain '.', '$' or spaces, which Braze refuses")
    return value


def _non_finite(value: Any) -> str | None:
    """`inf`, `-inf` or `nan` when `value` is, or holds at any depth, such a float."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    items = value.values() if isinstance(value, Mapping) else value if isinstance(value, list | tuple) else ()
    for item in items:
        found = _non_finite(item)
        if found is not None:
            return found
    return None


def printable(value: Any) -> Any:
    """`value` with every non-finite float as its text (`"inf"`), for dead letters written as JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable(v) for v in value]
    return value


def _keys(value: Mapping[str, Any]) -> list[str]:
    keys = []
    for key, inner in value.items():
        keys.append(str(key))
        if isinstance(inner, Mapping):
            keys += _keys(inner)
    return keys


def identity(kind: str, value: str) -> str:
    """The canonical Braze identifier object for a profile identifier value.

    `kind` is the export mapping's Braze identifier: external_id, braze_id, email, phone or
    `user_alias:<label>`.
    """
    if kind.startswith("user_alias:"):
        alias = {"alias_label": kind.split(":", 1)[1], "alias_name": value}
        problem = rules.alias_error(alias)
        if problem:
            raise InvalidValue(problem)
        return identity_text({"user_alias": alias})
    if kind == "external_id":
        problem = rules.external_id_error(value)
        if problem:
            raise InvalidValue(problem)
    if kind == "email" and not rules.is_valid_email(value):
        raise InvalidValue(f"{value!r} is not an e-mail address Braze accepts as an identifier")
    if kind == "phone" and not rules.is_valid_phone(value):
        raise InvalidValue(f"{value!r} is not a phone number Braze accepts as an identifier")
    return identity_text({kind: value})
