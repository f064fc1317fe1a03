# kubeport: `make up` deploys the dev stack to minikube; `make test` checks everything offline.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev
MINIKUBE_PROFILE ?= minikube

# Pulumi's local file backend inside the repo: no account, no login. An exported PULUMI_BACKEND_URL wins.
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi
# Secrets in the state and the stack files are encrypted with a passphrase: yours when you export
# PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE, else the checkout's own, .kubeport/passphrase
# (random, 0600, outside git: keep a copy). Never an empty one: a real run refuses it (docs/security.md).
ifeq ($(origin PULUMI_CONFIG_PASSPHRASE)$(PULUMI_CONFIG_PASSPHRASE_FILE),undefined)
export PULUMI_CONFIG_PASSPHRASE_FILE := $(CURDIR)/.kubeport/passphrase
PASSPHRASE_FILE := $(PULUMI_CONFIG_PASSPHRASE_FILE)
endif
# pulumi-docker-build (not the Docker CLI) does the build; keep BuildKit's output plain in CI logs.
export BUILDKIT_PROGRESS ?= plain

.PHONY: help venv dev-venv test test-live test-kind lint typecheck unit render check bench app-serve site bench-app up up-minikube \
	down preview destroy stack passphrase preflight-pulumi preflight-minikube toolchain test-tools clusters clusters-down clean setup

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# checkov pins its dependencies differently from Pulumi, so it gets a virtualenv of its own.
.venv-checkov/bin/python:
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --upgrade pip

.venv-checkov/.installed: requirements-checkov.txt | .venv-checkov/bin/python
	.venv-checkov/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

venv: $(VENV)/.installed ## create the virtualenv with the program's requirements

dev-venv: $(VENV)/.installed-dev .venv-checkov/.installed ## ... plus the test, lint and scan tools

test: setup dev-venv test-tools lint typecheck unit ## Debian packages, cyclonus, actionlint, versitygw, local-kms when missing, lint, type check, the whole suite (offline)

lint: dev-venv ## ruff: lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: dev-venv ## mypy --strict over the program, components, stacks, tools and tests
	$(BIN)/mypy

unit: dev-venv ## the pytest suite, its files spread over TEST_WORKERS processes (default: one per core)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

render: venv ## offline preview: STACK's Kubernetes objects and plan.txt into out/STACK
	$(BIN)/python -m tools render $(STACK)

check: dev-venv ## every stack: render, strict schema validation, checkov, hadolint (offline)
	$(BIN)/python -m tools check

bench: venv ## program time under mocks vs its import floor; real preview/up/destroy vs kubectl (needs the toolchain)
	$(BIN)/python -m tools.bench

setup: ## install the Debian packages the tests and real runs need (apt-get, as root or through sudo)
	toolchain/install-packages

test-tools: ## build what the tests ask: cyclonus, actionlint, versitygw, local-kms (from their Go modules; cached, part of `make toolchain` too)
	toolchain/build-toolchain --only test-tools

toolchain: ## build the real-run tools from Go modules (Pulumi CLI, providers, control plane, kwok, cyclonus, actionlint); cached
	toolchain/build-toolchain

clusters: venv toolchain ## start the local control planes (kubeport-a, kubeport-b: kwok; kubeport-node, kubeport-node-b: real nodes)
	$(BIN)/python -m tools clusters up

clusters-down: venv ## stop the local control planes and remove their files
	$(BIN)/python -m tools clusters down

LIVE_WORKERS ?= 3
TEST_WORKERS ?= auto

test-live: dev-venv toolchain ## real runs: preview, up, drift, scale, migrate, move, destroy on the local clusters
	$(BIN)/python -m tools live --workers $(LIVE_WORKERS)

test-kind: $(VENV)/.installed-dev preflight-pulumi ## the kind stack with Docker: up, HTTP checks, no drift, destroy
	KUBEPORT_KIND=1 $(BIN)/python -m pytest -m kind tests/kind --capture=tee-sys

app-serve: ## serve app/ on http://127.0.0.1:8080 with the host's nginx and the image's own config
	app/serve-local --port 8080

site: dev-venv ## rebuild app/site from app/src: minified, fingerprinted, with .gz twins
	$(BIN)/python app/build_site.py

bench-app: ## the built site with the image config against stock nginx serving the sources: requests/s, first-load and revisit bytes
	$(PYTHON) app/bench.py

preflight-pulumi:
	@command -v pulumi >/dev/null 2>&1 || { \
	  echo "kubeport: the Pulumi CLI is not installed."; \
	  echo "  Install it (https://www.pulumi.com/docs/install/), e.g.: curl -fsSL https://get.pulumi.com | sh"; \
	  echo "  then open a new shell and run 'make $(MAKECMDGOALS)' again."; exit 1; }

preflight-minikube:
	@command -v minikube >/dev/null 2>&1 || { \
	  echo "kubeport: minikube is not installed."; \
	  echo "  Install it (https://minikube.sigs.k8s.io/docs/start/), run 'minikube start --cni=calico' (a CNI that enforces NetworkPolicies), then 'make up' again."; \
	  exit 1; }
	@minikube status --profile $(MINIKUBE_PROFILE) >/dev/null 2>&1 || { \
	  echo "kubeport: minikube profile '$(MINIKUBE_PROFILE)' is not running: run 'minikube start --profile $(MINIKUBE_PROFILE) --cni=calico'."; \
	  exit 1; }

passphrase: venv
ifdef PASSPHRASE_FILE
	@$(BIN)/python -c 'from tools.passphrase import ensure_file; ensure_file()'
endif

stack: venv preflight-pulumi passphrase
	@mkdir -p .pulumi
	pulumi stack select --create $(STACK)

# With minikube running: the dev stack, its image built inside minikube's Docker (the seed's
# `eval $(minikube docker-env)`), so nothing is pushed. Without it: the local stack on a node that runs
# containers, with the toolchain built from Go modules (python -m tools local-up).
up: venv ## deploy: to minikube when it runs, else to a local cluster with a real node (builds what it needs)
	@if command -v minikube >/dev/null 2>&1 && minikube status --profile $(MINIKUBE_PROFILE) >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory up-minikube; \
	else \
	  echo "kubeport: minikube is not running; deploying to the local cluster with a real node instead"; \
	  $(BIN)/python -m tools local-up; \
	fi

up-minikube: venv preflight-pulumi preflight-minikube stack ## deploy the dev stack to minikube (pulumi up)
	eval "$$(minikube --profile $(MINIKUBE_PROFILE) docker-env)" && pulumi up --stack $(STACK)

down: venv ## after a local `make up`: destroy the local stack and stop every local cluster
	$(BIN)/python -m tools local-down

# A preview writes no state: the engine's copy of it after every step is skipped (tools/ops/operations.py PREVIEW_ENV).
preview: venv preflight-pulumi stack ## show what `pulumi up` would change (STACK=dev by default)
	PULUMI_SKIP_CHECKPOINTS=true pulumi preview --diff --stack $(STACK)

destroy: venv preflight-pulumi passphrase ## delete the stack's resources (STACK=dev by default)
	pulumi destroy --stack $(STACK)

clean: ## remove the virtualenv and caches (keeps .pulumi state)
	rm -rf $(VENV) .venv-checkov .pytest_cache .mypy_cache .ruff_cache out
