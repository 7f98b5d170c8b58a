"""An export goal as four assets: segment_members → export_payload → export_changes → braze_push."""

import json

import dagster as dg
import polars as pl

from assets.lineage import payload_metadata
from assets.metadata import counts, preview
from assets.partitions import day_and_shard, previous_day_mapping, profile_side
from assets.progress import step_progress
from assets.resources import braze_key, store_key
from pipeline.exports.steps import run_export_changes, run_payload, run_push, run_segment_members, uses_interactions
from pipeline.exports.values import InvalidValue, check
from pipeline.mapping import Connection, ExportGoal
from pipeline.shards import other_shards, side_store
from pipeline.storage import ObjectStore

PLAN_PREVIEW_ROWS = 20


class PushConfig(dg.Config):
    override_budget: bool = False
    """Push even when the forecast is over the goal's budget; the run history records what it let through."""


def export_key(connection: Connection, goal: ExportGoal, step: str) -> dg.AssetKey:
    return dg.AssetKey([connection.name, goal.name, step])


def _invalid_values(changes: pl.DataFrame) -> list[str]:
    """Re-check every value about to be sent, independently of how the payload was built."""
    problems = []
    for identity, attribute, value in changes.select("identity", "attribute", "value").iter_rows():
        try:
            json.loads(identity)
            if value is not None:
                check(attribute, json.loads(value))
        except (InvalidValue, ValueError) as exc:
            problems.append(f"{identity} {attribute}: {exc}")
    return problems


def export_goal_assets(
    connection: Connection,
    goal: ExportGoal,
    profiles: dg.AssetKey | None,
    interactions: dg.AssetKey | None,
    members: list[Connection] | None = None,
) -> list[dg.AssetsDefinition]:
    """`members`: the connections on the store's root (default: this one alone), whose import
    folders a shard shares."""
    shards = connection.storage.shards
    partitions = profile_side(connection.start_date.isoformat(), shards)
    previous_day = previous_day_mapping(shards)
    members = members or [connection]

    def day_store(context: dg.AssetExecutionContext) -> tuple[str, ObjectStore]:
        """The run's day, and the store (or, in a sharded store, the shard) its steps use."""
        day, shard = day_and_shard(context)
        return day, side_store(getattr(context.resources, store).store(), members, shard)

    def others(context: dg.AssetExecutionContext) -> list[ObjectStore]:
        """The other shards of a sharded store, whose baselines the diff reads too."""
        return other_shards(getattr(context.resources, store).store(), members, day_and_shard(context)[1])

    braze, store = braze_key(connection), store_key(connection)
    members_key, payload_key, changes_key, push_key = (
        export_key(connection, goal, s) for s in ("segment_members", "export_payload", "export_changes", "braze_push")
    )
    common = {"partitions_def": partitions, "group_name": connection.name, "tags": {"goal": goal.name}}

    @dg.asset(
        key=members_key,
        deps=[profiles] if profiles else [],
        kinds={"polars"},
        code_version="1",
        required_resource_keys={store},
        description=f"""Profiles in segment {goal.segment!r}: `{connection.segments[goal.segment]}`.

Evaluated on the day's profile snapshot; each member also carries the names of every segment
it is in (for the `segments` value source).""",
        **common,
    )
    def segment_members(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        day, target = day_store(context)
        result = run_segment_members(target, connection, goal, day)
        context.log.info("%d members (%d joined, %d left)", result["members"], result["joined"], result["left"])
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result["members"],
                **counts(result, "joined", "left", "profiles"),
                "preview": preview(result["preview"]),
            }
        )

    @dg.asset(
        key=payload_key,
        deps=[members_key, *([interactions] if interactions and uses_interactions(goal) else [])],
        kinds={"polars"},
        code_version="2",
        required_resource_keys={store},
        metadata=payload_metadata(connection, goal, profiles, interactions),
        description="""Braze-typed attribute values for every member, one row per user, one column per attribute.

Values are checked against Braze's limits here (text ≤ 255 characters, arrays ≤ 500 distinct
values, e-mail syntax, subscription states, identifier sizes); a value Braze would refuse goes
to `dead_letter.jsonl` with the reason and is never sent.""",
        **common,
    )
    def export_payload(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        day, target = day_store(context)
        result = run_payload(target, connection, goal, day)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result["rows"],
                **counts(result, "identities", "dead_letters", "members", "members_rebuilt"),
                "rebuild_reason": result["rebuild_reason"],  # why members_rebuilt were not taken from a day before
                "dead_letter": dg.MetadataValue.path(target.uri(result["dead_letter_key"])),
                "preview": preview(result["frame"]),
            }
        )

    @dg.asset(
        key=changes_key,
        deps=[payload_key],
        kinds={"polars"},
        code_version="2",
        required_resource_keys={store},
        check_specs=[dg.AssetCheckSpec("values_within_braze_limits", asset=changes_key, blocking=True)],
        description=f"""What Braze does not hold yet: the exact diff a push will send ({goal.delta} mode).

Diffed against the acknowledged baseline (the values Braze accepted in earlier pushes), not the
last computed payload, so a failed or rejected push is resent in full next time. The baseline is
the newest state Braze acknowledged, each value as of the day it came from: a value Braze holds
from a later day is held back (`held_back`), so re-running an old day never sends older data
over newer. The metadata forecasts requests and data points before anything is sent, checks them
against the goal's budget, and previews the plan (`plan.parquet`: each user and attribute with
the acknowledged and the new value; `profilesync plan` also writes it as `plan.csv`), the
reviewable dry run of the push.""",
        **common,
    )
    def export_changes(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        day, target = day_store(context)
        result = run_export_changes(target, connection, goal, day, others(context))
        problems = _invalid_values(result["frame"])
        context.log.info("%d users, %d attributes to send", result["users"], result["attributes"])
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result["attributes"],
                **counts(result, "users", "attributes", "removals", "held_back", "requests_forecast"),
                **counts(result, "data_points_forecast", "data_points_full_profile"),
                **counts(result["plan"].counts(), "members", "joiners", "leavers", "dead_letters"),
                "uri": dg.MetadataValue.path(target.uri(result["key"])),
                "plan": dg.MetadataValue.path(target.uri(result["plan_key"])),
                "budget": dg.MetadataValue.md(
                    "; ".join(result["over_budget"]) or ("_within budget_" if goal.budget else "_no budget_")
                ),
                "preview": preview(result["plan"].rows, rows=PLAN_PREVIEW_ROWS),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="values_within_braze_limits",
                    passed=not problems,
                    metadata={"invalid": len(problems), "examples": "\n".join(problems[:5])},
                )
            ],
        )

    @dg.asset(
        key=push_key,
        deps=[changes_key, dg.AssetDep(push_key, partition_mapping=previous_day)],
        kinds={"braze"},
        code_version="2",
        required_resource_keys={braze, store},
        description="""The day's changes sent to Braze with /users/track.

At most 75 users a request, paced by Braze's rate-limit headers, with as many requests in
flight as the measured round trip and the rate limit call for (at most
`braze.max_requests_in_flight`). Every
accepted batch is checkpointed at once, so a killed run resumes without resending it; users
Braze refused go to `dead_letter.jsonl` and stay out of the baseline, so they are retried.
Pushes run in day order; if the changes were computed before another push changed the
baseline, they are recomputed against it first, and a value Braze holds from a later day is
never sent (`held_back`). When the forecast (the plan beside the changes) exceeds the goal's
`budget`, nothing is sent and the step fails naming forecast and budget; run config
`override_budget: true` pushes anyway.""",
        **common,
    )
    def braze_push(context: dg.AssetExecutionContext, config: PushConfig) -> dg.MaterializeResult:
        day, target = day_store(context)
        with getattr(context.resources, braze).client() as client:
            report, overridden = run_push(
                client, target, connection, goal, day,
                progress=step_progress(context.log), override_budget=config.override_budget, shards=others(context),
            )  # fmt: skip
        values = report.as_dict()
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": int(values["users_accepted"]),
                **{name: value for name, value in values.items() if isinstance(value, int | float)},
                **({"budget_overridden": overridden} if overridden else {}),
            }
        )

    return [segment_members, export_payload, export_changes, braze_push]
