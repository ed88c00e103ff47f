# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The browser tests drive Debian's Chromium (never a downloaded browser build).
CHROMIUM := /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help run test test-fast lint format train search bench spark postgresql docker test-container openapi docs lock clean

help:
	@echo "make run      create the environment, train a default model if the store is empty, serve on HOST:PORT"
	@echo "make test     install everything the tests need (Python packages, Debian chromium, wrk and postgresql), then ruff and pytest"
	@echo "make test-fast  unit and in-process API tests on a synthetic model, no data set or servers (under a minute): the loop to live in"
	@echo "make train    train and promote a new model version (recorded hyperparameters, < 2 min)"
	@echo "make search   re-run the hyperparameter search (tens of minutes), rewriting train/hyperparameters.json"
	@echo "make bench    speed and memory benchmarks (about 5 minutes), written to docs/benchmarks.md"
	@echo "make spark    install PySpark (and Java from Debian if missing) for --engine spark"
	@echo "make docker   bake the production model into an image (trains first if the store is empty)"
	@echo "make test-container  build the image on a local Debian base and exercise it (needs root)"
	@echo "make openapi  regenerate openapi.json from the app"
	@echo "make docs     regenerate the settings and problem-type tables in docs/ from the code"
	@echo "make lock     re-resolve requirements/*.txt from pyproject.toml's groups (needs the package index)"

# Installs are keyed on the lock files: a changed lock reinstalls, an unchanged one costs nothing.
$(VENV)/.runtime: requirements/runtime.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements/runtime.txt
	touch $@

$(VENV)/.dev: requirements/dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@

# Apache Spark for portfolio scoring: PySpark from its own lock, and a Java runtime from
# Debian when none is installed (PySpark starts a JVM).
$(VENV)/.spark: requirements/spark.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet --require-hashes -r requirements/spark.txt
	command -v java >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless; }
	touch $@

spark: $(VENV)/.spark

# The TreeSHAP kernel behind reason codes: plain C, any compiler, loaded through ctypes.
# Debian's gcc is installed when no compiler is (a fresh machine may have none). No
# -march: the library picks its vector path at run time, so it runs on any CPU of its
# architecture, and -ffp-contract=off keeps every path's arithmetic the same bits.
KERNEL := model_store/_treeshap.so
$(KERNEL): model_store/treeshap.c model_store/treeshap_body.h model_store/treeshap_rows_body.h \
		model_store/treeshap_body_end.h
	command -v $(CC) >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev; }
	$(CC) -O2 -ffp-contract=off -Wno-psabi -shared -fPIC -o $@ $<

# PostgreSQL for the decision log's tests and bench: Debian's server package (the tests
# start their own throwaway cluster with initdb and pg_ctl; nothing is configured system-wide).
POSTGRES_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
postgresql:
	@test -n "$(POSTGRES_INITDB)" || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

/usr/bin/wrk:
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

run: $(VENV)/.runtime $(KERNEL)
	$(PY) -m train --if-empty
	$(PY) -m service

train: $(VENV)/.runtime $(KERNEL)
	$(PY) -m train

search: $(VENV)/.runtime
	$(PY) -m train --search

bench: $(VENV)/.dev $(VENV)/.spark /usr/bin/wrk $(KERNEL) postgresql
	$(PY) -m train --if-empty
	$(PY) -m tests.benchmarks.run

IMAGE ?= credit-default
docker: $(VENV)/.runtime $(KERNEL)
	$(PY) -m train --if-empty
	$(PY) -m model_store export --serving-only production deploy/model-store
	DOCKER_BUILDKIT=0 docker build -t $(IMAGE):$$($(PY) -m model_store show production | $(PY) -c 'import json,sys; print(json.load(sys.stdin)["version"].lower())') -t $(IMAGE):latest .

test-container: $(VENV)/.dev $(KERNEL)
	bash tests/container/run.sh

test: $(VENV)/.dev $(VENV)/.spark $(KERNEL) $(CHROMIUM) /usr/bin/wrk postgresql lint
	$(PY) -m pytest

# No Java, PySpark, PostgreSQL, Chromium or data set: the fast tests train their own small
# model on synthetic rows (cached under test-output/stores/).
test-fast: $(VENV)/.dev $(KERNEL)
	$(PY) -m pytest -m "not slow" -q

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

openapi: $(VENV)/.runtime
	$(PY) -m service.openapi openapi.json

docs: $(VENV)/.runtime
	$(PY) -m service.doc_tables

# The locks are compiled from pyproject.toml's dependency groups; serve and dev are
# constrained to the runtime lock, so every environment runs the same versions.
UV_COMPILE = $(VENV)/bin/uv pip compile --python-version 3.11 --generate-hashes --quiet
lock: $(VENV)/.dev
	$(PY) -m pip install --quiet uv
	$(UV_COMPILE) --group runtime -o requirements/runtime.txt
	$(UV_COMPILE) --group serve -c requirements/runtime.txt -o requirements/serve.txt
	$(UV_COMPILE) --group dev -c requirements/runtime.txt -o requirements/dev.txt
	$(UV_COMPILE) --group spark -c requirements/runtime.txt -o requirements/spark.txt

clean:
	rm -rf $(KERNEL) $(VENV) .bench .pytest_cache .ruff_cache .hypothesis test-output
