"""The README's test figures list exactly the cases the suites hold today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_figures_list_every_collected_case() -> None:
    check = subprocess.run(
        [sys.executable, "tests/figures.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 0, check.stdout + check.stderr
