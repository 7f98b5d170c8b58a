"""Two hash shards give the profiles and pushes of one: the same Braze data through real Dagster runs.

The same connection runs two days on two stores, once with `storage.shards: 1` (one run per day)
and once with `shards: 2` (the day's import run, then one run per (day, shard)). Day 2 merges
profiles (a Braze user takes another's e-mail), sums points and creates profiles, so identity,
merges across shards, sum bases and each shard's previous day all take part.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from conftest import SandboxHandle, make_bucket
from import_harness import FAST_WAIT
from polars.testing import assert_frame_equal
from test_export_assets import tracked
from test_store_keys import PUSH_RUN

from assets.build import build_definitions, store_groups
from pipeline import layout
from pipeline.mapping import Connection, load_connection_file
from pipeline.profiles import Snapshot, read_snapshot
from pipeline.shards import ShardView, shard_of, shard_view
from pipeline.storage import StorageError, open_store

DAY1, DAY2 = "2026-11-01", "2026-11-02"
PAIRS = 8  # day 2 merges each pair's second user into the first's profile


def connection_text(sandbox: SandboxHandle, root: str, shards: int) -> str:
    return textwrap.dedent(
        f"""\
        connection: acme
        schedule: "0 3 * * *"
        start_date: "{DAY1}"
        braze: {{rest_endpoint: "{sandbox.url}", api_key: "${{BRAZE_API_KEY}}", {FAST_WAIT}}}
        storage: {{root: "{root}", braze_exports: "s3://{sandbox.bucket}", shards: {shards}}}
        segments:
          vip: "points >= 100"
        import:
          - goal: members
            segment: Members
            identifiers:
              - {{braze: external_id, profile: external_id}}
              - {{braze: email, profile: email}}
            allow_create: true
            fields:
              - {{braze: custom_attributes.points, profile: points, strategy: sum}}
              - {{braze: country, profile: country, strategy: set}}
        export:
          - goal: vip_to_braze
            segment: vip
            identifiers: [{{profile: external_id, braze: external_id}}]
            fields:
              - {{from: {{property: points}}, braze: loyalty_points}}
              - {{from: {{property: country}}, braze: home_country}}
              - {{from: segments, braze: cdp_segments}}
        """
    )


def make_connection(sandbox: SandboxHandle, folder: Path, shards: int) -> Connection:
    folder.mkdir()
    path = folder / "acme.yaml"
    path.write_text(connection_text(sandbox, f"s3://{make_bucket()}/profiles", shards))
    return load_connection_file(path)


def succeeded(result: dg.ExecuteInProcessResult) -> dg.ExecuteInProcessResult:
    assert result.success, [e.message for e in result.all_events if e.is_step_failure]
    return result


def materialize(connection: Connection, instance: dg.DagsterInstance, day: str) -> None:
    """The day as the daemon runs it: the connection's job; in a sharded store, that job imports and
    its sensor requests one run of the shard job per (day, shard), which run here in turn."""
    defs = build_definitions([connection])
    imported = succeeded(defs.resolve_job_def("acme_sync").execute_in_process(partition_key=day, instance=instance))
    if connection.storage.shards == 1:
        return
    context = dg.build_run_status_sensor_context(
        sensor_name="acme_shards_after_import",
        dagster_instance=instance,
        dagster_run=imported.dagster_run,
        dagster_event=imported.get_run_success_event(),
    )
    requests = defs.resolve_sensor_def("acme_shards_after_import")(context)
    assert [r.partition_key for r in requests] == [f"{day}|{k}" for k in range(connection.storage.shards)]
    shard_job = defs.resolve_job_def("acme_shards")
    for request in requests:
        succeeded(shard_job.execute_in_process(partition_key=request.partition_key, instance=instance))


def shard_snapshots(connection: Connection, day: str) -> list[Snapshot]:
    store = open_store(connection.storage.root)
    found = [read_snapshot(shard_view(store, [connection], k), day) for k in range(connection.storage.shards)]
    assert all(s is not None for s in found), f"a shard has no snapshot of {day}"
    return found  # type: ignore[return-value]


def union(parts: list[pl.DataFrame], order: list[str]) -> pl.DataFrame:
    return pl.concat(parts, how="diagonal_relaxed").sort(order)


@pytest.fixture
def users(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> SandboxHandle:
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    sandbox.admin.define_segment("Members", {"all": []})
    sandbox.admin.upsert_users(
        [
            {"external_id": f"u{i}", "email": f"u{i}@example.com", "country": ["NL", "DE", "FR"][i % 3],
             "custom_attributes": {"points": 40 * (i % 5)}}
            for i in range(2 * PAIRS + 8)
        ]
    )  # fmt: skip
    return sandbox


def test_two_shards_give_the_profiles_and_pushes_of_one(users: SandboxHandle, tmp_path: Path) -> None:
    one = make_connection(users, tmp_path / "one", 1)
    two = make_connection(users, tmp_path / "two", 2)
    instances = {1: dg.DagsterInstance.ephemeral(), 2: dg.DagsterInstance.ephemeral()}
    sent: dict[tuple[str, int], list] = {}
    for day in (DAY1, DAY2):
        if day == DAY2:  # merges (u2k+1 takes u2k's e-mail), sums, a new user
            users.admin.upsert_users(
                [{"external_id": f"u{2 * k + 1}", "email": f"u{2 * k}@example.com"} for k in range(PAIRS)]
                + [{"external_id": f"u{2 * PAIRS + i}", "custom_attributes": {"points": 300}} for i in range(3)]
                + [{"external_id": "new", "email": "new@example.com", "custom_attributes": {"points": 500}}]
            )  # fmt: skip
        for connection in (one, two):
            if connection is two:  # the very export the 1-shard store staged: the same Braze data, one export less
                manifest = layout.export_manifest("acme", "members", day)
                open_store(two.storage.root).write_bytes(manifest, open_store(one.storage.root).read_bytes(manifest))
            start = users.admin.last_seq()
            materialize(connection, instances[connection.storage.shards], day)
            key = lambda o: (o["external_id"], sorted(o))  # noqa: E731
            sent[day, connection.storage.shards] = sorted(tracked(users, start), key=key)

        whole = read_snapshot(open_store(one.storage.root), day)
        assert whole is not None and whole.profiles.height > 0
        parts = shard_snapshots(two, day)
        ids = [set(p.profiles["profile_id"]) for p in parts]
        assert all(ids) and not ids[0] & ids[1], "every shard holds profiles, and no profile is in two"
        for k, part in enumerate(parts):
            assert part.profiles.select((shard_of(pl.col("profile_id"), 2) == k).all()).item()
        assert_frame_equal(union([p.profiles for p in parts], ["profile_id"]), whole.profiles)
        assert_frame_equal(union([p.identifiers for p in parts], layout_order := ["profile_id", "kind", "value"]),
                           whole.identifiers.sort(layout_order))  # fmt: skip
        assert_frame_equal(union([p.provenance for p in parts], ["profile_id"]), whole.provenance.sort("profile_id"))
        basis = ["goal", "braze_id", "property"]
        assert_frame_equal(union([p.sum_basis for p in parts], basis), whole.sum_basis.sort(basis))
        assert_frame_equal(
            union([p.merges for p in parts], ["goal", "merged_id"]), whole.merges.sort("goal", "merged_id")
        )
        assert sent[day, 2] == sent[day, 1] and sent[day, 1], f"the shards' pushes of {day} differ from one store's"

    assert whole.merges.height == PAIRS
    across = whole.merges.filter(shard_of(pl.col("survivor_id"), 2) != shard_of(pl.col("merged_id"), 2))
    assert across.height > 0, "no merge crossed shards: the test would not exercise them"
    new = whole.identifiers.filter(pl.col("value") == "new")
    assert new.height == 1  # a profile created on day 2, in one shard only
    # the same keys: the import goal's at the top, every other one once per shard under its folder
    ones = {PUSH_RUN.sub("<run>", info.key) for info in open_store(one.storage.root).list("")}
    twos = {PUSH_RUN.sub("<run>", info.key) for info in open_store(two.storage.root).list("")}
    shared = layout.goal_folder("acme", "members")
    assert {k for k in twos if not k.startswith(layout.SHARDS_FOLDER)} == {k for k in ones if k.startswith(shared)}
    for k in range(2):
        folder = layout.shard_folder(k, 2)
        assert {key.removeprefix(folder) for key in twos if key.startswith(folder)} == {
            key for key in ones if not key.startswith(shared)
        }
    definitions = build_definitions([two])  # the import job is per day, the shard job per (day, shard)
    assert isinstance(definitions.resolve_job_def("acme_sync").partitions_def, dg.DailyPartitionsDefinition)
    assert isinstance(definitions.resolve_job_def("acme_shards").partitions_def, dg.MultiPartitionsDefinition)


SHARDED = """\
connection: shop
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {{rest_endpoint: "http://127.0.0.1:9", api_key: "${{SHARD_TEST_KEY}}"}}
storage: {{root: "{root}", braze_exports: "{root}", shards: 2}}
segments: {{all: "points >= 0"}}
import:
  - goal: buyers
    segment: Buyers
    identifiers: [{{braze: external_id, profile: external_id}}]
    allow_create: true
    fields: [{{braze: custom_attributes.points, profile: points, strategy: set}}]
export:
  - goal: back
    segment: all
    identifiers: [{{profile: external_id, braze: external_id}}]
    on_leave: {on_leave}
    fields: [{{from: {{property: points}}, braze: {attribute}}}]
"""


def test_a_sharded_store_is_validated_and_refused_by_the_verbs_that_cannot_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from assets.app.cli import app

    folder, root = tmp_path / "mappings", tmp_path / "store"
    folder.mkdir()
    root.mkdir()
    monkeypatch.setenv("PROFILESYNC_MAPPINGS", str(folder))
    monkeypatch.setenv("SHARD_TEST_KEY", "test-key-1")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    cli = CliRunner()
    path = folder / "shop.yaml"

    path.write_text(SHARDED.format(root=root, on_leave="clear", attribute="points"))  # echoes, leavers
    result = cli.invoke(app, ["validate"])
    assert result.exit_code == 1
    assert "shop.yaml:5:" in result.output and "storage.shards: 2 cannot tell echoes" in result.output
    assert "storage.shards: 2 cannot clear leavers" in result.output

    path.write_text(SHARDED.format(root=root, on_leave="ignore", attribute="loyalty_points"))
    assert cli.invoke(app, ["validate"]).exit_code == 0
    verbs = [
        ["run", "--date", "2026-11-01"],
        ["plan", "--date", "2026-11-01"],
        ["undo", "--connection", "shop", "--goal", "back", "--day", "2026-11-01"],
        ["profiles", "show", "external_id=u1"],
    ]
    for args in verbs:
        result = cli.invoke(app, args)
        assert result.exit_code in (1, 2), (args, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "cannot handle a sharded store yet" in lines[0], (args, result.output)
        assert "storage.shards: 2" in lines[0] and "shop_shards" in lines[0], lines[0]


def test_the_shard_of_a_profile_id_is_pinned_and_a_shard_sees_the_import_folders_at_the_top(tmp_path: Path) -> None:
    ids = pl.Series(["00000000aa", "00000001bb", "ffffffff00", "7fffffff11"])
    # the first 32 bits modulo N: changing this would move every stored profile to another shard
    assert pl.select(shard_of(pl.lit(ids), 2)).to_series().to_list() == [0, 1, 1, 1]
    assert pl.select(shard_of(pl.lit(ids), 3)).to_series().to_list() == [0, 1, 0, 1]

    store = open_store(str(tmp_path))
    view = ShardView(store, layout.shard_folder(1, 2), [layout.goal_folder("acme", "members")])
    view.write_bytes("connections/acme/members/user_changes/d/changes.parquet", b"shared")
    view.write_bytes("profiles/d/manifest.json", b"mine")
    assert store.read_bytes("connections/acme/members/user_changes/d/changes.parquet") == b"shared"
    assert store.read_bytes("shards/1-of-2/profiles/d/manifest.json") == b"mine"
    assert [i.key for i in view.list("profiles/")] == ["profiles/d/manifest.json"]
    with pytest.raises(StorageError, match="holds shared and per-shard objects"):
        list(view.list("connections/"))


def test_connections_sharing_a_sharded_store_agree_and_do_not_import_each_others_pushes(
    sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRAZE_API_KEY", sandbox.api_key)
    text = connection_text(sandbox, f"s3://{make_bucket()}/profiles", 2)
    acme, shop = tmp_path / "acme.yaml", tmp_path / "shop.yaml"
    acme.write_text(text)
    shop_text = text.replace("connection: acme", "connection: shop").split("export:")[0]
    shop.write_text(shop_text.replace("shards: 2", "shards: 1"))
    with pytest.raises(ValueError, match=r"must share storage.shards: acme \(2\), shop \(1\)"):
        store_groups([load_connection_file(acme), load_connection_file(shop)])
    # shop reads, with set, the attribute acme's export goal writes: each file alone is fine
    shop.write_text(shop_text.replace("custom_attributes.points, profile: points, strategy: sum",
                                      "custom_attributes.loyalty_points, profile: points, strategy: set"))  # fmt: skip
    with pytest.raises(ValueError, match="import goal shop/members reads what an export goal of the store writes"):
        store_groups([load_connection_file(acme), load_connection_file(shop)])
