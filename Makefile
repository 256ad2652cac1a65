# The two commands of the README: `make demo` (a local DR drill) and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test lint unit build demo fmt clean

## Run every check CI runs: format, clippy, all tests.
test: lint unit

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

build:
	$(CARGO) build --workspace

## Run a local DR drill against the emulator.
demo:
	@echo "make demo: the local DR drill is not yet available (it needs the restore, launch and DNS steps)."
	@echo "Run 'make test' to check the plan model and the handlers built so far."

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
