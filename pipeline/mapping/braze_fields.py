"""Braze field and identifier names a connection file may use (braze-api.md 3.2, 3.4, 4.1, 4.4)."""

from __future__ import annotations

# Standard keys of an exported user object, mapped to the `fields_to_export` value that makes
# Braze include them. `push_opted_in_at` is not requestable on its own: it arrives with
# `push_subscribe`. `custom_attributes` is absent on purpose: import goals name one custom
# attribute at a time as `custom_attributes.<name>`.
STANDARD_IMPORT_FIELDS: dict[str, str] = {
    "apps": "apps",
    "attributed_ad": "attributed_ad",
    "attributed_adgroup": "attributed_adgroup",
    "attributed_campaign": "attributed_campaign",
    "attributed_source": "attributed_source",
    "braze_id": "braze_id",
    "country": "country",
    "created_at": "created_at",
    "created_from": "created_from",
    "custom_events": "custom_events",
    "devices": "devices",
    "dob": "dob",
    "email": "email",
    "email_subscribe": "email_subscribe",
    "external_id": "external_id",
    "first_name": "first_name",
    "gender": "gender",
    "home_city": "home_city",
    "language": "language",
    "last_coordinates": "last_coordinates",
    "last_name": "last_name",
    "phone": "phone",
    "purchases": "purchases",
    "push_opted_in_at": "push_subscribe",
    "push_subscribe": "push_subscribe",
    "push_tokens": "push_tokens",
    "random_bucket": "random_bucket",
    "time_zone": "time_zone",
    "total_revenue": "total_revenue",
    "uninstalled_at": "uninstalled_at",
    "user_aliases": "user_aliases",
}

CUSTOM_ATTRIBUTE_PREFIX = "custom_attributes."


def import_column(attribute: str) -> str:
    """The import field an exported attribute comes back in: a standard field by its name, a
    custom attribute `x` as `custom_attributes.x`."""
    return attribute if attribute in STANDARD_IMPORT_FIELDS else CUSTOM_ATTRIBUTE_PREFIX + attribute

# Identifiers an import goal can match on; user aliases are written `user_alias:<label>`.
IMPORT_IDENTIFIERS: tuple[str, ...] = ("external_id", "braze_id", "email", "phone")

# Identifiers /users/track accepts (3.2): external_id, user_alias and braze_id are primary,
# email and phone secondary.
EXPORT_IDENTIFIERS: tuple[str, ...] = ("external_id", "braze_id", "email", "phone")

USER_ALIAS_PREFIX = "user_alias:"
ALIAS_LABEL_MAX_BYTES = 236  # 3.4: alias_name and alias_label are each at most 236 bytes
ATTRIBUTE_NAME_MAX_CHARS = 255  # 3.5: custom attribute names and string values

STRATEGIES: tuple[str, ...] = ("set", "add", "sum", "set_if_empty", "clear")

# 3.4: the states `email_subscribe` and `push_subscribe` accept; a permission level maps to one.
SUBSCRIPTION_STATES: tuple[str, ...] = ("opted_in", "subscribed", "unsubscribed")
SUBSCRIPTION_ATTRIBUTES: tuple[str, ...] = ("email_subscribe", "push_subscribe")
