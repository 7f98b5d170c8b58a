"""`make demo`: the main job on embedded defaults, from nothing to a summary.

A local folder stands in for S3 and the sandbox for Braze, started in this process on a
free loopback port with deterministic demo users, so the demo needs no credentials and no
network. It syncs two days both ways: loyal Braze users into profiles, VIP profiles back to
Braze. Between the days, users change in Braze through `/users/track`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from assets.app.progress import showing
from assets.app.run import dagster_instance, print_summaries, run_day
from assets.resources import store_at
from pipeline import layout
from pipeline.braze import BrazeClient
from pipeline.check import run_checks
from pipeline.console import console, print_checks, print_profile
from pipeline.mapping import load_connections
from pipeline.profiles import find_profile, read_snapshot
from pipeline.sandbox.admin_client import SandboxAdmin
from pipeline.sandbox.demo import demo_users
from pipeline.sandbox.server import SandboxServer
from pipeline.sandbox.settings import DEMO_API_KEY

DEMO_USERS = 10_000
INTERACTIONS = Path(__file__).resolve().parents[2] / "mappings" / "inputs" / "interactions.csv"
DAYS = ("2026-11-01", "2026-11-02")
LOYAL = 500  # the sandbox's "Loyal users" segment: points >= 500


def demo_environment(folder: Path, sandbox_url: str) -> dict[str, str]:
    """The variables the demo connection file (mappings/demo.yaml) reads."""
    return {
        "BRAZE_REST_ENDPOINT": sandbox_url,
        "BRAZE_API_KEY": DEMO_API_KEY,
        "PROFILESYNC_STORAGE_ROOT": str(folder / "store"),
        "PROFILESYNC_BRAZE_EXPORTS": str(folder / "braze-exports"),
        "DAGSTER_HOME": str(folder / "dagster_home"),
    }


def day_two_changes(count: int) -> list[dict[str, Any]]:
    """What happens in Braze overnight: points move, users join and leave, one email is shared.

    The shared email links two existing profiles (one by external_id, one by email), so the
    second day also shows a merge.
    """
    users = demo_users(count)
    loyal = [u for u in users if u["custom_attributes"]["points"] >= LOYAL]
    updates: list[dict[str, Any]] = []
    for number, user in enumerate(users, start=1):
        points = user["custom_attributes"]["points"]
        if number % 25 == 0 and points >= LOYAL:
            updates.append({"external_id": user["external_id"], "points": 120})  # leaves the segment
        elif number % 10 == 0:
            updates.append({"external_id": user["external_id"], "points": points + 150, "tags": {"add": ["vip"]}})
        elif number % 40 == 0:
            updates.append({"external_id": user["external_id"], "home_city": "Utrecht", "first_name": "Sam"})
    updates += [
        {"external_id": f"demo-new-{n:04d}", "email": f"new.{n}@example.com", "first_name": "Nova", "points": 700}
        for n in range(1, 301)
    ]
    updates.append({"external_id": loyal[1]["external_id"], "email": loyal[0]["email"]})
    return updates


def _push(client: BrazeClient, attributes: list[dict[str, Any]]) -> int:
    for start in range(0, len(attributes), 75):
        client.track(attributes=attributes[start : start + 75])
    return len(attributes)


def run_demo(folder: Path, users: int = DEMO_USERS) -> bool:
    """Start the sandbox, test the connection, import two days; True when all of it passed."""
    folder = folder.resolve()
    shutil.rmtree(folder, ignore_errors=True)  # the same story every time
    folder.mkdir(parents=True)
    with SandboxServer(str(folder / "braze-exports"), seed_data={"demo_users": users}) as server:
        console.rule(f"Braze sandbox with {users:,} demo users at {server.url}")
        env = demo_environment(folder, server.url)
        os.environ.update(env)
        with BrazeClient(server.url, max_retries=2) as client:
            ok = _check(client, env) and _sync_days(client, server.admin, users, env)
    if ok:
        _show_example(env["PROFILESYNC_STORAGE_ROOT"], DAYS[-1])
    console.print(f"Runs are recorded in {env['DAGSTER_HOME']}: set DAGSTER_HOME to it for `dagster dev`.")
    return ok


def _check(client: BrazeClient, env: dict[str, str]) -> bool:
    console.rule("profilesync check")
    results = run_checks(
        client, {"Profile store": env["PROFILESYNC_STORAGE_ROOT"], "Export bucket": env["PROFILESYNC_BRAZE_EXPORTS"]}
    )
    print_checks(results)
    return not any(r.status == "FAIL" for r in results)


def _sync_days(client: BrazeClient, admin: SandboxAdmin, users: int, env: dict[str, str]) -> bool:
    """Import and export each demo day, showing what reached the sandbox."""
    connections = load_connections()
    instance = dagster_instance(Path(env["DAGSTER_HOME"]))
    shutil.copy(INTERACTIONS, _inbox(env["PROFILESYNC_STORAGE_ROOT"]))
    ok = True
    for number, day in enumerate(DAYS):
        if number:
            changed = _push(client, day_two_changes(users))
            console.rule(f"overnight: {changed:,} users changed in Braze through /users/track")
        console.rule(f"day {number + 1}: profilesync run --date {day}")
        since = admin.last_seq()
        with showing():  # bars on a terminal, as `profilesync run` shows them
            summaries = run_day(day, connections, instance)
        print_summaries(summaries)
        _show_echoes(summaries)
        _show_sandbox(admin, since)
        ok = ok and bool(summaries) and all(s.success for s in summaries)
    return ok


def _show_echoes(summaries: list) -> None:
    """Braze's differences, told apart: real changes are applied, echoes of our own pushes are not."""
    steps = [s.metadata for summary in summaries for s in summary.steps if s.key.endswith("/user_changes")]
    seen, changed, echoes = (sum(int(m.get(k) or 0) for m in steps) for k in ("seen_changed", "changed", "echoes"))
    if seen:
        console.print(
            f"from Braze: {seen:,} users seen changed: {changed:,} real changes applied, "
            f"{echoes:,} echoes of our own pushes left alone"
        )


def _inbox(root: str) -> Path:
    folder = Path(root) / layout.INTERACTIONS_INBOX
    folder.mkdir(parents=True, exist_ok=True)
    return folder / INTERACTIONS.name


def _show_sandbox(admin: SandboxAdmin, since: int) -> None:
    """What the push delivered, read back from the sandbox's own request log and counters."""
    pushes = [r for r in admin.requests(since=since) if r["path"] == "/users/track"]
    objects = [o for r in pushes for o in (r.get("body") or {}).get("attributes", [])]
    keys = sum(len([k for k in o if k not in ("external_id", "_update_existing_only")]) for o in objects)
    points = sum(int(r.get("data_points") or 0) for r in pushes)
    console.print(
        f"reached the sandbox: {len(pushes)} /users/track request(s), {len(objects):,} users, "
        f"{keys:,} attribute values, {points:,} data points"
    )
    if objects:
        sample = {k: v for k, v in objects[0].items() if k != "_update_existing_only"}
        console.print(f"  e.g. {sample}")


def _show_example(root: str, day: str) -> None:
    snapshot = read_snapshot(store_at(root), day)
    if snapshot is None or snapshot.merges.is_empty():
        return
    survivor = snapshot.merges["survivor_id"][0]
    ids = snapshot.identifiers.filter(snapshot.identifiers["profile_id"] == survivor)
    kind, value = ids["kind"][0], ids["value"][0]
    console.rule(f"a merged profile: profilesync profiles show {kind}={value} --date {day}")
    profile = find_profile(snapshot, kind, value)
    if profile is not None:
        print_profile(day, profile, as_json=False)
