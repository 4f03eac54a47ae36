# Lustre in Swift: build, test and run a local filesystem.
#
#   make deps     install the Debian packages the build and tests need (only when missing)
#   make          release build
#   make test     deps, debug build, swift test, then the system tests in tests/
#   make bench    the benchmarks in tests/bench/ (release build)
#   make run      release build, then format, start and mount a local filesystem (tests/llmount.sh)
#   make stop     unmount it and stop its servers (tests/llmountcleanup.sh)
#   make install  release build, then install tools, daemons and systemd units (DESTDIR, PREFIX=/usr;
#                 LUSTRE_BIN=<dir> installs already built binaries instead)
#   make uninstall  remove exactly what install put there

SWIFT       ?= swift
PREFIX      ?= /usr
DEB_PACKAGES = pkg-config liburing-dev libaio-dev libext2fs-dev libfuse3-dev fuse3 \
               e2fsprogs iperf3 fio procps iproute2 util-linux systemd dbench rsync attr

.PHONY: all deps release debug test unit-test system-test bench clean run stop install uninstall

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

# --- install / uninstall -------------------------------------------------------------------
# Where Lustre puts them: admin tools and daemons in sbin, user tools in bin, the mount helper in
# /sbin (mount(8) looks there), units in /lib/systemd/system with ExecStart under $(PREFIX)/sbin.
SBIN_TOOLS      = lctl mkfs.lustre tunefs.lustre lustre-mds lustre-oss
BIN_TOOLS       = lfs lfsck ost-survey mds-survey lnet-selftest llite-bench
ROOT_SBIN_TOOLS = mount.lustre
SYSTEMD_UNITS   = lustre-mds@.service lustre-oss@.service lustre.target
UNITDIR         = /lib/systemd/system
DOCDIR          = $(PREFIX)/share/doc/lustre
INSTALLED_FILES = $(addprefix $(PREFIX)/sbin/,$(SBIN_TOOLS)) $(addprefix $(PREFIX)/bin/,$(BIN_TOOLS)) \
                  $(addprefix /sbin/,$(ROOT_SBIN_TOOLS)) $(addprefix $(UNITDIR)/,$(SYSTEMD_UNITS)) \
                  $(DOCDIR)/systemd/README.md $(DOCDIR)/admin/README.md

install: $(if $(LUSTRE_BIN),,release)
	@set -e; bin="$${LUSTRE_BIN:-$$($(SWIFT) build -c release --show-bin-path)}"; \
	install -d "$(DESTDIR)$(PREFIX)/sbin" "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)/sbin" \
	    "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(DOCDIR)/systemd" "$(DESTDIR)$(DOCDIR)/admin"; \
	for t in $(SBIN_TOOLS); do install -m 0755 "$$bin/$$t" "$(DESTDIR)$(PREFIX)/sbin/$$t"; done; \
	for t in $(BIN_TOOLS); do install -m 0755 "$$bin/$$t" "$(DESTDIR)$(PREFIX)/bin/$$t"; done; \
	for t in $(ROOT_SBIN_TOOLS); do install -m 0755 "$$bin/$$t" "$(DESTDIR)/sbin/$$t"; done; \
	for u in $(SYSTEMD_UNITS); do \
	    sed 's|/usr/sbin/|$(PREFIX)/sbin/|g' "utils/systemd/$$u" > "$(DESTDIR)$(UNITDIR)/$$u"; \
	    chmod 0644 "$(DESTDIR)$(UNITDIR)/$$u"; \
	done; \
	install -m 0644 utils/systemd/README.md "$(DESTDIR)$(DOCDIR)/systemd/README.md"; \
	install -m 0644 utils/admin/README.md "$(DESTDIR)$(DOCDIR)/admin/README.md"; \
	echo "installed under $(if $(DESTDIR),$(DESTDIR),/): $(INSTALLED_FILES)"; \
	echo "every tool documents itself with --help; run 'systemctl daemon-reload' after installing units"

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES))
	-rmdir "$(DESTDIR)$(DOCDIR)/systemd" "$(DESTDIR)$(DOCDIR)/admin" "$(DESTDIR)$(DOCDIR)" 2>/dev/null
