"""Demo users as a generated base: no memory until changed, the same users as seeding them one by one."""

from __future__ import annotations

import dataclasses
import tracemalloc

from test_sandbox_exports import files_of, read_lines

from pipeline.sandbox.demo import ALL_USERS_SEGMENT, LOYAL_USERS_SEGMENT
from pipeline.sandbox.generated import DemoBase
from pipeline.sandbox.seed import apply_seed
from pipeline.sandbox.state import Sandbox


def test_generated_users_equal_the_seeded_ones_field_for_field() -> None:
    base = DemoBase(10_000_000)
    for index in [*range(1, 150), 999_999, 1_000_000, 1_234_567, 9_999_999, 10_000_000]:
        built, seeded = base.build(index), base.seeded(index)
        assert dataclasses.asdict(built) == dataclasses.asdict(seeded), index
        assert list(built.document().items()) == list(seeded.document().items()), index


def test_a_large_demo_seed_holds_no_users_and_finds_each_by_any_identifier(tmp_path) -> None:
    sb = Sandbox(str(tmp_path), [])
    tracemalloc.start()
    try:
        apply_seed(sb, {"demo_users": 300_000})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000  # seeding 300k users one by one took hundreds of MB
    assert len(sb.users) == 300_000
    last = sb.users.base_user(300_000)
    assert sb.users.get_external("demo-300000") is not None
    assert sb.users.by_braze.get(last.braze_id).external_id == "demo-300000"
    assert sb.users.get_email(last.standard["email"].upper()).external_id == "demo-300000"
    assert sb.users.get_external("demo-300001") is None and sb.users.get_external("demo-0000001") is None
    forged = ("0" if last.braze_id[0] != "0" else "1") + last.braze_id[1:]  # the right index, not its id
    assert sb.users.by_braze.get(forged) is None and forged not in sb.users.by_braze
    assert len(sb.users) == 300_000  # found users are stored once, not added again


def test_changed_and_created_users_show_in_later_exports(sandbox) -> None:
    sandbox.admin.seed(demo_users=120)
    sandbox.admin.configure(users_per_file=50)
    first = sandbox.admin.user("external_id", "demo-000007")
    with sandbox.client() as client:
        client.track(
            attributes=[
                {"external_id": "demo-000007", "points": 990, "tier": "gold"},
                {"braze_id": sandbox.admin.user("external_id", "demo-000008")["braze_id"], "points": 1},
                {"email": sandbox.admin.user("external_id", "demo-000009")["email"], "first_name": "Sam"},
                {"external_id": "brand-new", "points": 700},
            ]
        )
        exported = {}
        for segment in (ALL_USERS_SEGMENT, LOYAL_USERS_SEGMENT):
            prefix = client.export_segment(segment, ["external_id", "first_name", "custom_attributes"])
            assert sandbox.admin.wait_for_export(prefix)["status"] == "completed"
            keys = files_of(sandbox, segment, prefix)
            exported[segment] = {u["external_id"]: u for key in keys for u in read_lines(sandbox.store(), key)}
    everyone = exported[ALL_USERS_SEGMENT]
    assert len(everyone) == 121 and sandbox.admin.info()["users"] == 121
    assert everyone["demo-000007"]["custom_attributes"]["points"] == 990
    assert everyone["demo-000007"]["first_name"] == first["first_name"]
    assert everyone["demo-000008"]["custom_attributes"]["points"] == 1
    assert everyone["demo-000009"]["first_name"] == "Sam"
    assert everyone["brand-new"]["custom_attributes"] == {"points": 700}
    loyal = exported[LOYAL_USERS_SEGMENT]
    assert "demo-000007" in loyal and "demo-000008" not in loyal and "brand-new" in loyal
    assert set(loyal) == {k for k, u in everyone.items() if u["custom_attributes"].get("points", 0) >= 500}
