"""`make demo`, the README's first command, end to end: check, two days both ways, what arrived."""

from __future__ import annotations

import os
import re
from pathlib import Path

from conftest import run_cli


def test_the_demo_syncs_two_days_both_ways(tmp_path: Path) -> None:
    clean = {k: "" for k in os.environ if k.startswith(("BRAZE_", "PROFILESYNC_", "DAGSTER_"))}
    done = run_cli("demo", "--folder", str(tmp_path / "demo"), env=clean, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "all checks passed" in out
    assert len(re.findall(r"run \w+ for 2026-11-0[12] \(demo\): succeeded", out)) == 2
    pushed = re.findall(r"reached the sandbox: \d+ /users/track request\(s\), ([\d,]+) users", out)
    arrived = [int(users.replace(",", "")) for users in pushed]
    assert len(arrived) == 2 and arrived[0] > arrived[1] > 0  # day 2 sends only the users that changed
    # Day 2: the attributes pushed on day 1 come back through remaining_fields as echoes, not changes.
    told = r"from Braze: ([\d,]+) users seen changed: ([\d,]+) real changes applied, ([\d,]+) echoes"
    (told,) = re.findall(told, out)
    seen, changed, echoes = (int(n.replace(",", "")) for n in told)
    assert seen == changed + echoes and echoes > 0 and changed > 0
    assert "merges 1" in out and "a merged profile" in out
    assert (tmp_path / "demo" / "store" / "profiles" / "2026-11-02" / "manifest.json").exists()
