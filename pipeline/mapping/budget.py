"""An export goal's budget: what one push may spend before a person has to say yes.

A wrong mapping or a broken import can make a push touch every user in Braze, and every
attribute sent is a data point billed. The budget caps a push's forecast (computed before
anything is sent): data points, users, and users as a share of the goal's segment. Every
limit is optional; a push over any of them sends nothing and fails, unless overridden.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from pipeline.mapping.base import Strict
from pipeline.mapping.checks import fail


class Budget(Strict):
    """The most one push of an export goal may send; a run over it sends nothing and fails."""

    data_points: int | None = Field(
        default=None,
        description="At most this many data points a push (as Braze bills them: identifiers and "
        "subscription states are free); a whole number >= 0.",
    )
    users: int | None = Field(default=None, description="At most this many users a push; a whole number >= 0.")
    share_of_segment: float | None = Field(
        default=None,
        description="At most this share of the segment's members a push, e.g. 0.2 for 20%; "
        "greater than 0 and at most 1.",
    )

    @field_validator("data_points", "users", mode="before")
    @classmethod
    def _whole_and_not_negative(cls, value: object) -> object:
        if isinstance(value, bool):  # YAML's yes/no would otherwise pass as 1/0
            fail(f"{value!r} is not a number", "write a whole number >= 0, e.g. 100000")
        if isinstance(value, int | float) and value < 0:
            fail(f"{value!r} is negative", "write a whole number >= 0, e.g. 100000; remove the key for no limit")
        return value

    @field_validator("share_of_segment", mode="before")
    @classmethod
    def _share(cls, value: object) -> object:
        if isinstance(value, bool):
            fail(f"{value!r} is not a number", "write a share of the segment, e.g. 0.2 for 20%")
        if isinstance(value, int | float) and not 0 < value <= 1:
            fail(
                f"share_of_segment {value!r} is not a share",
                "write a number greater than 0 and at most 1, e.g. 0.2 for 20% of the segment's members",
            )
        return value

    def limits(self) -> dict[str, int | float]:
        """The limits that are set, by name."""
        return {name: value for name, value in self.model_dump().items() if value is not None}
