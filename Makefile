# The two commands a newcomer needs:  make run   and   make test
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run demo test bench bench-peers lint

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## set up, play the demo, then keep the gateway and its console running on its data
	$(VENV)/bin/sdgw demo --serve

demo: $(STAMP)  ## the whole story once, then exit
	$(VENV)/bin/sdgw demo

test: $(STAMP)  ## set up, lint, run the whole test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

bench: $(STAMP)  ## the benchmarks in bench/ (print their figures; the last takes minutes)
	$(PY) -m bench.link_bench
	$(PY) -m bench.edition_bench
	$(PY) -m bench.dispatch_bench
	$(PY) -m bench.mm7_bench
	$(PY) -m bench.kill_campaign
	$(PY) -m bench.console_bench

bench-peers: $(STAMP)  ## sdgw against Kannel (installed with apt, as root) on one SMPP sink: 1M subscribers
	$(PY) -m bench.peers_bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
