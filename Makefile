# Makefile of the parallel shared-memory SGD suite.
#   make            build build/psgd (and the tests and benches)
#   make deps       install the Debian packages the suite needs (sudo when not root)
#   make test       unit + integration tests; ends with "N passed, N failed"
#   make check-asan / check-tsan   the tests under AddressSanitizer+UBSan / ThreadSanitizer
#   make deps-slurm test-slurm     Slurm packages; psgd slurm + merge on a one-host cluster (root)
#   make bench      benchmarks (never part of test); prints "bench: NAME VALUE UNIT" lines
#   make bench-validate   virtual clock vs real 2-thread runs at m = 2, one table (EXPERIMENTS.md)
#   make data       download MNIST and CIFAR-10/100 into data/ and check SHA-256
#   make figure1..figure5 table1 thesis-* figures   see plots/figures.mk and EXPERIMENTS.md

CC      ?= gcc
BUILD   ?= build
WERROR  ?=
OPT     ?= -O3
SAN     ?=

# pkg-config modules the build needs, each with the Debian package that ships
# it (`make deps` installs the packages; the message below names them).
PKGS     := hwloc openblas libxsmm sqlite3 libconfig zlib
TESTPKGS := cmocka
DEB_hwloc := libhwloc-dev
DEB_openblas := libopenblas-dev
DEB_libxsmm := libxsmm-dev
DEB_sqlite3 := libsqlite3-dev
DEB_libconfig := libconfig-dev
DEB_zlib := zlib1g-dev
DEB_cmocka := libcmocka-dev

# The flags are resolved when a recipe first needs them, not when this file is
# parsed: in `make deps figure4` the packages are installed by the first goal,
# after parsing. Each is computed once (the eval replaces the recursive
# definition by its value). A missing module stops the build with one line.
pkg_missing = $(strip $(foreach m,$(1),$(if $(shell pkg-config --exists $(m) 2>/dev/null && echo y),,$(m))))
pkg_need = $(if $(call pkg_missing,$(1)),$(error missing pkg-config module(s) $(call \
  pkg_missing,$(1)) (Debian: $(foreach m,$(call pkg_missing,$(1)),$(DEB_$(m)))): run `make deps`))
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkg_need,$(PKGS))$(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $(call pkg_need,$(PKGS))$(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)
TESTLIBS = $(eval TESTLIBS := $(call pkg_need,$(TESTPKGS))$(shell pkg-config --libs $(TESTPKGS)))$(TESTLIBS)

CFLAGS   = -std=c11 $(OPT) -g -Wall -Wextra $(WERROR) $(SAN) -MMD -MP \
           $(PKG_CFLAGS) -Icore -Ihw $(EXTRA_CFLAGS)
LDLIBS   = $(PKG_LIBS) -lpthread -lm
LDFLAGS := $(SAN)

# With `deps` among the goals (also under -j), nothing is compiled before it ends.
ifneq ($(filter deps,$(MAKECMDGOALS)),)
DEPS_FIRST := deps
endif

# plots/views.sql is compiled into the recorder (rec_open creates the views):
# turned into a C array by od, which coreutils always has.
VIEWS_C    := $(BUILD)/gen/views_sql.c
LIB_SRCS   := $(filter-out core/main.c,$(wildcard core/*.c)) $(wildcard hw/*.c) $(VIEWS_C)
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS  := $(wildcard tests/test_*.c)
TEST_BINS  := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
PSGD       := $(BUILD)/psgd
# The SQLite loadable extension that decodes step chunks for the sqlite3 shell
# (`.load build/psgd_steps`): never sanitized, the shell is not.
STEPS_EXT  := $(BUILD)/psgd_steps.so

# Debian packages: the toolchain (kept by CI's purge), and the suite's own
# packages (what `make deps` adds to a bare machine; CI purges them first).
TOOLCHAIN_PKGS := build-essential pkg-config ca-certificates curl
DEB_PKGS := libhwloc-dev hwloc libopenblas-dev libsqlite3-dev sqlite3 gnuplot-nox libconfig-dev \
            libcmocka-dev zlib1g-dev dataset-fashion-mnist chromium chromium-driver libxsmm-dev

.PHONY: all deps print-deb-pkgs print-pkg-modules bench-deps test check-asan check-tsan check-sanitize bench bench-validate data clean
all: $(PSGD) $(STEPS_EXT) $(TEST_BINS) $(BENCH_BINS)

$(STEPS_EXT): core/rec_steps.c core/rec_steps.h core/steprec.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g -Wall -Wextra $(WERROR) -fPIC -shared -DREC_STEPS_LOADABLE -Icore \
	  -o $@ core/rec_steps.c -lz -lm

$(BUILD)/obj/%.o: %.c | $(DEPS_FIRST)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(VIEWS_C): plots/views.sql
	@mkdir -p $(dir $@)
	{ echo '/* generated from plots/views.sql by the Makefile; do not edit */'; \
	  echo 'const char rec_views_sql[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0x00};'; } > $@

$(BUILD)/libpsgd.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# main.c refers to the commands weakly, and a weak reference does not pull an
# object out of an archive: -u names the commands whose modules are complete
# (engine.c and config.c refer to hw/ strongly, so hw.o is always linked).
PSGD_CMDS := cmd_train cmd_run cmd_list cmd_hw cmd_merge cmd_slurm
$(PSGD): $(BUILD)/obj/core/main.o $(BUILD)/libpsgd.a
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/obj/core/main.o $(PSGD_CMDS:%=-Wl,-u,%) $(BUILD)/libpsgd.a \
	  $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libpsgd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libpsgd.a $(LDLIBS) $(TESTLIBS) $(LDFLAGS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libpsgd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ibench -o $@ $< $(BUILD)/libpsgd.a $(LDLIBS) $(LDFLAGS)

deps:
	@missing=$$(for p in $(TOOLCHAIN_PKGS) $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	else echo "deps: all Debian packages present"; fi

# The suite's own Debian packages and pkg-config modules (for .ci/run's purge).
print-deb-pkgs:
	@echo $(DEB_PKGS)
print-pkg-modules:
	@echo $(PKGS) $(TESTPKGS)

bench-deps: deps
	@dpkg-query -W -f='$${Status}\n' python3-torch 2>/dev/null | grep -q 'ok installed' || \
	  { if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y python3-torch; }

test: all
	@BUILD=$(BUILD) sh tests/run.sh

check-asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

check-tsan:
	$(MAKE) BUILD=build-tsan OPT=-O1 SAN="-fsanitize=thread" test

check-sanitize: check-asan check-tsan

# Slurm: tests/it_slurm.sh brings up a one-host cluster (munge, slurmctld,
# slurmd on localhost; needs root), or uses one that is up, and runs a tiny
# sweep as a job array through psgd slurm and psgd merge.
SLURM_PKGS := slurmctld slurmd slurm-client munge
.PHONY: deps-slurm test-slurm
deps-slurm:
	@missing=$$(for p in $(SLURM_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	else echo "deps-slurm: all Slurm packages present"; fi

test-slurm: $(PSGD)
	PSGD_TEST_SLURM=1 PSGD=$(PSGD) sh tests/it_slurm.sh

bench: all
	@BUILD=$(BUILD) sh bench/run.sh

bench-validate: all
	@BUILD=$(BUILD) sh bench/validate_vclock.sh

data:
	sh data/fetch.sh

clean:
	rm -rf build build-asan build-tsan

-include plots/figures.mk
-include $(shell find $(BUILD) build-asan build-tsan -name '*.d' 2>/dev/null)
