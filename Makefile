# Gatehouse build.  Sources are found by wildcard: add a .c file under
# resolver/ (the daemon's modules), tools/ (gatehousectl), tests/unit/
# (test_*.c, one binary each) or tests/fuzz/ (fuzz_*.c, libFuzzer) and it is
# built.  `make SANITIZE=1` builds into build-asan/ with ASan and UBSan.

PREFIX   ?= /usr/local
DESTDIR  ?=
SBINDIR  ?= $(PREFIX)/sbin
BINDIR   ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
CC       ?= cc
PKGS     := ldns libuv yaml-0.1 lmdb libmaxminddb libsystemd libidn2
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.1.0)

ifeq ($(SANITIZE),1)
BUILD    ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT      := -O1 -g
else
BUILD    ?= build
SANFLAGS :=
OPT      := -O2 -g
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wvla \
            -Wformat=2 -Wno-unused-parameter
CFLAGS   ?= $(OPT)
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) -D_GNU_SOURCE \
              -DGATEHOUSE_VERSION=\"$(VERSION)\" -Iresolver \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lldns -luv -lyaml -llmdb -lmaxminddb -lsystemd -lidn2) -lpthread -lm
LDFLAGS  += $(SANFLAGS)

LIB_SRC   := $(filter-out resolver/main.c,$(wildcard resolver/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
DAEMON_OBJ := $(BUILD)/resolver/main.o
CTL_SRC   := $(wildcard tools/*.c)
CTL_OBJ   := $(CTL_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/%)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
DEPFILES  := $(LIB_OBJ:.o=.d) $(DAEMON_OBJ:.o=.d) $(CTL_OBJ:.o=.d)

.PHONY: all deps test-deps run check test unit fuzz bench install clean format format-check
.DELETE_ON_ERROR:

all: $(BUILD)/gatehoused $(if $(CTL_SRC),$(BUILD)/gatehousectl) $(UNIT_BIN) $(HELPER_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libgatehouse.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/gatehoused: $(DAEMON_OBJ) $(BUILD)/libgatehouse.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/gatehousectl: $(CTL_OBJ) $(BUILD)/libgatehouse.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libgatehouse.a tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(BUILD)/libgatehouse.a $(LDLIBS)

$(BUILD)/tests/%: tests/helpers/%.c $(BUILD)/libgatehouse.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libgatehouse.a $(LDLIBS)

# gatehouse-admin (tools/admin/): the admin web pages' daemon.  Its own
# libraries (HTTP+TLS, JSON, password hashes) are linked only where needed:
# the daemon, gatehousectl (users), test_admin and fuzz_admin_http.
ADMIN_PKGS := libmicrohttpd jansson libsodium
ADMIN_LIBS := $(shell pkg-config --libs $(ADMIN_PKGS) 2>/dev/null || echo -lmicrohttpd -ljansson -lsodium)
ADMIN_SRC  := $(wildcard tools/admin/*.c)
ADMIN_OBJ  := $(ADMIN_SRC:%.c=$(BUILD)/%.o)
DEPFILES   += $(ADMIN_OBJ:.o=.d)
ADMIN_WWW  := $(wildcard tools/admin/www/*)

all: $(if $(ADMIN_SRC),$(BUILD)/gatehouse-admin)

$(ADMIN_OBJ): ALL_CFLAGS += $(shell pkg-config --cflags $(ADMIN_PKGS) 2>/dev/null) \
                            -DADMIN_WWW_DIR=\"$(PREFIX)/share/gatehouse/admin-www\"

# The daily report's HTML comes from tools/ctl_logs.c, the same code as
# `gatehousectl report`, so both always agree.
$(BUILD)/gatehouse-admin: $(ADMIN_OBJ) $(BUILD)/tools/ctl_logs.o $(BUILD)/libgatehouse.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(ADMIN_LIBS)

# gatehousectl users shares the accounts file code with the daemon.
$(BUILD)/gatehousectl: $(BUILD)/tools/admin/users.o
$(BUILD)/gatehousectl: LDLIBS += $(ADMIN_LIBS)
$(BUILD)/tests/test_admin: tools/admin/http.c tools/admin/session.c tools/admin/users.c
$(BUILD)/tests/test_admin: LDLIBS += $(ADMIN_LIBS)
build-fuzz/fuzz_admin_http: tools/admin/http.c tools/admin/http.h
build-fuzz/fuzz_admin_http: LDLIBS += $(ADMIN_LIBS)
# fuzz_grants_args compiles in gatehousectl check's parsers.
build-fuzz/fuzz_grants_args: tools/ctl_check.c tools/ctl_resolve.c tools/ctl_resolve.h

# libFuzzer targets: clang.  The library is compiled once with coverage
# instrumentation (fuzzer-no-link) into its own archive, and each target
# links what it uses from it.
FUZZ_COMMON := -std=gnu11 -g -O1 -D_GNU_SOURCE -Iresolver \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_CFLAGS := $(FUZZ_COMMON) -fsanitize=fuzzer,address,undefined
FUZZ_OBJ    := $(LIB_SRC:%.c=build-fuzz/obj/%.o)

build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_COMMON) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c -o $@ $<

build-fuzz/libgatehouse-fuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

build-fuzz/%: tests/fuzz/%.c build-fuzz/libgatehouse-fuzz.a
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< build-fuzz/libgatehouse-fuzz.a $(LDLIBS)

-include $(FUZZ_OBJ:.o=.d)

fuzz: $(FUZZ_BIN)

# Installs the Debian packages the build and the tests need (as root; apt-get
# update first).  A no-op when everything is there.
deps:
	@sh tools/install-deps

test-deps:
	@sh tools/install-deps --test

run: deps all
	$(BUILD)/gatehoused -f

# Every test: unit and integration tests on the normal build, the same under
# ASan+UBSan, and each fuzz target for a bounded number of runs.
check: test-deps
	$(MAKE) all
	$(MAKE) SANITIZE=1 all
	$(MAKE) fuzz
	python3 tests/run --build $(BUILD) --asan-build build-asan --fuzz-build build-fuzz

# Quick: the normal build only.
test: all
	python3 tests/run --build $(BUILD)

bench: all
	bench/compare

format:
	clang-format -i resolver/*.[ch] tools/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c tests/helpers/*.c 2>/dev/null || true

format-check:
	@clang-format --dry-run --Werror resolver/*.[ch] $(wildcard tools/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c tests/helpers/*.c)

# Where `make install` puts what is not a binary.  Debian 12 has merged
# /usr, so /lib/systemd/system is /usr/lib/systemd/system; systemd also reads
# /usr/local/lib/{sysusers.d,tmpfiles.d} but not units from PREFIX.
SYSTEMD_UNITDIR ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
TMPFILESDIR ?= /usr/lib/tmpfiles.d
LIBEXECDIR ?= $(PREFIX)/libexec/gatehouse
DATADIR  ?= $(PREFIX)/share/gatehouse
MANDIR   ?= $(PREFIX)/share/man
DOCDIR   ?= $(PREFIX)/share/doc/gatehouse
UNITS    := $(wildcard systemd/*.service systemd/*.timer)
MANPAGES := docs/man/gatehoused.8 docs/man/gatehousectl.8 docs/man/gatehouse.yaml.5
DOCS     := $(filter-out docs/hacking.md,$(wildcard docs/*.md))
# The units and the report script name the programs by their Debian paths;
# installed elsewhere (PREFIX=/usr/local), they are rewritten to match.
PATHS_SED := -e 's|/usr/sbin/gatehoused|$(SBINDIR)/gatehoused|g' \
             -e 's|/usr/bin/gatehousectl|$(BINDIR)/gatehousectl|g' \
             -e 's|/usr/libexec/gatehouse/|$(LIBEXECDIR)/|g'

.PHONY: man-check
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)
	install -m 0755 $(BUILD)/gatehoused $(DESTDIR)$(SBINDIR)/gatehoused
	if [ -f $(BUILD)/gatehousectl ]; then install -m 0755 $(BUILD)/gatehousectl $(DESTDIR)$(BINDIR)/gatehousectl; fi
	sed $(PATHS_SED) tools/gatehouse-daily-report > $(DESTDIR)$(LIBEXECDIR)/gatehouse-daily-report
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/gatehouse-daily-report
	install -d $(DESTDIR)$(SYSCONFDIR)/gatehouse $(DESTDIR)$(SYSCONFDIR)/default
	install -m 0644 docs/gatehouse.example.yaml $(DESTDIR)$(SYSCONFDIR)/gatehouse/gatehouse.yaml.example
	# /etc/default/gatehouse is the operator's: installed only when absent
	[ -e $(DESTDIR)$(SYSCONFDIR)/default/gatehouse ] || install -m 0644 systemd/gatehouse.default $(DESTDIR)$(SYSCONFDIR)/default/gatehouse
	install -d $(DESTDIR)$(DATADIR)/blocklists/builtin
	install -m 0644 blocklists/builtin/*.txt $(DESTDIR)$(DATADIR)/blocklists/builtin/
	install -m 0644 blocklists/catalogue.yaml $(DESTDIR)$(DATADIR)/blocklists/
	install -d $(DESTDIR)$(SYSTEMD_UNITDIR)
	for u in $(UNITS); do sed $(PATHS_SED) $$u > $(DESTDIR)$(SYSTEMD_UNITDIR)/$${u##*/} && chmod 0644 $(DESTDIR)$(SYSTEMD_UNITDIR)/$${u##*/} || exit 1; done
	install -d $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0644 systemd/gatehouse.sysusers $(DESTDIR)$(SYSUSERSDIR)/gatehouse.conf
	install -m 0644 systemd/gatehouse.tmpfiles $(DESTDIR)$(TMPFILESDIR)/gatehouse.conf
	install -d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 docs/man/gatehoused.8 docs/man/gatehousectl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 docs/man/gatehouse.yaml.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0755 $(BUILD)/gatehouse-admin $(DESTDIR)$(SBINDIR)/gatehouse-admin
	install -d $(DESTDIR)$(DATADIR)/admin-www
	install -m 0644 $(ADMIN_WWW) $(DESTDIR)$(DATADIR)/admin-www/
	install -m 0755 tools/admin/gatehouse-admin-cert $(DESTDIR)$(LIBEXECDIR)/gatehouse-admin-cert
	sed -i 's|/usr/sbin/gatehouse-admin|$(SBINDIR)/gatehouse-admin|g' $(DESTDIR)$(SYSTEMD_UNITDIR)/gatehouse-admin.service
	# a self-signed certificate for the admin pages, only when none is there
	[ -n "$(DESTDIR)" ] || $(LIBEXECDIR)/gatehouse-admin-cert $(SYSCONFDIR)/gatehouse/admin.crt $(SYSCONFDIR)/gatehouse/admin.key
	install -d $(DESTDIR)$(DOCDIR)
	$(if $(DOCS),install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/)

# The man pages are hand-written roff: check them for errors and warnings.
man-check:
	@for m in $(MANPAGES); do \
	    out=$$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l $$m 2>&1 >/dev/null); \
	    if [ -n "$$out" ]; then echo "$$m:"; echo "$$out"; exit 1; fi; \
	done; echo "man pages ok"

clean:
	rm -rf build build-asan build-fuzz

-include $(DEPFILES)
