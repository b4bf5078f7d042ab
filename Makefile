# Developer tasks for Fairway. Run `make` (or `make help`) to list them.

GO ?= go
# golangci-lint is run at a pinned version through `go run`, so nothing
# needs installing beforehand.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.DEFAULT_GOAL := help

.PHONY: help test test-short lint bench bench-worker fmt vet tidy

help: ## Show this list of targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

test: vet ## Vet, then run all tests with the race detector (needs redis-server for the full suite).
	$(GO) test -race -count=1 ./...

test-short: ## Run tests in -short mode, without the race detector.
	$(GO) test -short -count=1 ./...

lint: ## Run golangci-lint (pinned version) with .golangci.yaml, on both modules.
	$(GOLANGCI_LINT) run ./...
	cd bench && $(GOLANGCI_LINT) run --config ../.golangci.yaml ./...

bench: ## Run all benchmarks, no tests.
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-worker: ## End-to-end worker throughput, idle pickup latency and idle commands (bench/).
	cd bench && $(GO) run . -check

fmt: ## Format all Go files with gofmt -s.
	gofmt -s -w .

vet: ## Run go vet (also on the bench/ module).
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

tidy: ## Tidy go.mod and go.sum.
	$(GO) mod tidy
