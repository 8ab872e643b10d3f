# qbo-bridge — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := uv run --frozen python
PYTEST_ARGS ?=
# The suite runs in this many pytest workers (pytest-xdist); the end-to-end tests share one of them.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup

.PHONY: help install run test test-stress lint format migrate contract sandbox demo bench bench-quick bench-sandbox chaos clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: ## install uv if missing, then the locked dependencies (Python 3.11)
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@uv sync --frozen --quiet

run: install ## migrate, start the sandbox, the four services and the console, print their URLs (Ctrl-C stops)
	@$(PY) -m scripts.stack

test: install lint ## the whole suite on real Postgres, RabbitMQ and the sandbox
	@uv run --frozen pytest $(XDIST) $(PYTEST_ARGS)

test-stress: install ## hunt flakes: the suite 3 times with one core busy and 300 idle broker queues
	@$(PY) -m scripts.stress $(XDIST) $(PYTEST_ARGS)

lint: install ## ruff and mypy --strict
	@uv run --frozen ruff check .
	@uv run --frozen ruff format --check --quiet .
	@uv run --frozen mypy shared services sandbox tests scripts bench

format: install ## apply ruff's formatting and safe fixes
	@uv run --frozen ruff check --fix --quiet . || true
	@uv run --frozen ruff format --quiet .

migrate: install ## bring every service's schema up to date
	@$(PY) -m scripts.stack --migrate-only

contract: install ## regenerate docs/asyncapi.yaml and docs/schemas/ from the models
	@$(PY) -m shared.contracts.export docs

sandbox: install ## the QuickBooks Online emulator alone, on :8090
	@$(PY) -m sandbox --host 127.0.0.1 --port 8090

demo: install ## the whole journey, narrated (leaves the stack running until Ctrl-C)
	@$(PY) -m scripts.demo

bench: install ## the full benchmark (≈ 14 min); results under bench/results/full.*
	@$(PY) -m bench.pipeline_bench

bench-quick: install ## small versions of every benchmark scenario (≤ 3 min); results under bench/results/quick.*
	@$(PY) -m bench.pipeline_bench --quick

chaos: install ## faults and bad input against a broker, database and stack of its own (≤ 15 min); figures under bench/results/chaos.*
	@$(PY) -m bench.chaos

bench-sandbox: install ## the sandbox's own throughput
	@$(PY) bench/sandbox_bench.py

clean: ## remove caches and local run logs
	rm -rf .run .mypy_cache .ruff_cache .pytest_cache .hypothesis
