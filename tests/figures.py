"""README figures that come from the test run, so they cannot drift from what is tested.

    .venv/bin/python tests/figures.py          # run the suites below, rewrite their README blocks
    .venv/bin/python tests/figures.py --check  # exit 1 when a block no longer lists the collected cases

Each suite owns a block in README.md between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->`:
a line with the count and a table of its cases with the outcome of the run that wrote it. A
block is only written from a run in which every case passed; `tests/test_figures.py` fails
when a case is added, renamed or removed without regenerating the block.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


@dataclass(frozen=True)
class Suite:
    name: str
    targets: tuple[str, ...]
    what: str  # completes "N <what>"


SUITES = (
    Suite(
        "bad-data",
        ("tests/test_bad_corpus.py",),
        "bad-data cases (a file each under tests/data/bad/, with its expected outcome beside it)",
    ),
    Suite(
        "properties",
        ("tests/test_properties.py", "tests/test_day_order_property.py"),
        "properties checked on generated data (hypothesis)",
    ),
    Suite("reliability", ("tests/reliability/",), "cells of the fault matrix"),
)


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def collected(suite: Suite) -> list[str]:
    """The suite's test ids as pytest collects them (`file::test[param]`)."""
    run = _pytest("--collect-only", *suite.targets)
    ids = [line.strip() for line in run.stdout.splitlines() if "::" in line]
    if run.returncode != 0 or not ids:
        raise SystemExit(f"collecting {suite.name} failed:\n{run.stdout}{run.stderr}")
    return ids


def case_name(test_id: str) -> str:
    """`tests/test_x.py::test_some_law[case]` → `some law [case]`, the way the README lists it."""
    function = test_id.split("::")[-1]
    base, _, param = function.partition("[")
    words = base.removeprefix("test_").replace("_", " ")
    return f"{words} [{param}" if param else words


def outcomes(suite: Suite) -> dict[str, str]:
    """Run the suite; {case name: passed | failed | skipped}."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        _pytest("-n", "2", f"--junitxml={report}", *suite.targets)
        results = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            outcome = "passed"
            if case.find("failure") is not None or case.find("error") is not None:
                outcome = "failed"
            elif case.find("skipped") is not None:
                outcome = "skipped"
            results[case_name(case.get("name", ""))] = outcome
        return results


def render(suite: Suite, results: dict[str, str]) -> str:
    passed = sum(1 for outcome in results.values() if outcome == "passed")
    lines = [
        f"{len(results)} {suite.what}, {passed} passed "
        f"(from the test run by `python tests/figures.py`; `{' '.join(suite.targets)}`).",
        "",
        "| case | result |",
        "|---|---|",
        *(f"| {name} | {outcome} |" for name, outcome in sorted(results.items())),
    ]
    return "\n".join(lines) + "\n"


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- figures:{name} -->\n)(.*?)(<!-- /figures:{name} -->)", re.S)


def listed(text: str, suite: Suite) -> list[str]:
    """The case names a README block lists."""
    found = _block(suite.name).search(text)
    if found is None:
        raise SystemExit(f"README.md has no block <!-- figures:{suite.name} -->; add one and run tests/figures.py")
    return sorted(re.findall(r"^\| (.+?) \| (?:passed|failed|skipped) \|$", found.group(2), re.M))


def main(argv: list[str]) -> int:
    text = README.read_text()
    if "--check" in argv:
        stale = [s.name for s in SUITES if listed(text, s) != sorted(case_name(i) for i in collected(s))]
        if stale:
            print(f"README figures out of date for {', '.join(stale)}: run .venv/bin/python tests/figures.py")
        return 1 if stale else 0
    for suite in SUITES:
        results = outcomes(suite)
        failed = sorted(name for name, outcome in results.items() if outcome != "passed")
        if failed:
            print(f"{suite.name}: not every case passed ({', '.join(failed)}); README left as it was")
            return 1
        listed(text, suite)  # the block must exist
        body = render(suite, results)
        text = _block(suite.name).sub(lambda m, body=body: m.group(1) + body + m.group(3), text)
        print(f"{suite.name}: {len(results)} cases passed")
    README.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
