# peerwire — `make` builds the library and header, `make test` runs every layer's tests,
# `make demo` runs a mesh of peers on loopback. See README.md.

CARGO   ?= cargo
CC      ?= cc
CXX     ?= c++
PREFIX  ?= /usr/local
LIBDIR  := $(CURDIR)/target/release
INCDIR  := $(CURDIR)/include
BUILD   := $(CURDIR)/build
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

CWARN    := -Wall -Wextra -Werror
CFLAGS_T := -std=c11 $(CWARN) -g -O1 -I$(INCDIR) -D_GNU_SOURCE -pthread
LDFLAGS_T := -L$(LIBDIR) -lpeerwire -Wl,-rpath,$(LIBDIR) -pthread
ASAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

C_TESTS  := $(basename $(notdir $(wildcard tests/c/test_*.c)))
C_BINS   := $(addprefix $(BUILD)/c/,$(C_TESTS))
C_ASAN   := $(addprefix $(BUILD)/c-asan/,$(C_TESTS))

# Layers living in their own directories add their targets here.
EXTRA_TESTS :=
EXTRA_LINT  :=
DEMO_PEERS  :=
-include bindings/python/python.mk
-include bindings/go/go.mk
-include bench/bench.mk

.PHONY: all lib test test-rust test-c test-c-asan test-c-valgrind check-header lint fmt-check \
        clippy demo demo-c-bin install clean toolcheck

all: lib

toolcheck:
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found; install Rust from rustup (https://rustup.rs)"; exit 1; }
	@command -v $(CC) >/dev/null || { echo "error: a C compiler ($(CC)) is needed"; exit 1; }

# cargo decides what to rebuild; build.rs regenerates include/peerwire.h.
lib: toolcheck
	$(CARGO) build --release
	@test -f $(INCDIR)/peerwire.h || { echo "error: include/peerwire.h was not generated"; exit 1; }

test: lib test-rust test-c test-c-asan $(EXTRA_TESTS)
	@echo "make test: all layers passed"

test-rust: toolcheck
	$(CARGO) test --release -- --test-threads=2

$(BUILD)/c/%: tests/c/%.c tests/c/check.h $(INCDIR)/peerwire.h $(LIBDIR)/libpeerwire.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_T) -o $@ $< $(LDFLAGS_T)

$(BUILD)/c-asan/%: tests/c/%.c tests/c/check.h $(INCDIR)/peerwire.h $(LIBDIR)/libpeerwire.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_T) $(ASAN) -o $@ $< $(LDFLAGS_T)

$(BUILD)/c/header_cpp: tests/c/header_cpp.cpp $(INCDIR)/peerwire.h
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 $(CWARN) -I$(INCDIR) -o $@ $< $(LDFLAGS_T)

# The README's C quick start is compiled and run too, so it cannot rot.
$(BUILD)/c/readme_quickstart.c: README.md
	@mkdir -p $(dir $@)
	awk '/^```c$$/{f=1;next} /^```$$/{if(f)exit} f' README.md > $@

$(BUILD)/c/readme_quickstart: $(BUILD)/c/readme_quickstart.c $(INCDIR)/peerwire.h $(LIBDIR)/libpeerwire.so
	$(CC) $(CFLAGS_T) -o $@ $< $(LDFLAGS_T)

test-c: lib $(C_BINS) $(BUILD)/c/header_cpp $(BUILD)/c/readme_quickstart
	@set -e; for t in $(C_BINS) $(BUILD)/c/header_cpp $(BUILD)/c/readme_quickstart; do echo "== $$t"; timeout 300 $$t; done
	@echo "C tests: $(words $(C_BINS)) programs + C++ header check + README quick start passed"

# detect_leaks: the library's threads are joined at the last free, so nothing may leak.
test-c-asan: lib $(C_ASAN)
	@set -e; for t in $(C_ASAN); do echo "== asan $$t"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 timeout 600 $$t; done
	@echo "C tests under ASan/UBSan/LSan: $(words $(C_ASAN)) programs passed"

test-c-valgrind: lib $(C_BINS)
	@command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 1; }
	@set -e; for t in $(C_BINS); do echo "== valgrind $$t"; \
	  PEERWIRE_TEST_QUICK=1 timeout 900 valgrind -q --error-exitcode=9 --leak-check=full \
	  --errors-for-leak-kinds=definite $$t; done

# Fails when the committed header differs from a freshly generated one.
check-header:
	@rm -f $(BUILD)/peerwire.h.fresh; mkdir -p $(BUILD)
	PEERWIRE_HEADER_OUT=$(BUILD)/peerwire.h.fresh $(CARGO) build --release
	@git show HEAD:include/peerwire.h > $(BUILD)/peerwire.h.committed 2>/dev/null || { echo "include/peerwire.h is not committed"; exit 1; }
	@diff -u $(BUILD)/peerwire.h.committed $(BUILD)/peerwire.h.fresh || { echo "error: include/peerwire.h is stale: run 'make' and commit it"; exit 1; }
	@echo "header is up to date"

fmt-check:
	$(CARGO) fmt --check

clippy:
	$(CARGO) clippy --release --all-targets -- -D warnings

lint: fmt-check clippy $(EXTRA_LINT)

demo-c-bin: lib $(BUILD)/demo/peer

$(BUILD)/demo/peer: examples/c/peer.c $(INCDIR)/peerwire.h $(LIBDIR)/libpeerwire.so
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(CWARN) -O2 -I$(INCDIR) -D_GNU_SOURCE -o $@ $< $(LDFLAGS_T)

# Three C peers form a mesh (each dials the ones before it); then the other languages'
# peers join; every peer prints what it received.
demo: demo-c-bin
	@bash examples/demo.sh "$(BUILD)/demo/peer" $(DEMO_PEERS)

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(LIBDIR)/libpeerwire.so $(DESTDIR)$(PREFIX)/lib/libpeerwire.so
	install -m 0644 $(LIBDIR)/libpeerwire.a $(DESTDIR)$(PREFIX)/lib/libpeerwire.a
	install -m 0644 $(INCDIR)/peerwire.h $(DESTDIR)$(PREFIX)/include/peerwire.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' peerwire.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/peerwire.pc
	@echo "installed to $(DESTDIR)$(PREFIX)"

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
