"""A connection: one YAML file in mappings/, tying a Braze workspace to a profile store.

The field descriptions are the hover docs an editor shows from mappings/schema.json, so they
are written for the data engineer editing the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr

from pipeline.braze.keys import KEY_FIX, key_problem
from pipeline.mapping.base import Strict
from pipeline.mapping.errors import SecretInvalid, SecretNotSet
from pipeline.mapping.goals import ExportGoal, ImportGoal
from pipeline.mapping.permissions import Permission
from pipeline.mapping.value_types import (
    ChannelName,
    ConnectionName,
    Cron,
    Email,
    EnvReference,
    PropertyName,
    RestEndpoint,
    SegmentExpression,
    SegmentName,
    StartDate,
    StorageUri,
    Tag,
)


class BrazeSettings(Strict):
    """The Braze workspace: where to call, with which key, and how hard to push."""

    rest_endpoint: RestEndpoint = Field(
        description="REST endpoint of your Braze instance, e.g. https://rest.fra-01.braze.eu "
        "(or the local sandbox's http://127.0.0.1:8765)."
    )
    api_key_env: EnvReference = Field(
        alias="api_key",
        description="The REST API key, always as ${VARIABLE}: the key itself never goes in this file. "
        "It is read when a run calls Braze, so definitions load without it.",
    )
    export_timeout_s: int = Field(
        default=3600, gt=0, description="Give up on a segment export after this many seconds."
    )
    export_quiet_period_s: int = Field(
        default=30,
        ge=0,
        description="When no new export file has appeared for this many seconds, the users in the files "
        "are counted and compared with Braze's size of the segment. A quiet bucket alone never completes "
        "an export: that takes Braze's callback or a matching count.",
    )
    export_size_tolerance: float = Field(
        default=0.01,
        ge=0,
        lt=1,
        description="How far the users in an export may be from Braze's estimated segment size "
        "(/segments/data_series, needs analytics tracking on the segment) for the export to count as "
        "complete without Braze's callback, as a fraction of that size: 0.01 is 1%, 0 an exact match.",
    )
    export_poll_interval_s: int = Field(
        default=10, gt=0, description="Seconds between looks at the export bucket while waiting."
    )
    track_object_limit_mode: Literal["combined", "per_array"] = Field(
        default="combined",
        description="How /users/track counts its 75-object limit: combined (current rule: 75 across "
        "attributes, events and purchases) or per_array (legacy rate limits: 75 in each).",
    )
    max_requests_in_flight: int = Field(
        default=32,
        ge=1,
        description="Upper bound on /users/track requests at once. Between 1 and this, the push adapts the "
        "number to Braze's round trip and rate-limit headers (starting at 4, halving on 429s); 1 sends one "
        "request at a time.",
    )
    request_timeout_s: float = Field(
        default=30,
        gt=0,
        le=600,
        description="Seconds to wait for Braze to connect, and again for its answer, on every REST call. "
        "A /users/track batch whose answer is late may have been applied: it is resent once, then the "
        "push stops; raise this if Braze is slow.",
    )

    def read_api_key(self) -> str:
        """The key from the environment, read at run time and never stored on the model."""
        value = os.environ.get(self.api_key_env, "")
        if not value:
            raise SecretNotSet(
                f"environment variable {self.api_key_env} is not set or empty; it holds the Braze REST API "
                f"key (braze.api_key). Set it where the run happens, e.g. export {self.api_key_env}=..."
            )
        problem = key_problem(value, self.api_key_env)
        if problem:
            raise SecretInvalid(f"{problem}; {KEY_FIX}")
        return value


class StorageSettings(Strict):
    """Where profiles live and where Braze drops its segment exports."""

    root: StorageUri = Field(
        description="Local folder or s3://bucket/prefix holding profiles, staged copies and baselines. "
        "Connections with the same root share one profile store."
    )
    braze_exports: StorageUri = Field(
        description="The bucket Braze writes segment exports to (s3://bucket), as set up in Braze under "
        "Partner Integrations > AWS S3; a local folder for the sandbox."
    )
    shards: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Hash shards of the profile id: 1 (the default) keeps one snapshot per day; N > 1 gives "
        "profiles and every export step a day x shard partition, each shard under shards/<k>-of-<N>/. "
        "Connections on one root must agree; set it before the first day (changing it re-shards nothing).",
    )


class Notify(Strict):
    """Who gets an e-mail about runs of this connection."""

    emails: list[Email] = Field(min_length=1, description="Addresses that receive the run e-mails.")
    on: Literal["failure", "every_run"] = Field(
        default="failure", description="failure: only failed runs; every_run: every finished run."
    )


class Connection(Strict):
    """A Braze connection: its schedule, storage, import goals, profile segments and export goals."""

    name: ConnectionName = Field(
        alias="connection",
        description="Connection name, unique across mappings/; first part of every asset key.",
    )
    description: str = Field(default="", description="Shown on the connection's asset groups in the UI.")
    tags: list[Tag] = Field(
        default_factory=list, description="Labels shown with the description, e.g. [crm]."
    )
    enabled: bool = Field(
        default=True, description="false: the schedule starts stopped (toggle it in the UI)."
    )
    schedule: Cron = Field(
        description="When it runs: a 5-field cron in UTC, e.g. '0 3 * * *' for 03:00 daily."
    )
    start_date: StartDate = Field(description="First daily partition, YYYY-MM-DD.")
    braze: BrazeSettings = Field(description="The Braze workspace this connection talks to.")
    storage: StorageSettings = Field(description="Where profiles and Braze's exports are kept.")
    notify: Notify | None = Field(default=None, description="Optional e-mail after runs.")
    imports: list[ImportGoal] = Field(
        default_factory=list, alias="import", description="Import goals: Braze segments into profiles."
    )
    profile_properties: list[PropertyName] = Field(
        default_factory=list,
        description="Profile properties your own assets write, so segments and exports may use them. "
        "Not needed for properties an import goal (or a permission) of any connection on the same "
        "storage root already names.",
    )
    permissions: dict[ChannelName, Permission] = Field(
        default_factory=dict,
        json_schema_extra={"additionalProperties": False},
        description="Per-channel consent kept on the profile, sent with {from: {permission: <channel>}} "
        "to email_subscribe or push_subscribe, e.g. email: {property: email_consent, levels: "
        "{granted: opted_in, refused: unsubscribed}}.",
    )
    segments: dict[SegmentName, SegmentExpression] = Field(
        default_factory=dict,
        json_schema_extra={"additionalProperties": False},
        description="Profile segments: a name and a filter over profile properties, e.g. "
        "vip: \"points >= 100 and country = 'NL'\". Operators: and, or, not, =, !=, <, <=, >, >=, "
        "is [not] null, [not] in (...), [not] contains, [not] between ... and ...; values: 100, 2.5, "
        "'text', true, false, date '2026-01-31'. Properties must be ones the store's profiles hold "
        "(import goals, permissions, profile_properties).",
    )
    exports: list[ExportGoal] = Field(
        default_factory=list, alias="export", description="Export goals: profile segments to Braze."
    )

    _source: Path | None = PrivateAttr(default=None)

    def permission(self, channel: str) -> Permission:
        """The permission declared for `channel`; KeyError naming the declared ones otherwise."""
        if channel not in self.permissions:
            declared = ", ".join(self.permissions) or "none"
            raise KeyError(f"connection {self.name!r} declares no permission {channel!r} (declared: {declared})")
        return self.permissions[channel]

    @property
    def source(self) -> Path | None:
        """The file this connection was loaded from, for run metadata and messages."""
        return self._source
