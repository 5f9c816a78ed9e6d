# Two commands do all the set-up on a fresh machine (Python 3.11; Java 17 and Maven for tests):
#   make dev    — install, then run the whole platform on its embedded default (no Docker, no JVM)
#   make test   — install, fetch Kafka's jars and Chromium, lint, type-check, run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test setup lint typecheck pytest clean

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing ioc-platform[dev]"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet --progress-bar off -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

dev: setup
	@$(BIN)/ioc dev

lint: setup
	@echo "==> ruff"
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

typecheck: setup
	@echo "==> mypy --strict"
	@$(BIN)/mypy
	@# Each service's tests/ is checked on its own: test modules share basenames across services.
	@for d in services/*/tests; do ls $$d/*.py >/dev/null 2>&1 || continue; $(BIN)/mypy "$$d" || exit 1; done

pytest: setup
	@bash scripts/test-prerequisites.sh
	@echo "==> pytest (real Apache Kafka and PostgreSQL start inside the session)"
	@$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
