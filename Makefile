# Each target creates .venv on first use, so on a fresh machine
# `make run` and `make test` are all the set-up there is.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8080

.PHONY: run test unit lint typecheck bench bench-idle bench-live bench-tls bench-h2 clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,fast]'
	touch $(STAMP)

run: $(STAMP)  ## serve the demo site on http://127.0.0.1:$(PORT)/
	$(VENV)/bin/staticsrv --root static --port $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check staticsrv tests benchmarks
	$(VENV)/bin/ruff format --check staticsrv tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict

unit: $(STAMP)
	$(PY) -m pytest -q

test: lint typecheck unit  ## everything CI runs

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
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info
