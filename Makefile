# Catalyst Preview — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
GOFLAGS ?=
PKGS := ./...

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build all binaries into bin/.
	$(GO) build -o bin/ ./cmd/...

.PHONY: test
test: ## Unit and end-to-end tests (real local control plane), with -race.
	$(GO) test -race -count=1 -timeout 60m $(PKGS)

.PHONY: unit
unit: ## Unit tests only (no local control plane), with -race.
	$(GO) test -race -count=1 -short $(PKGS)

.PHONY: lint
lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^e2e/tools/')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

.PHONY: update-golden
update-golden: ## Rewrite golden files from the current output.
	$(GO) test $(PKGS) -update
