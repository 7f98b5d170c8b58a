"""Where every object lives in a store: one function per kind, so no key is spelled twice.

Per-goal objects sit under `connections/<connection>/<goal>/<step>/<day>/`; the profile
snapshot, shared by every connection on the same storage root, under `profiles/<day>/`.
Days are ISO dates (`2026-11-01`), so their text order is their time order. Run records sit
under `runs/<connection>/<day>/`. tests/test_store_keys.py pins every key one day writes.
"""

from __future__ import annotations

from pipeline.storage import ObjectStore


def goal_folder(connection: str, goal: str) -> str:
    return f"connections/{connection}/{goal}/"


def step_folder(connection: str, goal: str, step: str) -> str:
    return f"{goal_folder(connection, goal)}{step}/"


def export_manifest(connection: str, goal: str, day: str) -> str:
    return f"{step_folder(connection, goal, 'segment_export')}{day}/manifest.json"


USERS_FILE = "users.parquet"  # a goal step's users of the day: staged, or transformed after staging


def staged_users(connection: str, goal: str, day: str) -> str:
    return f"{step_folder(connection, goal, 'staged_users')}{day}/{USERS_FILE}"


def staged_quarantine(connection: str, goal: str, day: str) -> str:
    return f"{step_folder(connection, goal, 'staged_users')}{day}/quarantine.jsonl"


def user_changes(connection: str, goal: str, day: str) -> str:
    return f"{step_folder(connection, goal, 'user_changes')}{day}/changes.parquet"


PROFILES_FOLDER = "profiles/"
PROFILES_MANIFEST = "manifest.json"  # written last: a day without it is not a snapshot
PROFILE_FILES = {  # snapshot frame -> its file in `profiles/<day>/`
    "profiles": "profiles.parquet",
    "identifiers": "identifiers.parquet",
    "sum_basis": "sum_basis.parquet",
    "merges": "merges.parquet",
    "provenance": "provenance.parquet",
}
PROFILES_QUARANTINE = "quarantine.jsonl"


def profiles_dir(day: str) -> str:
    return f"{PROFILES_FOLDER}{day}/"


# -- export goal: segment_members -> export_payload -> export_changes -> braze_push ------------

MEMBERS_FILE = "members.parquet"


def segment_members(connection: str, goal: str, day: str) -> str:
    return step_file(connection, goal, "segment_members", day, MEMBERS_FILE)


PAYLOAD_FILE = "payload.parquet"  # one row per (member, identity); the next day reuses its values where nothing changed
# Stores written before one row per member also hold `values.parquet` there: no longer read.


def export_payload(connection: str, goal: str, day: str) -> str:
    return step_file(connection, goal, "export_payload", day, PAYLOAD_FILE)


def export_dead_letter(connection: str, goal: str, day: str) -> str:
    return step_file(connection, goal, "export_payload", day, "dead_letter.jsonl")


def export_changes(connection: str, goal: str, day: str) -> str:
    return step_file(connection, goal, "export_changes", day, "changes.parquet")


def export_held_back(connection: str, goal: str, day: str) -> str:
    return step_file(connection, goal, "export_changes", day, "held_back.parquet")


def export_basis(connection: str, goal: str, day: str) -> str:
    return step_file(connection, goal, "export_changes", day, "basis.json")


def export_plan(connection: str, goal: str, day: str) -> str:
    """What the next push of the day would send, for review (`profilesync plan`)."""
    return step_file(connection, goal, "export_changes", day, "plan.parquet")


def export_plan_csv(connection: str, goal: str, day: str) -> str:
    return step_file(connection, goal, "export_changes", day, "plan.csv")


def baseline_folder(connection: str, goal: str) -> str:
    return step_folder(connection, goal, "baseline")


def baseline(connection: str, goal: str) -> str:
    """The one acknowledged baseline of a goal: the newest state, whatever day wrote it last."""
    return f"{baseline_folder(connection, goal)}acknowledged.parquet"


LEGACY_BASELINE = "baseline.parquet"  # `baseline/<day>/baseline.parquet`, one per day, before as-of days


def legacy_baseline(connection: str, goal: str, day: str) -> str:
    return f"{baseline_folder(connection, goal)}{day}/{LEGACY_BASELINE}"


def push_folder(connection: str, goal: str, day: str) -> str:
    return f"{step_folder(connection, goal, 'braze_push')}{day}/"


def push_journal_folder(connection: str, goal: str, day: str) -> str:
    return f"{push_folder(connection, goal, day)}journal/"


def push_journal(connection: str, goal: str, day: str, run_id: str, batch: int) -> str:
    return f"{push_journal_folder(connection, goal, day)}{run_id}-{batch:06d}.parquet"


def push_replaced(connection: str, goal: str, day: str, run_id: str) -> str:
    """The acknowledged value each row of one push run replaces, written before it sends: undo's input."""
    return f"{push_replaced_folder(connection, goal, day)}{run_id}.parquet"


def push_replaced_folder(connection: str, goal: str, day: str) -> str:
    return f"{push_folder(connection, goal, day)}replaced/"


UNDO_SUFFIX = "~undo"


def undo_day(day: str) -> str:
    """The day label the undo of `day` pushes under: its journal, dead letters and summary sit in
    `braze_push/<day>~undo/`, and the values it restores are as of `<day>~undo`, which sorts after
    `day` and before the next day: a re-run of `day` cannot bring undone values back, the next
    day's push still replaces them."""
    return f"{day}{UNDO_SUFFIX}"


def push_dead_letter(connection: str, goal: str, day: str) -> str:
    return f"{push_folder(connection, goal, day)}dead_letter.jsonl"


def push_summary(connection: str, goal: str, day: str) -> str:
    return f"{push_folder(connection, goal, day)}summary.json"


RUNS_FOLDER = "runs/"


def run_record(connection: str, day: str, stamp: str, run_id: str) -> str:
    return f"{RUNS_FOLDER}{connection}/{day}/{stamp}-{run_id}.json"


def days_with(store: ObjectStore, folder: str, filename: str) -> list[str]:
    """Every day that has `<folder><day>/<filename>`, oldest first."""
    days = {
        info.key[len(folder) :].split("/", 1)[0]
        for info in store.list(folder)
        if info.key.endswith(f"/{filename}")
    }
    return sorted(days)


def latest_day_before(store: ObjectStore, folder: str, filename: str, day: str) -> str | None:
    """The most recent day before `day` that has `<folder><day>/<filename>`, if any.

    Days without data (a skipped run) are passed over, so a gap never makes a whole
    segment look new.
    """
    earlier = [d for d in days_with(store, folder, filename) if d < day]
    return earlier[-1] if earlier else None


def step_file(connection: str, goal: str, step: str, day: str, filename: str) -> str:
    """`connections/<c>/<goal>/<step>/<day>/<filename>`: any per-goal, per-day object."""
    return f"{step_folder(connection, goal, step)}{day}/{filename}"


INTERACTIONS_INBOX = "inputs/interactions/"  # where a data engineer drops interaction files
INTERACTIONS_FOLDER = "interactions/"


def interactions(day: str) -> str:
    return f"{INTERACTIONS_FOLDER}{day}/interactions.parquet"


LOCKS_FOLDER = "locks/"


def run_lease(day: str) -> str:
    """Who is running this store's day: one object per day, held for the length of a run."""
    return f"{LOCKS_FOLDER}runs/{day}.json"


SHARDS_FOLDER = "shards/"


def shard_folder(shard: int, shards: int) -> str:
    """Everything one hash shard of a sharded store (`storage.shards` > 1) writes: its profiles, its
    export steps, push journals and baselines, its run lease. The import steps stay per day at the top."""
    return f"{SHARDS_FOLDER}{shard}-of-{shards}/"
