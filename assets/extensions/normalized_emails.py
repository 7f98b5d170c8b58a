"""The worked example of an extension step: normalise emails before the delta.

Braze stores emails as they were sent, so `Ana@Example.com` and `ana@example.com` can both
arrive. Lower-casing them between `staged_users` and `user_changes` lets one person match one
profile by email, and a change of case alone is no change at all.
"""

import polars as pl

from assets.extensions import staging_step


@staging_step(connection="demo", goal="loyal_users")
def normalized_emails(users: pl.LazyFrame) -> pl.LazyFrame:
    """Emails trimmed and lower-cased, so one person matches one profile across sources."""
    if "email" not in users.collect_schema().names():
        return users
    return users.with_columns(pl.col("email").str.strip_chars().str.to_lowercase())
