"""Time one whole day of `profilesync run` against the sandbox at N users (issue 11's setup).

    python bench/bench_day.py --users 100000 [--repeat 3] [--change-rate 0.02]

Per repeat, in a fresh folder under `bench/data/day_<N>/` (gitignored):

1. a sandbox process seeded with `demo_users: N` (generated per export file, so it holds none);
2. a connection importing "All users" (identifiers external_id and email, four mapped fields,
   `remaining_fields`) and exporting the profile segment `points >= 300` (~70%) with five mapped
   attributes;
3. `profilesync run` for day 1 (every member pushed), then `--change-rate` of the users (every
   50th at 2%) given new points in Braze, then `profilesync run` for day 2, which is measured:
   its wall time, the peak RSS of its process tree (sampled from /proc every 0.1 s; the sandbox
   is a separate process and not part of it), the Dagster step times from the run's records,
   and Braze's side: the export job's own time and the span of the day's /users/track answers.

Writes `bench/results/day_<N>.json` (median/min/max over repeats, each repeat's numbers, library
versions) and prints a table. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import sandbox_process  # noqa: E402  (bench/, beside this script)

API_KEY = "bench-day-key"  # not a secret: the sandbox's bench key
DAYS = ("2026-11-02", "2026-11-03")
BIN = Path(sys.executable).parent

MAPPING = """\
connection: bench
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze:
  rest_endpoint: ${BRAZE_REST_ENDPOINT}
  api_key: ${BRAZE_API_KEY}
  export_poll_interval_s: 1
  export_quiet_period_s: 5
storage:
  root: ${PROFILESYNC_STORAGE_ROOT}
  braze_exports: ${PROFILESYNC_BRAZE_EXPORTS}
import:
  - goal: all_users
    segment: "All users"
    identifiers:
      - {braze: external_id, profile: external_id}
      - {braze: email, profile: email}
    allow_create: true
    fields:
      - {braze: first_name, profile: first_name, strategy: set}
      - {braze: country, profile: country, strategy: set}
      - {braze: custom_attributes.points, profile: points, strategy: set}
      - {braze: custom_attributes.tier, profile: tier, strategy: set}
    remaining_fields: {prefix: braze_, strategy: set}
segments:
  most: "points >= 300"
export:
  - goal: most_to_braze
    segment: most
    identifiers:
      - {profile: external_id, braze: external_id}
    allow_create: false
    delta: attributes
    fields:
      - {from: {property: points}, braze: ps_points}
      - {from: {property: tier}, braze: ps_tier}
      - {from: {property: first_name}, braze: ps_first_name}
      - {from: {property: country}, braze: ps_country}
      - {from: {static: "profilesync"}, braze: ps_source}
"""


def _tree_rss_kib(root: int) -> int:
    """Resident memory of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total


def timed_run(command: list[str], env: dict[str, str], log: Path) -> tuple[float, list[tuple[float, float]], int]:
    """Run `command`; (seconds, [(unix time, RSS MiB of its process tree)] every 0.1 s, exit code)."""
    started = time.perf_counter()
    samples: list[tuple[float, float]] = []
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        while process.poll() is None:
            samples.append((time.time(), _tree_rss_kib(process.pid) / 1024))
            time.sleep(0.1)
    return time.perf_counter() - started, samples, process.returncode


def _peak(samples: list[tuple[float, float]], start: float = 0, end: float = float("inf")) -> float:
    return max((rss for moment, rss in samples if start <= moment <= end), default=0.0)


@contextmanager
def sandbox(storage: str, seed: Path) -> Iterator[tuple[str, int]]:
    """A sandbox process seeded from `seed`; yields (url, pid)."""
    with sandbox_process(str(BIN / "profilesync"), storage, API_KEY, "--seed", str(seed)) as answer:
        yield answer


def change_users(admin, users: int, rate: float) -> int:
    """Give `rate` of the users new points in Braze (every 1/rate-th user), as a CRM would overnight."""
    from pipeline.sandbox.demo import demo_profile

    step = max(round(1 / rate), 1)
    batch: list[dict[str, object]] = []
    changed = 0
    for index in range(step, users + 1, step):
        points = demo_profile(index)["custom_attributes"]["points"]
        batch.append({"external_id": f"demo-{index:06d}", "custom_attributes": {"points": (points + 337) % 1001}})
        if len(batch) == 5000:
            changed += admin.upsert_users(batch)["users_updated"]
            batch = []
    if batch:
        changed += admin.upsert_users(batch)["users_updated"]
    return changed


def steps_of_last_run(home: Path, samples: list[tuple[float, float]]) -> tuple[dict[str, dict[str, float]], float]:
    """Per Dagster step of the latest run in `home` (from its own records): seconds, and the peak
    RSS of the process tree while the step ran (the run is one process: a step's peak includes what
    earlier steps left allocated); plus the run's own seconds, start to end."""
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        (record,) = instance.get_run_records(limit=1)
        stats = instance.get_run_step_stats(record.dagster_run.run_id)
    steps = {
        s.step_key.removeprefix("bench__"): {
            "s": round((s.end_time or 0) - (s.start_time or 0), 2),
            "peak_rss_mib": round(_peak(samples, s.start_time or 0, s.end_time or 0)),
        }
        for s in sorted(stats, key=lambda s: s.start_time or 0)
    }
    run_s = (record.end_time or 0) - (record.start_time or 0)
    return steps, round(run_s, 2)


def braze_side(admin, since: int) -> dict[str, float]:
    """The day's export job (request to last file) and the span of its /users/track answers."""
    exports = sorted(admin.exports(), key=lambda j: j["requested_at"])
    job = exports[-1]
    export = datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["requested_at"])
    tracks = [r for r in admin.requests(since=since) if r["path"] == "/users/track"]
    span = 0.0
    if tracks:
        first = datetime.fromisoformat(tracks[0]["time"]).timestamp() - tracks[0]["duration_ms"] / 1000
        last = max(datetime.fromisoformat(r["time"]).timestamp() for r in tracks)
        span = last - first
    return {"export_s": round(export.total_seconds(), 2), "track_s": round(span, 2), "track_requests": len(tracks)}


def one_day(users: int, rate: float, folder: Path) -> dict[str, object]:
    from pipeline.sandbox.admin_client import SandboxAdmin

    shutil.rmtree(folder, ignore_errors=True)
    (folder / "mappings").mkdir(parents=True)
    (folder / "mappings" / "bench.yaml").write_text(MAPPING)
    seed = folder / "seed.json"
    seed.write_text(json.dumps({"demo_users": users}))
    with sandbox(str(folder / "braze-exports"), seed) as (url, sandbox_pid):
        env = {
            **os.environ,
            "BRAZE_REST_ENDPOINT": url,
            "BRAZE_API_KEY": API_KEY,
            "PROFILESYNC_STORAGE_ROOT": str(folder / "store"),
            "PROFILESYNC_BRAZE_EXPORTS": str(folder / "braze-exports"),
            "PROFILESYNC_MAPPINGS": str(folder / "mappings"),
            "DAGSTER_HOME": str(folder / "dagster_home"),
        }
        admin = SandboxAdmin(url, timeout=600)
        day1_s, day1_samples, code = timed_run(
            [str(BIN / "profilesync"), "run", "--date", DAYS[0]], env, folder / "day1.log"
        )
        if code:
            raise SystemExit(f"day 1 failed ({code}); see {folder / 'day1.log'}")
        changed = change_users(admin, users, rate)
        since = admin.last_seq()
        day2_s, day2_samples, code = timed_run(
            [str(BIN / "profilesync"), "run", "--date", DAYS[1]], env, folder / "day2.log"
        )
        if code:
            raise SystemExit(f"day 2 failed ({code}); see {folder / 'day2.log'}")
        braze = braze_side(admin, since)
        sandbox_rss = _tree_rss_kib(sandbox_pid) / 1024
        admin.close()
    steps, run_s = steps_of_last_run(folder / "dagster_home", day2_samples)
    return {
        "day1_s": round(day1_s, 2),
        "day1_peak_rss_mib": round(_peak(day1_samples)),
        "changed_in_braze": changed,
        "day2_s": round(day2_s, 2),
        "day2_dagster_run_s": run_s,
        "day2_peak_rss_mib": round(_peak(day2_samples)),
        "braze_export_s": braze["export_s"],
        "braze_track_s": braze["track_s"],
        "track_requests": braze["track_requests"],
        "day2_without_braze_s": round(day2_s - braze["export_s"] - braze["track_s"], 2),
        "steps": steps,
        "sandbox_rss_mib_after": round(sandbox_rss),
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": min(values), "max": max(values)}


def versions() -> dict[str, str]:
    from importlib.metadata import version

    libs = {name: version(name) for name in ("polars", "pyarrow", "dagster")}
    return {"python": platform.python_version(), **libs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--change-rate", type=float, default=0.02)
    parser.add_argument("--out", type=Path, default=None, help="default bench/results/day_<N>.json")
    args = parser.parse_args()
    runs = []
    for number in range(args.repeat):
        load = os.getloadavg()[0]
        result = one_day(args.users, args.change_rate, HERE / "data" / f"day_{args.users}" / f"run{number}")
        result["load_1min_before"] = round(load, 1)
        runs.append(result)
        print(json.dumps(result), flush=True)
    keys = ("day2_s", "day2_dagster_run_s", "day2_without_braze_s", "braze_export_s", "braze_track_s",
            "day2_peak_rss_mib", "day1_s", "day1_peak_rss_mib")  # fmt: skip
    summary = {key: _spread([float(r[key]) for r in runs]) for key in keys}
    steps = list(dict.fromkeys(s for r in runs for s in r["steps"]))  # type: ignore[attr-defined]
    per_step = {step: [r["steps"][step] for r in runs if step in r["steps"]] for step in steps}  # type: ignore[index]
    summary["steps"] = {
        step: {m: _spread([float(one[m]) for one in ones]) for m in ("s", "peak_rss_mib")}
        for step, ones in per_step.items()
    }
    document = {
        "case": f"day_{args.users}",
        "users": args.users,
        "change_rate": args.change_rate,
        "repeat": args.repeat,
        "cores": os.cpu_count(),
        "versions": versions(),
        "summary": summary,
        "runs": runs,
    }
    out = args.out or HERE / "results" / f"day_{args.users}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(
        textwrap.dedent(f"""
        day 2 at {args.users:,} users, {args.repeat} run(s), median (min-max):
          wall            {_fmt(summary["day2_s"])} s
          without Braze   {_fmt(summary["day2_without_braze_s"])} s
          Braze export    {_fmt(summary["braze_export_s"])} s, /users/track {_fmt(summary["braze_track_s"])} s
          peak RSS        {_fmt(summary["day2_peak_rss_mib"])} MiB (day 1: {_fmt(summary["day1_peak_rss_mib"])})""")
    )
    for step, spread in summary["steps"].items():  # type: ignore[union-attr]
        print(f"  {step:<36} {_fmt(spread['s'])} s, peak RSS {_fmt(spread['peak_rss_mib'])} MiB")
    print(f"wrote {out}")


def _fmt(spread: dict[str, float]) -> str:
    return f"{spread['median']:,} ({spread['min']:,}-{spread['max']:,})"


if __name__ == "__main__":
    main()
