# h5fs -- HDF5 files as directories, and libh5fs beneath it.
#
# Targets:
#   all (default)   build/lib/libh5fs.{a,so}, build/bin/h5fs, build/bin/h5fs-mpiwrite
#   deps            install the Debian packages the project needs (no-op when present)
#   check           deps, build with -Werror, run every suite, and the unit and
#                   system suites again under ASan+UBSan (LeakSanitizer included)
#   check-unit, check-san, check-system, check-mpi, check-headers, check-clang
#                   one suite each (check-headers also checks what libh5fs.so
#                   exports and the layout rules: tools/check-layout.py)
#   bench           measured speed against the baselines (see README)
#   soak            the random tests again and again with new seeds (SOAK=10 rounds)
#   demo            mount a generated bamboost-style sample and walk through it
#   install         PREFIX=/usr/local DESTDIR=   (puts mount.h5fs beside h5fs)
#   clean
#
# Knobs:
#   V=1             show full command lines
#   CC=clang        another compiler (warnings are errors with both)
#   SANITIZE=1      build with -fsanitize=address,undefined into BUILD
#   BUILD=dir       output folder (default build, build/san for SANITIZE=1)
#   Local settings may live in config.mak.

-include config.mak

CC ?= cc
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
PYTHON ?= /usr/bin/python3

ifeq ($(SANITIZE),1)
BUILD ?= build/san
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD ?= build
SANFLAGS =
endif

PKGS = hdf5-openmpi fuse3
HDF5_CFLAGS := $(shell $(PKG_CONFIG) --cflags hdf5-openmpi 2>/dev/null)
HDF5_LIBS := $(shell $(PKG_CONFIG) --libs hdf5-openmpi 2>/dev/null) -lhdf5_hl
FUSE_CFLAGS := $(shell $(PKG_CONFIG) --cflags fuse3 2>/dev/null)
FUSE_LIBS := $(shell $(PKG_CONFIG) --libs fuse3 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)
MPI_CFLAGS := $(shell $(PKG_CONFIG) --cflags ompi-c 2>/dev/null)
MPI_LIBS := $(shell $(PKG_CONFIG) --libs ompi-c 2>/dev/null)

WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC $(WARN) $(CFLAGS) $(SANFLAGS) -Iinclude $(HDF5_CFLAGS) $(MPI_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)
LIBS = $(HDF5_LIBS) $(MPI_LIBS) -lz -lm -lpthread

ifneq ($(V),1)
Q = @
QCC = @echo '   CC' $@;
QLD = @echo '   LD' $@;
QAR = @echo '   AR' $@;
endif

LIB_SRC = $(sort $(wildcard src/lib/*.c))
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
ENGINE_SRC = $(sort $(wildcard src/engine/*.c))
ENGINE_OBJ = $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o)
FUSE_SRC = $(sort $(wildcard src/fuse/*.c))
FUSE_OBJ = $(FUSE_SRC:%.c=$(BUILD)/obj/%.o)
MPIW_SRC = $(sort $(wildcard src/mpiwrite/*.c))
MPIW_OBJ = $(MPIW_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_HELPER_OBJ = $(BUILD)/obj/tests/unit/helpers.o
MPI_TEST_SRC = $(sort $(wildcard tests/mpi/test_*.c))
MPI_TEST_BIN = $(MPI_TEST_SRC:tests/mpi/%.c=$(BUILD)/tests/%)
TOOL_SRC = $(sort $(wildcard tests/tools/*.c))
TOOL_BIN = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

LIBA = $(BUILD)/lib/libh5fs.a
LIBSO = $(BUILD)/lib/libh5fs.so
ENGINE_A = $(BUILD)/lib/libh5fs-engine.a
DAEMON = $(BUILD)/bin/h5fs
MPIWRITE = $(BUILD)/bin/h5fs-mpiwrite

.PHONY: all deps check check-build check-headers check-unit check-san \
	check-system check-mpi check-clang bench soak demo install uninstall clean \
	unit-bins tools

all: $(LIBA) $(LIBSO) $(DAEMON) $(MPIWRITE) tools

deps:
	@sh tools/deps.sh

$(BUILD)/obj/%.o: %.c $(wildcard include/h5fs/*.h include/h5fs/sys/*.h) $(wildcard src/*/*.h) | deps-check
	@mkdir -p $(dir $@)
	$(QCC)$(CC) $(ALL_CFLAGS) $(if $(filter src/fuse/%,$<),-Isrc $(FUSE_CFLAGS)) $(if $(filter src/engine/% tests/unit/%,$<),-Isrc) \
		$(if $(filter src/lib/%,$<),-fvisibility=hidden) -c -o $@ $<

# Fail early with a hint when the packages are missing.
.PHONY: deps-check
deps-check:
	@$(PKG_CONFIG) --exists hdf5-openmpi fuse3 || { echo "missing build dependencies: run 'make deps'" >&2; exit 1; }

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(QAR)rm -f $@ && ar rcs $@ $^

$(LIBSO): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(QLD)$(CC) -shared -o $@ $^ $(ALL_LDFLAGS) $(LIBS)

# the engine (src/engine/): the daemon's FUSE-free layer, never installed
$(ENGINE_A): $(ENGINE_OBJ)
	@mkdir -p $(dir $@)
	$(QAR)rm -f $@ && ar rcs $@ $^

$(DAEMON): $(FUSE_OBJ) $(ENGINE_A) $(LIBA)
	@mkdir -p $(dir $@)
	$(QLD)$(CC) -o $@ $(FUSE_OBJ) $(ENGINE_A) $(LIBA) $(ALL_LDFLAGS) $(FUSE_LIBS) $(LIBS)

$(MPIWRITE): $(MPIW_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(QLD)$(CC) -o $@ $(MPIW_OBJ) $(LIBA) $(ALL_LDFLAGS) $(LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(UNIT_HELPER_OBJ) $(ENGINE_A) $(LIBA)
	@mkdir -p $(dir $@)
	$(QLD)$(CC) -o $@ $< $(UNIT_HELPER_OBJ) $(ENGINE_A) $(LIBA) $(ALL_LDFLAGS) $(CMOCKA_LIBS) $(LIBS)

$(MPI_TEST_BIN): $(BUILD)/tests/%: $(BUILD)/obj/tests/mpi/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(QLD)$(CC) -o $@ $< $(LIBA) $(ALL_LDFLAGS) $(CMOCKA_LIBS) $(LIBS)

$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(QLD)$(CC) -o $@ $< $(LIBA) $(ALL_LDFLAGS) $(LIBS)

tools: $(TOOL_BIN)

unit-bins: $(UNIT_BIN) $(MPI_TEST_BIN) tools

# Each public header compiles alone, pedantic.
check-headers: | deps-check
	@for h in include/h5fs.h include/h5fs/*.h include/h5fs/sys/*.h; do \
		printf '#include "%s"\n' "$${h#include/}" | \
		$(CC) -std=c11 -pedantic -Wall -Wextra -Werror -Iinclude $(HDF5_CFLAGS) $(MPI_CFLAGS) \
			-x c -fsyntax-only - || { echo "headers: $$h does not compile alone"; exit 1; }; \
	done; echo "headers: $$(ls include/h5fs.h include/h5fs/*.h include/h5fs/sys/*.h | wc -l) passed, 0 failed"
	@$(MAKE) --no-print-directory $(LIBSO) >/dev/null && sh tools/check-exports.sh $(LIBSO)
	@$(MAKE) --no-print-directory all >/dev/null && $(PYTHON) tools/check-layout.py $(BUILD)

check-build: deps
	$(MAKE) all unit-bins

check-unit: check-build
	@sh tests/run-suite.sh unit $(UNIT_BIN)

check-san: deps
	$(MAKE) SANITIZE=1 all unit-bins
	@H5FS_SANITIZE=1 sh tests/run-suite.sh unit-asan $(patsubst build/%,build/san/%,$(UNIT_BIN))
	@H5FS_SANITIZE=1 H5FS_BUILD=build/san sh tests/run-suite.sh system-asan $(sort $(wildcard tests/system/t[0-9]*.sh))

# Warnings are errors under clang too.
check-clang: deps
	@$(MAKE) -s CC=clang BUILD=build/clang all unit-bins >/dev/null && echo "clang: 1 passed, 0 failed" || { echo "clang: 0 passed, 1 failed"; exit 1; }

check-system: check-build
	@H5FS_BUILD=$(BUILD) sh tests/run-suite.sh system $(sort $(wildcard tests/system/t[0-9]*.sh))

check-mpi: check-build
	@H5FS_BUILD=$(BUILD) sh tests/mpi/run.sh $(MPI_TEST_BIN) $(sort $(wildcard tests/mpi/test_*.sh))

check: deps
	@rm -rf build/results && mkdir -p build/results
	@for t in check-headers check-unit check-mpi check-system check-san check-clang; do \
		$(MAKE) --no-print-directory $$t || echo $$t >> build/results/failed; \
	done
	@sh tests/summary.sh build/results

# deps first, then a new make: the flags read from pkg-config at parse time need the packages
bench: deps
	@$(MAKE) --no-print-directory all
	@sh tests/bench/run.sh

# Time-seeded rounds of the random suites (make check runs fixed seeds):
# a failure prints its seed; H5FS_SEED=N repeats it.
SOAK ?= 10
soak: check-build
	@i=0; while [ $$i -lt $(SOAK) ]; do i=$$((i + 1)); echo "soak round $$i of $(SOAK)"; \
		H5FS_SEED=random sh tests/run-suite.sh soak-unit $(BUILD)/tests/test_stage $(BUILD)/tests/test_codec $(BUILD)/tests/test_reader $(BUILD)/tests/test_index || exit 1; \
		H5FS_SEED=random H5FS_BUILD=$(BUILD) sh tests/run-suite.sh soak-system tests/system/t0025-write-model.sh || exit 1; \
	done

demo: deps
	@$(MAKE) --no-print-directory all
	@sh tools/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/h5fs/sys $(DESTDIR)/sbin
	install -m 755 $(DAEMON) $(MPIWRITE) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBA) $(LIBSO) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/h5fs.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/h5fs/*.h $(DESTDIR)$(PREFIX)/include/h5fs/
	install -m 644 include/h5fs/sys/*.h $(DESTDIR)$(PREFIX)/include/h5fs/sys/
	ln -sf $(PREFIX)/bin/h5fs $(DESTDIR)/sbin/mount.h5fs
	ln -sf $(PREFIX)/bin/h5fs $(DESTDIR)/sbin/mount.fuse.h5fs

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/h5fs $(DESTDIR)$(PREFIX)/bin/h5fs-mpiwrite \
		$(DESTDIR)$(PREFIX)/lib/libh5fs.a $(DESTDIR)$(PREFIX)/lib/libh5fs.so \
		$(DESTDIR)$(PREFIX)/include/h5fs.h $(DESTDIR)/sbin/mount.h5fs $(DESTDIR)/sbin/mount.fuse.h5fs
	rm -rf $(DESTDIR)$(PREFIX)/include/h5fs

clean:
	rm -rf build

.SECONDARY:
