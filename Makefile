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
# Empty: every cluster on its profile's node image. A node image reference
# (present on the Docker host) runs every cluster on it: --node-image.
NODE_IMAGE         ?=
# A Kubernetes source tree: make node-image builds the node image from it
# and writes its reference to NODE_IMAGE_TAG_FILE.
KUBERNETES_SOURCE  ?=
NODE_IMAGE_TAG_FILE ?= $(CURDIR)/_build/images/source-node-image
# make compare / make repro: the go test -run pattern, and the two sides of a
# comparison (a Kubernetes version vX.Y.Z, a node image reference, or a
# Kubernetes source tree).
TEST               ?=
A                  ?=
B                  ?=
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

# The tag the node-image target gives a Kubernetes version's image
# (clusters.NodeRepository:<version>).
NODE_REPOSITORY := kic.local/node

.PHONY: node-image
node-image: host-setup ## Build (or find), offline, the kind node images the profiles use (PROFILE's; KUBERNETES_VERSION=v1.x.y: that one; KUBERNETES_SOURCE=DIR: from that Kubernetes source tree, reference in _build/images/source-node-image).
ifneq ($(KUBERNETES_SOURCE),)
	@test -d '$(KUBERNETES_SOURCE)' || { echo "node-image: KUBERNETES_SOURCE=$(KUBERNETES_SOURCE) is not a directory (a Kubernetes source tree)"; exit 2; }
	@mkdir -p '$(dir $(NODE_IMAGE_TAG_FILE))' && rm -f '$(NODE_IMAGE_TAG_FILE)'
	$(GO) run ./scripts/nodeimage --kubernetes-source '$(KUBERNETES_SOURCE)' $(if $(KUBERNETES_VERSION),--kubernetes-version $(KUBERNETES_VERSION)) --tag-file '$(NODE_IMAGE_TAG_FILE)'
	@ref=$$(cat '$(NODE_IMAGE_TAG_FILE)' 2>/dev/null); test -n "$$ref" || { echo "node-image: scripts/nodeimage wrote no image reference to $(NODE_IMAGE_TAG_FILE)"; exit 1; }; \
	echo "node-image: $$ref (from $(KUBERNETES_SOURCE)); run the suite on it: make conformance NODE_IMAGE=$$ref"
else
	@versions="$(KUBERNETES_VERSION)"; \
	if [ -z "$$versions" ]; then versions=$$($(GO) run ./scripts/cluster versions $(if $(PROFILE),--profile $(PROFILE))) || exit 1; fi; \
	for v in $$versions; do echo "node-image: Kubernetes $$v"; $(GO) run ./scripts/nodeimage --kubernetes-version $$v || exit 1; done
endif

.PHONY: probe-image
probe-image: ## Write the probe image archive (_build/images/probe.tar).
	$(GO) run ./scripts/probeimage

.PHONY: suite-image
suite-image: ## Write the suite image archive (_build/images/suite.tar, kic.local/suite:dev): the compiled suite, run in-cluster by the Sonobuoy plugin or Job in scripts/incluster.
	$(GO) run ./scripts/suiteimage

# make push-probe: the probe image archive pushed to a registry that an
# existing cluster pulls from, without Docker (scripts/pushprobe); the
# credentials are those of ~/.docker/config.json (of the user running make).
# REGISTRY=host[:port]/path is required; the image goes to
# $(REGISTRY)/kic-probe:$(PROBE_TAG). INSECURE=1: a plain-HTTP registry.
PROBE_TAG ?= dev

.PHONY: push-probe
push-probe: probe-image ## Push the probe image to REGISTRY/kic-probe:PROBE_TAG (no Docker; ~/.docker/config.json credentials) and print its --probe-image flag: make push-probe REGISTRY=host[:port]/path [PROBE_TAG=dev] [INSECURE=1].
	@test -n "$(REGISTRY)" || { echo "push-probe: REGISTRY is required, e.g. make push-probe REGISTRY=registry.example.com:5000/team (pushes registry.example.com:5000/team/kic-probe:$(PROBE_TAG))"; exit 2; }
	$(GO) run ./scripts/pushprobe --registry '$(REGISTRY)' --tag '$(PROBE_TAG)' $(if $(filter 1,$(INSECURE)),--insecure)

.PHONY: images
images: node-image probe-image ## Every image the suite needs.

.PHONY: cluster
cluster: images ## Create (or reuse) the PROFILE's kind cluster for use by hand (default profile "default"); prints its kubeconfig.
	$(GO) run ./scripts/cluster create --profile $(or $(PROFILE),default)

.PHONY: clean
clean: ## Remove every kind cluster the suite created (name prefix kic-) and their kubeconfigs.
	$(GO) run ./scripts/cluster clean

# An existing cluster keeps what an interrupted run made (its namespaces,
# ClusterRoles, ClusterRoleBindings, ClusterTrustBundles): clean-existing
# removes every object labelled kube-identity-conformance.io/suite=true, of
# any run, so also those of a run still going on there. DRY_RUN=1 lists them.
.PHONY: clean-existing
clean-existing: ## Remove the leftovers of interrupted runs (suite-labelled namespaces and cluster-scoped objects, any run) from an existing cluster: make clean-existing KUBECONFIG_PATH=... [CONTEXT=] [DRY_RUN=1].
	@test -n "$(KUBECONFIG_PATH)" || { echo "clean-existing: KUBECONFIG_PATH is required, e.g. make clean-existing KUBECONFIG_PATH=\$$HOME/.kube/config [CONTEXT=my-context] [DRY_RUN=1]"; exit 2; }
	$(GO) run ./scripts/cluster clean-existing --kubeconfig '$(KUBECONFIG_PATH)' $(if $(CONTEXT),--context '$(CONTEXT)') $(if $(filter 1,$(DRY_RUN)),--dry-run)

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

# With NODE_IMAGE the profiles' own node images are not needed (not built).
.PHONY: conformance
conformance: $(if $(NODE_IMAGE),host-setup probe-image,images) suite-binary ## Run the conformance suite: every profile's kind cluster it needs (PROFILE=NAME: only that one's features; NODE_IMAGE=REF: every cluster on that node image); JUnit in _artifacts/.
	$(call follow-progress,$(kind-run))

# conformance-run is conformance without building anything first (the
# images and binaries are there): scripts/matrix runs several at once.
.PHONY: conformance-run
conformance-run:
	@mkdir -p $(ARTIFACTS)
	$(kind-run) > $(ARTIFACTS)/make.log 2>&1

define kind-run
$(suite-run) -args --cluster=kind $(if $(PROFILE),--profile=$(PROFILE)) $(if $(NODE_IMAGE),--node-image=$(NODE_IMAGE)) --artifacts-dir=$(ARTIFACTS) --progress-file=$(ARTIFACTS)/progress.log $(ARGS)
endef

# make matrix: the default profile's features on the latest patch of every
# supported minor (clusters.MatrixVersions; VERSIONS=... for fewer), one run
# per version side by side (clusters created one at a time), and one report
# across them in _artifacts/matrix/ (report.md, report.html).
# matrix-check (part of make test): the matrix on one release below 1.36
# (kubeadm v1beta3, the v1beta1 trust-bundle and pod-certificate APIs with
# the older request form), so that CI covers a second version for every
# area of the default profile, and make matrix and its report run.
MATRIX_CHECK_VERSIONS := v1.35.4

.PHONY: matrix-check
matrix-check: ## make matrix on v1.35.4 only, then its report rendered in chromium (part of make test).
	@status=0; \
	$(MAKE) --no-print-directory matrix VERSIONS="$(MATRIX_CHECK_VERSIONS)" || status=1; \
	$(MAKE) --no-print-directory report-check REPORT_HTML=$(ARTIFACTS)/matrix/report.html || status=1; \
	exit $$status

.PHONY: matrix
matrix: host-setup probe-image suite-binary ## Run the default profile's features on Kubernetes 1.34-1.37 and write one report across the versions: _artifacts/matrix/report.{md,html} [VERSIONS="v1.37.2 v1.35.4"].
	$(GO) run ./scripts/matrix --artifacts $(ARTIFACTS)/matrix $(if $(VERSIONS),--versions "$(VERSIONS)")

.PHONY: conformance-existing
conformance-existing: suite-binary ## Run the suite against an existing cluster: make conformance-existing KUBECONFIG_PATH=... ARGS=--probe-image=REF
	@test -n "$(KUBECONFIG_PATH)" || { echo "KUBECONFIG_PATH is required"; exit 2; }
	@mkdir -p $(ARTIFACTS)
	$(call follow-progress,$(suite-run) -args --kubeconfig=$(KUBECONFIG_PATH) $(if $(NODE_IMAGE),--node-image=$(NODE_IMAGE)) --artifacts-dir=$(ARTIFACTS) --progress-file=$(ARTIFACTS)/progress.log $(ARGS))

# make incluster-check: the suite image as a Job in an existing cluster,
# under rbac.yaml's ServiceAccount, and its results checked
# (scripts/incluster). The images must be on the cluster's nodes
# (imagePullPolicy IfNotPresent): for kind, load _build/images/suite.tar and
# _build/images/probe.tar onto them first (scripts/cluster create --load, as
# existing-check does; a rebuilt image must be loaded again). INCLUSTER_ARGS, e.g. --run TestProbe --timeout 30m --keep.
INCLUSTER_ARGS ?=

.PHONY: incluster-check
incluster-check: suite-image probe-image ## Run the suite image as a Job in an existing cluster and check its results: make incluster-check KUBECONFIG_PATH=... [INCLUSTER_ARGS='--run TestProbe'] (images loaded onto the nodes beforehand).
	@test -n "$(KUBECONFIG_PATH)" || { echo "incluster-check: KUBECONFIG_PATH is required, e.g. make incluster-check KUBECONFIG_PATH=_build/clusters/kic-default.kubeconfig"; exit 2; }
	$(GO) run ./scripts/incluster check --kubeconfig '$(KUBECONFIG_PATH)' $(if $(CONTEXT),--context '$(CONTEXT)') --artifacts $(ARTIFACTS)/incluster $(INCLUSTER_ARGS)

# make existing-check (part of make test): the existing-cluster mode on a
# cluster the suite did not make. scripts/cluster creates a kind cluster of
# profile existing-v1.35 (Kubernetes 1.35 with the v1beta1 trust-bundle API,
# an issuer of its own, the PodCertificateRequest gate off) and loads the
# probe and suite images; the suite then runs against its kubeconfig, once
# plainly and once with --require=podCertificates, the suite image runs on
# it as a Job (incluster-check), and scripts/existingcheck checks the runs:
# the header's detection, every pod-certificate feature skipped naming the
# missing API (failed under --require), the disruptive ones skipped, the
# trust-bundle ones passed. The features that wait minutes on the kubelet
# are left out: the kind runs cover them.
EXISTING_PROFILE := existing-v1.35
EXISTING_DIR     := $(ARTIFACTS)/existing
EXISTING_RUN     := TestClusterTrustBundles|TestPodCertificates|TestServiceAccountTokens|TestServiceAccountIssuers|TestServiceAccounts
EXISTING_SKIP    := TestClusterTrustBundles/updates|TestServiceAccountTokens/a_600_s_token|TestPodCertificates/the_kubelet_refreshes

.PHONY: existing-check
existing-check: host-setup probe-image suite-image suite-binary ## Test the existing-cluster mode on a cluster made outside the suite (profile existing-v1.35), also in-cluster as a Job, and check detection and skips (part of make test).
	$(MAKE) --no-print-directory node-image PROFILE=$(EXISTING_PROFILE)
	@mkdir -p $(EXISTING_DIR)
	$(GO) run ./scripts/cluster create --profile $(EXISTING_PROFILE) --load _build/images/suite.tar --kubeconfig-out $(EXISTING_DIR)/kubeconfig-path
	@status=0; kc=$$(cat $(EXISTING_DIR)/kubeconfig-path); \
	$(MAKE) --no-print-directory conformance-existing KUBECONFIG_PATH=$$kc ARTIFACTS=$(EXISTING_DIR)/run RUN="-run '$(EXISTING_RUN)' -skip '$(EXISTING_SKIP)'" ARGS=--probe-image=kic.local/probe:dev || status=1; \
	echo "existing-check: the run with --require=podCertificates is expected to fail its pod-certificate features"; \
	$(MAKE) --no-print-directory conformance-existing KUBECONFIG_PATH=$$kc ARTIFACTS=$(EXISTING_DIR)/require RUN="-run 'TestPodCertificates'" ARGS="--probe-image=kic.local/probe:dev --require=podCertificates" || true; \
	$(MAKE) --no-print-directory incluster-check KUBECONFIG_PATH=$$kc ARTIFACTS=$(EXISTING_DIR) INCLUSTER_ARGS="--run 'TestServiceAccounts|TestProbe'" || status=1; \
	$(GO) run ./scripts/existingcheck --profile $(EXISTING_PROFILE) --run $(EXISTING_DIR)/run --require-run $(EXISTING_DIR)/require || status=1; \
	$(GO) run ./scripts/cluster delete --profile $(EXISTING_PROFILE) || status=1; \
	exit $$status

# make compare and make repro run the suite through the conformance target
# (one way of running it), each run into an artifacts directory of its own,
# and read the results with scripts/compare (built, not `go run`, so that its
# exit status 2 for bad input reaches make).
COMPARE_BIN := $(CURDIR)/_build/bin/compare
COMPARE_DIR := $(ARTIFACTS)/compare
REPRO_DIR   := $(ARTIFACTS)/repro

.PHONY: compare-binary
compare-binary:
	@mkdir -p $(dir $(COMPARE_BIN))
	$(GO) build -o $(COMPARE_BIN) ./scripts/compare

# Each side becomes a node image: a version vX.Y.Z the node-image target's
# kic.local/node:vX.Y.Z, a directory the image built from that Kubernetes
# source tree, anything else a node image reference used as it is. Both are
# made before either run; a failing run stops neither the other nor the
# comparison.
.PHONY: compare
compare: compare-binary ## Run TEST on two node images and list the assessments whose results differ: make compare A=v1.37.2|REF|DIR B=REF|DIR TEST=PATTERN [PROFILE=] (DIR: a Kubernetes source tree); _artifacts/compare/compare.md.
	@test -n "$(A)" && test -n "$(B)" && test -n "$(TEST)" || { echo "compare: A, B and TEST are required, e.g. make compare A=v1.37.2 B=\$$HOME/src/kubernetes TEST=TestClusterTrustBundles (A, B: a Kubernetes version vX.Y.Z, a node image reference, or a Kubernetes source tree)"; exit 2; }
	@set -e; mkdir -p $(COMPARE_DIR); \
	for side in a b; do \
	  if [ $$side = a ]; then v='$(A)'; else v='$(B)'; fi; \
	  if [ -d "$$v" ]; then \
	    $(MAKE) --no-print-directory node-image KUBERNETES_SOURCE="$$v" NODE_IMAGE_TAG_FILE=$(COMPARE_DIR)/$$side.node-image; \
	    ref=$$(cat $(COMPARE_DIR)/$$side.node-image); \
	  elif echo "$$v" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+$$'; then \
	    $(MAKE) --no-print-directory node-image KUBERNETES_VERSION="$$v" KUBERNETES_SOURCE=; \
	    ref=$(NODE_REPOSITORY):$$v; \
	  else \
	    ref="$$v"; \
	  fi; \
	  echo "$$ref" > $(COMPARE_DIR)/$$side.node-image; \
	  echo "compare: $$(echo $$side | tr ab AB) = $$v: node image $$ref"; \
	done
	@for side in a b; do \
	  rm -rf $(COMPARE_DIR)/$$side; ref=$$(cat $(COMPARE_DIR)/$$side.node-image); \
	  echo "compare: run $$(echo $$side | tr ab AB) on $$ref into $(COMPARE_DIR)/$$side"; \
	  $(MAKE) --no-print-directory conformance ARTIFACTS=$(COMPARE_DIR)/$$side NODE_IMAGE="$$ref" RUN="-run '$(TEST)'" \
	    || echo "compare: run $$(echo $$side | tr ab AB) failed (status $$?); comparing what it wrote"; \
	done
	$(COMPARE_BIN) --a $(COMPARE_DIR)/a --b $(COMPARE_DIR)/b --label-a '$(A)' --label-b '$(B)' --out $(COMPARE_DIR)/compare.md

# The cluster is kept (--keep-cluster) and reused when it still runs
# (--reuse-cluster); its node logs are exported even when the test passes
# (a reproduced known defect passes).
.PHONY: repro
repro: compare-binary ## Run TEST alone on a kept cluster, then print its failures, the command to re-run it there, the kubeconfig and node logs: make repro TEST=PATTERN [KUBERNETES_SOURCE=DIR] [PROFILE=]; _artifacts/repro/.
	@test -n "$(TEST)" || { echo "repro: TEST is required (a go test -run pattern), e.g. make repro TEST='TestClusterTrustBundles/.*labelSelector'"; exit 2; }
	@set -e; ref='$(NODE_IMAGE)'; \
	if [ -n '$(KUBERNETES_SOURCE)' ]; then \
	  $(MAKE) --no-print-directory node-image KUBERNETES_SOURCE='$(KUBERNETES_SOURCE)'; \
	  ref=$$(cat '$(NODE_IMAGE_TAG_FILE)'); \
	fi; \
	rm -rf $(REPRO_DIR); status=0; \
	$(MAKE) --no-print-directory conformance ARTIFACTS=$(REPRO_DIR) NODE_IMAGE="$$ref" RUN="-run '$(TEST)'" \
	  ARGS="--keep-cluster --reuse-cluster --export-node-logs $(ARGS)" || status=$$?; \
	echo; \
	$(COMPARE_BIN) repro-report --artifacts $(REPRO_DIR) --run '$(TEST)' --binary $(SUITE_BIN)/tests.test --dir $(CURDIR)/tests \
	  --timeout $(TIMEOUT) $${ref:+--node-image "$$ref"} $(if $(PROFILE),--profile $(PROFILE)) -- $(ARGS); \
	exit $$status

.PHONY: unit
unit: ## The project's unit tests (no cluster, no Docker).
	$(GOTESTSUM) --format testname -- -count=1 -race $$($(GO) list ./... | grep -v '/tests$$')

.PHONY: check
check: ## gofmt, go vet, actionlint on .github/workflows, and the checked-in cluster renderings.
	@files=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$files" ]; then echo "gofmt needed: $$files"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool actionlint

# The source-build path, so that it cannot rot: the published release
# unpacked as a source tree (unchanged), built into a node image through
# --kubernetes-source, and one feature run on it. The feature is the
# nil-selector trust-bundle check: on an unchanged tree its known defect is
# reproduced, as on the published image. A node whose images were not
# imported fails to start its kubelet, so the cluster itself checks the import.
SOURCE_CHECK_VERSION := v1.37.2
SOURCE_CHECK_TREE    := $(CURDIR)/_build/src/kubernetes-$(SOURCE_CHECK_VERSION)
SOURCE_CHECK_TEST    := TestClusterTrustBundles/no_labelSelector

.PHONY: source-check
source-check: host-setup ## Build the node image from the published release unpacked as a source tree and run one feature on it (part of make test).
	@test -f $(SOURCE_CHECK_TREE)/.kic-source || { rm -rf $(SOURCE_CHECK_TREE) && $(GO) run ./scripts/nodeimage unpack --kubernetes-version $(SOURCE_CHECK_VERSION) --dir $(SOURCE_CHECK_TREE); }
	$(MAKE) --no-print-directory node-image KUBERNETES_SOURCE=$(SOURCE_CHECK_TREE) KUBERNETES_VERSION= NODE_IMAGE_TAG_FILE=$(ARTIFACTS)/source-check.node-image
	$(MAKE) --no-print-directory conformance ARTIFACTS=$(ARTIFACTS)/source-check NODE_IMAGE=$$(cat $(ARTIFACTS)/source-check.node-image) RUN="-run '$(SOURCE_CHECK_TEST)'" ARGS=

.PHONY: test
test: check unit report-check conformance source-check existing-check matrix-check ## The project's own tests: checks, unit tests, the report rendered in chromium, the suite on live kind clusters, the source-build path, the existing-cluster and in-cluster modes on a cluster made outside the suite, and the matrix on v1.35.4.

.PHONY: bench
bench: host-setup ## Measure host set-up, node image (warm; COLD=1 also cold), cluster create/delete, node memory, the whole suite (wall time vs floor, peak memory of all nodes), the node image rebuilt from a Kubernetes tree (ONLY=source: just that); writes _artifacts/bench.md.
	$(GO) run ./scripts/bench --kubernetes-version $(or $(KUBERNETES_VERSION),v1.37.2) --profile $(or $(PROFILE),default) $(if $(COLD),--cold) $(if $(ONLY),--only $(ONLY))

# The conformance report of a run (scripts/report): report.md and one
# self-contained report.html in the run's artifacts directory. Several runs
# (ARTIFACTS_DIR="dirA dirB", for example one per Kubernetes version) make
# one report in REPORT_DIR, which is then required.
ARTIFACTS_DIR ?= $(ARTIFACTS)
REPORT_DIR    ?=

.PHONY: report
report: ## Write report.md and report.html of a run, or of several in one: make report ARTIFACTS_DIR=_artifacts/... | make report ARTIFACTS_DIR="dirA dirB" REPORT_DIR=out
	$(GO) run ./scripts/report $(foreach d,$(ARTIFACTS_DIR),--artifacts $(d)) $(if $(REPORT_DIR),--out $(REPORT_DIR))

# report-check: a synthetic report, and REPORT_HTML (a run's report.html)
# when given, rendered in headless chromium. The unit run skips the render
# where chromium is missing; here chromium is installed, and its absence
# fails the check.
REPORT_HTML ?=

.PHONY: report-check
report-check: ## Render a synthetic report (and REPORT_HTML=PATH, a run's) in headless chromium, installing Debian's chromium when missing, and check the DOM and the screenshot (part of make test).
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	KIC_REQUIRE_CHROMIUM=1 KIC_REPORT_HTML=$(if $(REPORT_HTML),$(abspath $(REPORT_HTML))) $(GO) test -count=1 -v -run 'TestChromium' ./scripts/report
