# Journey: `make run` runs the main job on the embedded simulator, `make test` runs every test
# (starting a local Kafka broker for the Kafka tests). Both create the virtualenv themselves.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test bench lint mutation venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: venv
	$(BIN)/journey run $(ARGS)

test: venv
	bash scripts/test.sh $(ARGS)

bench: venv
	bash scripts/bench.sh $(ARGS)

# Mutation testing (mutmut; modules and tests in pyproject's [tool.mutmut]): the score table,
# equivalent mutants (tests/mutation_equivalent.toml) listed, not counted. CPU-heavy: a few
# minutes on 2 cores; ARGS="--jobs 4 --budget 600" to change the parallelism or time budget.
mutation: venv
	$(BIN)/python scripts/mutation.py $(ARGS)

lint: venv
	$(BIN)/ruff check flows engine features bench tests

clean:
	rm -rf $(VENV) .cache out mutants
