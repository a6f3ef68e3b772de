# Two commands matter: `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
UV_VERSION := 0.13.9
UV ?= $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
PY := .venv/bin/python
# Django's own catalogues live under .venv; compile only ours.
MESSAGES := $(PY) manage.py compilemessages --ignore=.venv --ignore=.tools -v 0

.PHONY: demo test test-properties install install-test lint format lock messages clean station

demo: install
	$(PY) manage.py demo

test: install-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest

# The feeds' property tests searching far longer than `make test` does
# (README: Running the tests).
test-properties: install-test
	HYPOTHESIS_PROFILE=long $(PY) -m pytest tests/patients/test_feed_properties.py

# Debian packages first: bootstrapping uv needs python3-venv.
install:
	scripts/system-packages runtime
	$(MAKE) --no-print-directory .venv/.synced
	$(MESSAGES)

install-test:
	scripts/system-packages test
	$(MAKE) --no-print-directory .venv/.synced
	$(MESSAGES)

# uv is bootstrapped with pip when the machine does not have it.
.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode compiled once here: each process then starts without compiling
# its 1,500 modules (with PYTHONDONTWRITEBYTECODE it would, every time).
.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --compile-bytecode --python $(PYTHON)
	touch $@

lint: .venv/.synced
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: .venv/.synced
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

lock: | $(UV)
	$(UV) lock

# The ward station program as a wheel, for `uv tool install` or pip on ward PCs
# (README: Ward stations).
station: | $(UV)
	$(UV) build --wheel --out-dir station/dist station
	@ls station/dist/*.whl

# Refresh the French and Dutch catalogues after changing user-facing strings.
messages: .venv/.synced
	$(PY) manage.py makemessages -l fr -l nl --ignore=.venv --ignore=.tools --ignore=var --ignore=station --no-obsolete

clean:
	rm -rf .venv .tools staticfiles
