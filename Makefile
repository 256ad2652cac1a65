# The two commands of the README: `make demo` (a local DR drill) and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv

.PHONY: setup setup-lint setup-browser setup-release test lint lint-template run-tests emulator-tests build bench demo release release-bucket publish fmt clean

## The emulator's Python environment (moto, pinned), project-local.
setup: $(VENV)/.installed

$(VENV)/.installed: tests/emulator/requirements.txt tests/emulator/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check \
		-r tests/emulator/requirements.txt -c tests/emulator/constraints.txt
	touch $@

## The template linters' environment (cfn-lint with the serverless rules, checkov, parliament), pinned.
LINT_VENV := .venv-lint
setup-lint: $(LINT_VENV)/.installed

$(LINT_VENV)/.installed: tests/lint/requirements.txt tests/lint/constraints.txt
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install --quiet --disable-pip-version-check \
		-r tests/lint/requirements.txt -c tests/lint/constraints.txt
	touch $@

## Headless Chromium (Debian's package) for the test that opens a run's report page.
setup-browser:
	@command -v chromium >/dev/null || { \
	  sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

## Run every check CI runs: format, clippy, the template linters, all tests (unit and end-to-end
## against the emulator).
test: setup setup-browser lint lint-template build run-tests

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The emulator's own suite (what AWS does, mirrored), then the Rust tests; the end-to-end
# tests run the handler binaries, so build them first.
run-tests: build emulator-tests
	$(CARGO) test --workspace

## template.yaml and its SAM expansion: every finding fixed or listed in tests/lint/skips.yaml with why.
lint-template: setup-lint
	$(LINT_VENV)/bin/python tests/lint/lint_template.py

emulator-tests: setup
	cd tests/emulator && ../../$(VENV)/bin/python -m pytest -q tests

build:
	$(CARGO) build --workspace --all-targets

## Benchmarks (figures in bench/RESULTS.md): each handler's release binary, cold start and peak
## RSS beside a Python reference; then a drill's orchestration cost at N = 1 to 1,000 resources,
## with the release handlers (what Lambda runs).
bench: setup
	$(CARGO) build --release --workspace --bins
	$(VENV)/bin/python bench/handler_startup.py --runs 20 --profile release
	$(VENV)/bin/python -u bench/orchestration.py --sizes 1,10,100,1000 --time-scale 0.05 --profile release

## Run a local DR drill against the emulator (`make demo MODE=failover`: a full failover;
## MODE=failback: that failover, then the failback that brings it home).
MODE ?= drill
# (the example built by `build`, run as it is: `cargo run -p` would build the SDK crates again
# with another feature set, minutes of silence)
demo: setup build
	target/debug/examples/drill $(MODE)

## A release, for deploying without a Rust toolchain: each function built for arm64 (SAM CLI ->
## cargo-lambda -> zig; Cargo.toml's release profile, measured in bench/RESULTS.md), uploaded to
## RELEASE_BUCKET by `sam package`, which writes target/release-package/packaged.yaml (deploy it
## with `sam deploy`, or `make publish` it to the Serverless Application Repository); the
## functions' zips beside it. The release workflow (.github/workflows/release.yml) runs this.
RELEASE_VENV := .venv-release
RELEASE_DIR := target/release-package
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
RELEASE_ENV := PATH="$(CURDIR)/$(RELEASE_VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0
setup-release: $(RELEASE_VENV)/.installed
	rustup target add aarch64-unknown-linux-gnu

$(RELEASE_VENV)/.installed: release/requirements.txt release/constraints.txt
	$(PYTHON) -m venv $(RELEASE_VENV)
	$(RELEASE_VENV)/bin/pip install --quiet --disable-pip-version-check \
		-r release/requirements.txt -c release/constraints.txt
	touch $@

release: release-bucket setup-release
	$(RELEASE_ENV) sam build --beta-features --build-dir $(RELEASE_DIR)/build
	$(RELEASE_ENV) sam package --template-file $(RELEASE_DIR)/build/template.yaml \
		--s3-bucket $(RELEASE_BUCKET) --s3-prefix backstop/$(VERSION) \
		--output-template-file $(RELEASE_DIR)/packaged.yaml
	cd $(RELEASE_DIR)/build && for fn in *Function; do \
	  (cd $$fn && $(PYTHON) -m zipfile -c ../../$$fn-$(VERSION)-arm64.zip bootstrap); done
	@echo "release $(VERSION): $(RELEASE_DIR)/packaged.yaml and $$(ls $(RELEASE_DIR)/*.zip | wc -l) function zips"

release-bucket:
	@test -n "$(RELEASE_BUCKET)" || { echo "make release: set RELEASE_BUCKET=<an S3 bucket in the region you publish from>" >&2; exit 2; }

publish: setup-release
	@test -f $(RELEASE_DIR)/packaged.yaml || { echo "make publish: no $(RELEASE_DIR)/packaged.yaml (make release first)" >&2; exit 2; }
	$(RELEASE_ENV) sam publish --template $(RELEASE_DIR)/packaged.yaml --semantic-version $(VERSION)

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(LINT_VENV) $(RELEASE_VENV)
