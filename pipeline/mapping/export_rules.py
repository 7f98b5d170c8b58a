"""Checks of what export goals and segments read from the profiles: properties and permissions.

- A segment expression and a `{from: {property: X}}` may only name properties the profiles of
  the connection's store can hold (`store_properties.py`), with a did-you-mean from those.
- `{from: {permission: C}}` must name a channel under this file's `permissions:`, and the field
  must go to `email_subscribe` or `push_subscribe`. Those two accept the same three states
  (opted_in, subscribed, unsubscribed) and every level already maps to one of them, so the
  target's name is the whole check; which channel goes where is the author's choice.

Like `rules.py`, they read the raw document so one `validate` run shows every problem; values
the model refuses (a malformed name) are skipped here, as the model reports them.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.mapping import braze_fields as bf
from pipeline.mapping.checks import CHANNEL_PATTERN, PROPERTY_PATTERN, closest
from pipeline.mapping.scalar_offsets import position_in_value
from pipeline.mapping.segment_expressions import segments_of
from pipeline.mapping.store_properties import KnownProperties
from pipeline.mapping.yaml_positions import DataPath, Document
from pipeline.profiles.segments import Segment

_PERMISSION_EXAMPLE = (
    "permissions: {email: {property: email_consent, levels: {opted_in: opted_in, subscribed: subscribed, "
    "unsubscribed: unsubscribed}}}"
)


def check_document(doc: Document, segments: dict[str, Segment], known: KnownProperties) -> None:
    """Record every unknown property and permission problem of the segments and export goals."""
    data = doc.data if isinstance(doc.data, dict) else {}
    texts = segments_of(doc)
    for name, segment in segments.items():
        reported: set[str] = set()
        for ref in segment.references:
            if ref.name in known or ref.name in reported:
                continue
            reported.add(ref.name)
            path = ("segments", name)
            where = position_in_value(doc, path, texts[name], ref.offset)
            message = f"segment {name!r} uses unknown property {ref.name!r}"
            fix = _unknown_fix(ref.name, known, texts)
            doc.error(path, message, fix, closest(ref.name, known.names), position=where)
    permissions = data.get("permissions") if isinstance(data.get("permissions"), dict) else {}
    for i, goal in _items(data, "export"):
        for j, field in _items(goal, "fields"):
            source, path = field.get("from"), ("export", i, "fields", j)
            if not isinstance(source, dict) or len(source) != 1:
                continue
            if _is_name(source.get("property"), PROPERTY_PATTERN):
                _property_source(doc, (*path, "from", "property"), source["property"], known, texts)
            if _is_name(source.get("permission"), CHANNEL_PATTERN):
                _permission_source(doc, path, field, source["permission"], list(permissions))


def _property_source(doc: Document, path: DataPath, name: str, known: KnownProperties, segments: dict) -> None:
    if name not in known:
        fix = _unknown_fix(name, known, segments)
        doc.error(path, f"export field uses unknown property {name!r}", fix, closest(name, known.names))


def _permission_source(doc: Document, path: DataPath, field: dict, channel: str, declared: list[str]) -> None:
    if channel not in declared:
        if declared:
            fix = f"declare it under permissions:, or use one of {', '.join(declared)}"
        else:
            fix = f"declare it, e.g. {_PERMISSION_EXAMPLE}"
        message = f"permission {channel!r} is not declared under permissions"
        doc.error((*path, "from", "permission"), message, fix, closest(channel, declared))
    target = field.get("braze")
    if isinstance(target, str) and target not in bf.SUBSCRIPTION_ATTRIBUTES:
        doc.error(
            (*path, "braze"),
            f"a permission is sent to email_subscribe or push_subscribe, not {target!r}",
            "only those two Braze attributes take a subscription state; both accept opted_in, subscribed "
            "and unsubscribed, which every level under permissions: maps to",
            closest(target, bf.SUBSCRIPTION_ATTRIBUTES),
        )


def _unknown_fix(name: str, known: KnownProperties, segments: dict) -> str:
    if name in segments:
        return f"a segment cannot use another segment; repeat the condition of segment {name!r} instead"
    return (
        f"the profiles of this storage root hold: {known.describe()}; feed {name} with an import goal "
        f"(- {{braze: ..., profile: {name}}}), or list it under profile_properties: if your own asset writes it"
    )


def _is_name(value: Any, pattern: str) -> bool:
    return isinstance(value, str) and re.fullmatch(pattern, value) is not None


def _items(data: dict, key: str) -> list[tuple[int, dict]]:
    value = data.get(key)
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []
