"""Value types of connection files: a check for pydantic plus the JSON Schema an editor sees.

The schema side is written by hand where the check is code (cron, names, Braze fields), so
editors still complete and flag values the way the loader will.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic.json_schema import WithJsonSchema

from pipeline.mapping import braze_fields as bf
from pipeline.mapping import checks
from pipeline.mapping.segment_expressions import check_segment_expression

Strategy = Literal["set", "add", "sum", "set_if_empty", "clear"]

ConnectionName = Annotated[
    str,
    AfterValidator(checks.name("connection")),
    WithJsonSchema({"type": "string", "pattern": checks.NAME_PATTERN}),
]
GoalName = Annotated[
    str,
    AfterValidator(checks.name("goal")),
    WithJsonSchema({"type": "string", "pattern": checks.NAME_PATTERN}),
]
SegmentName = Annotated[
    str,
    AfterValidator(checks.name("segment")),
    WithJsonSchema({"type": "string", "pattern": checks.NAME_PATTERN}),
]
PropertyName = Annotated[
    str,
    AfterValidator(checks.property_name),
    WithJsonSchema({"type": "string", "pattern": checks.PROPERTY_PATTERN}),
]
PropertyPrefix = Annotated[
    str, AfterValidator(checks.prefix), WithJsonSchema({"type": "string", "pattern": checks.PROPERTY_PATTERN})
]
Tag = Annotated[
    str, AfterValidator(checks.tag), WithJsonSchema({"type": "string", "pattern": checks.TAG_PATTERN})
]
Email = Annotated[str, AfterValidator(checks.email), WithJsonSchema({"type": "string", "format": "email"})]
Cron = Annotated[
    str, AfterValidator(checks.cron), WithJsonSchema({"type": "string", "examples": ["0 3 * * *"]})
]
StartDate = Annotated[
    dt.date, BeforeValidator(checks.date), WithJsonSchema({"type": "string", "format": "date"})
]
StorageUri = Annotated[
    str, AfterValidator(checks.storage_uri), WithJsonSchema({"type": "string", "minLength": 1})
]
RestEndpoint = Annotated[str, AfterValidator(checks.rest_endpoint), WithJsonSchema({"type": "string"})]
EnvReference = Annotated[
    str,
    AfterValidator(checks.env_reference),
    WithJsonSchema(
        {"type": "string", "pattern": checks.ENV_REFERENCE_PATTERN, "examples": ["${BRAZE_API_KEY}"]}
    ),
]
NonEmptyText = Annotated[str, Field(min_length=1)]


def _alias_or(kinds: tuple[str, ...]) -> dict:
    return {"anyOf": [{"enum": list(kinds)}, {"type": "string", "pattern": "^user_alias:.+$"}]}


ChannelName = Annotated[
    str,
    AfterValidator(checks.channel_name),
    WithJsonSchema({"type": "string", "pattern": checks.CHANNEL_PATTERN}),
]
SubscriptionState = Annotated[
    str,
    AfterValidator(checks.subscription_state),
    WithJsonSchema({"enum": list(bf.SUBSCRIPTION_STATES)}),
]
ImportIdentifier = Annotated[
    str,
    AfterValidator(checks.identifier(bf.IMPORT_IDENTIFIERS)),
    WithJsonSchema(_alias_or(bf.IMPORT_IDENTIFIERS)),
]
ExportIdentifier = Annotated[
    str,
    AfterValidator(checks.identifier(bf.EXPORT_IDENTIFIERS)),
    WithJsonSchema(_alias_or(bf.EXPORT_IDENTIFIERS)),
]
ImportBrazeField = Annotated[
    str,
    AfterValidator(checks.import_braze_field),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": sorted(bf.STANDARD_IMPORT_FIELDS)},
                {"type": "string", "pattern": r"^custom_attributes\.[^.]+(\.[^.]+)*$"},
            ]
        }
    ),
]
AttributeName = Annotated[
    str,
    AfterValidator(checks.attribute_name),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": bf.ATTRIBUTE_NAME_MAX_CHARS, "pattern": r"^[^$.]"}
    ),
]


def _segment_expression(value: str) -> str:
    """The loader reports the same error first, at its character (segment_expressions.check_syntax),
    and this one is then withheld; it speaks when the model is built without the loader."""
    problem = check_segment_expression(value)
    if problem is not None:
        checks.fail(f"{problem.message} (at character {problem.offset})", problem.fix)
    return value


SegmentExpression = Annotated[str, AfterValidator(_segment_expression), WithJsonSchema({"type": "string"})]


def non_empty(what: str, example: str):
    """A list check with a fix that shows an example item; the schema still says minItems 1."""

    def check(items: list) -> list:
        if not items:
            checks.fail(f"{what} is empty", f"add at least one, e.g. {example}")
        return items

    return check
