"""Push throughput against the sandbox with a configured `/users/track` rate limit.

    nice -n 10 python bench/bench_push.py --users 30000 --limit 300 --window 3 --latency-ms 50 [--in-flight 4]

Out of the box the push adapts its requests in flight (`pipeline.push.concurrency`); `--in-flight`
caps them, as `braze.max_requests_in_flight` does (`--in-flight 4` is the old fixed default).
Starts a sandbox (its own process by default, as Braze is another machine; `--sandbox thread`
runs it in this process, where it competes with the pusher for the GIL), limits `/users/track`
to LIMIT requests per WINDOW seconds, adds LATENCY-MS to every track answer, seeds the users,
then pushes two changed attributes for each of them through `pipeline.push.push_changes` with a
local store. Each push starts on a rate-limit window boundary, so every run sees the same
windows; `--repeat` pushes (a new goal each, so nothing is journaled yet) and reports the median
run, and the median/min/max of each share. `seconds` is the whole `push_changes` call;
`send_seconds` runs from the first request's arrival to the last answer, as the sandbox logged
them. The ceiling is LIMIT / WINDOW x 75 users/s; `of_ceiling` is users/s over `seconds`, `sending`
over `send_seconds`; `share_429` is 429 answers over requests. `interior_window_fill` is the
share of the limit used by the windows strictly inside the push (the steady rate against the
ceiling, free of the first and last window's part-use). CPU seconds per 1000 requests of this
process (the client: every worker thread) and of the sandbox's process, and this process's peak
RSS, tell CPU starvation from pacing loss on a loaded machine. `--mau` makes the sandbox answer
as the MAU page says (Reset in seconds left, 429s with only `X-Ratelimit-Retry-After`). Prints
a table and writes `bench/results/push.json` (`--append` adds the row to those already there).
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import peak_rss_mib, sandbox_process  # noqa: E402  (bench/, beside this script)

API_KEY = "bench-push-key"  # not a secret: the sandbox's bench key
CONNECTION, GOAL, DAY = "bench", "push", "2026-01-02"


@contextmanager
def sandbox(mode: str, storage: str):
    """(URL, process id or None) of the sandbox, served by a separate process or a thread of this one."""
    if mode == "thread":
        from pipeline.sandbox.server import SandboxServer

        with SandboxServer(storage, api_key=API_KEY) as server:
            yield server.url, None
        return
    command = shutil.which("profilesync", path=str(Path(sys.executable).parent)) or "profilesync"
    with sandbox_process(command, storage, API_KEY) as answer:
        yield answer


def changes_for(users: int):
    import polars as pl

    ids = [f'{{"external_id":"bench-{i:07d}"}}' for i in range(users)]
    return pl.DataFrame(
        {
            "identity": [i for i in ids for _ in range(2)],
            "attribute": ["points", "tier"] * users,
            "value": [v for i in range(users) for v in (str(i), '"gold"' if i % 3 else '"silver"')],
            "previous": [v for _ in range(users) for v in ("0", '"bronze"')],
            "profile_id": [f"p{i}" for i in range(users) for _ in range(2)],
        }
    )


def run(args: argparse.Namespace) -> dict[str, object]:
    """Seed once, then push the same changes `--repeat` times (a new goal each time, so nothing is
    journaled yet); returns the median run by seconds, with every run's seconds."""
    from pipeline.sandbox.admin_client import SandboxAdmin

    folder = Path(tempfile.mkdtemp(prefix="bench-push-"))
    try:
        with sandbox(args.sandbox, str(folder / "exports")) as (url, pid):
            admin = SandboxAdmin(url)
            admin.set_rate_limit("/users/track", args.limit, args.window)
            if args.mau:  # the MAU page's headers: Reset in seconds left, a 429 with only Retry-After
                admin.configure(reset_header="seconds", retry_after_on_429=True)
            admin.set_faults(latency_ms=args.latency_ms, endpoints=["/users/track"])
            for start in range(0, args.users, 5000):
                end = min(args.users, start + 5000)
                admin.upsert_users([{"external_id": f"bench-{i:07d}", "tier": "bronze", "points": 0}
                                    for i in range(start, end)])  # fmt: skip
            changes = changes_for(args.users)
            runs = [one_push(args, url, pid, admin, folder / "store", f"{GOAL}{n}", changes)
                    for n in range(args.repeat)]  # fmt: skip
            admin.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    median = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    ceiling = args.limit / args.window * 75
    shares = {
        "of_ceiling": [args.users / r["seconds"] / ceiling for r in runs],
        "sending_of_ceiling": [args.users / r["send_seconds"] / ceiling for r in runs],
        "share_429": [r["rate_limited"] / r["requests"] for r in runs],
        "interior_window_fill": [r["interior_window_fill"] or 0.0 for r in runs],
        "client_cpu_s_per_1000_requests": [r["client_cpu_s_per_1000_requests"] for r in runs],
    }
    return {
        "users": args.users,
        "in_flight": args.in_flight or "adaptive (cap 32)",
        "limit": args.limit,
        "window_s": args.window,
        "latency_ms": args.latency_ms,
        "sandbox": args.sandbox,
        "headers": "MAU: Reset in seconds left, 429 with Retry-After only" if args.mau else "Reset as epoch second",
        **median,
        "users_per_s": round(args.users / median["seconds"]),
        "ceiling_users_per_s": round(ceiling),
        "fraction_of_ceiling": round(args.users / median["seconds"] / ceiling, 3),
        "sending_fraction_of_ceiling": round(args.users / median["send_seconds"] / ceiling, 3),
        "seconds_of_each_run": [r["seconds"] for r in runs],
        "rate_limited_of_each_run": [r["rate_limited"] for r in runs],
        **{
            f"{name}_{stat}": round(fn(values), 4)
            for name, values in shares.items()
            for stat, fn in (("median", statistics.median), ("min", min), ("max", max))
        },
    }


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU seconds of process `pid` so far (Linux), None for a thread."""
    if pid is None:
        return None
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def window_fill(track: list[dict], ends: list[float], args: argparse.Namespace) -> dict[str, object]:
    """Requests accepted in each rate-limit window the push spanned, over the limit.

    A request is counted when the sandbox reaches it, after the added latency (its log has the
    answer's time and the duration); windows are aligned to multiples of WINDOW, as the sandbox's.
    The first and last window are partly outside the push: `interior` is the share of the
    limit used by the windows in between, where a perfect pacer uses 100%."""
    counts: dict[int, int] = {}
    for end, entry in zip(ends, track, strict=True):
        if entry["status"] != 429:
            counted = end - entry["duration_ms"] / 1000 + args.latency_ms / 1000
            index = int(counted // args.window)
            counts[index] = counts.get(index, 0) + 1
    first, last = min(counts), max(counts)
    per_window = [counts.get(i, 0) for i in range(first, last + 1)]
    interior = per_window[1:-1]
    return {
        "accepted_per_window": per_window,
        "interior_window_fill": round(sum(interior) / (args.limit * len(interior)), 4) if interior else None,
    }


def one_push(
    args: argparse.Namespace, url: str, pid: int | None, admin, root: Path, goal: str, changes
) -> dict[str, object]:
    from pipeline.braze import BrazeClient
    from pipeline.push import push_changes
    from pipeline.storage import open_store

    store = open_store(str(root))
    since = admin.last_seq()
    cap = {"max_in_flight": args.in_flight} if args.in_flight else {}  # none: the adaptive default
    with BrazeClient(url, api_key=API_KEY, max_retries=8, pool_size=max(32, args.in_flight or 0)) as client:
        time.sleep(args.window - time.time() % args.window)  # start on a window boundary
        started, cpu_started, sandbox_cpu_started = time.perf_counter(), time.process_time(), cpu_seconds(pid)
        report = push_changes(client, store, CONNECTION, goal, DAY, changes, allow_create=False,
                              progress=lambda message: None, **cap)  # fmt: skip
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started  # every thread of this process: the client's side
        sandbox_cpu = cpu_seconds(pid)
        sandbox_cpu = None if sandbox_cpu is None else sandbox_cpu - sandbox_cpu_started
        waited = client.stats.waited_s
        round_trip_ms = 1000 * client.stats.answer_s / max(1, client.stats.answers)
    track = [e for e in admin.requests(since) if e["path"] == "/users/track"]
    statuses: dict[str, int] = {}
    for entry in track:
        statuses[str(entry["status"])] = statuses.get(str(entry["status"]), 0) + 1
    ends = [datetime.fromisoformat(e["time"]).timestamp() for e in track]
    first_start = min(end - e["duration_ms"] / 1000 for end, e in zip(ends, track, strict=True))
    assert report.users_accepted == args.users, report
    return {
        "seconds": round(seconds, 2),  # the whole push_changes call
        "send_seconds": round(max(ends) - first_start, 2),  # first request in to last answer out
        "requests": report.requests,
        "rate_limited": report.rate_limited,
        "retries": report.retries,
        "track_statuses": statuses,
        "sandbox_ms_per_request": round(statistics.median(e["duration_ms"] for e in track), 1),  # latency included
        "client_waited_s": round(waited, 2),  # pacing and backoff sleeps, summed over workers
        "client_round_trip_ms": round(round_trip_ms, 1),  # send to answer, as the client measured it
        "requests_in_flight_peak": report.requests_in_flight_peak,
        "client_cpu_s": round(cpu, 2),
        "client_cpu_s_per_1000_requests": round(1000 * cpu / report.requests, 2),
        "sandbox_cpu_s_per_1000_requests": None if sandbox_cpu is None else round(1000 * sandbox_cpu / len(track), 2),
        "client_peak_rss_mib": round(peak_rss_mib()),
        **window_fill(track, ends, args),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=30_000)
    parser.add_argument("--limit", type=int, default=300, help="/users/track requests per window")
    parser.add_argument("--window", type=float, default=3.0, help="window length in seconds")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--in-flight", type=int, default=None, help="cap on requests in flight (default: adaptive)")
    parser.add_argument("--sandbox", choices=["process", "thread"], default="process")
    parser.add_argument("--repeat", type=int, default=3, help="pushes to run; the median is reported")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "push.json")
    parser.add_argument("--append", action="store_true", help="add this run to the runs in --results")
    parser.add_argument("--mau", action="store_true", help="Reset as seconds left; 429s carry only Retry-After")
    parser.add_argument("--case", default=None, help="a note stored with the run (what it compares)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    row = run(args)
    load_after = os.getloadavg()
    row["load_average_1min"] = {"before": round(load_before[0], 2), "after": round(load_after[0], 2)}
    row["load_average_5min"] = {"before": round(load_before[1], 2), "after": round(load_after[1], 2)}
    header = ("users", "cap", "peak", "rtt ms", "requests", "seconds", "users/s", "ceiling/s", "of ceiling",
              "sending", "429s", "window fill", "CPU-s/1k req")  # fmt: skip
    print(" ".join(f"{h:>10}" for h in header))
    names = ("users", "requests_in_flight_peak", "client_round_trip_ms", "requests", "seconds", "users_per_s",
             "ceiling_users_per_s")  # fmt: skip
    spread = [f"{row[f'{n}_median']:.1%} ({row[f'{n}_min']:.1%}-{row[f'{n}_max']:.1%})"
              for n in ("of_ceiling", "sending_of_ceiling", "share_429", "interior_window_fill")]  # fmt: skip
    spread.append(f"{row['client_cpu_s_per_1000_requests_median']:.1f}")
    values = [row["users"], args.in_flight or "adaptive", *(row[name] for name in names[1:]), *spread]
    print(" ".join(f"{v:>10,}" if isinstance(v, int) else f"{v:>10}" for v in values))
    runs = []
    if args.append and args.results.is_file():
        runs = json.loads(args.results.read_text()).get("runs", [])
    import polars as pl

    case = {"case": args.case} if args.case else {}
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "polars": pl.__version__,
            "platform": platform.platform(),
        },
        "runs": [*runs, {**row, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **case}],
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
