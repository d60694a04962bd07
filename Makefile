# Qingyi — `make run` serves the demo; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install install-test translations migrate seed lint bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found); set PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $@ $(VENV)/.installed

node_modules/htmx.org/dist/htmx.min.js: package.json
	@if command -v npm >/dev/null 2>&1; then npm install --silent --no-audit --no-fund; \
	else echo "npm not found: browser tests will be skipped"; fi

install: $(VENV)/.installed translations

install-test: $(VENV)/.installed-test translations node_modules/htmx.org/dist/htmx.min.js

translations: $(VENV)/.installed
	@$(FLASK) i18n compile >/dev/null

migrate: install
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) demo seed --if-empty

run: seed
	@echo ""
	@echo "Qingyi is at http://$(HOST):$(PORT)  (Ctrl-C to stop)"
	$(FLASK) run --host $(HOST) --port $(PORT)

# two processes: the suite runs every database test on SQLite and PostgreSQL (each worker has its own databases);
# loadgroup: the tests that start servers (races, browser) run on one worker, one at a time; the rest
# wherever a worker is free, longest first (tests/conftest.py)
PYTEST_ARGS ?= -n 2 --dist loadgroup
test: install-test
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .

bench: install-test
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) node_modules instance screenshots .pytest_cache .ruff_cache
