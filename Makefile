# CanvasCast Compute. Two commands matter: `make demo` and `make test`.
# Every target installs what it needs first (idempotent, stamped), so a fresh
# Debian machine with no credentials gets there from a clean clone.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMPS := .canvascast/stamps
NODE_PKGS := packages/shared-types modal_functions/render/remotion apps/worker
APT_PKGS := chromium ffmpeg espeak-ng libespeak-ng1 sox fonts-dejavu-core fonts-wqy-microhei postgresql tesseract-ocr python3-venv ca-certificates curl

.PHONY: help install system python node test test-python test-worker demo serve types bench clean

help:
	@echo "make demo   render examples/explainer.json to an MP4 through worker -> compute plane -> storage"
	@echo "make test   install everything and run every test (Python, TypeScript, end-to-end)"
	@echo "make serve  run the in-house compute plane on 127.0.0.1:\$${COMPUTE_PORT:-8000}"
	@echo "make types  regenerate packages/shared-types from the pydantic contract"
	@echo "make bench  run every benchmark in bench/ (prints tables with ratios)"

install: system python node

# Debian packages: only touches apt when something is missing. Node.js comes from
# NodeSource (the worker needs >= 20; Debian bookworm ships 18), as in the Modal image.
system:
	@missing=""; \
	for bin in chromium ffmpeg ffprobe espeak-ng sox pg_ctlcluster tesseract curl; do command -v $$bin >/dev/null || missing=1; done; \
	python3 -c 'import ensurepip' 2>/dev/null || missing=1; \
	[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing=1; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $(APT_PKGS)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PKGS) >/dev/null; \
	fi; \
	if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null; then \
	  echo "installing Node.js 20 (NodeSource)"; \
	  curl -fsSL https://deb.nodesource.com/setup_20.x | bash - >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null; \
	fi

$(STAMPS):
	@mkdir -p $(STAMPS)

# torch first, and the CPU build: otherwise openai-whisper pulls PyPI's CUDA build (GBs).
# The +cpu wheel comes from pip's find-links where a machine has it (this one does), else
# from PyTorch's CPU index.
python: | $(STAMPS)
	@stamp=$(STAMPS)/python-$$(cat pyproject.toml | sha256sum | cut -c1-16); \
	if [ ! -f $$stamp ]; then \
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

types: python node
	$(VENV)/bin/canvascast types

serve: install
	$(VENV)/bin/canvascast serve

demo: install
	cd apps/worker && node --import tsx scripts/demo.ts

bench: install
	@for b in bench/*/run.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .canvascast
