# Developer tasks for Fairway. Run `make` (or `make help`) to list them.

GO ?= go
# golangci-lint is run at a pinned version through `go run`, so nothing
# needs installing beforehand.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.DEFAULT_GOAL := help

.PHONY: help test test-short lint bench bench-worker bench-partitions bench-compare bench-limits fmt vet tidy

help: ## Show this list of targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

test: vet ## Vet, then run all tests with the race detector (needs redis-server for the full suite).
	$(GO) test -race -count=1 -timeout 20m ./...

test-short: ## Run tests in -short mode, without the race detector.
	$(GO) test -short -count=1 ./...

lint: ## Run golangci-lint (pinned version) with .golangci.yaml, on both modules.
	$(GOLANGCI_LINT) run ./...
	cd bench && $(GOLANGCI_LINT) run --config ../.golangci.yaml ./...

bench: ## Run all benchmarks, no tests.
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-worker: ## End-to-end worker throughput, idle pickup latency and idle commands (bench/).
	cd bench && $(GO) run . -check

bench-partitions: ## One queue of 1 and of 3 partitions on a 3-master Redis Cluster, end to end (internal/partbench).
	$(GO) run ./internal/partbench

bench-compare: ## Fairway against asynq, River, BullMQ and a Lua ceiling, same server, same run (bench/); writes bench/results/latest.md.
	cd bench && $(GO) run . -compare -out results/latest.md

bench-limits: ## The limit layers' exactness: queue and facet rates and a global cap, 5 worker processes for 60s, one SIGKILLed (internal/limitbench).
	$(GO) run ./internal/limitbench/cmd/limitbench

fmt: ## Format all Go files with gofmt -s.
	gofmt -s -w .

vet: ## Run go vet (also on the bench/ module).
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

tidy: ## Tidy go.mod and go.sum.
	$(GO) mod tidy

# Chaos and fuzzing (see docs/reliability.md).
.PHONY: chaos chaos-short fuzz-short

# FUZZTIME is how long fuzz-short runs each fuzz target.
FUZZTIME ?= 5s
# FUZZ_PACKAGES are searched for fuzz targets by fuzz-short.
FUZZ_PACKAGES ?= ./broker ./worker

chaos: ## Chaos test: kill workers and redis-server under load, check nothing is lost (a few minutes).
	$(GO) run ./internal/chaos/cmd/chaos

chaos-short: ## The chaos test's short run, as CI makes it (under a minute).
	$(GO) run ./internal/chaos/cmd/chaos -short

# A target is run again once when Go's fuzzer, not the target, failed: on a
# loaded machine it can report its own deadline ("context deadline
# exceeded") as an error when -fuzztime runs out. A real failure writes its
# input to testdata/fuzz and fails at once.
fuzz-short: ## Run every fuzz target of FUZZ_PACKAGES for FUZZTIME (5s) each.
	@set -e; out=$$(mktemp); trap 'rm -f $$out' EXIT; \
	for pkg in $(FUZZ_PACKAGES); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			cmd="$(GO) test -run ^$$ -fuzz ^$$target$$ -fuzztime $(FUZZTIME) $$pkg"; \
			echo "$$cmd"; \
			if ! $$cmd >$$out 2>&1; then \
				grep -v '^fuzz: elapsed' $$out; \
				if ! grep -q 'context deadline exceeded' $$out || grep -q 'Failing input written' $$out; then exit 1; fi; \
				echo "the fuzzer stopped on its own deadline; running $$target again"; \
				$$cmd >$$out 2>&1 || { cat $$out; exit 1; }; \
			fi; \
			grep -v '^fuzz: elapsed' $$out; \
		done; \
	done
