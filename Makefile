# Lustre in Swift: build, test and run a local filesystem.
#
#   make deps     install the Debian packages the build and tests need (only when missing)
#   make          release build
#   make test     deps, debug build, swift test, then the system tests in tests/
#   make bench    the benchmarks in tests/bench/ (release build)
#   make run      release build, then format, start and mount a local filesystem (tests/llmount.sh)
#   make stop     unmount it and stop its servers (tests/llmountcleanup.sh)

SWIFT       ?= swift
PREFIX      ?= /usr/local
DEB_PACKAGES = pkg-config liburing-dev libaio-dev libext2fs-dev libfuse3-dev fuse3 \
               e2fsprogs iperf3 fio procps iproute2 util-linux

.PHONY: all deps release debug test unit-test system-test bench clean run stop

all: release

deps:
	@bash utils/install-deps.sh $(DEB_PACKAGES)

release: deps
	$(SWIFT) build -c release

debug: deps
	$(SWIFT) build --build-tests

unit-test: debug
	$(SWIFT) test --skip-build

system-test: debug
	LUSTRE_BIN="$$($(SWIFT) build --show-bin-path)" bash tests/run-tests.sh

# The system tests' summary line ("N passed, N failed") is the last line printed.
test: debug
	$(SWIFT) test --skip-build
	LUSTRE_BIN="$$($(SWIFT) build --show-bin-path)" bash tests/run-tests.sh

bench: release
	LUSTRE_BIN="$$($(SWIFT) build -c release --show-bin-path)" bash tests/bench/run-all.sh

# FSNAME, OSTCOUNT, MOUNT, TMP, NETADDR, PORT pass through from the environment (tests/llmount.sh).
run: release
	LUSTRE_BIN="$$($(SWIFT) build -c release --show-bin-path)" bash tests/llmount.sh
	@echo
	@echo "Lustre is mounted on $${MOUNT:-/mnt/lustre}; try: $$($(SWIFT) build -c release --show-bin-path)/lfs df -h"
	@echo "Stop it with: make stop"

stop:
	bash tests/llmountcleanup.sh

clean:
	rm -rf .build
