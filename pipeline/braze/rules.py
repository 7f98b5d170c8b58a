"""Braze's validation facts as pure functions and constants.

Shared by the sandbox (which enforces them) and by export code (which checks payloads before
sending). Every number and value list comes from `reference/braze-api.md`; where Braze's pages
are silent or disagree, the stricter reading is kept and marked "(stricter)".
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import phonenumbers

MAX_TRACK_OBJECTS = 75  # per request in total (current rule), or per array (legacy rule)
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_STRING_CHARS = 255
MAX_ARRAY_ITEMS = 500
MAX_EXTERNAL_ID_BYTES = 987
MAX_ALIAS_PART_BYTES = 236
MAX_NESTED_BYTES = 100 * 1024
MAX_PURCHASE_QUANTITY = 100
MAX_EXPORT_IDS = 50
MAX_CUSTOM_ATTRIBUTES_TO_EXPORT = 500
PAGE_SIZE = 100  # /segments/list and /campaigns/list

PRIMARY_IDENTIFIERS = ("external_id", "user_alias", "braze_id")
SECONDARY_IDENTIFIERS = ("email", "phone")  # lookup keys only when no primary identifier is present
FLAGS = ("_update_existing_only", "_merge_objects")
SUBSCRIPTION_STATES = frozenset({"opted_in", "subscribed", "unsubscribed"})
SUBSCRIPTION_GROUP_STATES = frozenset({"subscribed", "unsubscribed"})
GENDERS = frozenset({"M", "F", "O", "N", "P"})
# Attributes Braze does not bill (section 8).
FREE_ATTRIBUTES = frozenset({"email_subscribe", "push_subscribe", "subscription_groups", "push_tokens"})
STRING_ATTRIBUTES = frozenset({"first_name", "last_name", "home_city"})
BOOLEAN_ATTRIBUTES = frozenset({"email_open_tracking_disabled", "email_click_tracking_disabled"})
DATE_ATTRIBUTES = frozenset({"date_of_first_session", "date_of_last_session", "marked_email_as_spam_at"})
STANDARD_ATTRIBUTES = (
    STRING_ATTRIBUTES
    | BOOLEAN_ATTRIBUTES
    | DATE_ATTRIBUTES
    | FREE_ATTRIBUTES
    | {"email", "phone", "country", "language", "gender", "dob", "time_zone", "current_location"}
    | {"facebook", "twitter"}
)

SEGMENT_EXPORT_FIELDS = frozenset(
    {
        "apps", "attributed_campaign", "attributed_source", "attributed_adgroup", "attributed_ad",
        "braze_id", "country", "created_at", "created_from", "custom_attributes", "custom_events",
        "devices", "dob", "email", "email_subscribe", "external_id", "first_name", "gender",
        "home_city", "language", "last_coordinates", "last_name", "phone", "purchases",
        "push_subscribe", "push_tokens", "random_bucket", "time_zone", "total_revenue",
        "uninstalled_at", "user_aliases",
    }
)  # fmt: skip
EXPORT_IDS_FIELDS = SEGMENT_EXPORT_FIELDS | {"campaigns_received", "canvases_received", "cards_clicked"}
OUTPUT_FORMATS = frozenset({"zip", "gzip"})

# Minor-error texts of /users/track; the code comes first when Braze documents one.
ERROR_TEXT = {
    "EMAIL_BAD_FORMAT": "The value provided for the 'email' field is not a valid email.",
    "EXTERNAL_USER_ID_TOO_LARGE": f"'external_id' must be at most {MAX_EXTERNAL_ID_BYTES} bytes.",
    "BAD_EMAIL_SUBSCRIPTION_STATE": "'email_subscribe' must be one of opted_in, subscribed, unsubscribed.",
    "BAD_PUSH_SUBSCRIPTION_STATE": "'push_subscribe' must be one of opted_in, subscribed, unsubscribed.",
    "BAD_SUBSCRIPTION_GROUP_ARRAY": "'subscription_groups' must be an array.",
    "BAD_SUBSCRIPTION_GROUP_HASH": "each subscription group needs 'subscription_group_id' and 'subscription_state'.",
    "BAD_SUBSCRIPTION_GROUP_ID": "'subscription_group_id' must be a valid subscription group id.",
    "BAD_SUBSCRIPTION_GROUP_STATE": "'subscription_state' must be subscribed or unsubscribed.",
    "BAD_LOCATION_UPDATE": "'current_location' needs numeric 'longitude' (-180..180) and 'latitude' (-90..90).",
    "BAD_PUSH_TOKEN_IMPORT": "'push_tokens' must be an array of objects.",
    "BAD_PUSH_TOKEN_APP_ID": "each push token needs a string 'app_id'.",
    "BAD_PUSH_TOKEN_STRING": "each push token needs a non-empty string 'token'.",
    "BAD_DEVICE_ID": "a push token 'device_id' must be 8 to 255 bytes.",
}
IDENTIFIER_REQUIRED = "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required"
FATAL_NOTHING_VALID = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
MAX_INPUT_EXCEEDED = "Max Input Length Exceeded"
MAX_IDS_EXCEEDED = "The max number of external_ids and aliases per request was exceeded"


def error_text(code: str) -> str:
    """`CODE: human text`, the form the sandbox puts in a minor error's `type`."""
    return f"{code}: {ERROR_TEXT[code]}"


# -- email (section 9) ------------------------------------------------------------------------

_MICROSOFT_MARKS = ("msn", "hotmail", "outlook", "live")
_MICROSOFT_LOCAL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
_LOCAL_SYMBOLS = set("-^+$&#/%*=~!?`_")
_DOMAIN = re.compile(r"[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?(?:\.[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?)+", re.I)


def is_valid_email(value: Any) -> bool:
    """Braze's syntax check: no whitespace, one `@`, a local part of letters, digits and the listed
    symbols with `.` only between characters, an ASCII (Punycode) domain of 2+ labels whose TLD is
    not numeric. Domains containing msn/hotmail/outlook/live use Microsoft's stricter local-part rule
    (the part before any `+`); Gmail local parts need 2+ characters. No MX or mailbox check."""
    if not isinstance(value, str) or not value or len(value) > MAX_STRING_CHARS:
        return False
    if any(ch.isspace() or unicodedata.category(ch) == "Zs" for ch in value):
        return False
    local, at, domain = value.rpartition("@")
    if not at or not local or "@" in local or not domain.isascii() or not _DOMAIN.fullmatch(domain):
        return False
    if domain.rsplit(".", 1)[-1].isdigit():
        return False
    host = domain.lower()
    if any(mark in host for mark in _MICROSOFT_MARKS):  # "includes", as Braze words it (stricter)
        return _MICROSOFT_LOCAL.fullmatch(local.split("+", 1)[0]) is not None
    if host.split(".")[0] in ("gmail", "googlemail") and len(local) < 2:
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    return all(ch.isalnum() or ch == "." or ch in _LOCAL_SYMBOLS for ch in local)


# -- phone (section 9) ------------------------------------------------------------------------


def normalize_phone(value: str) -> str:
    """Non-digits other than a leading `+` are stripped: `+1 (724) 123-4567` → `+17241234567`."""
    digits = "".join(ch for ch in value if ch.isdigit() and ch.isascii())
    return f"+{digits}" if value.strip().startswith("+") else digits


def is_valid_phone(value: Any) -> bool:
    """A number libphonenumber (as Braze uses) finds possible: E.164 with its country code, or
    without `+` a US number (reference section 9: 10 digits without `+` are US)."""
    if not isinstance(value, str) or not value.strip():
        return False
    if re.search(r"[A-Za-z]", value):
        return False  # libphonenumber would read letters as a keypad (1-800-FLOWERS); Braze refuses them
    try:
        number = phonenumbers.parse(value, None if value.strip().startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return False
    # IS_POSSIBLE only: a number dialable just inside its own area (IS_POSSIBLE_LOCAL_ONLY) names nobody
    return phonenumbers.is_possible_number_with_reason(number) == phonenumbers.ValidationResult.IS_POSSIBLE


# -- identifiers (sections 3.2, 3.4, 9) --------------------------------------------------------


def external_id_error(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "'external_id' must be a non-empty string"
    if len(value.encode()) > MAX_EXTERNAL_ID_BYTES:
        return error_text("EXTERNAL_USER_ID_TOO_LARGE")
    return None


def alias_error(alias: Any) -> str | None:
    """A user alias is `{"alias_name", "alias_label"}`, both non-empty strings of at most 236 bytes."""
    if not isinstance(alias, Mapping):
        return "'user_alias' must be an object with 'alias_name' and 'alias_label'"
    for part in ("alias_name", "alias_label"):
        value = alias.get(part)
        if not isinstance(value, str) or not value:
            return f"'user_alias' needs a non-empty string '{part}'"
        if len(value.encode()) > MAX_ALIAS_PART_BYTES:
            return f"'user_alias' '{part}' must be at most {MAX_ALIAS_PART_BYTES} bytes"
    extra = set(alias) - {"alias_name", "alias_label"}
    if extra:
        return f"'user_alias' has unknown keys {sorted(extra)}; only alias_name and alias_label are allowed"
    return None


def lookup_identifier(obj: Mapping[str, Any]) -> str | None:
    """Which key Braze looks the user up by: the primary identifier, else `email`, else `phone`."""
    for key in (*PRIMARY_IDENTIFIERS, *SECONDARY_IDENTIFIERS):
        if key in obj:
            return key
    return None


def is_subscription_group_id(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


# -- values (section 3.5) ----------------------------------------------------------------------

_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S:%f%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%m/%d/%Y")
_ISO_HINT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def parse_time(value: Any) -> datetime | None:
    """A Braze time string as an aware UTC datetime, or None when Braze would store it as a string.

    Accepted: ISO 8601 and the formats of section 3.5; no offset means UTC; years outside 0..3000
    are not times."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    parsed = None
    if _ISO_HINT.match(text):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            parsed = None
    if parsed is None:
        for fmt in _TIME_FORMATS:
            try:
                parsed = datetime.strptime(text.replace("Z", "+0000"), fmt)
                break
            except ValueError:
                continue
    if parsed is None or not 0 < parsed.year <= 3000:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_dob(value: Any) -> str | None:
    """`YYYY-MM-DD` when it is a real date."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return None
    return value


_SCALARS = (str, int, float)  # bool is an int


def is_scalar(value: Any) -> bool:
    return isinstance(value, _SCALARS)


def value_kind(value: Any) -> str:
    """Classify one custom-attribute value of an attributes object.

    `null` (removes), `scalar`, `time` (`{"$time": ...}`), `array` (whole array of scalars, or
    an empty one), `object_array` (whole array of objects), `inc`, `array_ops` (`add`/`remove`),
    `object_array_ops` (`$add`/`$remove`/`$update`), `object` (nested object), or `invalid`."""
    if value is None:
        return "null"
    if is_scalar(value):
        return "scalar"
    if isinstance(value, list):
        if all(isinstance(item, Mapping) for item in value) and value:
            return "object_array"
        return "array" if all(is_scalar(item) for item in value) else "invalid"
    if isinstance(value, Mapping):
        keys = set(value)
        if keys == {"$time"}:
            return "time"
        if keys == {"inc"}:
            return "inc"
        if keys and keys <= {"add", "remove"}:
            return "array_ops"
        if keys and keys <= {"$add", "$remove", "$update"}:
            return "object_array_ops"
        return "object"
    return "invalid"


def is_nested(value: Any) -> bool:
    """True for nested custom attributes (objects and arrays of objects), which Braze drops as a
    group when one of them in a request is invalid."""
    return value_kind(value) in ("object", "object_array", "object_array_ops")


def invalid_names(names: Iterable[Any], allowed: frozenset[str]) -> list[str]:
    return [str(name) for name in names if name not in allowed]
