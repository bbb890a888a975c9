# Benchmarks (issue 6): peerwire beside raw TCP in C, libzmq, Go and Python references.
# Included by the top-level Makefile, which provides `lib`, LIBDIR and INCDIR.
# The driver installs what it lacks (apt-get libzmq3-dev, pip pyzmq / matplotlib) or skips
# that reference row with the reason; see bench/README.md.
BENCH_PYTHON ?= python3
BENCH_ARGS ?=

.PHONY: bench bench-smoke bench-smoke-refs

# full run, manual: several minutes; writes bench/RESULTS.md and bench/throughput.png
bench: lib
	$(BENCH_PYTHON) bench/run.py --libdir "$(LIBDIR)" --incdir "$(INCDIR)" $(BENCH_ARGS)

# CI: seconds; proves every row builds and runs, prints the table; non-zero if a peerwire row fails
bench-smoke: lib
	$(BENCH_PYTHON) bench/run.py --smoke --libdir "$(LIBDIR)" --incdir "$(INCDIR)" $(BENCH_ARGS)

# reference transports only (no library needed)
bench-smoke-refs:
	$(BENCH_PYTHON) bench/run.py --smoke --no-peerwire $(BENCH_ARGS)
