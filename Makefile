# Makefile of the parallel shared-memory SGD suite.
#   make            build build/psgd (and the tests and benches)
#   make deps       install the Debian packages the suite needs (sudo when not root)
#   make test       unit + integration tests; ends with "N passed, N failed"
#   make check-asan / check-tsan   the tests under AddressSanitizer+UBSan / ThreadSanitizer
#   make deps-slurm test-slurm     Slurm packages; psgd slurm + merge on a one-host cluster (root)
#   make bench      benchmarks (never part of test); prints "bench: NAME VALUE UNIT" lines
#   make data       download MNIST and CIFAR-10/100 into data/ and check SHA-256
#   make figure1..figure5 table1 thesis-* figures   see plots/figures.mk and EXPERIMENTS.md

CC      ?= gcc
BUILD   ?= build
PKGS    := hwloc openblas sqlite3 libconfig zlib
WERROR  ?=
OPT     ?= -O3
SAN     ?=
CFLAGS  := -std=c11 $(OPT) -g -Wall -Wextra $(WERROR) $(SAN) -MMD -MP \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -Icore -Ihw $(EXTRA_CFLAGS)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
TESTLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
LDFLAGS := $(SAN)

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

DEB_PKGS := build-essential pkg-config libhwloc-dev hwloc libopenblas-dev libsqlite3-dev \
            sqlite3 gnuplot-nox libconfig-dev libcmocka-dev zlib1g-dev dataset-fashion-mnist \
            ca-certificates curl

.PHONY: all deps bench-deps test check-asan check-tsan check-sanitize bench data clean
all: $(PSGD) $(TEST_BINS) $(BENCH_BINS)

$(BUILD)/obj/%.o: %.c
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
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	else echo "deps: all Debian packages present"; fi

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

data:
	sh data/fetch.sh

clean:
	rm -rf build build-asan build-tsan

-include plots/figures.mk
-include $(shell find $(BUILD) build-asan build-tsan -name '*.d' 2>/dev/null)
