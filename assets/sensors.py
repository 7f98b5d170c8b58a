"""Per connection, two run-status sensors: every finished run of its job goes to the run history
(`runs/` in the connection's store) and, as `notify` asks, to the people who watch it by e-mail.

They run under the Dagster daemon (`dagster dev` starts one). Mail goes through plain `smtplib`
with the `PROFILESYNC_SMTP_*` settings, read at evaluation time; without them the run is still
recorded and the tick logs which variables to set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from assets.resources import store_at
from assets.run_summary import summarize_run
from pipeline import notify
from pipeline.mapping import Connection
from pipeline.runs import append_run, is_recorded

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def record_and_notify(context: dg.RunStatusSensorContext, connection: Connection) -> None:
    """Append the run to the history, then mail it if `notify` wants it; once per run."""
    record = summarize_run(context.instance, context.dagster_run, connection)
    store = store_at(connection.storage.root)
    if is_recorded(store, record):  # the key depends only on the run: this run was handled before
        context.log.info("run %s of %s is already in the run history; not mailing again", record.run_id, record.job)
        return
    key = append_run(store, record)
    context.log.info("recorded run %s (%s) as %s", record.run_id, record.status, store.uri(key))
    if connection.notify is None or not notify.wants_mail(connection.notify.on, record):
        return
    settings = notify.SmtpSettings.from_env()
    if settings is None:
        context.log.warning(
            "%s: not mailing %s about run %s: mail is not configured; set %s (and %s)",
            connection.name, ", ".join(connection.notify.emails), record.run_id, notify.VARIABLES[0],
            ", ".join(notify.VARIABLES[1:]),
        )  # fmt: skip
        return
    notify.send(settings, connection.notify.emails, notify.compose(record))
    context.log.info("mailed %s about run %s", ", ".join(connection.notify.emails), record.run_id)


def connection_sensors(connection: Connection, job: UnresolvedAssetJobDefinition) -> list[dg.RunStatusSensorDefinition]:
    """`<connection>_on_success` and `<connection>_on_failure`, both running from the start."""
    who = ", ".join(connection.notify.emails) if connection.notify else "nobody (no notify)"
    when = connection.notify.on if connection.notify else "never"
    common = {
        "monitored_jobs": [job],
        "default_status": dg.DefaultSensorStatus.RUNNING,
        "minimum_interval_seconds": 30,
    }

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name=f"{connection.name}_on_success",
        description=f"Records each successful run of {job.name} in runs/; mails {who} ({when}).",
        **common,
    )
    def on_success(context: dg.RunStatusSensorContext) -> None:
        record_and_notify(context, connection)

    @dg.run_failure_sensor(
        name=f"{connection.name}_on_failure",
        description=f"Records each failed run of {job.name} in runs/ with its error; mails {who} ({when}).",
        **common,
    )
    def on_failure(context: dg.RunFailureSensorContext) -> None:
        record_and_notify(context, connection)

    return [on_success, on_failure]


def shard_launcher(
    connection: Connection, job: UnresolvedAssetJobDefinition, shards_job: UnresolvedAssetJobDefinition
) -> dg.RunStatusSensorDefinition:
    """`<connection>_shards_after_import`: in a sharded store, each successful import run of a day
    requests one run of `shards_job` per (day, shard); the store's run tag queues them."""
    shards = connection.storage.shards

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name=f"{connection.name}_shards_after_import",
        description=f"After each successful run of {job.name}: one run of {shards_job.name} per shard of its day.",
        monitored_jobs=[job],
        request_job=shards_job,
        default_status=dg.DefaultSensorStatus.RUNNING if connection.enabled else dg.DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=30,
    )
    def launch(context: dg.RunStatusSensorContext) -> list[dg.RunRequest] | dg.SkipReason:
        run = context.dagster_run
        day = run.tags.get("dagster/partition")
        if day is None:
            return dg.SkipReason(f"run {run.run_id} has no day partition")
        return [
            dg.RunRequest(
                run_key=f"{run.run_id}:{shard}", partition_key=dg.MultiPartitionKey({"day": day, "shard": str(shard)})
            )
            for shard in range(shards)
        ]

    return launch
