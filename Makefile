# MindLake: `make demo` replays a simulated day through the real services; `make test` runs
# the suite against real Postgres, Redis and an S3 server. Both create the venv themselves.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv services demo test lint docs bench clean-demo

venv: $(STAMP)

# Re-installs only when pyproject.toml changes (or the venv is new).
$(STAMP): pyproject.toml libs/client/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,embedded,embedding]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e libs/client
	@touch $@

services:
	@bash scripts/services.sh

demo: venv
	$(BIN)/python -m scripts.demo $(DEMO_ARGS)

test: venv services
	@if $(BIN)/python -c 'import xdist' 2>/dev/null; then \
		$(BIN)/pytest -n 2; \
	else \
		$(BIN)/pytest; \
	fi

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The reference in docs/ (mkdocs-material); --strict fails on a broken link or anchor.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir var/site

bench: venv services
	@for f in bench/ingest.py bench/pii.py bench/crypto.py; do \
		if [ -f $$f ]; then echo "== $$f"; $(BIN)/python $$f || exit 1; fi; \
	done

clean-demo:
	rm -rf var/demo
