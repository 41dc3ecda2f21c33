# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Environments are made with uv (installed with pip when missing).

PYTHON ?= python3
AIRFLOW_VERSION ?= 3.3.2
# The lowest Airflow we declare (pyproject: apache-airflow>=3.0.6) is tested too.
AIRFLOW_FLOOR ?= 3.0.6
VENV ?= .venv
VENV_FLOOR ?= .venv-floor
VENV_DIST ?= .venv-dist
VENV_LOWEST ?= .venv-lowest
# Python 3.13 (the newest Python we support; 3.11 is the oldest): Debian trixie's build, prepared by
# scripts/python313.sh into a cache folder outside the clone (no system change).
VENV_313 ?= .venv-313
PYTHON313_HOME ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hubspot-events-provider/python3.13
PYTHON313 = $(PYTHON313_HOME)/root/usr/bin/python3.13
UV = $(PYTHON) -m uv
PYTEST_ARGS ?=
DOCS_BUILD ?= docs/_build

.PHONY: help env env-floor env-lowest env-313 python313 test-lowest test-313 browser-deps slow-deps redis-deps lint typecheck test test-main test-floor test-slow docs demo bench bench-quick sandbox dist clean

help:
	@echo "make demo   - run the example warehouse-to-HubSpot pipeline against the local sandbox"
	@echo "make test   - ruff, mypy (strict), pytest on Airflow $(AIRFLOW_VERSION) and $(AIRFLOW_FLOOR), Python 3.11 and 3.13, the docs site"
	@echo "make docs   - build the documentation site into $(DOCS_BUILD)/html (warnings are errors)"
	@echo "make bench  - benchmarks (writes benchmarks/results/); make bench-quick for a short run"
	@echo "make dist   - build the sdist and wheel into dist/ and check them (twine check, contents)"

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv

$(VENV)/.stamp: pyproject.toml | uv
	$(UV) venv --quiet --allow-existing -p 3.11 $(VENV)
	$(UV) pip install --quiet -p $(VENV)/bin/python -e ".[dev,sql,openlineage,docs,redis]" "apache-airflow==$(AIRFLOW_VERSION)"
	@touch $@

# The floor installs exactly the frozen set of a green run (constraints/airflow-3.0.6-lock.txt): a package
# released after 3.0.6 cannot break it on a new machine (cryptography 46+ did).
$(VENV_FLOOR)/.stamp: pyproject.toml constraints/airflow-$(AIRFLOW_FLOOR).txt constraints/airflow-$(AIRFLOW_FLOOR)-lock.txt | uv
	$(UV) venv --quiet --allow-existing -p 3.11 $(VENV_FLOOR)
	$(UV) pip install --quiet -p $(VENV_FLOOR)/bin/python -c constraints/airflow-$(AIRFLOW_FLOOR).txt \
		-c constraints/airflow-$(AIRFLOW_FLOOR)-lock.txt \
		-e ".[dev,sql,openlineage,redis]" "apache-airflow==$(AIRFLOW_FLOOR)"
	@touch $@

# Every direct dependency at the floor pyproject.toml declares (uv's lowest-direct resolution), on the
# floor Airflow: proves the floors are ones the code really works with.
$(VENV_LOWEST)/.stamp: pyproject.toml constraints/airflow-$(AIRFLOW_FLOOR).txt | uv
	rm -rf $(VENV_LOWEST)  # a fresh venv: uv keeps installed versions that already satisfy a floor
	$(UV) venv --quiet -p 3.11 $(VENV_LOWEST)
	$(UV) pip install --quiet -p $(VENV_LOWEST)/bin/python --resolution lowest-direct \
		-c constraints/airflow-$(AIRFLOW_FLOOR).txt -e ".[dev,sql]" "apache-airflow==$(AIRFLOW_FLOOR)"
	@touch $@

# Cached: a second run only checks the folder's stamp.
python313: uv
	@UV="$(UV)" bash scripts/python313.sh "$(PYTHON313_HOME)" >/dev/null

$(VENV_313)/.stamp: pyproject.toml | uv python313
	$(UV) venv --quiet --allow-existing -p $(PYTHON313) $(VENV_313)
	$(UV) pip install --quiet -p $(VENV_313)/bin/python -e ".[dev,sql,openlineage,redis]" "apache-airflow==$(AIRFLOW_VERSION)"
	@touch $@

env: $(VENV)/.stamp
env-floor: $(VENV_FLOOR)/.stamp
env-lowest: $(VENV_LOWEST)/.stamp
env-313: $(VENV_313)/.stamp

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: env
	$(VENV)/bin/mypy

test-main: env redis-deps
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-floor: env-floor redis-deps
	$(VENV_FLOOR)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The suite on Python 3.13 with Airflow $(AIRFLOW_VERSION) (mypy and ruff stay on 3.11).
test-313: env-313 redis-deps
	$(VENV_313)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

# Imports every module and runs the end-to-end example DAGs with the lowest direct dependencies.
test-lowest: env-lowest
	$(VENV_LOWEST)/bin/python -m pytest -m "not slow" tests/test_imports.py tests/triggers \
		tests/test_dags_example.py $(PYTEST_ARGS)

test: lint typecheck docs test-main test-313 test-floor test-lowest

# The documentation site (Sphinx, MyST, furo; the `docs` extra of .venv). -W --keep-going: every
# warning fails the build, all of them listed; -n: a cross-reference that resolves nowhere (a link to
# a missing page or heading, an unknown class in a docstring) is a warning; -E: re-read every page so
# that no warning hides in a cached one. Links are checked only inside the site: nothing leaves the machine.
docs: env
	$(VENV)/bin/sphinx-build -E -W --keep-going -n -q -b html -d $(DOCS_BUILD)/doctrees docs $(DOCS_BUILD)/html
	@echo "docs: $(DOCS_BUILD)/html/index.html"

# Headless Chromium from Debian's packages for the connection-form browser test (never
# `playwright install`: it downloads a browser build).
browser-deps:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium fonts-dejavu-core)

test-slow: env browser-deps slow-deps redis-deps
	$(UV) pip install --quiet -p $(VENV)/bin/python -e ".[dev,sql,openlineage,redis,browser,celery]" "apache-airflow==$(AIRFLOW_VERSION)"
	$(VENV)/bin/python -m pytest -m slow $(PYTEST_ARGS)

# The shared rate budget's tests (tests/core/http/test_budget_store.py) start Debian's redis-server.
redis-deps:
	@command -v redis-server >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q redis-server)

# The Celery test needs Redis and PostgreSQL (Debian packages) and the celery extra.
slow-deps: env
	@command -v redis-server >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -q && apt-get install -y -q redis-server postgresql)

demo: env
	$(VENV)/bin/python -m dags_example.demo $(ARGS)

sandbox: env
	$(VENV)/bin/hubspot-sandbox --port 8765

bench: env
	$(UV) pip install --quiet -p $(VENV)/bin/python -e ".[dev,sql,bench]" "apache-airflow==$(AIRFLOW_VERSION)"
	$(VENV)/bin/python -m benchmarks.run

bench-quick: env
	$(UV) pip install --quiet -p $(VENV)/bin/python -e ".[dev,sql,bench]" "apache-airflow==$(AIRFLOW_VERSION)"
	$(VENV)/bin/python -m benchmarks.run --quick

# Mutation testing of core/engine/attribution.py and core/sync/guardrails.py against the fast tests
# that reach them ([tool.mutmut] in pyproject.toml), on two cores; not part of `make test`. Starts
# from a clean mutants/ (mutmut 3 would reuse verdicts cached there) and ends with a table per file.
.PHONY: mutation
mutation: env
	$(UV) pip install --quiet -p $(VENV)/bin/python "mutmut==3.8.*"
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/python scripts/mutation_summary.py

# The release: sdist + wheel, then twine's metadata/README check and scripts/check_dist.py (the wheel
# holds the sandbox and py.typed; no tests or data in either archive). tests/test_dist.py installs
# the wheel into a clean venv.
dist: uv
	rm -rf dist
	$(UV) build --quiet --out-dir dist
	$(UV) venv --quiet --allow-existing -p 3.11 $(VENV_DIST)
	$(UV) pip install --quiet -p $(VENV_DIST)/bin/python "twine>=6" "readme-renderer[md]>=44"
	$(VENV_DIST)/bin/twine check --strict dist/*
	$(PYTHON) scripts/check_dist.py dist

clean:
	rm -rf $(VENV) $(VENV_FLOOR) $(VENV_LOWEST) $(VENV_DIST) $(VENV_313) $(DOCS_BUILD) dist .mypy_cache .ruff_cache .demo
