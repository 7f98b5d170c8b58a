"""Import goals (a Braze segment into profiles) and export goals (a profile segment to Braze)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from pipeline.mapping.base import Strict
from pipeline.mapping.budget import Budget
from pipeline.mapping.sources import ExportSource
from pipeline.mapping.value_types import (
    AttributeName,
    ExportIdentifier,
    GoalName,
    ImportBrazeField,
    ImportIdentifier,
    NonEmptyText,
    PropertyName,
    PropertyPrefix,
    SegmentName,
    Strategy,
    non_empty,
)

_STRATEGY_DOC = (
    "How the Braze value merges into the profile: set (overwrite), add (append to a list, no "
    "duplicates), sum (add numbers), set_if_empty (only when the property has no value), clear "
    "(empty the property when the Braze field is empty)."
)


class ImportIdentifierMapping(Strict):
    """One way to match a Braze user to a profile."""

    braze: ImportIdentifier = Field(
        description="Braze identifier: external_id, braze_id, email, phone, or user_alias:<label>."
    )
    profile: PropertyName = Field(
        description="Profile identifier that holds the same value, e.g. external_id."
    )


class FieldMapping(Strict):
    """One Braze field copied into one profile property."""

    braze: ImportBrazeField = Field(
        description="Braze standard field (first_name, email, country, ...) or custom_attributes.<name>; "
        "a nested custom attribute is custom_attributes.<name>.<key>."
    )
    profile: PropertyName = Field(description="Profile property to write; each at most once per goal.")
    strategy: Strategy = Field(default="set", description=_STRATEGY_DOC)
    echo: Literal["accept"] | None = Field(
        default=None,
        description="accept: this field reads an attribute an export goal of the same store writes, "
        "with sum or add, on purpose. Echoes of our own pushes are still not imported; without it "
        "validate refuses such a feedback loop.",
    )


class RemainingFields(Strict):
    """Every exported Braze field no other mapping of the goal uses, copied under a prefix."""

    prefix: PropertyPrefix = Field(
        description="Prepended to the Braze field name, e.g. braze_ gives braze_country."
    )
    strategy: Strategy = Field(default="set", description=_STRATEGY_DOC)


class ImportGoal(Strict):
    """Brings the users of one Braze segment into the profiles, every scheduled day."""

    name: GoalName = Field(
        alias="goal", description="Goal name, unique in the connection; part of the Dagster asset keys."
    )
    segment: NonEmptyText = Field(
        description="Braze segment to export: its API identifier or its exact name."
    )
    identifiers: Annotated[
        list[ImportIdentifierMapping],
        AfterValidator(non_empty("identifiers", "- {braze: external_id, profile: external_id}")),
    ] = Field(
        json_schema_extra={"minItems": 1},
        description="How a Braze user finds its profile; it matches a profile on any one of these.",
    )
    allow_create: bool = Field(
        default=False, description="Create a profile for a Braze user that matches none; otherwise skip it."
    )
    fields: list[FieldMapping] = Field(
        default_factory=list, description="Braze fields to copy into profiles."
    )
    remaining_fields: RemainingFields | None = Field(
        default=None, description="Optional: copy every Braze field not mapped above, under a prefix."
    )
    max_quarantine_rate: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Fail the run when more than this share of the exported lines cannot be read "
        "(they go to a quarantine file with the reason). 0.01 = 1%.",
    )


class ExportIdentifierMapping(Strict):
    """Which profile identifier is sent to Braze as which Braze identifier."""

    profile: PropertyName = Field(description="Profile identifier to send, e.g. external_id.")
    braze: ExportIdentifier = Field(
        description="Braze identifier it is sent as: external_id, user_alias:<label>, braze_id, email "
        "or phone."
    )


class ExportField(Strict):
    """One Braze attribute and where its value comes from."""

    source: ExportSource = Field(
        alias="from",
        description="Exactly one of {property: <name>}, {identifier: <name>}, segments, interactions, "
        "{permission: <channel>}, {static: <value>}.",
    )
    braze: AttributeName = Field(
        description="Braze attribute to set: a standard field (email, first_name, ...) or a custom "
        "attribute name; at most 255 characters, not starting with $ or '.'."
    )


class ExportGoal(Strict):
    """Sends the changes of one profile segment to Braze with /users/track."""

    name: GoalName = Field(
        alias="goal", description="Goal name, unique in the connection; part of the Dagster asset keys."
    )
    segment: SegmentName = Field(
        description="Profile segment to export: a name under segments: in this file."
    )
    identifiers: Annotated[
        list[ExportIdentifierMapping],
        AfterValidator(non_empty("identifiers", "- {profile: external_id, braze: external_id}")),
    ] = Field(
        json_schema_extra={"minItems": 1},
        description="Profile identifier → Braze identifier, in order of preference: a profile is sent "
        "under the first of these it has.",
    )
    allow_create: bool = Field(
        default=False,
        description="Let Braze create users it does not know; false sends _update_existing_only: true.",
    )
    delta: Literal["attributes", "profiles"] = Field(
        default="attributes",
        description="attributes: send only the attributes that changed (fewest data points); "
        "profiles: send every mapped attribute of a profile that changed.",
    )
    on_leave: Literal["ignore", "clear"] = Field(
        default="ignore",
        description="When a profile leaves the segment: ignore it, or clear (send null for) this goal's "
        "attributes.",
    )
    fields: list[ExportField] = Field(default_factory=list, description="Braze attributes to send.")
    budget: Budget | None = Field(
        default=None,
        description="Optional caps on one push, e.g. {data_points: 1000000, users: 50000, share_of_segment: 0.2}: "
        "when the forecast exceeds any, the push sends nothing and the run fails "
        "(profilesync run --override-budget, or run config override_budget: true, pushes anyway).",
    )
