# Two commands: `make run` (set up everything, load demo data, serve) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
BIN     := $(VENV)/bin
PY      := $(BIN)/python
CRM     := $(BIN)/crm
HOST    ?= 127.0.0.1
PORT    ?= 8000

# The newest Python >= 3.12 that actually runs: python3.13, python3.12, then pyenv's.
define find_python
for c in python3.13 python3.12; do \
  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then command -v $$c; exit 0; fi; \
done; \
if command -v pyenv >/dev/null 2>&1; then \
  for v in $$(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])(\.[0-9]+)?$$' | sort -V -r); do \
    p="$$(pyenv prefix $$v 2>/dev/null)/bin/python"; \
    if [ -x "$$p" ] && "$$p" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then echo "$$p"; exit 0; fi; \
  done; \
fi; \
exit 1
endef

.PHONY: help setup run test test-fast test-pg test-browser lint fmt typecheck demo messages clean bench

help:
	@echo "make run       set everything up, load demo data and serve on http://$(HOST):$(PORT)"
	@echo "make test      set everything up and run the whole suite (SQLite)"
	@echo "make test-pg   the same suite against PostgreSQL (DATABASE_URL or 127.0.0.1:5432)"
	@echo "make lint      ruff and mypy"

$(PY):
	@PYBIN="$$( $(find_python) )" || { \
	  echo "error: Python 3.12 or newer is required and none was found." >&2; \
	  echo "Install one (e.g. 'apt-get install python3.12-venv', or 'pyenv install 3.13') and run make again." >&2; exit 1; }; \
	echo "Using $$PYBIN"; "$$PYBIN" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Python dependencies, pinned by requirements.lock (regenerate with `make lock`).
$(VENV)/.deps: $(PY) pyproject.toml requirements.lock
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $@

lock: $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

# Front-end dependencies, pinned by package-lock.json, copied into src/crm/static/vendor.
node_modules/.stamp: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "error: npm is required (apt-get install npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

src/crm/static/vendor/.stamp: node_modules/.stamp scripts/vendor.sh
	bash scripts/vendor.sh
	@touch $@

# Compiled translations (gettext's msgfmt; installed if missing).
MO := src/crm/locale/zh_Hans/LC_MESSAGES/django.mo
$(MO): src/crm/locale/zh_Hans/LC_MESSAGES/django.po $(VENV)/.deps
	@command -v msgfmt >/dev/null 2>&1 || (command -v apt-get >/dev/null && apt-get install -y -qq gettext >/dev/null) || { echo "error: gettext (msgfmt) is required: apt-get install gettext" >&2; exit 1; }
	cd src/crm && ../../$(BIN)/django-admin compilemessages --settings=crm.settings.base >/dev/null

setup: $(VENV)/.deps src/crm/static/vendor/.stamp $(MO)

run: setup
	$(CRM) migrate --noinput
	$(CRM) demo --if-empty
	@echo "Serving the CRM on http://$(HOST):$(PORT)  (demo logins are in README.md)"
	$(CRM) serve --host $(HOST) --port $(PORT)

demo: setup
	$(CRM) migrate --noinput
	$(CRM) demo

# The whole suite on SQLite, browser tests included (Chromium from Debian, installed if missing).
test: setup browser-deps
	$(PY) -m pytest -q -n 2 --dist loadgroup

test-fast: setup
	$(PY) -m pytest -q -n 2 --dist loadgroup -m "not browser"

test-pg: setup browser-deps
	CRM_TEST_DB=postgres $(PY) -m pytest -q -n 2 --dist loadgroup

# Benchmarks of issue 8 on PostgreSQL (127.0.0.1:5432, database crm_bench, built when missing or
# of other sizes): `make bench` at full scale, `make bench BENCH_ARGS=--small` for a quick run.
bench: setup
	PYTHONPATH=. DJANGO_SETTINGS_MODULE=bench.settings $(PY) -m bench.run --generate $(BENCH_ARGS)

# Load run of issues 8/9 (RELIABILITY L): locust (installed into the venv only, not a project
# dependency) against gunicorn on PostgreSQL crm_bench + Redis, then the embedded SQLite default
# with the demo data; LOAD=pg or LOAD=sqlite for one; knobs in bench/load/run.sh.
.PHONY: load
load: setup
	$(PY) -m pip install --quiet locust==2.47.0
	bash bench/load/run.sh $${LOAD:-both}

browser-deps:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); } || { echo "error: Chromium is required for browser tests: apt-get install chromium" >&2; exit 1; }

# API fuzzing, long tier (RELIABILITY D1): CRM_FUZZ_EXAMPLES examples per operation and role
# (default 200) and another seed with FUZZ_SEED=...; add CRM_TEST_DB=postgres for PostgreSQL.
.PHONY: fuzz-long
fuzz-long: setup
	CRM_FUZZ_EXAMPLES=$${CRM_FUZZ_EXAMPLES:-200} CRM_FUZZ_SEED=$${FUZZ_SEED:-20261124} \
	  $(PY) -m pytest -q -n 2 --dist loadgroup tests/security/test_api_fuzz.py

# Scope oracle, long tier (RELIABILITY A3): CRM_ORACLE_WORLDS generated worlds (default 300);
# add CRM_TEST_DB=postgres for PostgreSQL.
.PHONY: oracle-long
oracle-long: setup
	CRM_ORACLE_WORLDS=$${CRM_ORACLE_WORLDS:-300} \
	  $(PY) -m pytest -q -p no:randomly tests/security/test_scope_oracle.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

messages: setup
	cd src/crm && ../../$(BIN)/django-admin makemessages -l zh_Hans --no-obsolete --settings=crm.settings.base -i "static/*" -i "locale/*"

clean:
	rm -rf $(VENV) node_modules src/crm/static/vendor
