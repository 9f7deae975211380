# Set-up commands that work on a fresh machine: each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The exact CPU build of torch for these machines; a bare `torch` pulls a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: test demo lint size docs install clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test]'

test: install
	$(BIN)/python -m pytest -q tests

# Lint, the type checker (strict on the core layer: see [tool.mypy] in pyproject.toml), the
# import layers (no module imports from a layer above it: see [tool.importlinter]) and the
# size rule (no source file over 300 lines: `make size`).
lint: install
	$(BIN)/ruff check src tests benchmarks tools docs/hooks.py
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/check_size.py src

# Source files over 300 lines (a file that long usually holds more than one subject).
size: $(BIN)/activate
	$(BIN)/python tools/check_size.py src

# The documentation site (mkdocs.yml; pages in docs/site/, the API reference from the docstrings),
# built into site/; --strict turns every warning, a broken link or anchor included, into a failure.
docs: install
	$(BIN)/pip install --quiet -e '.[docs]'
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache site

# The main job on its embedded default: FCN on UCR FiftyWords at rates 0.5 and 0.85 + the plain baseline.
demo: install
	$(BIN)/bandlimit demo --out runs/demo --threads 2
