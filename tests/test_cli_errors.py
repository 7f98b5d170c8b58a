"""Expected failures of the command line: one message naming the input and the fix, never a traceback."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import free_port, run_cli

KEY_VARIABLE = "PROFILESYNC_TEST_ERRORS_KEY"
UNSET_VARIABLE = "PROFILESYNC_TEST_NEVER_SET_KEY"

CONNECTION = """\
connection: shop
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {{rest_endpoint: "{endpoint}", api_key: "${{{variable}}}", export_quiet_period_s: 1, max_requests_in_flight: 1}}
storage: {{root: "{root}", braze_exports: "{exports}"}}
import:
  - goal: buyers
    segment: Buyers
    identifiers: [{{braze: external_id, profile: external_id}}]
    allow_create: true
    fields: [{{braze: first_name, profile: first_name, strategy: {strategy}}}]
"""

Case = tuple[list[str], dict[str, str], list[str]]  # arguments, extra variables, what the message must name


def mappings(tmp_path: Path, *, root: Path | None = None, variable: str = KEY_VARIABLE, strategy: str = "set") -> Path:
    """A folder with one connection file on a closed loopback port; returns the folder."""
    folder = tmp_path / "mappings"
    folder.mkdir(exist_ok=True)
    text = CONNECTION.format(
        endpoint=f"http://127.0.0.1:{free_port()}",
        variable=variable,
        root=root or tmp_path / "store",
        exports=tmp_path / "exports",
        strategy=strategy,
    )
    (folder / "shop.yaml").write_text(text)
    return folder


def env_for(folder: Path, tmp_path: Path) -> dict[str, str]:
    return {"PROFILESYNC_MAPPINGS": str(folder), KEY_VARIABLE: "test-key-1", "DAGSTER_HOME": str(tmp_path / "dagster")}


def invalid_file(tmp_path: Path) -> Case:
    folder = mappings(tmp_path, strategy="summ")
    return ["run", "--date", "2026-11-02"], env_for(folder, tmp_path), [
        f"{folder / 'shop.yaml'}:",
        "did you mean 'sum'",
        "profilesync validate",
    ]


def bad_date(text: str) -> Callable[[Path], Case]:
    def case(tmp_path: Path) -> Case:
        return ["run", "--date", text], env_for(mappings(tmp_path), tmp_path), [f"--date {text}", "YYYY-MM-DD"]

    return case


def outside_partitions(tmp_path: Path) -> Case:
    return ["run", "--date", "2026-10-01"], env_for(mappings(tmp_path), tmp_path), [
        "2026-10-01 is outside connection shop's partitions",
        "pick a day",
    ]


def missing_folder(tmp_path: Path) -> Case:
    return ["run", "--date", "2026-11-02"], env_for(tmp_path / "nowhere", tmp_path), [
        str(tmp_path / "nowhere"),
        "PROFILESYNC_MAPPINGS",
    ]


def empty_folder(tmp_path: Path) -> Case:
    (tmp_path / "empty").mkdir()
    return ["run", "--date", "2026-11-02"], env_for(tmp_path / "empty", tmp_path), [
        f"no connection files in {tmp_path / 'empty'}",
        "PROFILESYNC_MAPPINGS",
    ]


def unset_key(tmp_path: Path) -> Case:
    assert UNSET_VARIABLE not in os.environ
    folder = mappings(tmp_path, variable=UNSET_VARIABLE)
    return ["run", "--date", "2026-11-02"], env_for(folder, tmp_path), [
        f"{folder / 'shop.yaml'}:4:",
        f"environment variable {UNSET_VARIABLE} is not set",
        f"export {UNSET_VARIABLE}=",
    ]


def root_is_a_file(tmp_path: Path) -> Case:
    (tmp_path / "a-file").write_text("not a folder\n")
    folder = mappings(tmp_path, root=tmp_path / "a-file")
    return ["run", "--date", "2026-11-02"], env_for(folder, tmp_path), [
        f"storage.root {tmp_path / 'a-file'} is a file",
        "point it at a folder",
    ]


def root_not_writable(tmp_path: Path) -> Case:
    if os.geteuid() != 0:
        root = tmp_path / "read-only"
        root.mkdir()
        root.chmod(0o555)
    elif Path("/sys").is_dir():  # root writes through any mode bits, but not into sysfs
        root = Path("/sys/profilesync-store")
    else:
        pytest.skip("no folder this user cannot write to")
    return ["run", "--date", "2026-11-02"], env_for(mappings(tmp_path, root=root), tmp_path), [
        f"storage.root {root} cannot be written",
        "write access",
    ]


def braze_unreachable(tmp_path: Path) -> Case:
    """A failure inside the Dagster run: summarised once, without Dagster's stack traces."""
    return ["run", "--date", "2026-11-02"], env_for(mappings(tmp_path), tmp_path), [
        "segment_export: BrazeConnectionError",
        "Braze could not be reached",
        "check the REST endpoint",
    ]


def show_bad_date(tmp_path: Path) -> Case:
    return ["profiles", "show", "external_id=x", "--date", "notadate"], env_for(mappings(tmp_path), tmp_path), [
        "--date notadate",
        "YYYY-MM-DD",
    ]


def show_invalid_file(tmp_path: Path) -> Case:
    folder = mappings(tmp_path, strategy="summ")
    return ["profiles", "show", "external_id=x"], env_for(folder, tmp_path), [
        f"{folder / 'shop.yaml'}:",
        "profilesync validate",
    ]


def undo_unknown_goal(tmp_path: Path) -> Case:
    folder = mappings(tmp_path)
    return ["undo", "--connection", "shop", "--goal", "vip", "--day", "2026-11-02"], env_for(folder, tmp_path), [
        "connection 'shop' has no export goal 'vip'; its export goals are: none",
    ]


def plan_unknown_goal(tmp_path: Path) -> Case:
    return ["plan", "--date", "2026-11-02", "--goal", "nope"], env_for(mappings(tmp_path), tmp_path), [
        "no export goal 'nope' to plan",
        "the export goals are: none",
    ]


CASES = {
    "invalid connection file": invalid_file,
    "month 13": bad_date("2026-13-45"),
    "a word for a date": bad_date("tomorrow"),
    "day outside the partitions": outside_partitions,
    "missing mappings folder": missing_folder,
    "empty mappings folder": empty_folder,
    "key variable unset": unset_key,
    "storage root is a file": root_is_a_file,
    "storage root not writable": root_not_writable,
    "braze unreachable during the run": braze_unreachable,
    "profiles show with a bad date": show_bad_date,
    "profiles show with an invalid file": show_invalid_file,
    "undo of a goal the connection lacks": undo_unknown_goal,
    "plan of an unknown goal": plan_unknown_goal,
}


@pytest.mark.parametrize("make_case", CASES.values(), ids=CASES.keys())
def test_expected_failures_are_one_message(make_case: Callable[[Path], Case], tmp_path: Path) -> None:
    args, env, needles = make_case(tmp_path)
    done = run_cli(*args, env=env)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output and "Stack Trace" not in output, output
    assert [n for n in needles if n not in output] == [], output
    assert len(output.strip().splitlines()) <= 12, output  # one message, not pages of logs


def test_validate_reports_an_unset_key_variable_and_a_file_as_root(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder\n")
    folder = mappings(tmp_path, root=tmp_path / "a-file", variable=UNSET_VARIABLE)
    done = run_cli("validate", env={"PROFILESYNC_MAPPINGS": str(folder)})
    path = folder / "shop.yaml"
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{path}:4:" in done.stderr and f"environment variable {UNSET_VARIABLE} is not set" in done.stderr
    assert f"{path}:5:" in done.stderr and f"storage.root {tmp_path / 'a-file'} is a file" in done.stderr
    assert "2 error(s)" in done.stderr

    fine = mappings(tmp_path)
    done = run_cli("validate", env={"PROFILESYNC_MAPPINGS": str(fine), KEY_VARIABLE: "k-1"})
    assert done.returncode == 0, done.stdout + done.stderr
