"""Time the export goal's `export_payload` and `export_changes` steps on generated profiles.

    python bench/bench_export.py --users 1000000 [--repeat 3] [--results bench/results]

Writes (or reuses) a local profile store under `bench/data/` (gitignored): day 1's snapshot
of N profiles and day 2's, where 2% of the profiles changed, 1% moved in or out of the
segment and 1% are new; a segment holding ~70% of them; an export goal of six fields
(an integer, a float, a text, a list, an identifier checked as e-mail and a permission);
day 1's payload acknowledged as the baseline. Then it runs each case REPEAT times, each in
a fresh Python process so the peak RSS is the step's own, through the real step functions
(reading and writing Parquet included):

- `export_payload_full`: day 1's payload, every member built (no earlier payload);
- `export_payload_day2`: day 2's payload, built on day 1's (only the members whose inputs
  changed are rebuilt);
- `export_changes_day2`: day 2's payload against the acknowledged baseline.

Each case writes `RESULTS/<case>.json` (median/min/max seconds, peak RSS, rows/s, the ratio
of rows/s to the case's floor, library versions, load average) and the script prints a
table. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import peak_rss_mib  # noqa: E402  (bench/, beside this script)

DAY1, DAY2 = "2026-01-01", "2026-01-02"
FLOOR_MEMBERS_PER_S = 1_000_000  # issue 11: at least 1M members/s when all are rebuilt
CASES = {  # case → (step, day, floor in rows/s)
    "export_payload_full": ("payload", DAY1, FLOOR_MEMBERS_PER_S),
    "export_payload_day2": ("payload", DAY2, FLOOR_MEMBERS_PER_S),
    "export_changes_day2": ("changes", DAY2, FLOOR_MEMBERS_PER_S),
}
CONNECTION = """\
connection: bench
schedule: "0 3 * * *"
start_date: "2026-01-01"
braze: {{rest_endpoint: "http://127.0.0.1:9", api_key: "${{BRAZE_API_KEY}}"}}
storage: {{root: "{root}", braze_exports: "{root}"}}
profile_properties: [bucket, email_consent, first_name, interests, points, score]
permissions:
  email: {{property: email_consent, levels: {{granted: opted_in, denied: unsubscribed}}}}
segments:
  seventy: "bucket < 7000"
export:
  - goal: seventy_out
    segment: seventy
    identifiers: [{{profile: external_id, braze: external_id}}]
    fields:
      - {{from: {{property: points}}, braze: loyalty_points}}
      - {{from: {{property: score}}, braze: score}}
      - {{from: {{property: first_name}}, braze: first_name}}
      - {{from: {{property: interests}}, braze: interests}}
      - {{from: {{identifier: email}}, braze: email}}
      - {{from: {{permission: email}}, braze: email_subscribe}}
"""


def _snapshots(users: int):
    """Day 1's and day 2's profiles and identifiers, derived from the row number alone."""
    import polars as pl

    from pipeline.profiles.snapshot import Snapshot, canonical_profiles, empty_snapshot

    def profiles(n: int, offset: int, created: str) -> pl.DataFrame:
        i = pl.int_range(offset, offset + n, dtype=pl.Int64)
        h = i.hash(7)
        names = pl.lit(["Alex", "Sam", "Kim", "Noor", "Ivo", "Léa", 'Jo "JJ"'])
        tags = pl.lit(["news", "sale", "vip", "beta", "sports"])
        return pl.select(
            pl.format("p{}", i.cast(pl.String).str.zfill(10)).alias("profile_id"),
            pl.lit(created).str.to_date().alias("_created"),
            pl.lit(created).str.to_date().alias("_updated"),
            (h % 10_000).cast(pl.Int64).alias("bucket"),
            pl.when(h % 7 == 0).then(pl.lit("denied")).otherwise(pl.lit("granted")).alias("email_consent"),
            names.list.get((h // 7 % 7).cast(pl.Int64)).alias("first_name"),
            tags.list.slice((h // 49 % 5).cast(pl.Int64), (h // 245 % 3).cast(pl.Int64)).alias("interests"),
            (h // 1000 % 5000).cast(pl.Int64).alias("points"),
            ((h // 5000 % 10_000).cast(pl.Float64) / 100).alias("score"),
        ).with_columns(pl.when(pl.col("interests").list.len() > 0).then("interests").alias("interests"))

    def identifiers(frame: pl.DataFrame) -> pl.DataFrame:
        number = pl.col("profile_id").str.slice(1).cast(pl.Int64).cast(pl.String)
        ext = frame.select("profile_id", kind=pl.lit("external_id"), value=pl.format("ext-{}", number))
        mail = frame.select("profile_id", kind=pl.lit("email"), value=pl.format("user{}@example.com", number))
        return pl.concat([ext, mail]).sort("profile_id", "kind", "value")

    base = empty_snapshot()
    day1 = canonical_profiles(profiles(users, 0, DAY1))
    draw = pl.col("profile_id").str.slice(1).cast(pl.Int64).hash(11) % 100
    changed = draw < 2
    moved = draw == 2
    day2 = day1.with_columns(
        pl.when(changed).then(pl.col("points") + 7).otherwise("points").alias("points"),
        pl.when(changed).then(pl.col("score") + 0.5).otherwise("score").alias("score"),
        pl.when(moved).then((pl.col("bucket") + 5000) % 10_000).otherwise("bucket").alias("bucket"),
        pl.when(changed | moved).then(pl.lit(DAY2).str.to_date()).otherwise("_updated").alias("_updated"),
    )
    day2 = canonical_profiles(pl.concat([day2, profiles(users // 100, users, DAY2)]))
    return (Snapshot(day1, identifiers(day1), base.sum_basis, base.merges, base.quarantine),
            Snapshot(day2, identifiers(day2), base.sum_basis, base.merges, base.quarantine))  # fmt: skip


def ensure_data(root: Path, users: int) -> float:
    """Profiles, members and the acknowledged baseline of day 1, unless already there; seconds spent."""
    marker = root / "generated.json"
    wanted = {"users": users, "format": 3}  # 2: snapshot manifests record file digests; 3: one payload row per member
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return 0.0
    import polars as pl

    from pipeline import layout
    from pipeline.exports.payload import expand
    from pipeline.exports.steps import read_payload, run_payload, run_segment_members
    from pipeline.profiles import DayReport, write_snapshot
    from pipeline.storage import open_store
    from pipeline.storage.parquet import write_parquet

    started = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    store = open_store(str(root / "store"))
    for day, snapshot in zip((DAY1, DAY2), _snapshots(users), strict=True):
        write_snapshot(store, day, snapshot, DayReport(day))
    (root / "bench.yaml").write_text(CONNECTION.format(root=root / "store"))
    connection, goal = _goal(root)
    for day in (DAY1, DAY2):
        run_segment_members(store, connection, goal, day)
    run_payload(store, connection, goal, DAY1)
    wide, attributes = read_payload(store, connection, goal, DAY1)
    payload = expand(wide, attributes or [])
    write_parquet(store, layout.baseline(connection.name, goal.name),
                  payload.select("identity", "attribute", "value", as_of=pl.lit(DAY1)))  # fmt: skip
    marker.write_text(json.dumps(wanted))
    return time.perf_counter() - started


def _goal(root: Path):
    from pipeline.mapping import load_connection_file

    connection = load_connection_file(root / "bench.yaml")
    return connection, connection.exports[0]


def run_case(root: Path, case: str) -> dict[str, object]:
    """One run of `case`, in this process; its seconds, rows and peak RSS."""
    from pipeline import layout
    from pipeline.exports.steps import run_export_changes, run_payload
    from pipeline.storage import open_store

    step, day, _floor = CASES[case]
    store = open_store(str(root / "store"))
    connection, goal = _goal(root)
    if step == "payload" and day == DAY1:  # nothing earlier to build on: every member is built
        store.delete(layout.export_payload(connection.name, goal.name, DAY1))
    if step == "payload" and day == DAY2:  # day 1's payload exists (ensure_data, or the full case)
        store.delete(layout.export_payload(connection.name, goal.name, DAY2))
    started, cpu = time.perf_counter(), time.process_time()
    if step == "payload":
        result = run_payload(store, connection, goal, day)
        rows = int(result["members"]) if "members" in result else int(result["identities"])
    else:
        result = run_export_changes(store, connection, goal, day)
        rows = int(result["payload_rows"]) if "payload_rows" in result else int(result["attributes"])
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    detail = {k: v for k, v in result.items() if isinstance(v, int | str) and k not in ("key", "dead_letter_key")}
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "rows": rows, "peak_rss_mib": round(peak_rss_mib()),
            "detail": detail}  # fmt: skip


def _versions() -> dict[str, object]:
    import polars as pl
    import pyarrow as pa

    return {"python": platform.python_version(), "polars": pl.__version__, "pyarrow": pa.__version__,
            "cpus": os.cpu_count(), "platform": platform.platform()}  # fmt: skip


def summarise(case: str, users: int, runs: list[dict[str, object]], load: tuple[float, float]) -> dict[str, object]:
    seconds = [float(r["seconds"]) for r in runs]  # type: ignore[arg-type]
    median = statistics.median(seconds)
    cpu = statistics.median(float(r["cpu_seconds"]) for r in runs)  # type: ignore[arg-type]
    rows = int(runs[0]["rows"])  # type: ignore[call-overload]
    floor = CASES[case][2]
    return {
        "case": case,
        "users": users,
        "rows": rows,
        "runs": len(runs),
        "seconds": {"median": round(median, 3), "min": round(min(seconds), 3), "max": round(max(seconds), 3)},
        "rows_per_s": round(rows / median) if median else None,
        # CPU seconds of all the process's threads: on a shared machine, wall seconds mostly measure the others
        "cpu_seconds_median": round(cpu, 3),
        "rows_per_cpu_s": round(rows / cpu) if cpu else None,
        "floor_rows_per_s": floor,
        "ratio_to_floor": round(rows / median / floor, 2) if median else None,
        "peak_rss_mib": max(int(r["peak_rss_mib"]) for r in runs),  # type: ignore[call-overload]
        "detail": runs[-1]["detail"],
        "machine": {**_versions(), "load_average_1min": {"before": round(load[0], 2), "after": round(load[1], 2)}},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--case", choices=sorted(CASES), action="append", help="only these cases (repeatable)")
    parser.add_argument("--child", choices=sorted(CASES), help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)  # data only, in a child
    args = parser.parse_args()
    root = args.data / f"export-users{args.users}"
    if args.generate:
        print(ensure_data(root, args.users))
        return
    if args.child:
        print(json.dumps(run_case(root, args.child)))
        return
    # Generated in a process of its own: a child inherits its parent's peak RSS (ru_maxrss survives
    # fork and exec), so data made in this process would show as every case's peak.
    command = [sys.executable, __file__, "--users", str(args.users), "--data", str(args.data), "--generate"]
    generated = float(subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()[-1])
    if generated:
        print(f"generated {args.users:,} profiles per day in {generated:.1f} s under {root}")
    args.results.mkdir(parents=True, exist_ok=True)
    reports = []
    for case in args.case or list(CASES):
        load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
        runs = []
        for _ in range(args.repeat):
            command = [sys.executable, __file__, "--users", str(args.users), "--data", str(args.data), "--child", case]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        report = summarise(case, args.users, runs, (load_before, os.getloadavg()[0]))
        (args.results / f"{case}.json").write_text(json.dumps(report, indent=2) + "\n")
        reports.append(report)
    print_table(reports)


def print_table(reports: list[dict[str, object]]) -> None:
    print(f"{'case':<22} {'rows':>10} {'median s':>9} {'min s':>7} {'max s':>7} {'rows/s':>11} "
          f"{'x floor':>8} {'cpu s':>6} {'rows/cpu s':>11} {'peak RSS MiB':>13}")  # fmt: skip
    for r in reports:
        s = r["seconds"]
        print(f"{r['case']:<22} {r['rows']:>10,} {s['median']:>9.2f} {s['min']:>7.2f} {s['max']:>7.2f} "  # type: ignore[index]
              f"{r['rows_per_s']:>11,} {r['ratio_to_floor']:>8.2f} {r['cpu_seconds_median']:>6.2f} "
              f"{r['rows_per_cpu_s']:>11,} {r['peak_rss_mib']:>13,}")  # fmt: skip


if __name__ == "__main__":
    main()
