# Two commands set up a fresh machine: `make run` (the main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SOURCES := confx costmodel envs pipeline tests benchmarks cluster
# mypy checks the installed names (confx.costmodel, ...): a tree of links mirrors the package-dir mapping.
TYPECHECK_TREE := .typecheck

.PHONY: install run test test-fast lint typecheck format bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, from the machine's CPU wheel: an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/confx sweep conf/default.yaml --resume

typecheck: $(STAMP)
	mkdir -p $(TYPECHECK_TREE)/confx
	ln -sfn ../../confx/__init__.py $(TYPECHECK_TREE)/confx/__init__.py
	for package in costmodel envs pipeline; do ln -sfn ../../$$package $(TYPECHECK_TREE)/confx/$$package; done
	cd $(TYPECHECK_TREE) && ../$(VENV)/bin/mypy --config-file ../pyproject.toml -p confx

lint: $(STAMP)
	$(VENV)/bin/ruff check $(SOURCES)
	$(VENV)/bin/ruff format --check $(SOURCES)

format: $(STAMP)
	$(VENV)/bin/ruff format $(SOURCES)
	$(VENV)/bin/ruff check --fix $(SOURCES)

# Unit and property tests only (no Ray cluster, no MLflow server, no browser): under two minutes.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests/unit tests/property

test: lint typecheck
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/costmodel_speed.py

clean:
	rm -rf $(VENV) $(TYPECHECK_TREE) .pytest_cache .hypothesis
