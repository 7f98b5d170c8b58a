# Two entry points for a fresh machine with Python >= 3.11: `make demo` and `make test`.
# Both build their own virtual environment first; nothing else needs installing.
# Installs are pinned by constraints.txt (every transitive version); `make lock` refreshes it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint setup lock clean bench-day bench-day-quick

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "profilesync needs Python >= 3.11; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt -e '.[test]'
	@touch $@

# Resolve pyproject.toml afresh in a scratch environment and pin the result.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[test]'
	printf '# Every version make setup installs; regenerate with `make lock`.\n' > constraints.txt
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e ' | LC_ALL=C sort -f >> constraints.txt
	rm -rf .lock-venv

demo: setup
	$(BIN)/profilesync demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports  # the layer rules in pyproject.toml [tool.importlinter]

test: lint
	$(BIN)/pytest -n 2 --dist loadfile

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
