"""Extension steps: your own transformation as one more asset of an import goal.

Write a module in this folder (or name it in `PROFILESYNC_EXTENSIONS`, comma-separated module
paths) with a function decorated by `staging_step`:

    @staging_step(connection="demo", goal="loyal_users")
    def normalized_emails(users: pl.LazyFrame) -> pl.LazyFrame:
        '''Emails trimmed and lower-cased, so one person matches across sources.'''
        return users.with_columns(pl.col("email").str.strip_chars().str.to_lowercase())

The function becomes the asset `demo/loyal_users/normalized_emails`, between `staged_users`
and `user_changes`; `user_changes` then diffs its output instead of the staged copy. Steps of
one goal run in the order they are registered, each reading the previous one's output. The
function receives the staged users (one row per `braze_id`, columns as staged) and must
return one row per `braze_id`; the row hash is recomputed for you. Its docstring is what the
Dagster UI shows.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

Transform = Callable[[pl.LazyFrame], pl.LazyFrame]
MODULES_VARIABLE = "PROFILESYNC_EXTENSIONS"


@dataclass(frozen=True)
class StagingStep:
    connection: str
    goal: str
    name: str
    transform: Transform
    description: str


_registered: list[StagingStep] = []


def staging_step(*, connection: str, goal: str, name: str | None = None) -> Callable[[Transform], Transform]:
    """Register `transform` as a step between a goal's `staged_users` and `user_changes`."""

    def register(transform: Transform) -> Transform:
        step_name = name or transform.__name__
        if any(s.connection == connection and s.goal == goal and s.name == step_name for s in _registered):
            return transform  # the module was imported twice
        _registered.append(
            StagingStep(connection, goal, step_name, transform, (transform.__doc__ or step_name).strip())
        )
        return transform

    return register


def load_extensions() -> None:
    """Import every module of this package, and those named in `PROFILESYNC_EXTENSIONS`."""
    names = [f"{__name__}.{info.name}" for info in pkgutil.iter_modules(__path__)]
    names += [n.strip() for n in os.environ.get(MODULES_VARIABLE, "").split(",") if n.strip()]
    for name in names:
        importlib.import_module(name)


def steps_for(connection: str, goal: str) -> list[StagingStep]:
    return [s for s in _registered if s.connection == connection and s.goal == goal]
