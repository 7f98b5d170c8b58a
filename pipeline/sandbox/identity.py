"""Which profile a `/users/track` object addresses, and whether it may create one (reference 3.2–3.3).

- One primary identifier at most (`external_id`, `user_alias`, `braze_id`); without one, `email`
  is the lookup key, else `phone`; with none of them the object is invalid.
- Several profiles sharing an email or phone: the most recently updated one with an external_id,
  else the most recently updated one.
- Creation: `external_id`, `email` and `phone` create unless `_update_existing_only` is true;
  `user_alias` creates only in attributes and only with `_update_existing_only: false`; events
  and purchases never create alias-only profiles; `braze_id` never creates.
- A target that may not be created is skipped silently: the object counts as processed, as
  Braze's asynchronous endpoint cannot tell (stricter reading; see the request log's outcome).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.braze import rules
from pipeline.sandbox.attributes import Invalid
from pipeline.sandbox.users import User, UserStore


@dataclass(frozen=True)
class Target:
    user: User | None
    lookup: str
    value: Any
    may_create: bool

    @property
    def skip_reason(self) -> str | None:
        if self.user is not None or self.may_create:
            return None
        if self.lookup == "braze_id":
            return "unknown braze_id (braze_id never creates users)"
        return f"no user with this {self.lookup} and creation not allowed (_update_existing_only)"


def identify(store: UserStore, obj: Mapping[str, Any], array: str) -> Target:
    primaries = [key for key in rules.PRIMARY_IDENTIFIERS if key in obj]
    if len(primaries) > 1:
        raise Invalid(f"only one of 'external_id', 'user_alias' or 'braze_id' may be given, not {primaries}")
    flag = obj.get("_update_existing_only")
    if flag is not None and not isinstance(flag, bool):
        raise Invalid("'_update_existing_only' must be true or false")
    lookup = rules.lookup_identifier(obj)
    if lookup is None:
        raise Invalid(rules.IDENTIFIER_REQUIRED)
    value = obj[lookup]
    if lookup == "external_id":
        problem = rules.external_id_error(value)
        if problem:
            raise Invalid(problem)
        return Target(store.get_external(value), lookup, value, flag is not True)
    if lookup == "user_alias":
        problem = rules.alias_error(value)
        if problem:
            raise Invalid(problem)
        user = store.get_alias(value["alias_label"], value["alias_name"])
        return Target(user, lookup, value, array == "attributes" and flag is False)
    if lookup == "braze_id":
        if not isinstance(value, str) or not value:
            raise Invalid("'braze_id' must be a non-empty string")
        return Target(store.by_braze.get(value), lookup, value, False)
    if lookup == "email":
        if not rules.is_valid_email(value):
            raise Invalid(rules.error_text("EMAIL_BAD_FORMAT"))
        return Target(store.get_email(value), lookup, value, flag is not True)
    if not rules.is_valid_phone(value):
        raise Invalid("'phone' must be a valid phone number to look a user up by it (E.164, e.g. +15555550123)")
    phone = rules.normalize_phone(value)
    return Target(store.get_phone(phone), lookup, phone, flag is not True)


def create(store: UserStore, target: Target, now: datetime) -> User:
    user = store.create(now)
    if target.lookup == "external_id":
        store.set_external_id(user, target.value)
    elif target.lookup == "user_alias":
        store.add_alias(user, target.value["alias_label"], target.value["alias_name"])
    else:
        store.set_contact(user, target.lookup, target.value)
    return user
