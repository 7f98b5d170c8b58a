"""Schedules from connection files: cron, stopped when disabled, the day's partition per tick."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from assets.build import build_definitions
from pipeline.mapping import load_connection_file

CONNECTION = """\
connection: {name}
enabled: {enabled}
schedule: "{cron}"
start_date: "2026-11-01"
braze: {{rest_endpoint: "https://rest.fra-01.braze.eu", api_key: "${{BRAZE_API_KEY}}"}}
storage: {{root: "{root}", braze_exports: "s3://exports"}}
import:
  - goal: members
    segment: Members
    identifiers: [{{braze: external_id, profile: external_id}}]
    fields: [{{braze: first_name, profile: first_name}}]
"""


def definitions(tmp_path: Path, **settings: str) -> dg.Definitions:
    values = {"name": "acme", "enabled": "true", "cron": "0 3 * * *", "root": str(tmp_path / "store"), **settings}
    path = tmp_path / f"{values['name']}.yaml"
    path.write_text(CONNECTION.format(**values))
    return build_definitions([load_connection_file(path)])


def tick(defs: dg.Definitions, when: datetime) -> dg.RunRequest | dg.SkipReason:
    schedule = defs.resolve_schedule_def("acme_schedule")
    context = dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def())
    result = schedule.evaluate_tick(context)
    return result.run_requests[0] if result.run_requests else dg.SkipReason(result.skip_message)


def test_enabled_connection_runs_the_day_of_each_tick(tmp_path: Path) -> None:
    defs = definitions(tmp_path)
    schedule = defs.resolve_schedule_def("acme_schedule")
    assert schedule.cron_schedule == "0 3 * * *" and schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    request = tick(defs, datetime(2026, 11, 5, 3, tzinfo=UTC))
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2026-11-05"
    assert request.run_config == {"ops": {"acme__members__segment_export": {"config": {"refresh": True}}}}
    assert defs.resolve_job_def("acme_sync").partitions_def.get_first_partition_key() == "2026-11-01"


def test_disabled_connection_starts_stopped(tmp_path: Path) -> None:
    schedule = definitions(tmp_path, enabled="false").resolve_schedule_def("acme_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_ticks_before_the_start_date_are_skipped(tmp_path: Path) -> None:
    assert isinstance(tick(definitions(tmp_path), datetime(2026, 10, 31, 3, tzinfo=UTC)), dg.SkipReason)


@pytest.mark.parametrize(
    ("cron", "first", "second"),
    [
        ("0 */6 * * *", datetime(2026, 11, 30, 0), datetime(2026, 11, 30, 6)),  # several times a day
        ("30 7 * * 1,3,5", datetime(2026, 11, 30, 7, 30), datetime(2026, 12, 2, 7, 30)),  # chosen weekdays
        ("0 2 1 * *", datetime(2026, 12, 1, 2), datetime(2027, 1, 1, 2)),  # a day of the month
        ("0 5 * * 1#1", datetime(2026, 12, 7, 5), datetime(2027, 1, 4, 5)),  # the first Monday of the month
    ],
)
def test_the_four_schedule_kinds(tmp_path: Path, cron: str, first: datetime, second: datetime) -> None:
    # The iterator Dagster's scheduler itself uses (no public equivalent): what the daemon will do.
    from dagster._utils.schedules import cron_string_iterator

    schedule = definitions(tmp_path, cron=cron).resolve_schedule_def("acme_schedule")
    start = datetime(2026, 11, 29, 23, tzinfo=UTC).timestamp()
    times = cron_string_iterator(start, schedule.cron_schedule, schedule.execution_timezone)
    assert [next(times).replace(tzinfo=None), next(times).replace(tzinfo=None)] == [first, second]
