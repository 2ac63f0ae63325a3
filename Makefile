# ModuleConferenceLink — every entry point. Run as root on Debian 12.
#   make demo   the product's main job on a built-in default, against a real Asterisk 22
#   make test   every test (lint, unit, PHP, JS, package, real-Asterisk end-to-end, faults)
#   make bench  benchmarks (not part of make test)

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
export CONFLINK_ASTERISK_ROOT ?= /var/cache/conflink/asterisk-root
PHP_FILES = $(shell find App Lib Setup Models Messages bin tests/php -name '*.php' 2>/dev/null)

.PHONY: all system-deps deps lab arm64-root lint test test-unit test-php test-js test-package test-e2e \
        test-faults test-mikopbx mikopbx-rig demo bench bench-smoke package clean

all: test

system-deps:
	tools/install-system-deps.sh

$(VENV)/.ready: python-worker/pyproject.toml python-worker/requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e ./python-worker -r python-worker/requirements-dev.txt
	touch $@

deps: system-deps $(VENV)/.ready

lab: system-deps
	tests/lab/build-root.sh

# arm64 Debian 12 root for the package test under qemu (built once, ~3 min; later a ~1 s check
# that also re-registers qemu-aarch64 with binfmt_misc after a reboot).
arm64-root: system-deps
	tests/package/build-arm64-root.sh

lint: deps
	$(VENV)/bin/ruff check python-worker tests bench demo tools
	cd python-worker && ../$(VENV)/bin/mypy   # strict on conflink/ (python-worker/pyproject.toml)
	@for f in $(PHP_FILES); do php -l "$$f" >/dev/null || { php -l "$$f"; exit 1; }; done
	@echo "php -l: $(words $(PHP_FILES)) file(s) clean"

# One run measures coverage too; the floors are where the code stands (raise them, never lower).
COVERAGE_FLOORS = fsm:97 engine:92 config:94 control:92 rules:100 causes:97 sched:100 schedule:100 localtime:100 ami:92 worker:84
COVERAGE_TOTAL ?= 90
test-unit: deps
	$(PYTEST) -q python-worker/tests --cov=conflink --cov-report=
	@for pair in $(COVERAGE_FLOORS); do \
	  $(VENV)/bin/coverage report --include="*/conflink/$${pair%%:*}.py" --fail-under=$${pair##*:} >/dev/null \
	    || { $(VENV)/bin/coverage report --include="*/conflink/$${pair%%:*}.py"; \
	         echo "coverage of conflink/$${pair%%:*}.py below its floor of $${pair##*:}%"; exit 1; }; done
	$(VENV)/bin/coverage report --fail-under=$(COVERAGE_TOTAL) | tail -1

# The lab root is Debian sid, whose php-cli (8.4, as on MikoPBX) lints the same files.
test-php: deps lab
	CONFLINK_PHP84_ROOT=$(CONFLINK_ASTERISK_ROOT) tests/php/run.sh

test-js: deps
	@for f in public/assets/js/src/*.js; do node --check "$$f" || exit 1; done
	node --test tests/js/

# Also runs the packaged worker on arm64 (qemu) against the lab's Asterisk.
test-package: deps lab arm64-root
	$(PYTEST) -q tests/package

test-e2e: deps lab
	$(PYTEST) -q tests/e2e

test-faults: deps lab
	$(PYTEST) -q tests/faults

# MikoPBX Core rig (tests/mikopbx): the module inside Core's own PHP on phalcon/phalcon, PHP 8.4
# from the lab root. The first run builds /var/cache/conflink/mikopbx-rig and adds PHP packages
# and Python 3.11 to the lab root (about a minute); later runs reuse them.
mikopbx-rig: deps lab
	python3 tests/mikopbx/rig.py setup

test-mikopbx: mikopbx-rig
	cd tests/mikopbx && ../../$(PYTEST) -q

# bench-smoke: a 30-second run of every benchmark step, so `make bench` cannot rot unnoticed.
test: lint test-unit test-php test-js test-package test-e2e test-faults test-mikopbx bench-smoke

demo: deps lab
	$(PY) demo/run_demo.py

bench: deps lab
	$(PY) bench/run_bench.py

bench-smoke: deps lab
	$(PY) bench/run_bench.py --smoke

package: deps
	python3 tools/build_package.py

clean:
	rm -rf dist $(VENV) tests/.artifacts
