# kube-identity-conformance: `make help` lists the targets.
#
# The Makefile builds the artefacts (host set-up, node image, probe image)
# before go test; the tests never build them.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Empty: the node image of every Kubernetes version the run's profiles use
# (PROFILE's alone when set), as `go run ./scripts/cluster versions` lists them.
KUBERNETES_VERSION ?=
# Empty: every profile the selected features need, side by side in one run.
PROFILE            ?=
# go test kills a binary after 10 minutes by default; a cold conformance run
# (cluster creation included) must not be cut short.
TIMEOUT            ?= 60m
# Extra suite flags, e.g. ARGS='--reuse-cluster --keep-cluster' or ARGS='--labels area=tokens'.
ARGS               ?=
# Extra go test flags, e.g. RUN='-run TestProjectedServiceAccountToken'.
RUN                ?=
ARTIFACTS          := $(CURDIR)/_artifacts

GO        ?= go
GOTESTSUM := $(GO) tool gotestsum

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-22s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Host set-up changes Docker only when confirmed: YES=1 (or CI=true). Without
# it the changes are listed and the program exits with status 3; it is built
# and run (not `go run`, which turns every failure into status 1) so that
# make passes that status on.
HOSTSETUP := $(CURDIR)/_build/bin/hostsetup
HOSTSETUP_YES := $(if $(filter 1,$(YES)),--yes)

.PHONY: host-setup
host-setup: ## Make sure a Docker engine runs and privileged containers work (idempotent); lists the changes unless YES=1 or CI=true.
	@mkdir -p $(dir $(HOSTSETUP))
	@$(GO) build -o $(HOSTSETUP) ./scripts/hostsetup
	$(HOSTSETUP) $(HOSTSETUP_YES)

.PHONY: host-restore
host-restore: ## Undo every change host-setup recorded (daemon.json from its backup, wrapper, the Docker it started, packages it installed); YES=1 to confirm.
	@mkdir -p $(dir $(HOSTSETUP))
	@$(GO) build -o $(HOSTSETUP) ./scripts/hostsetup
	$(HOSTSETUP) --restore $(HOSTSETUP_YES)

.PHONY: node-image
node-image: host-setup ## Build (or find), offline, the kind node images the profiles use (PROFILE's; KUBERNETES_VERSION=v1.x.y: that one).
	@versions="$(KUBERNETES_VERSION)"; \
	if [ -z "$$versions" ]; then versions=$$($(GO) run ./scripts/cluster versions $(if $(PROFILE),--profile $(PROFILE))) || exit 1; fi; \
	for v in $$versions; do echo "node-image: Kubernetes $$v"; $(GO) run ./scripts/nodeimage --kubernetes-version $$v || exit 1; done

.PHONY: probe-image
probe-image: ## Write the probe image archive (_build/images/probe.tar).
	$(GO) run ./scripts/probeimage

.PHONY: images
images: node-image probe-image ## Every image the suite needs.

.PHONY: cluster
cluster: images ## Create (or reuse) the PROFILE's kind cluster for use by hand (default profile "default"); prints its kubeconfig.
	$(GO) run ./scripts/cluster create --profile $(or $(PROFILE),default)

.PHONY: clean
clean: ## Remove every kind cluster the suite created (name prefix kic-) and their kubeconfigs.
	$(GO) run ./scripts/cluster clean

# The suite binary and the wrapper that runs it for gotestsum: scripts/suitetest
# makes sure an interrupt reaches the suite (and its teardown) however it is
# delivered; see its doc comment.
SUITE_BIN := $(CURDIR)/_build/bin
define suite-run
	$(GOTESTSUM) --format testname --junitfile $(ARTIFACTS)/junit.xml --jsonfile $(ARTIFACTS)/test.json \
	  --raw-command -- $(SUITE_BIN)/suitetest -dir tests -- $(SUITE_BIN)/tests.test -count=1 -timeout $(TIMEOUT) $(RUN)
endef

.PHONY: suite-binary
suite-binary:
	@mkdir -p $(SUITE_BIN)
	$(GO) build -o $(SUITE_BIN)/suitetest ./scripts/suitetest
	$(GO) test -c -o $(SUITE_BIN)/tests.test ./tests

# gotestsum shows only test results: the suite's progress lines go to
# _artifacts/progress.log, which is followed on the terminal while it runs.
define follow-progress
	@mkdir -p $(ARTIFACTS); : > $(ARTIFACTS)/progress.log
	@tail -n +1 -F $(ARTIFACTS)/progress.log 2>/dev/null & tailpid=$$!; trap 'kill $$tailpid 2>/dev/null' EXIT; \
	$(1); status=$$?; sleep 0.5; exit $$status
endef

.PHONY: conformance
conformance: images suite-binary ## Run the conformance suite: every profile's kind cluster it needs (PROFILE=NAME: only that one's features); JUnit in _artifacts/.
	$(call follow-progress,$(suite-run) -args --cluster=kind $(if $(PROFILE),--profile=$(PROFILE)) --artifacts-dir=$(ARTIFACTS) --progress-file=$(ARTIFACTS)/progress.log $(ARGS))

.PHONY: conformance-existing
conformance-existing: suite-binary ## Run the suite against an existing cluster: make conformance-existing KUBECONFIG_PATH=... ARGS=--probe-image=REF
	@test -n "$(KUBECONFIG_PATH)" || { echo "KUBECONFIG_PATH is required"; exit 2; }
	@mkdir -p $(ARTIFACTS)
	$(call follow-progress,$(suite-run) -args --kubeconfig=$(KUBECONFIG_PATH) --artifacts-dir=$(ARTIFACTS) --progress-file=$(ARTIFACTS)/progress.log $(ARGS))

.PHONY: unit
unit: ## The project's unit tests (no cluster, no Docker).
	$(GOTESTSUM) --format testname -- -count=1 -race $$($(GO) list ./... | grep -v '/tests$$')

.PHONY: check
check: ## gofmt, go vet and the checked-in cluster renderings.
	@files=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$files" ]; then echo "gofmt needed: $$files"; exit 1; fi
	$(GO) vet ./...

.PHONY: test
test: check unit conformance ## The project's own tests: checks, unit tests, and the suite on a live kind cluster.

.PHONY: bench
bench: host-setup ## Measure host set-up, node image (warm; COLD=1 also cold), cluster create/delete, node memory, the whole suite (wall time vs floor, peak memory of all nodes); writes _artifacts/bench.md.
	$(GO) run ./scripts/bench --kubernetes-version $(or $(KUBERNETES_VERSION),v1.37.2) --profile $(or $(PROFILE),default) $(if $(COLD),--cold)
