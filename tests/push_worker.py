"""A push in its own process, for the SIGKILL test: `python push_worker.py URL KEY STORE USERS IN_FLIGHT`.

Pushes two attributes for each of USERS users (`k00000`, ...) as day 2026-04-01 of goal
acme/kill, then prints the report as one JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONNECTION, GOAL, DAY = "acme", "kill", "2026-04-01"


def changes(users: int):
    import polars as pl

    from pipeline.push import canonical

    rows = [
        (canonical({"external_id": f"k{i:05d}"}), attribute, canonical(value), None, f"p{i}")
        for i in range(users)
        for attribute, value in (("points", i), ("tier", f"t{i % 7}"))
    ]
    return pl.DataFrame(rows, schema=["identity", "attribute", "value", "previous", "profile_id"], orient="row")


def main() -> None:
    from pipeline.braze import BrazeClient
    from pipeline.push import push_changes
    from pipeline.storage import open_store

    url, key, store_uri, users, in_flight = sys.argv[1:6]
    store, frame = open_store(store_uri), changes(int(users))
    with BrazeClient(url, api_key=key, backoff_base=0.01, backoff_cap=0.1) as client:
        report = push_changes(
            client, store, CONNECTION, GOAL, DAY, frame, allow_create=True, max_in_flight=int(in_flight)
        )
    print(json.dumps(report.as_dict()))


if __name__ == "__main__":
    main()
