# The few commands everyone runs. `make test` is what CI runs; `make demo` is the main job.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= ci
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: venv build demo test test-rust test-python lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

venv: $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt

# One optimised build (profile `ci`), reused by cargo test, clippy's deps, pytest and the demo.
build: venv
	$(BIN)/maturin develop -q --profile $(PROFILE) --extras fastapi,flask,redis

demo: build
	$(BIN)/ravelin demo

test-rust:
	cargo test -q --profile $(PROFILE)

lint:
	cargo fmt --check
	cargo clippy -q --profile $(PROFILE) --all-targets -- -D warnings
	$(BIN)/ruff check python tests benches examples tools
	$(BIN)/python -m mypy python/ravelin
	$(BIN)/python -m mypy.stubtest ravelin._core --allowlist tests/stubtest-allowlist.txt

test-python:
	$(BIN)/python -m pytest -q tests/python

test: build test-rust lint test-python

bench: PROFILE = release
bench: build
	cargo bench

clean:
	rm -rf $(VENV) target
