# smfg: one Makefile for set-up, tests, the book and the benchmarks.
# Every target depends on the virtual environment, so a fresh clone needs only `make test`
# or `make reproduce PROFILE=quick`.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# One profile per book: `make reproduce` records its profile in book/executed/PROFILE, and
# every later `make page`, `make book` or `make runs` uses that one unless PROFILE is given
# (smoke when nothing is recorded); `make book` fails when the executed pages mix profiles.
PROFILE_FILE := book/executed/PROFILE
ifeq ($(origin PROFILE),undefined)
PROFILE := $(or $(strip $(shell cat $(PROFILE_FILE) 2>/dev/null)),smoke)
endif
NB ?=
PARAMS ?=
# parallel jobs of `make reproduce`: training runs in the pool, then notebooks side by side
JOBS ?= 2
# the seeds of one DDPG-family configuration train as one batched model (equal to the runs
# alone up to rounding; BATCH_SEEDS=0: every run alone)
BATCH_SEEDS ?= 1
# a running Dask scheduler (tcp://HOST:8786) trains the runs instead of the local pool (empty:
# the pool of JOBS processes); RESULTS, the run store, must then be one path every worker sees
RESULTS ?= results
SCHEDULER ?=
# the registry artefacts whose runs `make runs` trains (all: every page's)
EXPERIMENT ?= all
# the pages read a run store other than results/ through their results_root parameter
RESULTS_PARAM := $(if $(filter-out results results/,$(RESULTS)),-p results_root $(abspath $(RESULTS)))

# the two longest pages first (in the quick build ~10 and ~8 minutes, the others under one
# each), so that with JOBS = 2 the short ones fill in around them
SLOW_NOTEBOOKS := $(wildcard notebooks/clearing_policies.md notebooks/scaling.md)
NOTEBOOKS := $(SLOW_NOTEBOOKS) $(filter-out $(SLOW_NOTEBOOKS),$(wildcard notebooks/*.md))
EXECUTED := $(patsubst notebooks/%.md,book/executed/%.ipynb,$(NOTEBOOKS))
MATHJAX := book/_static/mathjax/tex-svg-full.js

.PHONY: help setup test lint format reproduce runs book page nbval bench clean system-deps

help:
	@echo "make setup                    create .venv and install smfg with pinned dependencies"
	@echo "make test                     lint and run the test suite (sets everything up itself)"
	@echo "make reproduce PROFILE=quick  train every run, execute every notebook, build the book (smoke|quick|paper)"
	@echo "make runs                     only the training runs of every page (JOBS=2 processes)"
	@echo "make reproduce PROFILE=paper SCHEDULER=tcp://HOST:8786 RESULTS=/shared/results"
	@echo "                              train on a running Dask cluster, build the book here"
	@echo "make page NB=name PARAMS='-p elasticity 0.5'   re-run one notebook with changed parameters"
	@echo "make book                     build the HTML book from the executed notebooks (one profile)"
	@echo "                              runs, page and book use the last reproduce's profile (now: $(PROFILE))"
	@echo "make nbval                    re-execute the executed notebooks with nbval (after reproduce)"
	@echo "make bench                    measure environment speed, write benchmarks/results.json"
	@echo "make system-deps              Debian packages for the browser check (chromium, npm)"

setup: $(STAMP)

# pip reads requirements/constraints.txt so that every transitive dependency is pinned too.
$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON_SYS) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e ".[book,test,dask]"
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts benchmarks
	$(VENV)/bin/ruff format --check src tests scripts benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests scripts benchmarks
	$(VENV)/bin/ruff check --fix src tests scripts benchmarks

# two workers on the two cores (each test file stays on one worker); torch uses one thread
# in each (tests/conftest.py). The browser check of the book never skips: chromium is
# installed first when missing (make system-deps), or make test fails saying why.
test: $(STAMP) $(MATHJAX) lint
	@command -v chromium >/dev/null 2>&1 || bash scripts/system_deps.sh
	$(PY) -m pytest -q -n 2 --dist loadfile tests

system-deps:
	bash scripts/system_deps.sh

# MathJax is vendored once from the npm registry; on Debian the Debian packages it needs (and
# chromium for the browser check) are installed first when missing.
$(MATHJAX):
	command -v npm >/dev/null 2>&1 || bash scripts/system_deps.sh
	bash scripts/vendor_mathjax.sh

# One notebook: jupytext turns the MyST source into a notebook, papermill executes it with the
# profile's parameters (and PARAMS) into book/executed/. Training runs and evaluations are
# cached in results/ (the run store), so `make -j2 reproduce` runs pages side by side and a
# rebuilt page retrains nothing that is done; one torch thread per page.
book/executed/%.ipynb: notebooks/%.md $(STAMP) $(wildcard src/smfg/*.py src/smfg/*/*.py)
	@mkdir -p book/executed figures
	@echo "== executing $< (profile $(PROFILE))"
	$(VENV)/bin/jupytext --to ipynb --set-kernel python3 -o - $< \
	  | OMP_NUM_THREADS=1 $(VENV)/bin/papermill --progress-bar --log-output - $@ \
	      -p profile $(PROFILE) $(RESULTS_PARAM) $(PARAMS) --cwd book/executed

# The results summary reads the evaluations these pages compute: in `make -j2 reproduce` it runs
# after them rather than beside them (order only: it never re-executes an older page).
book/executed/results_summary.ipynb: | book/executed/table1_algorithms.ipynb \
  book/executed/table3_policies.ipynb book/executed/clearing_policies.ipynb

book: $(STAMP) $(MATHJAX) $(EXECUTED)
	$(PY) -m smfg.paper.pages check-profile --profile $(PROFILE) $(EXECUTED)
	$(VENV)/bin/jupyter-book build . -W --keep-going
	@echo "book: _build/html/index.html"

# Every training run the pages need first (one pool of JOBS processes, or the Dask cluster at
# SCHEDULER; longest runs first, one torch thread each; a run finished before is not
# retrained; the sweep prints its estimated CPU-hours and wall time before it starts), then the
# pages JOBS at a time (they only evaluate and plot), then the book. Each step prints its wall
# time.
reproduce: $(STAMP) $(MATHJAX)
	rm -f $(EXECUTED)
	mkdir -p book/executed && echo $(PROFILE) > $(PROFILE_FILE)
	@t0=$$(date +%s); $(MAKE) --no-print-directory runs PROFILE=$(PROFILE); \
	  echo "== training runs: $$(( $$(date +%s) - t0 )) s"
	@t0=$$(date +%s); $(MAKE) --no-print-directory -j$(JOBS) $(EXECUTED) PROFILE=$(PROFILE); \
	  echo "== notebooks: $$(( $$(date +%s) - t0 )) s"
	@t0=$$(date +%s); $(MAKE) --no-print-directory book; \
	  echo "== book: $$(( $$(date +%s) - t0 )) s"

runs: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m smfg sweep --experiment $(EXPERIMENT) --profile $(PROFILE) \
	  $(if $(SCHEDULER),--scheduler $(SCHEDULER),--workers $(JOBS)) --results $(RESULTS) \
	  $(if $(filter 0,$(BATCH_SEEDS)),--no-batch-seeds)

page: $(STAMP)
	@test -n "$(NB)" || (echo "usage: make page NB=notebook_name PARAMS='-p name value'"; exit 2)
	@test -f notebooks/$(NB).md || (echo "no notebook notebooks/$(NB).md"; exit 2)
	rm -f book/executed/$(NB).ipynb
	$(MAKE) --no-print-directory book/executed/$(NB).ipynb PROFILE=$(PROFILE) PARAMS="$(PARAMS)"

# nbval re-executes every executed notebook (from the run store's cache) and fails on any
# error or on a cell marked NBVAL_CHECK_OUTPUT whose output changed.
nbval: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest --nbval-lax -p no:cacheprovider -q $(wildcard book/executed/*.ipynb)

bench: $(STAMP)
	$(PY) -m smfg bench --all --out benchmarks/results.json

clean:
	rm -rf _build book/executed .pytest_cache
