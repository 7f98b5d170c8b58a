# Two entry points for a fresh machine with Python >= 3.11: `make demo` and `make test`.
# Both build their own virtual environment first; nothing else needs installing.
# Installs are pinned by constraints.txt (every transitive version); `make lock` refreshes it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint setup lock clean bench-import

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
	.lock-venv/bin/python -m pip install --quiet -e '.[test,bench]'
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

# Import-side benchmark cases (staging vs pyarrow.json and json.loads; the delta vs its floor and DuckDB).
# Needs the optional `bench` extra (DuckDB); CI never installs it. BENCH_USERS=1000000 for the large run.
BENCH_USERS ?= 100000
bench-import: setup
	$(BIN)/python -m pip install --quiet --constraint constraints.txt -e '.[test,bench]'
	nice -n 10 $(BIN)/python bench/bench_cases.py --users $(BENCH_USERS) --repeat 3

clean:
	rm -rf $(VENV) .demo
