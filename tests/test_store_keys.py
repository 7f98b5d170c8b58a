"""Every key one day of an import + export connection writes, pinned: `pipeline/layout.py` is where
they are spelled, and this list is where a change to any of them shows up in review."""

from __future__ import annotations

import re

from import_harness import ImportHarness
from test_export_assets import DAY1, IMPORTS, SEGMENTS, exports, harness  # noqa: F401 (harness is a fixture)

from pipeline import layout

PUSH_RUN = re.compile(r"\d{8}T\d{6}\d{3}Z-[0-9a-f]{6}")  # a push run's id, as in its journal files
DAGSTER_RUN = re.compile(r"\d{8}T\d{6}\.\d+Z-[0-9a-f-]{36}")  # end time and Dagster run id of a run record


def normalised(key: str) -> str:
    return PUSH_RUN.sub("<run>", DAGSTER_RUN.sub("<stamp>-<dagster-run>", key.replace(DAY1, "<day>")))


KEYS = [
    "connections/acme/members/segment_export/<day>/manifest.json",
    "connections/acme/members/staged_users/<day>/quarantine.jsonl",
    "connections/acme/members/staged_users/<day>/users.parquet",
    "connections/acme/members/user_changes/<day>/changes.parquet",
    "connections/acme/vip_to_braze/baseline/acknowledged.parquet",
    "connections/acme/vip_to_braze/braze_push/<day>/dead_letter.jsonl",
    "connections/acme/vip_to_braze/braze_push/<day>/journal/<run>-000000.parquet",
    "connections/acme/vip_to_braze/braze_push/<day>/replaced/<run>.parquet",
    "connections/acme/vip_to_braze/braze_push/<day>/summary.json",
    "connections/acme/vip_to_braze/export_changes/<day>/basis.json",
    "connections/acme/vip_to_braze/export_changes/<day>/changes.parquet",
    "connections/acme/vip_to_braze/export_changes/<day>/held_back.parquet",
    "connections/acme/vip_to_braze/export_changes/<day>/plan.parquet",
    "connections/acme/vip_to_braze/export_payload/<day>/dead_letter.jsonl",
    "connections/acme/vip_to_braze/export_payload/<day>/payload.parquet",
    "connections/acme/vip_to_braze/segment_members/<day>/members.parquet",
    "inputs/interactions/views.csv",
    "interactions/<day>/interactions.parquet",
    "profiles/<day>/identifiers.parquet",
    "profiles/<day>/manifest.json",
    "profiles/<day>/merges.parquet",
    "profiles/<day>/profiles.parquet",
    "profiles/<day>/provenance.parquet",
    "profiles/<day>/quarantine.jsonl",
    "profiles/<day>/sum_basis.parquet",
    "runs/acme/<day>/<stamp>-<dagster-run>.json",
]


def test_one_day_writes_exactly_the_keys_layout_spells(harness: ImportHarness) -> None:  # noqa: F811
    connection = harness.connection(IMPORTS, extra=SEGMENTS, exports=exports())
    summary = harness.run(DAY1, connection)
    assert summary.success, summary.failures
    written = sorted(normalised(info.key) for info in harness.store.list(""))
    assert written == KEYS

    c, i, e, d = "acme", "members", "vip_to_braze", "<day>"
    spelled = {
        layout.export_manifest(c, i, d), layout.staged_quarantine(c, i, d), layout.staged_users(c, i, d),
        layout.user_changes(c, i, d), layout.baseline(c, e), layout.push_dead_letter(c, e, d),
        layout.push_journal(c, e, d, "<run>", 0), layout.push_replaced(c, e, d, "<run>"), layout.push_summary(c, e, d),
        layout.export_basis(c, e, d),
        layout.export_changes(c, e, d), layout.export_held_back(c, e, d), layout.export_dead_letter(c, e, d),
        layout.export_plan(c, e, d),  # plan.csv (`export_plan_csv`) only from `profilesync plan`
        layout.export_payload(c, e, d), layout.segment_members(c, e, d),
        layout.interactions(d),
        layout.profiles_dir(d) + layout.PROFILES_MANIFEST, layout.profiles_dir(d) + layout.PROFILES_QUARANTINE,
        *(layout.profiles_dir(d) + name for name in layout.PROFILE_FILES.values()),
        layout.run_record(c, d, "<stamp>", "<dagster-run>"),
    }  # fmt: skip
    assert sorted(k for k in written if not k.startswith(layout.INTERACTIONS_INBOX)) == sorted(spelled)
