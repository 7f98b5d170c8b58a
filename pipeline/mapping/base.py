"""The base of every connection-file model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently switch a setting back to its default.

    Frozen, because a loaded connection is the definition Dagster builds assets from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
