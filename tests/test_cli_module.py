"""`python -m assets.app.cli` and `python -m assets.app` are the console script, not a silent no-op."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli


def _module(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "250", **env}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=environment,
                          timeout=180)  # fmt: skip


@pytest.mark.parametrize("module", ["assets.app.cli", "assets.app"])
def test_python_dash_m_runs_the_same_cli_as_the_console_script(tmp_path: Path, module: str) -> None:
    (tmp_path / "shop.yaml").write_text("connection: shop\nschedule: nonsense\n")
    env = {"PROFILESYNC_MAPPINGS": str(tmp_path)}
    script = run_cli("validate", env=env)
    ran = _module(module, "validate", env=env)
    assert script.returncode == 1 and "shop.yaml" in script.stderr, script.stdout + script.stderr
    assert (ran.returncode, ran.stdout, ran.stderr) == (script.returncode, script.stdout, script.stderr)

    usage = _module(module, "--help", env=env)
    assert usage.returncode == 0 and "Usage: profilesync " in usage.stdout, usage.stdout + usage.stderr
