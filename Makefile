# The two commands a new user needs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
# MCP servers from npm that the tests run inside the sandbox.
MCP_SERVERS := tests/connectors/servers/node_modules/.installed
BIN := $(VENV)/bin

.PHONY: serve test lint mcp-servers check-types unit os-deps os-deps-test clean

# Options pass through: make serve ARGS="--port 9000 --lan"
serve: os-deps $(VENV)/.installed
	$(BIN)/errand serve $(ARGS)

test: os-deps-test $(VENV)/.installed-test $(MCP_SERVERS)
	$(BIN)/ruff check src tests benchmarks evals
	$(BIN)/ruff format --check src tests benchmarks evals
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	ERRAND_TEST_POSTGRES=required $(BIN)/pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks evals
	$(BIN)/ruff format --check src tests benchmarks evals
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

os-deps:
	@bash scripts/os-deps.sh serve

os-deps-test:
	@bash scripts/os-deps.sh test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed

mcp-servers: $(MCP_SERVERS)

$(MCP_SERVERS): tests/connectors/servers/package.json tests/connectors/servers/package-lock.json
	npm ci --prefix tests/connectors/servers --no-audit --no-fund --loglevel=error
	@touch $@

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
