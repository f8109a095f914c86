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
test: ## Unit and end-to-end tests (real local control plane; built on first use), with -race.
	$(GO) test -race -count=1 -timeout 60m $(PKGS)

.PHONY: unit
unit: ## Unit tests only (no local control plane), with -race.
	$(GO) test -race -count=1 -short $(PKGS)

.PHONY: e2e-tools
e2e-tools: ## Build the local control plane (etcd, kube-*, KWOK, Tekton) into e2e/.cache/bin only.
	$(GO) run ./e2e/cmd/buildstack

.PHONY: e2e
e2e: e2e-tools ## End-to-end tests against the local control plane (built first, with visible progress), with -race.
	$(GO) test -race -count=1 -timeout 60m ./e2e/...

.PHONY: lint
lint: ## gofmt, go vet, and no tracked file over 5 MB (build outputs do not belong in git).
	@big=$$(git ls-files -z | xargs -0 stat -c '%s %n' 2>/dev/null | awk '$$1 > 5242880 {print $$2}'); if [ -n "$$big" ]; then echo "tracked files over 5 MB (build outputs?):"; echo "$$big"; exit 1; fi
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^e2e/tools/')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

.PHONY: update-golden
update-golden: ## Rewrite golden files from the current output.
	$(GO) test -short -count=1 $$(grep -rl --include='*_test.go' 'gotest.tools/v3/golden' . | xargs -n1 dirname | sort -u) -update

.PHONY: run
run: ## The embedded default: local cluster + simulated GitHub + trigger + reporter, one simulated PR.
	$(GO) run ./e2e/cmd/demo

.PHONY: bench
bench: ## Go benchmarks, then the end-to-end bench at 1, 10 and 50 PRs (results under bench/results/).
	$(GO) test -short -run XXX -bench . -benchmem ./trigger/... ./reporter/
	$(GO) run ./e2e/cmd/bench
