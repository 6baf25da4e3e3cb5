# Gatehouse: the commands of the contract. Every target makes the venv if missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck layers unit package bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip<26.3"  # chalice 1.34 packages with pip<26.3
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	exec $(BIN)/python -m devstack

lint: $(STAMP)
	$(BIN)/ruff check app.py chalicelib devstack infra tests bench

typecheck: $(STAMP)
	$(BIN)/mypy chalicelib devstack

layers: $(STAMP)
	$(BIN)/lint-imports  # the import contracts in pyproject.toml

unit: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

test: lint typecheck layers unit

bench: $(STAMP)
	$(BIN)/python -m bench

package: $(STAMP)
	$(BIN)/python -m infra.package

clean:
	rm -rf dist .pytest_cache .mypy_cache .ruff_cache
