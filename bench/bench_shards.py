"""The profiles step of one shard against the whole store, on a store that `bench_day.py` left.

    python bench/bench_shards.py bench/data/day_20000/run0 --day 2026-11-03 [--shards 2 4] [--repeat 3]

For each shard count N (1 = unsharded) it copies the store and the connection (with
`storage.shards: N`, and without its export goal, which a sharded store with `remaining_fields`
refuses; every case uses the same edited connection), rebuilds the snapshots before `--day` with
that N in a setup process, then times the profiles step of `--day` for every shard, each repeat
in a new process: wall and CPU seconds of the step, and the process's peak RSS (imports
included; `baseline_rss_mib` is a process that only imported it). The point is the per-shard
cost: each shard holds only its profiles, while every shard reads all identifiers and applies
every record of the day. Writes `results/shards_<users>.json` (or `--out`) and prints a table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _connections(folder: Path) -> list:
    os.environ["PROFILESYNC_STORAGE_ROOT"] = str(folder / "store")
    os.environ["PROFILESYNC_BRAZE_EXPORTS"] = str(folder / "braze-exports")
    os.environ.setdefault("BRAZE_REST_ENDPOINT", "http://127.0.0.1:9")
    os.environ.setdefault("BRAZE_API_KEY", "bench-key")
    from pipeline.mapping import load_connections

    return load_connections(folder / "mappings")


def _step(folder: Path, day: str, shard: int | None) -> None:
    from pipeline.imports import run_profiles
    from pipeline.shards import run_shard_profiles
    from pipeline.storage import open_store

    connections = _connections(folder)
    goals = [(c, g) for c in connections for g in c.imports]
    store = open_store(str(folder / "store"))
    if shard is None:
        run_profiles(store, goals, day, connections)
    else:
        run_shard_profiles(store, goals, day, connections, shard)


def prepare(folder: Path, day: str) -> None:
    """Every snapshot before `day` again, with the edited connection and its shard count."""
    from pipeline import layout
    from pipeline.storage import open_store

    shards = _connections(folder)[0].storage.shards
    days = layout.days_with(open_store(str(folder / "store")), layout.PROFILES_FOLDER, layout.PROFILES_MANIFEST)
    for earlier in [d for d in days if d < day]:
        for shard in [None] if shards == 1 else list(range(shards)):
            _step(folder, earlier, shard)


def measure(folder: Path, day: str, shard: int | None, only_import: bool) -> dict[str, float]:
    _connections(folder)
    for module in ("pipeline.imports", "pipeline.shards"):  # what the step imports, before the clock starts
        importlib.import_module(module)

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu, started = usage.ru_utime + usage.ru_stime, time.perf_counter()
    if not only_import:
        _step(folder, day, shard)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime - cpu, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
    }


def copy_for(source: Path, target: Path, shards: int) -> None:
    shutil.copytree(source / "store", target / "store")
    (target / "mappings").mkdir(parents=True)
    for path in (source / "mappings").glob("*.yaml"):
        text = path.read_text().split("\nexport:", 1)[0] + "\n"
        text = re.sub(r"(\n  braze_exports: [^\n]*)", rf"\1\n  shards: {shards}", text, count=1)
        (target / "mappings" / path.name).write_text(text)


def _child(folder: Path, day: str, *extra: str) -> dict[str, float]:
    command = [sys.executable, __file__, str(folder), "--day", day, *extra]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1] or "{}")


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--day", required=True)
    parser.add_argument("--shards", type=int, nargs="+", default=[2])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", choices=["prepare", "run", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--shard", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "prepare":
        prepare(args.folder, args.day)
        print("{}")
        return
    if args.child:
        print(json.dumps(measure(args.folder, args.day, args.shard, args.child == "import")))
        return
    import polars as pl

    users = pl.scan_parquet(next((args.folder / "store" / "profiles").glob("*/profiles.parquet"))).select(pl.len())
    cases: list[dict[str, object]] = []
    load_before = os.getloadavg()[0]
    for shards in sorted({1, *args.shards}):
        with tempfile.TemporaryDirectory(prefix="bench-shards-") as scratch:
            copy = Path(scratch)
            copy_for(args.folder, copy, shards)
            _child(copy, args.day, "--child", "prepare")
            base = _child(copy, args.day, "--child", "import")
            for shard in [None] if shards == 1 else list(range(shards)):
                runs = []
                for _ in range(args.repeat):
                    # a repeat rewrites the same day from the same inputs: the same work again
                    runs.append(
                        _child(copy, args.day, "--child", "run", *([] if shard is None else ["--shard", str(shard)]))
                    )
                case = {
                    "shards": shards,
                    "shard": shard,
                    "baseline_rss_mib": base["peak_rss_mib"],
                    "runs": runs,
                    **{k: _summary([r[k] for r in runs]) for k in ("seconds", "cpu_s", "peak_rss_mib")},
                }
                cases.append(case)
                print(
                    f"shards {shards} shard {'-' if shard is None else shard}: "
                    f"{case['seconds']['median']:.2f} s, {case['cpu_s']['median']:.2f} CPU-s, "
                    f"peak RSS {case['peak_rss_mib']['median']:.0f} MiB (imports alone {base['peak_rss_mib']})",
                    flush=True,
                )
    profiles = int(users.collect().item())
    out = args.out or HERE / "results" / f"shards_{profiles}.json"
    out.write_text(
        json.dumps(
            {
                "case": "profiles step per shard",
                "day": args.day,
                "profiles_before": profiles,
                "repeat": args.repeat,
                "cases": cases,
                "versions": {"python": platform.python_version(), "polars": pl.__version__},
                "platform": platform.platform(),
                "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
