"""One `/users/track` attributes object per user, and batches of them within Braze's request limits."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl

from pipeline.braze.datapoints import attribute_points, value_points
from pipeline.braze.rules import FREE_ATTRIBUTES, MAX_BODY_BYTES, MAX_TRACK_OBJECTS, STANDARD_ATTRIBUTES
from pipeline.push.frames import PushInputError

# The body is `{"attributes": [obj, obj]}` as `requests` encodes it: json.dumps' default
# separators and ASCII escapes, so the length of the text is the number of bytes sent.
_BODY_BASE = len(json.dumps({"attributes": []}))
_SEPARATOR = len(", ")


@dataclass(frozen=True, slots=True)
class UserObject:
    """One user's changes: the rows they came from and the object sent for them."""

    identity: str
    profile_id: str | None
    attributes: tuple[str, ...]
    values: tuple[str | None, ...]  # canonical JSON as in the changes frame; None removes
    body: dict[str, Any]
    size: int  # bytes of `body` in the request
    points: int  # data points Braze charges when it applies `body`

    def sent_attributes(self) -> dict[str, Any]:
        return {name: self.body[name] for name in self.attributes}


def update_existing_only(identifier: dict[str, Any], allow_create: bool | None) -> bool | None:
    """The `_update_existing_only` flag an object needs, or None to leave Braze's default.

    Braze creates unknown `external_id`, `email` and `phone` users by default but an alias-only
    user only when the flag is explicitly false (reference 3.3), so creation needs `false` there.
    """
    if allow_create is None:
        return None
    if not allow_create:
        return True
    primary = [key for key in ("external_id", "braze_id", "user_alias") if key in identifier]
    return False if primary == ["user_alias"] else None


def user_objects(frame: pl.DataFrame, *, allow_create: bool | None) -> Iterator[UserObject]:
    """Objects of a frame sorted by identity (`identity`, `attribute`, `value`, `profile_id`).

    `allow_create=None` adds no flag, for pricing a payload rather than sending it.
    """
    columns = frame.select(
        "identity", "attribute", "value", pl.col("profile_id") if "profile_id" in frame.columns else pl.lit(None)
    )
    current: str | None = None
    profile_id: str | None = None
    names: list[str] = []
    values: list[str | None] = []
    for identity, attribute, value, pid in columns.iter_rows():
        if identity != current:
            if current is not None:
                yield _object(current, profile_id, names, values, allow_create)
            current, profile_id, names, values = identity, pid, [], []
        names.append(attribute)
        values.append(value)
    if current is not None:
        yield _object(current, profile_id, names, values, allow_create)


def _object(
    identity: str, profile_id: str | None, names: list[str], values: list[str | None], allow_create: bool | None
) -> UserObject:
    identifier = _decode(identity, f"identity {identity!r}")
    if not isinstance(identifier, dict) or not identifier:
        raise PushInputError(f'identity {identity!r} is not a Braze identifier object like {{"external_id":"u1"}}')
    body = dict(identifier)
    for name, value in zip(names, values, strict=True):
        if name in body:
            raise PushInputError(f"{identity}: attribute {name!r} collides with the identifier; drop that row")
        body[name] = None if value is None else _decode(value, f"{identity} {name!r} value {value!r}")
    flag = update_existing_only(identifier, allow_create)
    if flag is not None:
        body["_update_existing_only"] = flag
    return UserObject(
        identity, profile_id, tuple(names), tuple(values), body, len(json.dumps(body)), attribute_points(body)
    )


def _decode(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise PushInputError(f"{what} is not JSON text; export_changes writes canonical JSON") from None


def fits_alone(obj: UserObject, max_bytes: int = MAX_BODY_BYTES) -> bool:
    return _BODY_BASE + obj.size <= max_bytes


def body_size(objects: Iterable[UserObject]) -> int:
    """Bytes of the `/users/track` body holding `objects`."""
    sizes = [obj.size for obj in objects]
    return _BODY_BASE + sum(sizes) + _SEPARATOR * max(0, len(sizes) - 1)


def batches(
    objects: Iterable[UserObject], max_objects: int = MAX_TRACK_OBJECTS, max_bytes: int = MAX_BODY_BYTES
) -> Iterator[list[UserObject]]:
    """Consecutive runs of objects, each at most `max_objects` long and `max_bytes` encoded.

    Objects that do not fit a request alone must be filtered out first (`fits_alone`).
    """
    batch: list[UserObject] = []
    size = _BODY_BASE
    for obj in objects:
        grown = size + obj.size + (_SEPARATOR if batch else 0)
        if batch and (len(batch) >= max_objects or grown > max_bytes):
            yield batch
            batch, grown = [], _BODY_BASE + obj.size
        batch.append(obj)
        size = grown
    if batch:
        yield batch


# An identity that is one primary identifier and nothing else: its keys are free and none of its
# attributes can become the lookup key, so its rows can be priced one by one.
_PLAIN_IDENTITY = r'^\{"(?:external_id|braze_id)":"(?:[^"\\]|\\.)*"\}$|^\{"user_alias":\{[^{}]*\}\}$'


def payload_points(frame: pl.DataFrame) -> int:
    """Data points of sending every row of `frame` (`identity`, `attribute`, `value`), summed per user
    exactly as `attribute_points` counts an object, but priced in Polars: only nested values, and
    users identified by email or phone, are decoded."""
    plain = frame.filter(pl.col("identity").str.contains(_PLAIN_IDENTITY))
    billed = plain.filter(~pl.col("attribute").is_in(sorted(FREE_ATTRIBUTES)))
    nested = ~pl.col("attribute").is_in(sorted(STANDARD_ATTRIBUTES)) & (
        pl.col("value").str.starts_with("{") | pl.col("value").str.starts_with("[{")
    ).fill_null(False)  # a removal costs 1
    points = billed.filter(~nested).height
    points += sum(value_points(json.loads(value)) for value in billed.filter(nested)["value"])
    others = frame.filter(~pl.col("identity").str.contains(_PLAIN_IDENTITY)).sort("identity", "attribute")
    return points + sum(obj.points for obj in user_objects(others, allow_create=None))
