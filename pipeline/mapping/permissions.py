"""Permission levels: per-channel consent kept on the profile, sent as Braze subscription states.

The profile holds the level in its own words (`granted`, `yes`, or Braze's own `opted_in` when
an import goal copies `email_subscribe`); `levels` translates each one into a state that Braze's
`email_subscribe` / `push_subscribe` accept. A level mapped to anything else is refused when the
file is loaded, so a typo never becomes a silent default or a per-user error from Braze.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from pipeline.mapping.base import Strict
from pipeline.mapping.value_types import NonEmptyText, PropertyName, SubscriptionState, non_empty


class Permission(Strict):
    """One channel's consent: the profile property holding it, and what each level means to Braze."""

    property: PropertyName = Field(
        description="Profile property holding the level, fed by an import goal (e.g. from Braze's "
        "email_subscribe) or by your own asset; segments and exports may use it like any property."
    )
    levels: Annotated[
        dict[NonEmptyText, SubscriptionState],
        AfterValidator(non_empty("levels", "{opted_in: opted_in, unsubscribed: unsubscribed}")),
    ] = Field(
        json_schema_extra={"minProperties": 1},
        description="Profile level → Braze subscription state (opted_in, subscribed or unsubscribed), "
        "e.g. granted: opted_in. A level mapped to anything else is an error.",
    )
