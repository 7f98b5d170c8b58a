"""Data points of one day's export: attribute mode against full-profile mode, counted and billed.

    nice -n 10 python bench/bench_data_points.py --users 100000 --change-rate 0.02 [--sandbox-users 20000]

Day 1: USERS segment members with five mapped attributes (tier, points, city, vip, last_order),
all acknowledged by Braze (the baseline). Day 2: a CHANGE-RATE share of them changed (points; one
in four also tier). `export_changes`' own diff (`pipeline.exports.changes.diff_payload`) computes
the day's changes in `delta: attributes` mode (only the changed keys) and in `delta: profiles`
mode (every mapped attribute of a changed profile), and `payload_points` prices them as Braze
bills them; "everything" is the whole day-2 payload, what a sync without change detection sends.
Then the first SANDBOX-USERS users are pushed in each mode to the sandbox (a fresh one for each)
and its billing counter (`/_sandbox/datapoints`) is read, so the count is checked against what a
Braze stand-in charged. Writes `bench/results/data_points.json`. No time is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench_push import API_KEY, sandbox  # noqa: E402  (the same sandbox process as the push bench)

DAY1, DAY2 = "2026-01-01", "2026-01-02"
ATTRIBUTES = ["city", "last_order", "points", "tier", "vip"]


def payload(users: int, changed_every: int, day2: bool):
    """One row per (member, attribute), canonical JSON values, as `export_payload` writes them."""
    import polars as pl

    i = pl.int_range(users, eager=True).alias("i")
    changed = (i % changed_every == 0) & pl.lit(day2)
    rows = pl.DataFrame(i).with_columns(
        identity=pl.concat_str(pl.lit('{"external_id":"dp-'), pl.col("i").cast(pl.String).str.zfill(7), pl.lit('"}')),
        profile_id=pl.format("p{}", pl.col("i")),
        points=(pl.col("i") % 1000 + changed.cast(pl.Int64)).cast(pl.String),
        tier=pl.when(changed & (pl.col("i") % (4 * changed_every) == 0))
        .then(pl.lit('"platinum"'))
        .otherwise(pl.when(pl.col("i") % 3 == 0).then(pl.lit('"gold"')).otherwise(pl.lit('"silver"'))),
        city=pl.format('"city {}"', pl.col("i") % 500),
        vip=pl.when(pl.col("i") % 10 == 0).then(pl.lit("true")).otherwise(pl.lit("false")),
        last_order=pl.format('"2025-{}-01"', (pl.col("i") % 12 + 1).cast(pl.String).str.zfill(2)),
    )
    long = rows.unpivot(index=["identity", "profile_id"], on=ATTRIBUTES, variable_name="attribute")
    return long.select("identity", "attribute", "value", "profile_id").sort("identity", "attribute")


def changes_in_both_modes(users: int, change_rate: float):
    import polars as pl

    from pipeline.exports.changes import diff_payload

    every = max(1, round(1 / change_rate))
    day1 = payload(users, every, day2=False)
    baseline = day1.select("identity", "attribute", "value", as_of=pl.lit(DAY1))
    day2 = payload(users, every, day2=True)
    modes = {
        delta: diff_payload(day2, baseline, attributes=ATTRIBUTES, day=DAY2, delta=delta).changes
        for delta in ("attributes", "profiles")
    }
    return day2, modes


def billed_by_sandbox(changes, users: int) -> tuple[int, int]:
    """Push the changes of the first `users` users to a fresh sandbox; (data points it billed, forecast)."""
    import polars as pl

    from pipeline.braze import BrazeClient
    from pipeline.push import payload_points, push_changes
    from pipeline.sandbox.admin_client import SandboxAdmin
    from pipeline.storage import open_store

    first = changes.filter(pl.col("identity") < f'{{"external_id":"dp-{users:07d}"}}')
    folder = Path(tempfile.mkdtemp(prefix="bench-dp-"))
    try:
        with sandbox("process", str(folder / "exports")) as url:
            admin = SandboxAdmin(url)
            with BrazeClient(url, api_key=API_KEY) as client:
                report = push_changes(client, open_store(str(folder / "store")), "bench", "dp", DAY2,
                                      first, allow_create=True, progress=lambda line: None)  # fmt: skip
            billed = admin.datapoints()
            admin.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert report.data_points == payload_points(first), (report.data_points, payload_points(first))
    return int(billed["total"]), report.data_points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--change-rate", type=float, default=0.02)
    parser.add_argument("--sandbox-users", type=int, default=20_000, help="users pushed to the sandbox per mode")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "data_points.json")
    args = parser.parse_args()
    import polars as pl

    from pipeline.push import payload_points

    day2, modes = changes_in_both_modes(args.users, args.change_rate)
    row: dict[str, object] = {
        "users": args.users,
        "attributes_per_user": len(ATTRIBUTES),
        "change_rate": args.change_rate,
        "everything_data_points": payload_points(day2),
    }
    for delta, changes in modes.items():
        billed, counted = billed_by_sandbox(changes, args.sandbox_users)
        row[delta] = {
            "users_sent": changes["identity"].n_unique(),
            "attributes_sent": changes.height,
            "data_points": payload_points(changes),
            f"sandbox_billed_first_{args.sandbox_users}_users": billed,
            f"counted_first_{args.sandbox_users}_users": counted,
        }
    row["profiles_over_attributes"] = round(row["profiles"]["data_points"] / row["attributes"]["data_points"], 2)
    row["everything_over_attributes"] = round(row["everything_data_points"] / row["attributes"]["data_points"], 1)
    print(f"{'mode':>12} {'users':>9} {'attributes':>11} {'data points':>12} {'sandbox billed':>15}")
    for delta in ("attributes", "profiles"):
        m = row[delta]
        print(f"{delta:>12} {m['users_sent']:>9,} {m['attributes_sent']:>11,} {m['data_points']:>12,} "
              f"{m[f'sandbox_billed_first_{args.sandbox_users}_users']:>15,}")  # fmt: skip
    print(f"{'everything':>12} {args.users:>9,} {day2.height:>11,} {row['everything_data_points']:>12,}")
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "polars": pl.__version__,
            "platform": platform.platform(),
        },
        "runs": [{**row, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}],
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
