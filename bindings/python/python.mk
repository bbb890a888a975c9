# Python binding (bindings/python), included by the top-level Makefile, which provides `lib`
# and LIBDIR. Targets:
#   test-python          pytest against $(LIBDIR)/libpeerwire.so (installs pytest if missing)
#   lint-python          ruff check + format check (installs ruff if missing)
#   demo-python-peer     the demo peer: dials $(PEER_ADDRS), greets, broadcasts, prints, exits
#   test-python-install  `pip install ./bindings/python` into a fresh venv and use it there

PYTHON ?= python3
PY_DIR := $(CURDIR)/bindings/python
PY_EXAMPLES := $(CURDIR)/examples/python
PY_ENV := PEERWIRE_LIBRARY=$(LIBDIR)/libpeerwire.so PYTHONPATH=$(PY_DIR) \
	PEERWIRE_C_PEER=$(or $(BUILD),$(CURDIR)/build)/demo/peer
PEER_ADDRS ?=
PY_DEMO_SECONDS ?= 3
PY_VENV ?= $(CURDIR)/target/python-install-venv

.PHONY: test-python lint-python demo-python-peer test-python-install

# This file is read before the top-level rules: keep `make` alone meaning `make all`.
ifeq ($(.DEFAULT_GOAL),)
.DEFAULT_GOAL := all
endif

EXTRA_TESTS += test-python
EXTRA_LINT += lint-python
DEMO_PEERS += demo-python-peer

# demo-c-bin: the C demo peer, the foreign peer of tests/test_foreign.py.
test-python: lib demo-c-bin
	@$(PYTHON) -c 'import pytest' 2>/dev/null || $(PYTHON) -m pip install -q 'pytest>=7'
	cd $(PY_DIR) && $(PY_ENV) $(PYTHON) -m pytest -q -p no:cacheprovider tests

lint-python:
	@$(PYTHON) -m ruff --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q ruff
	$(PYTHON) -m ruff check $(PY_DIR) $(PY_EXAMPLES)
	$(PYTHON) -m ruff format --check $(PY_DIR) $(PY_EXAMPLES)

demo-python-peer: lib
	PEER_ADDRS='$(PEER_ADDRS)' $(PY_ENV) $(PYTHON) $(PY_EXAMPLES)/peer.py --seconds $(PY_DEMO_SECONDS)

test-python-install: lib
	rm -rf $(PY_VENV)
	$(PYTHON) -m venv $(PY_VENV)
	$(PY_VENV)/bin/pip install -q $(PY_DIR)
	cd / && env -u PEERWIRE_LIBRARY -u PYTHONPATH $(PY_VENV)/bin/python -c 'import peerwire, os; \
	  p = peerwire.library_path(); assert p.startswith("$(PY_VENV)"), p; \
	  a = peerwire.Transport(); b = peerwire.Transport(); a.listen(); \
	  b.send(b.dial(a.addr, timeout=5), b"installed"); \
	  assert a.recv(timeout=5).payload == b"installed"; a.close(); b.close(); \
	  print("pip-installed peerwire", peerwire.library_version(), "works, library", p)'
