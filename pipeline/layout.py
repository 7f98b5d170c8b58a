"""Where every object lives in a store: one function per kind, so no key is spelled twice.

Per-goal objects sit under `connections/<connection>/<goal>/<step>/<day>/`; the profile
snapshot, shared by every connection on the same storage root, under `profiles/<day>/`.
Days are ISO dates (`2026-11-01`), so their text order is their time order.
"""

from __future__ import annotations

from pipeline.storage import ObjectStore


def step_folder(connection: str, goal: str, step: str) -> str:
    return f"connections/{connection}/{goal}/{step}/"


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


def profiles_dir(day: str) -> str:
    return f"{PROFILES_FOLDER}{day}/"


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
