"""Time the profiles step (or `--step user_changes`) alone on a store that `bench_day.py` left, in a fresh process.

    python bench/bench_profiles.py bench/data/day_100000/run0 --day 2026-11-03 [--repeat 3] [--step user_changes]

Copies the store (so the original keeps its snapshot), then runs `pipeline.imports.run_profiles`
for the day on the copy, each repeat in a new Python process so the peak RSS is the step's own
(imports included: the `baseline_rss_mib` line is a process that only imported it). Prints one
JSON line per repeat. Used to compare versions of the step on the same inputs: run it with
PYTHONPATH pointing at another checkout for the other side.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import peak_rss_mib  # bench/, beside this script

HERE = Path(__file__).resolve().parent


def one(folder: Path, day: str, only_import: bool, step: str = "profiles") -> dict[str, float]:
    os.environ["PROFILESYNC_STORAGE_ROOT"] = str(folder / "store")
    os.environ["PROFILESYNC_BRAZE_EXPORTS"] = str(folder / "braze-exports")
    os.environ.setdefault("BRAZE_REST_ENDPOINT", "http://127.0.0.1:9")
    from pipeline.imports import echo_sources, run_changes, run_profiles
    from pipeline.mapping import load_connections
    from pipeline.storage import open_store

    connections = load_connections(folder / "mappings")
    goals = [(c, g) for c in connections for g in c.imports]
    store = open_store(str(folder / "store"))
    started, cpu = time.perf_counter(), _cpu_s()
    if only_import:
        pass
    elif step == "user_changes":  # the day's delta of every import goal, echoes told apart as the asset does
        for connection, goal in goals:
            run_changes(store, connection, goal, day, sources=echo_sources(connection, goal, connections))
    else:
        run_profiles(store, goals, day, connections)
    return {
        "step": step,
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_s": round(_cpu_s() - cpu, 2),
        "peak_rss_mib": round(peak_rss_mib()),
        "load_1min": round(os.getloadavg()[0], 2),
    }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--day", required=True)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--step", choices=["profiles", "user_changes"], default="profiles")
    parser.add_argument("--child", choices=["run", "import"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.folder, args.day, args.child == "import", args.step)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-profiles-") as scratch:
        copy = Path(scratch)
        shutil.copytree(args.folder / "store", copy / "store")
        shutil.copytree(args.folder / "mappings", copy / "mappings")
        command = [sys.executable, __file__, str(copy), "--day", args.day, "--step", args.step, "--child"]
        base = json.loads(subprocess.run([*command, "import"], check=True, capture_output=True, text=True).stdout)
        print(json.dumps({"baseline_rss_mib": base["peak_rss_mib"]}))
        for _ in range(args.repeat):
            out = subprocess.run([*command, "run"], check=True, capture_output=True, text=True).stdout
            print(out.strip(), flush=True)


if __name__ == "__main__":
    main()
