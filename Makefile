# CanvasCast Compute. Two commands matter: `make demo` and `make test`.
# Every target installs what it needs first (idempotent, stamped), so a fresh
# Debian machine with no credentials gets there from a clean clone.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMPS := .canvascast/stamps
NODE_PKGS := packages/shared-types modal_functions/render/remotion apps/worker
APT_PKGS := chromium ffmpeg espeak-ng libespeak-ng1 sox fonts-dejavu-core fonts-wqy-microhei fonts-noto-core fonts-noto-color-emoji postgresql tesseract-ocr python3-venv ca-certificates curl

.PHONY: help install system node-runtime python node test test-python test-worker demo serve types bench clean

help:
	@echo "make demo   render examples/explainer.json to an MP4 through worker -> compute plane -> storage"
	@echo "make test   install everything and run every test (Python, TypeScript, end-to-end)"
	@echo "make serve  run the in-house compute plane on 127.0.0.1:\$${COMPUTE_PORT:-8000}"
	@echo "make types  regenerate packages/shared-types from the pydantic contract"
	@echo "make bench  run every benchmark in bench/ (prints tables with ratios)"

install: system python node

# System installs (apt, /usr/local) need root: as root nothing is prefixed, else sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages: only touches apt when something is missing.
system:
	@missing=""; \
	for bin in chromium ffmpeg ffprobe espeak-ng sox pg_ctlcluster tesseract curl; do command -v $$bin >/dev/null || missing=1; done; \
	python3 -c 'import ensurepip' 2>/dev/null || missing=1; \
	[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing=1; \
	[ -f /usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf ] || missing=1; \
	[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing=1; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $(APT_PKGS)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PKGS) >/dev/null; \
	fi
	@$(MAKE) --no-print-directory node-runtime

# Node.js $(NODE_MAJOR), the major the Modal render image and the worker image run
# (modal_layer/image.py NODE_MAJOR, apps/worker/Dockerfile; Node 20 is end-of-life). From
# NodeSource as in the Modal image; where NodeSource cannot be reached, the same release's
# linux binary from the npm registry (package node-linux-<arch>, sha512 checked against the
# registry's record) into /usr/local/lib/nodejs-$(NODE_VERSION), linked from /usr/local/bin.
# If neither works an older node >= 20 is kept with a warning (the image tests then fail).
NODE_MAJOR := 24
NODE_VERSION := 24.21.0
NODE_HOME := /usr/local/lib/nodejs-$(NODE_VERSION)
node-runtime:
	@if node -e 'process.exit(process.versions.node.split(".")[0] === "$(NODE_MAJOR)" ? 0 : 1)' 2>/dev/null; then exit 0; fi; \
	echo "installing Node.js $(NODE_MAJOR) (have: $$(node --version 2>/dev/null || echo none))"; \
	if curl -fsSL --max-time 30 https://deb.nodesource.com/setup_$(NODE_MAJOR).x 2>/dev/null | $(SUDO) bash - >/dev/null 2>&1 && \
	   $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null 2>&1 && \
	   node -e 'process.exit(process.versions.node.split(".")[0] === "$(NODE_MAJOR)" ? 0 : 1)'; then exit 0; fi; \
	case "$$(uname -m)" in x86_64) arch=x64;; aarch64|arm64) arch=arm64;; *) arch=unknown;; esac; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	pkg=https://registry.npmjs.org/node-linux-$$arch; \
	if curl -fsSL --max-time 30 "$$pkg/$(NODE_VERSION)" -o "$$tmp/meta.json" && \
	   curl -fsSL --max-time 300 "$$pkg/-/node-linux-$$arch-$(NODE_VERSION).tgz" -o "$$tmp/node.tgz" && \
	   want=$$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dist"]["integrity"])' "$$tmp/meta.json") && \
	   [ "$$want" = "sha512-$$(openssl dgst -sha512 -binary "$$tmp/node.tgz" | base64 -w0)" ] && \
	   mkdir -p "$$tmp/x" && tar -xzf "$$tmp/node.tgz" -C "$$tmp/x" && "$$tmp/x/package/bin/node" --version >/dev/null; then \
	  $(SUDO) rm -rf $(NODE_HOME) && $(SUDO) mkdir -p $(NODE_HOME)/bin && $(SUDO) mv "$$tmp/x/package/bin/node" $(NODE_HOME)/bin/node && \
	  $(SUDO) ln -sf $(NODE_HOME)/bin/node /usr/local/bin/node && hash -r && \
	  if ! command -v npm >/dev/null; then \
	    curl -fsSL --max-time 120 https://registry.npmjs.org/npm/-/npm-11.21.2.tgz -o "$$tmp/npm.tgz" && \
	    $(SUDO) mkdir -p $(NODE_HOME)/lib/node_modules/npm && $(SUDO) tar -xzf "$$tmp/npm.tgz" -C $(NODE_HOME)/lib/node_modules/npm --strip-components=1 && \
	    $(SUDO) ln -sf $(NODE_HOME)/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && \
	    $(SUDO) ln -sf $(NODE_HOME)/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx; \
	  fi; \
	  echo "Node.js $$(/usr/local/bin/node --version) in $(NODE_HOME) (npm registry, node-linux-$$arch)"; \
	elif node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null; then \
	  echo "warning: could not install Node.js $(NODE_MAJOR); keeping $$(node --version)" >&2; \
	else \
	  echo "error: no Node.js >= 20 and none could be installed" >&2; exit 1; \
	fi

$(STAMPS):
	@mkdir -p $(STAMPS)

# torch first, and the CPU build: otherwise openai-whisper pulls PyPI's CUDA build (GBs).
# The +cpu wheel comes from pip's find-links where a machine has it (this one does), else
# from PyTorch's CPU index. A stamp without its venv (`rm -rf .venv`) reinstalls too.
python: | $(STAMPS)
	@stamp=$(STAMPS)/python-$$(cat pyproject.toml | sha256sum | cut -c1-16); \
	if [ ! -f $$stamp ] || [ ! -x $(PY) ]; then \
	  [ -x $(PY) ] || python3 -m venv $(VENV); \
	  $(PY) -m pip install -q --upgrade pip 2>&1 | grep -v WARNING || true; \
	  $(PY) -m pip install -q "torch==2.13.0+cpu" 2>/dev/null || \
	    $(PY) -m pip install -q "torch==2.13.0+cpu" --index-url https://download.pytorch.org/whl/cpu 2>&1 | grep -v WARNING || true; \
	  $(PY) -m pip install -q -e ".[dev,openai]" 2>&1 | grep -v -e WARNING -e '^ *!!' || true; \
	  $(PY) -c "import modal_functions, torch, whisper, faster_whisper" && touch $$stamp; \
	fi

# `npm install` from the committed lock, not `npm ci`: the registry here lacks the other
# platforms' optional @remotion/compositor-* packages, which `npm ci` insists on resolving.
node: | $(STAMPS)
	@for d in $(NODE_PKGS); do \
	  [ -f $$d/package-lock.json ] || continue; \
	  stamp=$(STAMPS)/npm-$$(echo $$d | tr / _)-$$(cat $$d/package-lock.json | sha256sum | cut -c1-16); \
	  if [ ! -f $$stamp ] || [ ! -d $$d/node_modules ]; then \
	    (cd $$d && npm install --no-audit --no-fund --loglevel=error) && touch $$stamp || exit 1; \
	  fi; \
	done

test: install
	@$(MAKE) --no-print-directory test-python
	@$(MAKE) --no-print-directory test-worker

test-python:
	$(PY) -m pytest -q -p no:cacheprovider tests

test-worker:
	@if [ -f apps/worker/package.json ]; then cd apps/worker && npm test --silent; fi

# install, not just `python node`: on a fresh machine those need python3-venv and npm first.
types: install
	$(VENV)/bin/canvascast types

serve: install
	$(VENV)/bin/canvascast serve

demo: install
	cd apps/worker && node --import tsx scripts/demo.ts

bench: install
	@for b in bench/*/run.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .canvascast
