"""Export-shaped Braze users for benchmarks: day 1 and day 2 of one segment, as gzip JSON lines.

Writes `<out>/day1/users-00000.json.gz`, ... (5,000 users per file, as Braze does) and `<out>/day2/...`,
where day 2 holds the same users with a share changed, a share gone and a share new. Each user
is derived from `(seed, index)` alone, so any file can be written by any worker and a rerun
writes the same bytes. Users carry what a real export carries (reference 4.4): identifiers,
names, contact fields, subscription states, `created_at` in Braze's `... UTC` form, event and
app dates in ISO 8601 with Z, nested arrays of objects, and custom attributes including a list,
a nested object, a number, a boolean and a date. Keys with empty values are left out, as Braze does.

    python bench/generate.py 1000000 --out bench/data/1000000 --day2-change-rate 0.05 --seed 1
"""

from __future__ import annotations

import argparse
import json
import random
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

USERS_PER_FILE = 5_000
LEAVE_RATE = 0.01  # share of day-1 users gone on day 2
JOIN_RATE = 0.01  # new users on day 2, as a share of N
TIERS = ("bronze", "silver", "gold", "platinum")
CITIES = ("Chicago", "Berlin", "Paris", "Lagos", "Lima", "Osaka", "Austin", "Leeds")
COUNTRIES = ("US", "DE", "FR", "NG", "PE", "JP", "US", "GB")
TAGS = ("news", "sale", "vip", "beta", "sports", "music", "travel")
EVENTS = ("login", "view_item", "add_to_cart", "search", "share")
EPOCH_2020 = 1_577_836_800


def _iso(seconds: int, millis: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _created_at(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + ".000 UTC"


def user(seed: int, index: int, change_rate: float) -> tuple[dict[str, Any], str]:
    """User `index` on day 1, and its fate on day 2: "same", "changed" or "gone"."""
    rng = random.Random(seed * 1_000_003 + index)
    rnd = rng.random
    bits = rng.getrandbits

    def pick(options: tuple) -> Any:
        return options[int(rnd() * len(options))]

    def below(n: int) -> int:
        return int(rnd() * n)

    fate_draw = rnd()
    fate = "gone" if fate_draw < LEAVE_RATE else "changed" if fate_draw < LEAVE_RATE + change_rate else "same"
    created = EPOCH_2020 + below(150_000_000)
    city = below(len(CITIES))
    tags = [tag for tag in TAGS if rnd() < 0.2]
    events = [name for name in EVENTS if rnd() < 0.4] or ["login"]
    custom: dict[str, Any] = {
        "loyalty_points": below(5_000),
        "tier": pick(TIERS),
        "newsletter": rnd() < 0.5,
        "score": round(rnd() * 100, 2),
        "last_order_at": _iso(created + below(40_000_000), below(1000)),
        "address": {"city": CITIES[city], "zip": f"{below(100_000):05d}"},
    }
    if tags:
        custom["tags"] = tags
    doc: dict[str, Any] = {
        "created_at": _created_at(created),
        "external_id": f"ext-{index:09d}",
        "braze_id": f"{bits(96):024x}",
        "user_aliases": [{"alias_name": f"crm-{index}", "alias_label": "crm_id"}],
        "first_name": pick(("Alex", "Sam", "Kim", "Noor", "Ivo", "Lea")),
        "last_name": pick(("Smith", "Okafor", "Tanaka", "Rossi", "Meyer")),
        "email": f"user{index}@example.com",
        "phone": f"+1555{below(10_000_000):07d}",
        "dob": f"{1950 + below(55)}-{1 + below(12):02d}-{1 + below(28):02d}",
        "home_city": CITIES[city],
        "country": COUNTRIES[city],
        "language": pick(("en", "de", "fr", "ja", "es")),
        "time_zone": "America/Chicago",
        "gender": pick(("F", "M", "O", "N", "P")),
        "random_bucket": below(10_000),
        "email_subscribe": pick(("subscribed", "opted_in", "unsubscribed")),
        "push_subscribe": pick(("subscribed", "opted_in", "unsubscribed")),
        "push_opted_in_at": _iso(created + 3_600, below(1000)),
        "custom_attributes": custom,
        "last_coordinates": [round(rnd() * 360 - 180, 4), round(rnd() * 180 - 90, 4)],
        "custom_events": [
            {
                "name": name,
                "first": _iso(created + 60, 1),
                "last": _iso(created + below(9_000_000), 2),
                "count": 1 + below(500),
            }
            for name in events
        ],
        "apps": [
            {
                "name": "Shop",
                "platform": "Android",
                "version": "3.29.0",
                "sessions": below(2_000),
                "first_used": _iso(created, 0),
                "last_used": _iso(created + below(9_000_000), 0),
            }
        ],
        "devices": [
            {
                "model": "Pixel 8",
                "os": "Android (U)",
                "carrier": None,
                "device_id": f"{bits(64):016x}",
                "ad_tracking_enabled": rnd() < 0.3,
            }
        ],
        "push_tokens": [
            {
                "app": "Shop",
                "platform": "Android",
                "token": f"{bits(128):032x}",
                "device_id": f"{bits(64):016x}",
                "notifications_enabled": True,
            }
        ],
    }
    if rnd() < 0.3:
        doc["total_revenue"] = round(rnd() * 500, 2)
        doc["purchases"] = [
            {"name": "item_1", "first": _iso(created + 99, 5), "last": _iso(created + 999, 7), "count": 1 + below(20)}
        ]
    return doc, fate


def change(doc: dict[str, Any], index: int) -> dict[str, Any]:
    """Day 2's version of a changed user: one of tier, points or email differs."""
    custom = dict(doc["custom_attributes"])
    changed = {**doc, "custom_attributes": custom}
    what = index % 3
    if what == 0:
        custom["tier"] = TIERS[(TIERS.index(custom["tier"]) + 1) % len(TIERS)]
    elif what == 1:
        custom["loyalty_points"] += 1 + index % 100
    else:
        changed["email"] = f"user{index}.new@example.org"
    return changed


def _gzip(lines: list[str]) -> bytes:
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip container; level 1 keeps the generator fast
    data = ("\n".join(lines) + "\n").encode() if lines else b""
    return packer.compress(data) + packer.flush()


def write_chunk(
    out: Path, number: int, seed: int, indexes: range, change_rate: float, joiners: bool
) -> tuple[int, int]:
    """Day 1's and day 2's file `number` (joiners: day 2 only); returns users written per day."""
    day1: list[str] = []
    day2: list[str] = []
    for index in indexes:
        doc, fate = user(seed, index, change_rate)
        line = json.dumps(doc, separators=(",", ":"))
        if joiners:
            day2.append(line)
            continue
        day1.append(line)
        if fate == "same":
            day2.append(line)
        elif fate == "changed":
            day2.append(json.dumps(change(doc, index), separators=(",", ":")))
    name = f"users-{number:05d}.json.gz"
    for day, lines in (("day1", day1), ("day2", day2)):
        if lines or not joiners:
            (out / day).mkdir(parents=True, exist_ok=True)
            (out / day / name).write_bytes(_gzip(lines))
    return len(day1), len(day2)


def generate(
    users: int, out: Path, change_rate: float = 0.05, seed: int = 1, workers: int | None = None
) -> dict[str, int]:
    """Write both days under `out`; returns users per day. Day 2's joiners fill files after the rest."""
    starts = list(range(0, users, USERS_PER_FILE))
    jobs = [(n, range(s, min(s + USERS_PER_FILE, users)), False) for n, s in enumerate(starts)]
    joined = users + int(users * JOIN_RATE)
    jobs += [
        (len(starts) + n, range(s, min(s + USERS_PER_FILE, joined)), True)
        for n, s in enumerate(range(users, joined, USERS_PER_FILE))
    ]
    arguments = ([out] * len(jobs), [j[0] for j in jobs], [seed] * len(jobs), [j[1] for j in jobs],
                 [change_rate] * len(jobs), [j[2] for j in jobs])  # fmt: skip
    if workers == 1:  # in process: no pickling, so it also runs when loaded by path (tests)
        counts = list(map(write_chunk, *arguments))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            counts = list(pool.map(write_chunk, *arguments))
    return {"day1": sum(c[0] for c in counts), "day2": sum(c[1] for c in counts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("users", type=int, help="users on day 1")
    parser.add_argument("--out", type=Path, required=True, help="folder to write day1/ and day2/ into")
    parser.add_argument("--day2-change-rate", type=float, default=0.05, help="share of users changed on day 2")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    counts = generate(args.users, args.out, args.day2_change_rate, args.seed)
    print(f"wrote {counts['day1']:,} users (day 1) and {counts['day2']:,} (day 2) to {args.out} "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
