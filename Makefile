# Each target creates .venv on first use, so on a fresh machine
# `make run` and `make test` are all the set-up there is.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
PORT ?= 8080

.PHONY: run test unit coverage lint typecheck test-pythons docs bench bench-idle bench-live bench-tls bench-h2 clean

# `make run` installs what serving needs and no more (the server and the
# optional faster loop); `make test` adds the development tools on top.
$(RUN_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[fast]'
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet -e '.[dev,fast]'
	touch $(STAMP)

run: $(RUN_STAMP)  ## serve the demo site on http://127.0.0.1:$(PORT)/
	$(VENV)/bin/staticsrv --root static --port $(PORT)

lint: $(STAMP)  ## ruff, and the import contracts that keep the layers in order (pyproject.toml)
	$(VENV)/bin/ruff check staticsrv tests benchmarks
	$(VENV)/bin/ruff format --check staticsrv tests benchmarks
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict

# Branch coverage of staticsrv over the whole suite, the servers it starts
# as subprocesses included ([tool.coverage.run] in pyproject.toml): CI (which
# sets CI) reports it on every run; `make coverage` shows it anywhere.
COVERAGE := --cov=staticsrv --cov-branch --cov-report=term:skip-covered

# The tests run in a new shuffled order each time (pytest-randomly); the last
# lines of a run give its seed.  PYTEST_ARGS="-p randomly --randomly-seed=N"
# replays that order, PYTEST_ARGS="-p no:randomly" keeps the files' order.
PYTEST_ARGS ?=

unit: $(STAMP)
	$(PY) -m pytest -q $(if $(CI),$(COVERAGE)) $(PYTEST_ARGS)

coverage: $(STAMP)  ## the whole suite with its branch coverage of staticsrv
	$(PY) -m pytest -q $(COVERAGE) $(PYTEST_ARGS)

test: lint typecheck unit  ## everything CI runs

docs: $(STAMP)  ## build docs/ with MkDocs and serve it through staticsrv, rebuilt and reloaded on edits
	$(VENV)/bin/staticsrv .docs-site --build "$(VENV)/bin/mkdocs build -q -d .docs-site" --watch docs --watch mkdocs.yml

bench: $(STAMP)  ## side-by-side benchmark against the peers (needs ../shared/bench)
	$(PY) benchmarks/run.py

bench-idle: $(STAMP)  ## memory with 1,000 idle keep-alive connections, beside the peers
	$(PY) benchmarks/idle_conns.py --md benchmarks/IDLE.md

bench-live: $(STAMP)  ## --live: write-to-event latency, memory per event stream, hot path
	$(PY) benchmarks/live.py --md benchmarks/LIVE.md

bench-tls: $(STAMP)  ## HTTPS beside nginx and caddy with the same certificate (wrk, nginx, caddy)
	$(PY) benchmarks/tls.py

bench-h2: $(STAMP)  ## HTTP/2 beside nginx and caddy (h2load, nginx, caddy, Chromium)
	$(PY) benchmarks/h2.py

clean:
	rm -rf $(VENV) .venv-3.* .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info .docs-site

# The unit tests on every other CPython this machine has (pyenv's 3.12 and
# 3.13 here); each gets its own venv.  Pythons that are not installed are
# skipped with a line saying so.
OTHER_PYTHONS ?= 3.12 3.13
test-pythons:
	@for v in $(OTHER_PYTHONS); do \
	  py=$$(command -v python$$v >/dev/null 2>&1 && python$$v -c 'import sys; print(sys.executable)' 2>/dev/null); \
	  if [ -z "$$py" ] && command -v pyenv >/dev/null 2>&1; then \
	    ver=$$(pyenv versions --bare | grep -E "^$$v\.[0-9]+$$" | tail -n 1); \
	    [ -n "$$ver" ] && py="$$(pyenv root)/versions/$$ver/bin/python"; \
	  fi; \
	  if [ -z "$$py" ]; then echo "test-pythons: no Python $$v here, skipped"; continue; fi; \
	  test -x .venv-$$v/bin/python || $$py -m venv .venv-$$v || exit 1; \
	  .venv-$$v/bin/python -m pip install --quiet -e '.[unit]' || exit 1; \
	  echo "== unit tests on Python $$v"; \
	  .venv-$$v/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests/unit || exit 1; \
	done
