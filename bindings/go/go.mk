# Go binding (bindings/go) and its examples (examples/go), included by the top-level
# Makefile, which provides `lib`, LIBDIR and INCDIR. Targets:
#   test-go        lint-go, then `go test -race` and `go test` with GODEBUG=cgocheck=1 (the
#                  binding), and the examples built and the origin-style example run
#   lint-go        gofmt -l (must print nothing) and go vet, binding and examples
#   demo-go-peer   the demo peer (added to DEMO_PEERS for `make demo`): speaks the demo
#                  handshake, dials $(PEER_ADDRS), greets, broadcasts, prints for
#                  $(GO_DEMO_SECONDS) s, exits
# The binding links against $(LIBDIR) through ${SRCDIR}-relative cgo flags; no environment
# variables are needed.

GO ?= go
GO_DIR := $(CURDIR)/bindings/go
GO_EXAMPLES := $(CURDIR)/examples/go
GO_BIN := $(CURDIR)/build/go
GO_TEST_TIMEOUT ?= 600s
GO_DEMO_SECONDS ?= 5
PEER_ADDRS ?=

.PHONY: test-go lint-go demo-go-peer go-toolcheck

# This file is read before the top-level rules: keep `make` alone meaning `make all`.
ifeq ($(.DEFAULT_GOAL),)
.DEFAULT_GOAL := all
endif

EXTRA_TESTS += test-go
EXTRA_LINT += lint-go
DEMO_PEERS += demo-go-peer

go-toolcheck:
	@command -v $(GO) >/dev/null 2>&1 || { \
	  echo "error: the Go toolchain is missing: install Go >= 1.21 from https://go.dev/dl"; \
	  echo "       (Debian 12's golang-go is 1.19, too old; bookworm-backports has golang-1.22)"; exit 1; }
	@v=$$($(GO) env GOVERSION | sed 's/^go//'); \
	  if [ "$$(printf '%s\n1.21\n' "$$v" | sort -V | head -1)" != "1.21" ]; then \
	    echo "error: Go $$v is too old; the binding needs Go >= 1.21"; exit 1; fi
	@[ "$$($(GO) env CGO_ENABLED)" = 1 ] || { echo "error: cgo is disabled (CGO_ENABLED=0); the binding needs cgo and a C compiler"; exit 1; }

lint-go: go-toolcheck
	@out=$$(cd $(GO_DIR) && gofmt -l .; cd $(GO_EXAMPLES) && gofmt -l .); \
	  if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	cd $(GO_DIR) && $(GO) vet ./...
	cd $(GO_EXAMPLES) && $(GO) vet ./...

test-go: lib lint-go
	cd $(GO_DIR) && $(GO) test -race -count=1 -timeout $(GO_TEST_TIMEOUT) ./...
	cd $(GO_DIR) && GODEBUG=cgocheck=1 $(GO) test -count=1 -timeout $(GO_TEST_TIMEOUT) ./...
	@mkdir -p $(GO_BIN)
	cd $(GO_EXAMPLES) && $(GO) build -buildvcs=false -o $(GO_BIN)/ ./...
	timeout 60 $(GO_BIN)/server
	@echo "Go binding: tests passed (race, cgocheck=1), examples built and run"

demo-go-peer: lib go-toolcheck
	@mkdir -p $(GO_BIN)
	cd $(GO_EXAMPLES) && $(GO) build -buildvcs=false -o $(GO_BIN)/peer ./peer
	PEER_ADDRS='$(PEER_ADDRS)' timeout 60 $(GO_BIN)/peer -seconds $(GO_DEMO_SECONDS)
