"""Demo users as a generated base: no memory until changed, the same users as seeding them one by one."""

from __future__ import annotations

import dataclasses
import tracemalloc

from test_sandbox_exports import files_of, read_lines

from pipeline.sandbox import track
from pipeline.sandbox.calls import Call
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


def _track(sb: Sandbox, objects: list[dict]) -> None:
    for start in range(0, len(objects), 75):
        assert track.handle(sb, Call("/users/track", {"attributes": objects[start : start + 75]})).status == 201


def test_a_push_to_demo_users_settles_into_small_patches_and_reads_back_as_pushed(tmp_path) -> None:
    sb = Sandbox(str(tmp_path), [])
    apply_seed(sb, {"demo_users": 3_000})
    pushed = [{"external_id": f"demo-{i:06d}", "points": 5_000 + i, "tier": None} for i in range(1, 2_001)]
    tracemalloc.start()
    try:
        _track(sb, pushed)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 1_500_000  # 2,000 users stored whole held ~6 MB; settled, under 750 bytes each
    _track(sb, [{"external_id": "demo-000003", "points": True}, {"external_id": "demo-000004", "first_name": "Ada"}])
    _track(sb, [{"external_id": "demo-000005", "colour": "teal"}])  # a settled user taken and changed again

    users = {u.external_id: u for u in sb.users}
    assert len(users) == 3_000
    assert users["demo-000001"].custom["points"] == 5_001 and "tier" not in users["demo-000001"].custom
    assert users["demo-000003"].custom["points"] is True  # not the base's int type back
    assert users["demo-000004"].standard["first_name"] == "Ada" and users["demo-000004"].custom["points"] == 5_004
    assert users["demo-000005"].custom["colour"] == "teal" and users["demo-000005"].custom["points"] == 5_005
    assert users["demo-002001"].custom["points"] == DemoBase(3_000).build(2_001).custom["points"]  # never pushed
    found = sb.users.get_email(users["demo-000002"].standard["email"])
    assert found is not None and found.custom["points"] == 5_002 and found.updated > 0
    ordered = sorted(users.values(), key=lambda u: u.updated)
    assert [u.external_id for u in ordered[-3:]] == ["demo-000003", "demo-000004", "demo-000005"]
