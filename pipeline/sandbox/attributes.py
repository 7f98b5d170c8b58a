"""One `/users/track` attributes object: validated into operations, then applied (reference 3.4–3.5).

`plan()` checks every key against the user as it stands and raises `Invalid` on the first bad
value, so an object is applied whole or not at all. Semantics:

- a value sets the attribute, `null` removes it (`external_id` and `user_alias` cannot be removed);
- `{"inc": n}` adds an integer to an integer attribute (absent counts as 0);
- a list of scalars replaces the array (duplicates collapse); `{"add": [...], "remove": [...]}`
  appends (a re-added value moves to the end), then removes; more than 500 values is invalid;
- an object replaces the stored object, or deep-merges into it with `"_merge_objects": true`;
- arrays of objects: a list replaces, `$add` appends, `$remove` / `$update` match items on
  `$identifier_key` = `$identifier_value` (`$update` deep-merges `$new_object`); an array of
  objects over 100 KB is dropped silently, as Braze does;
- strings in a Braze time format are stored as times; `{"$time": ...}` marks times in objects;
- an invalid nested value (null inside, bad `$time`, bad key) invalidates its object, and the
  track handler drops every nested update of the request (see `nested_error`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from pipeline.braze import rules
from pipeline.sandbox.users import User, UserStore, to_json


class Invalid(Exception):
    """An invalid value; `str()` is the minor error's `type`."""


@dataclass(frozen=True)
class Op:
    kind: str  # set | unset | std | std_unset | contact | groups | tokens
    key: str
    value: Any = None
    nested: bool = False


def plan(obj: Mapping[str, Any], user: User | None, lookup: str | None) -> list[Op]:
    merge = obj.get("_merge_objects", False)
    if not isinstance(merge, bool):
        raise Invalid("'_merge_objects' must be true or false")
    ops: list[Op] = []
    for raw_key, value in obj.items():
        if raw_key in rules.PRIMARY_IDENTIFIERS or raw_key in rules.FLAGS or raw_key == lookup:
            continue
        if raw_key in rules.STANDARD_ATTRIBUTES:
            op = _standard(raw_key, value)
        else:
            op = _custom(raw_key.strip(), value, user.custom if user else {}, merge)
        if op is not None:
            ops.append(op)
    return ops


def custom_op(name: str, value: Any, user: User | None, merge: bool = False) -> Op | None:
    """The operation for one custom attribute, e.g. from an export's `custom_attributes`."""
    return _custom(name.strip(), value, user.custom if user else {}, merge)


def apply(store: UserStore, user: User, ops: list[Op]) -> None:
    for op in ops:
        if op.kind == "set":
            user.custom[op.key] = op.value
        elif op.kind == "unset":
            user.custom.pop(op.key, None)
        elif op.kind == "std":
            user.standard[op.key] = op.value
            if op.key == "email_subscribe" and user.standard.get("email"):
                for other in store.all_with_email(user.standard["email"]):  # shared inbox, shared state
                    other.standard["email_subscribe"] = op.value
        elif op.kind == "std_unset":
            user.standard.pop(op.key, None)
        elif op.kind == "contact":
            store.set_contact(user, op.key, op.value)
        elif op.kind == "groups":
            user.subscription_groups.update(op.value)
        elif op.kind == "tokens":
            known = {t["token"] for t in user.push_tokens}
            user.push_tokens += [t for t in op.value if t["token"] not in known]
    store.touch(user)


def nested_error(obj: Mapping[str, Any]) -> str | None:
    """The first invalid nested value of an attributes object, checked without any user."""
    for key, value in obj.items():
        if not isinstance(value, dict | list) or key in rules.STANDARD_ATTRIBUTES or key in rules.PRIMARY_IDENTIFIERS:
            continue
        if not rules.is_nested(value):
            continue
        try:
            _custom(key.strip(), value, {}, merge=False)
        except Invalid as exc:
            return str(exc)
    return None


# -- standard attributes ------------------------------------------------------------------------


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _standard(key: str, value: Any) -> Op | None:
    if key in ("email", "phone"):
        if value is None:
            return Op("contact", key)
        if key == "email" and not rules.is_valid_email(value):
            raise Invalid(rules.error_text("EMAIL_BAD_FORMAT"))
        if key == "phone" and not rules.is_valid_phone(value):
            raise Invalid("'phone' must be a valid phone number, E.164 recommended (e.g. +15555550123)")
        return Op("contact", key, value if key == "email" else rules.normalize_phone(value))
    if key in ("email_subscribe", "push_subscribe"):
        if value not in rules.SUBSCRIPTION_STATES:
            raise Invalid(rules.error_text(f"BAD_{key.split('_')[0].upper()}_SUBSCRIPTION_STATE"))
        return Op("std", key, value)
    if key == "subscription_groups":
        return Op("groups", key, _subscription_groups(value))
    if key == "push_tokens":
        return Op("tokens", key, _push_tokens(value))
    if value is None:
        return Op("std_unset", "last_coordinates" if key == "current_location" else key)
    if key in rules.STRING_ATTRIBUTES:
        return Op("std", key, _string(key, value))
    if key in rules.BOOLEAN_ATTRIBUTES:
        if not isinstance(value, bool):
            raise Invalid(f"'{key}' must be true or false")
        return Op("std", key, value)
    if key in rules.DATE_ATTRIBUTES:
        moment = rules.parse_time(value)
        if moment is None:
            raise Invalid(f"'{key}' must be a date, e.g. 2026-01-05T10:00:00Z")
        return Op("std", key, moment)
    if key == "country":
        text = _string(key, value).strip()
        # Braze maps country names it knows and stores null otherwise; the sandbox knows codes only.
        return Op("std", key, text.upper()) if len(text) == 2 and text.isalpha() else Op("std_unset", key)
    if key == "language":
        if not (isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha()):
            raise Invalid("'language' must be an ISO-639-1 code such as 'en'")
        return Op("std", key, value.lower())
    if key == "gender":
        if value not in rules.GENDERS:
            raise Invalid("'gender' must be one of M, F, O, N, P or null")
        return Op("std", key, value)
    if key == "dob":
        if rules.parse_dob(value) is None:
            raise Invalid("'dob' must be a date in the form YYYY-MM-DD")
        return Op("std", key, value)
    if key == "time_zone":
        return Op("std", key, value) if value in _time_zones() else None  # Braze ignores bad zones
    if key == "current_location":
        lon, lat = (value.get("longitude"), value.get("latitude")) if isinstance(value, Mapping) else (None, None)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)) or not (
            -180 <= lon <= 180 and -90 <= lat <= 90
        ):
            raise Invalid(rules.error_text("BAD_LOCATION_UPDATE"))
        return Op("std", "last_coordinates", [lon, lat])
    if not isinstance(value, Mapping):  # facebook, twitter
        raise Invalid(f"'{key}' must be an object")
    return Op("std", key, dict(value))


def _subscription_groups(value: Any) -> dict[str, str]:
    if not isinstance(value, list):
        raise Invalid(rules.error_text("BAD_SUBSCRIPTION_GROUP_ARRAY"))
    groups = {}
    for item in value:
        if not isinstance(item, Mapping) or not {"subscription_group_id", "subscription_state"} <= set(item):
            raise Invalid(rules.error_text("BAD_SUBSCRIPTION_GROUP_HASH"))
        if not rules.is_subscription_group_id(item["subscription_group_id"]):
            raise Invalid(rules.error_text("BAD_SUBSCRIPTION_GROUP_ID"))
        if item["subscription_state"] not in rules.SUBSCRIPTION_GROUP_STATES:
            raise Invalid(rules.error_text("BAD_SUBSCRIPTION_GROUP_STATE"))
        groups[item["subscription_group_id"]] = item["subscription_state"]
    return groups


def _push_tokens(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
        raise Invalid(rules.error_text("BAD_PUSH_TOKEN_IMPORT"))
    tokens = []
    for item in value:
        if not isinstance(item.get("app_id"), str) or not item["app_id"]:
            raise Invalid(rules.error_text("BAD_PUSH_TOKEN_APP_ID"))
        if not isinstance(item.get("token"), str) or not item["token"]:
            raise Invalid(rules.error_text("BAD_PUSH_TOKEN_STRING"))
        device = item.get("device_id")
        if device is not None and not (isinstance(device, str) and 8 <= len(device.encode()) <= 255):
            raise Invalid(rules.error_text("BAD_DEVICE_ID"))
        token = {"app": item["app_id"], "token": item["token"], "notifications_enabled": True}
        if device:
            token["device_id"] = device
        tokens.append(token)
    return tokens


# -- custom attributes -----------------------------------------------------------------------------


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"'{name}' must be a string")
    if len(value) > rules.MAX_STRING_CHARS:
        raise Invalid(f"'{name}' is longer than {rules.MAX_STRING_CHARS} characters")
    return value


def _custom(name: str, value: Any, current: Mapping[str, Any], merge: bool) -> Op | None:
    if not name or len(name) > rules.MAX_STRING_CHARS:
        raise Invalid(f"custom attribute names must be 1 to {rules.MAX_STRING_CHARS} characters")
    kind = rules.value_kind(value)
    old = current.get(name)
    if kind == "null":
        return Op("unset", name)
    if kind == "scalar":
        if isinstance(value, str):
            text = _string(name, value)
            return Op("set", name, rules.parse_time(text) or text)
        return Op("set", name, value)
    if kind == "time":
        return Op("set", name, _time(name, value["$time"]))
    if kind == "array":
        return Op("set", name, _array(name, _unique(_scalars(name, value))))
    if kind == "inc":
        step = value["inc"]
        if not isinstance(step, int) or isinstance(step, bool):
            raise Invalid(f"'{name}': 'inc' needs an integer")
        if old is not None and (not isinstance(old, int) or isinstance(old, bool)):
            raise Invalid(f"'{name}' holds a non-integer value and cannot be incremented")
        return Op("set", name, (old or 0) + step)
    if kind == "array_ops":
        if old is not None and not isinstance(old, list):
            raise Invalid(f"'{name}' is not an array; 'add'/'remove' need an array attribute")
        items = list(old or [])
        for item in _scalars(name, value.get("add", [])):
            if item in items:
                items.remove(item)
            items.append(item)
        drop = _scalars(name, value.get("remove", []))
        return Op("set", name, _array(name, [item for item in items if item not in drop]))
    if kind == "object":
        stored = _nested_object(name, value)
        if merge and isinstance(old, dict):
            stored = _deep_merge(old, stored)
        _check_size(name, stored)
        return Op("set", name, stored, nested=True)
    if kind == "object_array":
        items = [_nested_object(name, item) for item in value]
        return Op("set", name, items, nested=True) if _fits(items) else None
    if kind == "object_array_ops":
        items = _object_array_ops(name, value, old)
        return Op("set", name, items, nested=True) if _fits(items) else None
    raise Invalid(f"'{name}' has an unsupported value; use a string, number, boolean, array, object or null")


def _scalars(name: str, values: Any) -> list[Any]:
    if not isinstance(values, list) or not all(rules.is_scalar(v) for v in values):
        raise Invalid(f"'{name}': array values must be strings, numbers or booleans")
    for v in values:
        if isinstance(v, str):
            _string(name, v)
    return values


def _unique(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _array(name: str, values: list[Any]) -> list[Any]:
    if len(values) > rules.MAX_ARRAY_ITEMS:
        raise Invalid(f"'{name}' would hold {len(values)} values; arrays hold at most {rules.MAX_ARRAY_ITEMS}")
    return values


def _time(name: str, text: Any) -> Any:
    moment = rules.parse_time(text)
    if moment is None:
        raise Invalid(f"'{name}': invalid $time value {text!r}")
    return moment


def _nested_object(path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(f"'{path}': nested values must be objects")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > rules.MAX_STRING_CHARS:
            raise Invalid(f"'{path}': nested keys must be 1 to {rules.MAX_STRING_CHARS} characters")
        if " " in key or "." in key or "$" in key:
            raise Invalid(f"'{path}.{key}': nested keys cannot contain spaces, '.' or '$'")
        out[key] = _nested_value(f"{path}.{key}", item)
    return out


def _nested_value(path: str, value: Any) -> Any:
    if value is None:
        raise Invalid(f"'{path}': null is not allowed inside a nested object")
    if isinstance(value, str):
        return _string(path, value)
    if rules.is_scalar(value):
        return value
    if isinstance(value, Mapping) and set(value) == {"$time"}:
        return _time(path, value["$time"])
    if isinstance(value, Mapping):
        return _nested_object(path, value)
    if isinstance(value, list):
        return [_nested_value(f"{path}[{i}]", item) for i, item in enumerate(value)]
    raise Invalid(f"'{path}': unsupported nested value")


def _deep_merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        merged[key] = (
            _deep_merge(merged[key], value) if isinstance(merged.get(key), dict) and isinstance(value, dict) else value
        )
    return merged


def _size(value: Any) -> int:
    return len(json.dumps(to_json(value), separators=(",", ":")).encode())


def _check_size(name: str, value: Any) -> None:
    if _size(value) > rules.MAX_NESTED_BYTES:
        raise Invalid(f"'{name}' is larger than {rules.MAX_NESTED_BYTES // 1024} KB")


def _fits(items: list[Any]) -> bool:
    return _size(items) <= rules.MAX_NESTED_BYTES


def _object_array_ops(name: str, ops: Mapping[str, Any], old: Any) -> list[dict[str, Any]]:
    if old is not None and not (isinstance(old, list) and all(isinstance(i, dict) for i in old)):
        raise Invalid(f"'{name}' is not an array of objects; $add/$remove/$update need one")
    items = [dict(i) for i in old or []]
    for op in ("$add", "$remove", "$update"):
        entries = ops.get(op, [])
        if not isinstance(entries, list):
            raise Invalid(f"'{name}': '{op}' must be an array")
        for entry in entries:
            if op == "$add":
                items.append(_nested_object(name, entry))
                continue
            if not isinstance(entry, Mapping) or not isinstance(entry.get("$identifier_key"), str):
                raise Invalid(f"'{name}': each '{op}' item needs '$identifier_key' and '$identifier_value'")
            key, wanted = entry["$identifier_key"], entry.get("$identifier_value")
            if op == "$remove":
                items = [i for i in items if i.get(key) != wanted]
            else:
                new = _nested_object(name, entry.get("$new_object"))
                items = [_deep_merge(i, new) if i.get(key) == wanted else i for i in items]
    return items
