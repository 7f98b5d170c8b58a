"""Checks of single values in a connection file, each failing with the fix and a did-you-mean.

They raise pydantic's `PydanticCustomError` of type `profilesync` so that pydantic collects
every failure of a file in one pass; `pydantic_errors.py` turns them into `MappingError`s.
The message travels in the context, not the template, so braces in user input stay literal.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from typing import NoReturn

from croniter import CroniterBadDateError, croniter
from email_validator import EmailNotValidError, validate_email
from pydantic_core import PydanticCustomError

from pipeline.braze.client import validate_base_url
from pipeline.mapping import braze_fields as bf
from pipeline.storage import StorageError, split_uri

ERROR_TYPE = "profilesync"
NAME_PATTERN = r"^[a-z](?!.*__)[a-z0-9_]*$"
PROPERTY_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
CHANNEL_PATTERN = r"^[a-z][a-z0-9_]*$"
TAG_PATTERN = r"^[A-Za-z0-9_.-]{1,63}$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
ENV_REFERENCE_PATTERN = r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$"


def fail(message: str, fix: str, suggestion: str | None = None, at_key: str | None = None) -> NoReturn:
    """Fail validation; `at_key` points the error at that key of the value instead of the value."""
    context = {"message": message, "fix": fix, "suggestion": suggestion, "at_key": at_key}
    raise PydanticCustomError(ERROR_TYPE, "{message}", context)


def closest(value: object, choices: Iterable[str]) -> str | None:
    """The allowed value the input is most likely a typo of, if any is close enough."""
    matches = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def as_name(value: str) -> str:
    """A best guess at the valid name the author meant: `Loyal-Users` → `loyal_users`."""
    slug = re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", value.lower())).strip("_")
    return slug if slug[:1].isalpha() else f"n_{slug}".rstrip("_")


def name(kind: str):
    """Connection, goal and segment names: they become Dagster asset keys and group names."""

    def check(value: str) -> str:
        if not re.fullmatch(NAME_PATTERN, value):
            fix = (
                "use lower-case letters, digits and single underscores, starting with a letter; "
                "it becomes part of Dagster asset keys and `connection__goal` group names"
            )
            fail(f"{kind} name {value!r} is not allowed", fix, as_name(value) or None)
        return value

    return check


def property_name(value: str) -> str:
    if not re.fullmatch(PROPERTY_PATTERN, value):
        fix = "use letters, digits and _, starting with a letter; it becomes a column of the profiles"
        fail(f"profile property {value!r} is not a valid name", fix, as_name(value) or None)
    return value


def channel_name(value: str) -> str:
    """Permission channels are named in `{from: {permission: <channel>}}`."""
    if not re.fullmatch(CHANNEL_PATTERN, value):
        fix = "use lower-case letters, digits and _, starting with a letter, e.g. email or push"
        fail(f"permission channel name {value!r} is not allowed", fix, as_name(value) or None)
    return value


def subscription_state(value: str) -> str:
    """A level must map to a state Braze accepts: anything else would be refused per user at run time."""
    if value not in bf.SUBSCRIPTION_STATES:
        states = ", ".join(bf.SUBSCRIPTION_STATES)
        fail(
            f"unmappable level: {value!r} is not a Braze subscription state",
            f"map every level to one of {states}: the states email_subscribe and push_subscribe accept",
            closest(value, bf.SUBSCRIPTION_STATES),
        )
    return value


def prefix(value: str) -> str:
    if not re.fullmatch(PROPERTY_PATTERN, value):
        fail(
            f"prefix {value!r} does not start a valid property name", "use letters, digits and _, e.g. braze_"
        )
    return value


def tag(value: str) -> str:
    if not re.fullmatch(TAG_PATTERN, value):
        fail(f"tag {value!r} is not allowed", "use 1 to 63 letters, digits, _, . or -, e.g. crm")
    return value


def cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5:
        fail(
            f"schedule {value!r} has {len(fields)} fields, not 5",
            "write minute hour day-of-month month day-of-week in UTC, e.g. '0 3 * * *' for 03:00 daily",
        )
    if not croniter.is_valid(value):
        fail(f"schedule {value!r} is not a valid cron expression", "e.g. '0 3 * * *' runs daily at 03:00 UTC")
    try:
        croniter(value, dt.datetime(2000, 1, 1)).get_next(dt.datetime)
    except CroniterBadDateError:
        fail(
            f"schedule {value!r} never fires",
            "pick a day that exists, e.g. '0 3 28 2 *' instead of 30 February",
        )
    return " ".join(fields)


def date(value: object) -> object:
    """Runs before pydantic's own date parsing, which would also accept timestamps and numbers."""
    fix = "write a calendar date as YYYY-MM-DD, e.g. 2026-11-01"
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        fail(f"start_date {value!r} is not a date", fix)
    if not re.fullmatch(DATE_PATTERN, value):
        fail(f"start_date {value!r} is not in YYYY-MM-DD form", fix)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"start_date {value!r} is not a real date", fix)


def import_braze_field(value: str) -> str:
    if value in bf.STANDARD_IMPORT_FIELDS:
        return value
    if value.startswith(bf.CUSTOM_ATTRIBUTE_PREFIX):
        path = value[len(bf.CUSTOM_ATTRIBUTE_PREFIX) :]
        if path and all(part.strip() for part in path.split(".")):
            return value
        fail(
            f"braze field {value!r} has an empty attribute name",
            "write custom_attributes.<name>, e.g. ...points",
        )
    suggestion = closest(value, bf.STANDARD_IMPORT_FIELDS)
    fix = "use a standard Braze field (first_name, email, country, ...) or custom_attributes.<name>"
    if suggestion is None and value not in ("custom_attributes", "custom_attributes."):
        suggestion = f"{bf.CUSTOM_ATTRIBUTE_PREFIX}{value}" if re.fullmatch(PROPERTY_PATTERN, value) else None
    fail(f"unknown braze field {value!r}", fix, suggestion)


def identifier(allowed: tuple[str, ...]):
    """Braze identifiers: the fixed kinds, or `user_alias:<label>` for one alias label."""

    def check(value: str) -> str:
        if value in allowed:
            return value
        if value.startswith(bf.USER_ALIAS_PREFIX):
            label = value[len(bf.USER_ALIAS_PREFIX) :]
            if label.strip() and len(label.encode()) <= bf.ALIAS_LABEL_MAX_BYTES:
                return value
            fail(
                f"user alias label in {value!r} is empty or longer than {bf.ALIAS_LABEL_MAX_BYTES} bytes",
                "write user_alias:<label>, e.g. user_alias:crm_id",
            )
        fix = f"use one of {', '.join(allowed)} or user_alias:<label>"
        fail(f"unknown braze identifier {value!r}", fix, closest(value, [*allowed, "user_alias"]))

    return check


def attribute_name(value: str) -> str:
    fix = f"use 1 to {bf.ATTRIBUTE_NAME_MAX_CHARS} characters, not starting with $ or ."
    if not value.strip():
        fail("braze attribute name is empty", fix)
    if value[0] in "$.":
        fail(f"braze attribute name {value!r} starts with {value[0]!r}", fix, value.lstrip("$.") or None)
    if len(value) > bf.ATTRIBUTE_NAME_MAX_CHARS:
        fail(f"braze attribute name is {len(value)} characters long", fix)
    return value


def email(value: str) -> str:
    """A notification address, checked by email-validator (what pydantic's EmailStr uses), without
    a DNS lookup so validation works offline; the message keeps this file's file:line format."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        fail(f"{value!r} is not a valid e-mail address", "write name@example.com, without spaces")
    return value


def storage_uri(value: str) -> str:
    """A bad root fails at load, not halfway through a run."""
    try:
        split_uri(value)
    except StorageError as exc:
        message, _, fix = str(exc).partition("; ")
        fail(message, fix)
    return value


def rest_endpoint(value: str) -> str:
    try:
        return validate_base_url(value)
    except ValueError as exc:
        message, _, fix = str(exc).partition("; ")
        fail(message, fix)


def env_reference(value: str) -> str:
    """`${NAME}` → `NAME`; the value itself must never be read or shown at load time."""
    found = re.fullmatch(ENV_REFERENCE_PATTERN, value)
    if found is None:
        fail(
            "braze.api_key must name an environment variable, not hold the key",
            "put the key in an environment variable and write api_key: ${BRAZE_API_KEY}",
        )
    return found.group(1)
