"""Time the import goal's `staged_users` and `user_changes` steps on generated Braze exports.

    python bench/bench_import.py --users 1000000

Generates (or reuses) two days of export files under `bench/data/` (gitignored), then runs each
step in a fresh Python process, so peak memory is the step's own: staging day 1, staging day 2,
and the delta of day 2 against day 1. Prints a table and writes `bench/results/import.json`.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from common import peak_rss_mib  # noqa: E402  (bench/, beside this script)

CONNECTION, GOAL = "bench", "users"
DAYS = {"day1": "2026-01-01", "day2": "2026-01-02"}


def run_step(root: Path, step: str, folder: str) -> dict[str, object]:
    """One step, in this process; returns its measurements."""
    from pipeline.delta import compute_changes
    from pipeline.staging import staged_export, write_staged
    from pipeline.storage import open_store

    store = open_store(str(root))
    day = DAYS[folder]
    started = time.perf_counter()
    if step == "stage":
        keys = [info.key for info in store.list(f"{folder}/")]
        with staged_export(store, keys) as result:  # bounded memory, as the step does
            counts = write_staged(store, CONNECTION, GOAL, day, result)
        rows = int(counts["rows"])  # type: ignore[call-overload]
        detail = {k: counts[k] for k in ("rows", "quarantined", "files", "columns", "bytes")}
    else:
        counts = compute_changes(store, CONNECTION, GOAL, day)
        rows = sum(int(counts[k]) for k in ("added", "changed", "unchanged"))  # type: ignore[call-overload]
        detail = {k: counts[k] for k in ("added", "changed", "removed", "unchanged")}
    seconds = time.perf_counter() - started
    return {
        "step": f"{'staged_users' if step == 'stage' else 'user_changes'} {folder}",
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds) if seconds else None,
        "peak_rss_mib": round(peak_rss_mib()),
        "detail": detail,
    }


def ensure_data(root: Path, users: int, change_rate: float, seed: int) -> float:
    """Generate both days unless the same ones are already there; returns seconds spent."""
    from generate import generate

    marker = root / "generated.json"
    wanted = {"users": users, "change_rate": change_rate, "seed": seed}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return 0.0
    started = time.perf_counter()
    generate(users, root, change_rate, seed)
    marker.write_text(json.dumps(wanted))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--change-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "import.json")
    parser.add_argument("--step", choices=["stage", "delta"], help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = args.data / f"users{args.users}-seed{args.seed}-change{args.change_rate}"
    if args.step:
        print(json.dumps(run_step(root, args.step, args.folder)))
        return
    generated = ensure_data(root, args.users, args.change_rate, args.seed)
    if generated:
        print(f"generated {args.users:,} users per day in {generated:.1f} s under {root}")
    sizes = {f: sum(p.stat().st_size for p in (root / f).iterdir()) for f in DAYS}
    load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    rows = []
    for step, folder in (("stage", "day1"), ("stage", "day2"), ("delta", "day2")):
        command = [sys.executable, __file__, "--users", str(args.users), "--change-rate", str(args.change_rate),
                   "--seed", str(args.seed), "--data", str(args.data), "--step", step, "--folder", folder]  # fmt: skip
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{'step':<22} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'peak RSS MiB':>13}")
    for row in rows:
        print(f"{row['step']:<22} {row['rows']:>10,} {row['seconds']:>8.1f} {row['rows_per_s']:>10,} "
              f"{row['peak_rss_mib']:>13,}")  # fmt: skip
    import polars as pl
    import pyarrow as pa

    report = {
        "users": args.users,
        "change_rate": args.change_rate,
        "seed": args.seed,
        "input_gzip_mib": {f: round(size / 2**20) for f, size in sizes.items()},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "polars": pl.__version__,
            "pyarrow": pa.__version__,
            "platform": platform.platform(),
            "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        },
        "steps": rows,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
