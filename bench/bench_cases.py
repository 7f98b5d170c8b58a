"""Import-side benchmark cases, each against what bounds it: staging and the delta.

    python bench/bench_cases.py --users 100000 [--repeat 3] [--case staging|delta|all]

Cases (each run `--repeat` times, every run in a fresh Python process so its peak RSS is its own):

- `staging`: `stage_export` + `write_staged` of day 1 against the same gzip files read by
  `pyarrow.json` alone (gunzip and parse with staging's explicit schema, the same threads, nothing
  else) and by a `json.loads` loop (gunzip, split, `json.loads` every line). Floor: `pyarrow.json`.
- `delta`: `compute_changes` of day 2 against day 1 (both staged first, once) against its floor,
  one streaming scan of both staged files (every column decoded, batch by batch), and against
  DuckDB (the `bench` extra) reading the same files, in two formulations: the hash-guarded join on
  the stored `_row_hash`, and a join comparing whole rows; both write the rows that differ to
  zstd Parquet. The delta writes more (old values of removed rows, `_changed_fields`).

Writes `bench/results/<case>.json` (median/min/max seconds, peak RSS, rows/s, ratio to the
case's floor, library versions, machine load) and prints a table. Data comes from
`bench_import.ensure_data` (generated once, reused). Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from common import peak_rss_mib  # noqa: E402  (bench/, beside this script)

CONNECTION, GOAL = "bench", "users"
DAYS = {"day1": "2026-01-01", "day2": "2026-01-02"}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _files(root: Path, folder: str) -> list[Path]:
    return sorted((root / folder).iterdir())


def _staged(store_root: Path, day: str) -> str:
    from pipeline import layout

    return str(store_root / layout.staged_users(CONNECTION, GOAL, day))


# ---- one run of one variant, in a child process -------------------------------------------------


def _stage(root: Path, store_root: Path, folder: str) -> int:
    from pipeline.staging import staged_export, write_staged
    from pipeline.storage.local import LocalStore

    source = LocalStore(root)
    with staged_export(source, [f"{folder}/{p.name}" for p in _files(root, folder)]) as result:  # as the step does
        counts = write_staged(LocalStore(store_root), CONNECTION, GOAL, DAYS[folder], result)
    return int(counts["rows"])  # type: ignore[call-overload]


def _pyarrow(root: Path, folder: str) -> int:
    import pyarrow as pa
    import pyarrow.json as pj

    from pipeline.staging.parse import _PARSE
    from pipeline.staging.stage import WORKERS

    def one(path: Path) -> int:
        data = gzip.decompress(path.read_bytes())
        options = pj.ReadOptions(use_threads=False, block_size=len(data) + 1)
        return pj.read_json(pa.BufferReader(data), read_options=options, parse_options=_PARSE).num_rows

    with ThreadPoolExecutor(WORKERS) as pool:
        return sum(pool.map(one, _files(root, folder)))


def _json_loads(root: Path, folder: str) -> int:
    rows = 0
    for path in _files(root, folder):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            if line.strip():
                json.loads(line)
                rows += 1
    return rows


def _delta(store_root: Path) -> int:
    from pipeline.delta import compute_changes
    from pipeline.storage.local import LocalStore

    counts = compute_changes(LocalStore(store_root), CONNECTION, GOAL, DAYS["day2"])
    return sum(int(counts[k]) for k in ("added", "seen_changed", "unchanged", "removed"))  # type: ignore[call-overload]


def _floor(store_root: Path) -> int:
    import polars as pl

    for folder in DAYS:  # every value decoded, batch by batch, and dropped: nothing else done
        for _batch in pl.scan_parquet(_staged(store_root, DAYS[folder])).collect_batches():
            pass
    return pl.scan_parquet(_staged(store_root, DAYS["day2"])).select(pl.len()).collect().item()


_DUCKDB = {
    "duckdb_hash": """
        SELECT coalesce(n.braze_id, o.braze_id) AS braze_id,
               CASE WHEN o.braze_id IS NULL THEN 'added' WHEN n.braze_id IS NULL THEN 'removed'
                    ELSE 'changed' END AS _change,
               n.* EXCLUDE (braze_id, _row_hash)
        FROM read_parquet('{new}') n
        FULL JOIN (SELECT braze_id, _row_hash FROM read_parquet('{old}')) o USING (braze_id)
        WHERE n._row_hash IS DISTINCT FROM o._row_hash""",
    "duckdb_rows": """
        SELECT coalesce(n.braze_id, o.braze_id) AS braze_id,
               CASE WHEN o.braze_id IS NULL THEN 'added' WHEN n.braze_id IS NULL THEN 'removed'
                    ELSE 'changed' END AS _change,
               n.* EXCLUDE (braze_id, _row_hash)
        FROM read_parquet('{new}') n
        FULL JOIN (SELECT * EXCLUDE (_row_hash) FROM read_parquet('{old}')) o USING (braze_id)
        WHERE o.braze_id IS NULL OR n.braze_id IS NULL OR {differs}""",
}


def _duckdb(store_root: Path, variant: str) -> int:
    import duckdb

    new, old = _staged(store_root, DAYS["day2"]), _staged(store_root, DAYS["day1"])
    out = store_root / f"{variant}.parquet"
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    import pyarrow.parquet as pq

    both = set(pq.read_schema(new).names) & set(pq.read_schema(old).names) - {"braze_id", "_row_hash"}
    differs = " OR ".join(f'n."{c}" IS DISTINCT FROM o."{c}"' for c in sorted(both)) or "false"
    query = _DUCKDB[variant].format(new=new, old=old, differs=differs)
    con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    return con.execute(f"SELECT count(*) FROM read_parquet('{new}')").fetchone()[0]  # type: ignore[index]


def _warm(variant: str) -> None:
    import polars  # noqa: F401
    import pyarrow.json

    if variant == "staging":
        import pipeline.staging
        import pipeline.storage.local
    elif variant == "delta":
        import pipeline.delta
        import pipeline.storage.local  # noqa: F401
    elif variant.startswith("duckdb"):
        import duckdb  # noqa: F401
        import pyarrow.parquet  # noqa: F401


def run_variant(root: Path, store_root: Path, variant: str) -> dict[str, float]:
    _warm(variant)  # imports are not what is measured
    started, cpu = time.perf_counter(), _cpu_s()
    if variant == "staging":
        rows = _stage(root, store_root, "day1")
    elif variant == "pyarrow_json":
        rows = _pyarrow(root, "day1")
    elif variant == "json_loads":
        rows = _json_loads(root, "day1")
    elif variant == "delta":
        rows = _delta(store_root)
    elif variant == "floor_scan":
        rows = _floor(store_root)
    else:
        rows = _duckdb(store_root, variant)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu_s": _cpu_s() - cpu, "rows": rows, "peak_rss_mib": peak_rss_mib()}


# ---- the parent: repeats, summary, report --------------------------------------------------------

CASES = {
    "staging": (["staging", "pyarrow_json", "json_loads"], "pyarrow_json"),
    "delta": (["delta", "floor_scan", "duckdb_hash", "duckdb_rows"], "floor_scan"),
}


def _child(args: argparse.Namespace, root: Path, store_root: Path, variant: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--users", str(args.users), "--data", str(args.data),
               "--variant", variant, "--store", str(store_root)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{variant} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _versions() -> dict[str, str]:
    import isal
    import polars as pl
    import pyarrow as pa

    out = {"python": platform.python_version(), "polars": pl.__version__, "pyarrow": pa.__version__,
           "isal": isal.__version__}  # fmt: skip
    try:
        import duckdb

        out["duckdb"] = duckdb.__version__
    except ImportError:
        out["duckdb"] = "not installed (pip install -e '.[bench]')"
    return out


def run_case(args: argparse.Namespace, case: str, root: Path, store_root: Path) -> dict[str, object]:
    variants, floor = CASES[case]
    if case == "delta":
        for folder in DAYS:  # both days staged once; the delta reads them
            _stage(root, store_root, folder)
        try:
            import duckdb  # noqa: F401
        except ImportError:
            variants = [v for v in variants if not v.startswith("duckdb")]
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for _ in range(args.repeat):  # interleaved, so a busy spell of the machine hits every variant
        for variant in variants:
            runs[variant].append(_child(args, root, store_root, variant))
    summary = {}
    for variant, measured in runs.items():
        seconds = [m["seconds"] for m in measured]
        rows = int(measured[0]["rows"])
        summary[variant] = {
            "rows": rows,
            "median_s": round(statistics.median(seconds), 3),
            "min_s": round(min(seconds), 3),
            "max_s": round(max(seconds), 3),
            "cpu_s": round(statistics.median(m["cpu_s"] for m in measured), 3),
            "rows_per_s": round(rows / statistics.median(seconds)),
            "peak_rss_mib": round(max(m["peak_rss_mib"] for m in measured)),
        }
    for variant in summary:
        summary[variant]["ratio_to_floor"] = round(summary[variant]["median_s"] / summary[floor]["median_s"], 2)
        summary[variant]["cpu_ratio_to_floor"] = round(summary[variant]["cpu_s"] / summary[floor]["cpu_s"], 2)
    return {
        "case": case,
        "users": args.users,
        "repeat": args.repeat,
        "floor": floor,
        "variants": summary,
        "input_gzip_mib": round(sum(p.stat().st_size for p in _files(root, "day1")) / 2**20, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
            "nice": os.nice(0),
        },
        "versions": _versions(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def print_table(report: dict[str, object]) -> None:
    print(f"\n{report['case']} at {report['users']:,} users, median of {report['repeat']} (floor: {report['floor']})")
    print(f"{'variant':<14} {'median s':>9} {'min':>7} {'max':>7} {'rows/s':>10} {'x floor':>8} {'CPU s':>7} "
          f"{'x floor':>8} {'peak MiB':>9}")  # fmt: skip
    for name, v in report["variants"].items():  # type: ignore[attr-defined]
        print(f"{name:<14} {v['median_s']:>9.3f} {v['min_s']:>7.3f} {v['max_s']:>7.3f} {v['rows_per_s']:>10,} "
              f"{v['ratio_to_floor']:>8.2f} {v['cpu_s']:>7.2f} {v['cpu_ratio_to_floor']:>8.2f} "
              f"{v['peak_rss_mib']:>9,}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = args.data / f"users{args.users}-seed1-change0.05"
    if args.variant:
        print(json.dumps(run_variant(root, args.store, args.variant)))
        return
    from bench_import import ensure_data

    generated = ensure_data(root, args.users, 0.05, 1)
    if generated:
        print(f"generated {args.users:,} users per day in {generated:.1f} s under {root}")
    store_root = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.data))
    try:
        for case in CASES if args.case == "all" else [args.case]:
            report = run_case(args, case, root, store_root)
            print_table(report)
            args.results.mkdir(parents=True, exist_ok=True)
            path = args.results / f"{case}_{args.users}.json"
            path.write_text(json.dumps(report, indent=2) + "\n")
            print(f"wrote {path}")
    finally:
        shutil.rmtree(store_root, ignore_errors=True)


if __name__ == "__main__":
    main()
