# gridpipe: `make up` runs the product locally, `make test` runs every test. Both set everything up first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
GRIDCTL := $(UV) run --frozen gridctl

.PHONY: setup up down status test lint unit integration dashboards rules images images-test kind-up kind-down

## setup: install uv if missing, the locked Python workspace, and every pinned service into the cache
setup:
	@$(UV) --version >/dev/null 2>&1 || { echo "installing uv from PyPI…"; python3 -m pip install --quiet uv; }
	$(UV) sync --frozen
	$(GRIDCTL) stack provision --with-k8s
	$(UV) run --frozen python -c "from gridpipe_jobs.functions_jar import functions_jar; print(functions_jar())"

## up: start Kafka, Apicurio, Flink and Prometheus, warm the new TaskManager and broker (gridctl warmup), then both
## example pipelines fed by generators
up: setup
	$(GRIDCTL) stack up
	$(GRIDCTL) schemas register
	$(GRIDCTL) warmup
	$(GRIDCTL) demo

down:
	$(GRIDCTL) stack down

status:
	$(GRIDCTL) stack status

## lint: ruff and mypy, as CI runs them; each package declares what it imports (deptry) and keeps to the package
## map of docs/architecture.md (import-linter)
PACKAGES := schemas jobs generator operator console dashboards stack/devstack stack/cli

lint:
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy .
	for package in $(PACKAGES); do (cd $$package && $(UV) run --frozen deptry src); done
	$(UV) run --frozen lint-imports

## test: everything CI runs, from a fresh clone (but the image smoke tests, which need built images: `make images-test`)
test: setup lint
	mvn -q -B -f jobs/java/pom.xml test
	$(UV) run --frozen pytest -m "not images"

unit:
	$(UV) run --frozen pytest -m unit

integration: setup
	$(UV) run --frozen pytest -m integration

## dashboards: regenerate the Grafana dashboards from dashboards/src (dashboards/grafana/*.json and the platform
## chart's copies in charts/gridpipe/files/dashboards/); a unit test fails while the committed ones differ
dashboards:
	$(UV) run --frozen python -m gridpipe_dashboards

## rules: copy the Prometheus rules (dashboards/rules/*.yml) into the platform chart (charts/gridpipe/files/rules/);
## a unit test fails while the copies differ
rules:
	$(UV) run --frozen python -m gridpipe_dashboards.rules

## images: build gridpipe/{operator,console,flink-job}:<version> without a Docker daemon (buildah, a base image
## bootstrapped from Debian with mmdebstrap once); docs/images.md. Not part of `test`: a cold build takes minutes.
images:
	@$(UV) --version >/dev/null 2>&1 || { echo "installing uv from PyPI…"; python3 -m pip install --quiet uv; }
	$(UV) sync --frozen
	$(GRIDCTL) images build

## images-test: run each built image's entrypoint for real (podman): operator /healthz, console page, Flink
images-test: images
	$(UV) run --frozen pytest -m images

## kind-up: for a machine with Docker or podman, kind, helm and skaffold (none of which this repository installs):
## a kind cluster, the Strimzi and Flink operators at pinned versions, then `skaffold dev` (docs/kubernetes.md)
STRIMZI_VERSION := 1.2.0
FLINK_OPERATOR_VERSION := 1.15.0
kind-up:
	@for tool in kind helm skaffold kubectl; do command -v $$tool >/dev/null || { echo "kind-up needs $$tool on PATH (docs/kubernetes.md, 'From an empty kind cluster')"; exit 1; }; done
	kind get clusters | grep -qx gridpipe || kind create cluster --config charts/kind/cluster.yaml --wait 5m
	kubectl create namespace gridpipe --dry-run=client -o yaml | kubectl apply -f -
	helm upgrade --install strimzi oci://quay.io/strimzi-helm/strimzi-kafka-operator --version $(STRIMZI_VERSION) \
	  -n strimzi --create-namespace --set 'watchNamespaces={gridpipe}' --wait --timeout 10m
	helm repo add flink-operator-$(FLINK_OPERATOR_VERSION) \
	  https://downloads.apache.org/flink/flink-kubernetes-operator-$(FLINK_OPERATOR_VERSION)/ --force-update
	helm upgrade --install flink-kubernetes-operator flink-operator-$(FLINK_OPERATOR_VERSION)/flink-kubernetes-operator \
	  -n flink --create-namespace --set 'watchNamespaces={gridpipe}' --set webhook.create=false --wait --timeout 10m
	skaffold dev -p kind --kube-context kind-gridpipe --port-forward

kind-down:
	kind delete cluster --name gridpipe
