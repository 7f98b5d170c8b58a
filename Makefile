# Two entry points for a fresh machine with Python >= 3.11: `make demo` and `make test`.
# Both build their own virtual environment first; nothing else needs installing.
# Installs are pinned by constraints.txt (every transitive version); `make lock` refreshes it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# uv installs the pinned set in about a minute on a fresh machine where pip took about seven
# (parallel downloads); it is pinned here because it installs the rest. --compile-bytecode does what
# pip did at install time, so test processes started together do not each compile Dagster.
UV_PIN := uv==0.13.10

.PHONY: demo test lint setup lock clean bench bench-quick bench-tools bench-day bench-day-quick

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "profilesync needs Python >= 3.11; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(UV_PIN)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --constraint constraints.txt -e '.[test]'
	@touch $@

# Resolve pyproject.toml afresh in a scratch environment and pin the result.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet $(UV_PIN)
	.lock-venv/bin/uv pip install --quiet --python .lock-venv/bin/python -e '.[test,bench]'
	printf '# Every version make setup installs; regenerate with `make lock`.\n' > constraints.txt
	.lock-venv/bin/uv pip freeze --python .lock-venv/bin/python --exclude-editable | grep -v '^-e ' | LC_ALL=C sort -f >> constraints.txt
	rm -rf .lock-venv

demo: setup
	$(BIN)/profilesync demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports  # the layer rules in pyproject.toml [tool.importlinter]

test: lint
	$(BIN)/pytest -n 4 --dist loadfile --durations=15  # 4 workers on 2 cores: much of the suite waits on servers

# Benchmarks (not tests): generate their own data under bench/data/, run each case several times in
# fresh processes and write bench/results/<case>.json; see bench/README.md. bench-quick is a smoke
# run at small N (under 3 minutes) whose results go to bench/results/quick/, not the committed ones.
# Both install the optional `bench` extra (DuckDB, the delta's comparison); CI never needs it.
bench-tools: setup
	$(BIN)/uv pip install --quiet --python $(BIN)/python --constraint constraints.txt -e '.[test,bench]'

bench: bench-tools
	nice -n 10 $(BIN)/python bench/bench_export.py --users 1000000 --repeat 3
	nice -n 10 $(BIN)/python bench/bench_cases.py --users 1000000 --repeat 3
	nice -n 10 $(BIN)/python bench/bench_push.py --users 30000 --repeat 3
	nice -n 10 $(BIN)/python bench/bench_data_points.py --users 1000000

bench-quick: bench-tools
	$(BIN)/python bench/bench_export.py --users 20000 --repeat 3 --results bench/results/quick
	$(BIN)/python bench/bench_cases.py --users 20000 --repeat 3 --results bench/results/quick
	$(BIN)/python bench/bench_push.py --users 3000 --repeat 3 --results bench/results/quick/push.json
	$(BIN)/python bench/bench_data_points.py --users 20000 --sandbox-users 2000 --results bench/results/quick/data_points.json
	$(BIN)/python bench/bench_day.py --users 5000 --out bench/results/quick/day_5000.json

# The end-to-end day (bench/bench_day.py): profilesync run against the sandbox, day 2 measured.
# Writes bench/results/day_<N>.json. Several minutes at 100k, ~15 at 1M on 2 cores.
bench-day: setup
	nice -n 10 $(BIN)/python bench/bench_day.py --users 100000 --repeat 3
	nice -n 10 $(BIN)/python bench/bench_day.py --users 1000000

# The line for `make bench-quick`: the same day at 5,000 users, about a minute.
bench-day-quick: setup
	$(BIN)/python bench/bench_day.py --users 5000

clean:
	rm -rf $(VENV) .demo
