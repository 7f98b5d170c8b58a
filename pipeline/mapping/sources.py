"""Where an export field takes its value from: exactly one of six sources.

Each source has a `kind`, so the payload builder can `match source.kind` without caring
whether the YAML spelled it as a word (`segments`) or a one-key mapping (`{property: x}`).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    RootModel,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
)

from pipeline.mapping import checks
from pipeline.mapping.base import Strict
from pipeline.mapping.value_types import ChannelName, PropertyName

WORD_SOURCES = ("segments", "interactions")
KEYED_SOURCES = ("property", "identifier", "permission", "static")
_FIX = (
    "write exactly one of {property: <name>}, {identifier: <name>}, segments, interactions, "
    "{permission: <channel>}, {static: <value>}"
)


def _scalar(value: Any) -> Any:
    if not isinstance(value, str | bool | int | float):
        checks.fail("static value is not text, a number or true/false", "write e.g. {static: profilesync}")
    return value


StaticValue = Annotated[StrictStr | StrictBool | StrictInt | StrictFloat, BeforeValidator(_scalar)]


class PropertySource(Strict):
    """The value of a profile property."""

    kind: ClassVar[str] = "property"
    property: PropertyName = Field(description="Profile property whose value is sent, e.g. points.")


class IdentifierSource(Strict):
    """The value of one of the profile's identifiers."""

    kind: ClassVar[str] = "identifier"
    identifier: PropertyName = Field(description="Profile identifier whose value is sent, e.g. email.")


class PermissionSource(Strict):
    """The profile's permission (consent) level for one channel."""

    kind: ClassVar[str] = "permission"
    permission: ChannelName = Field(
        description="Channel under permissions: whose level is sent as its Braze state, e.g. email; "
        "send it to email_subscribe or push_subscribe."
    )


class StaticSource(Strict):
    """The same value for every profile, e.g. to tag where the data came from."""

    kind: ClassVar[str] = "static"
    static: StaticValue = Field(
        description="Value sent unchanged for every profile: text, number or true/false."
    )


class SegmentsSource(RootModel[Literal["segments"]]):
    """The names of the profile segments of this connection the profile belongs to, as a list."""

    kind: ClassVar[str] = "segments"


class InteractionsSource(RootModel[Literal["interactions"]]):
    """The ids of the interactions the profile has viewed, as a list."""

    kind: ClassVar[str] = "interactions"


def _shape(value: Any) -> Any:
    """One clear error for a malformed source, instead of one per member of the union."""
    if isinstance(value, BaseModel):
        return value
    if isinstance(value, str):
        if value in WORD_SOURCES:
            return value
        if value in KEYED_SOURCES:
            checks.fail(f"source {value!r} needs a name", f"write {{{value}: <name>}}")
        checks.fail(f"unknown source {value!r}", _FIX, checks.closest(value, WORD_SOURCES + KEYED_SOURCES))
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key in KEYED_SOURCES:
            return value
        checks.fail(
            f"unknown source {key!r}", _FIX, checks.closest(key, KEYED_SOURCES + WORD_SOURCES), at_key=key
        )
    if isinstance(value, dict):
        checks.fail(f"source has {len(value)} keys ({', '.join(map(str, value)) or 'none'})", _FIX)
    checks.fail("source is not a word or a one-key mapping", _FIX)


def _kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return value.kind  # type: ignore[attr-defined]
    if isinstance(value, str):
        return value
    return next(iter(value)) if isinstance(value, dict) and value else None


ExportSource = Annotated[
    Annotated[PropertySource, Tag("property")]
    | Annotated[IdentifierSource, Tag("identifier")]
    | Annotated[SegmentsSource, Tag("segments")]
    | Annotated[InteractionsSource, Tag("interactions")]
    | Annotated[PermissionSource, Tag("permission")]
    | Annotated[StaticSource, Tag("static")],
    Discriminator(_kind),
    BeforeValidator(_shape),
]
