# SPDX-License-Identifier: Apache-2.0
#
# Sluice: one entry point to build, test, demo, benchmark and install.
#
#   make            build the BPF objects, skeletons and the three binaries
#   make test       install test dependencies, build everything, run every test
#                   (T=pattern runs only tests whose name contains pattern)
#   make demo       a 2-node simulated VPC with pods and a connectivity matrix
#   make demo-down  tear the demo lab down
#   make install    sluice -> $(CNI_BIN_DIR), sluiced and sluicectl -> $(PREFIX)/bin
#   make check      clang --analyze over the userspace code
#
# Quiet by default; V=1 prints every command. Output goes to $(BUILD)/.

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules

BUILD ?= build
PREFIX ?= /usr/local
CNI_BIN_DIR ?= /opt/cni/bin
V ?= 0

CC := gcc
CLANG ?= clang
BPFTOOL ?= bpftool

ifeq ($(V),1)
Q :=
msg =
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -pthread -MMD -MP
CPPFLAGS += -D_GNU_SOURCE -Iuserspace -Ibpf/include -Iselftests -I$(BUILD)
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wextra -Werror \
	-Wno-unused-parameter -Ibpf -Ibpf/include -I/usr/include/$(MULTIARCH) -MMD -MP

LIBS := -lbpf -lelf -lz -lmnl -ljansson -lmicrohttpd -lyaml -lcurl -lpthread
CNI_LIBS := -ljansson -lpthread

# --- sources -----------------------------------------------------------------

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

# Everything under userspace/ but the two mains is one library.
LIB_SRCS := $(filter-out userspace/agent/% userspace/ctl/%,$(wildcard userspace/*/*.c userspace/*/*/*.c))
LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIBSLUICE := $(BUILD)/libsluice.a
AGENT_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard userspace/agent/*.c))
CTL_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard userspace/ctl/*.c))
# The CNI plugin stays small: its own code plus common/, libjansson and libc.
CNI_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard cni/*.c userspace/common/*.c))

BINS := $(BUILD)/sluiced $(BUILD)/sluicectl $(BUILD)/sluice

# Tests: cmocka programs (unit and BPF), helper tools, BPF test objects.
TEST_LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard selftests/lib/*.c))
UNIT_TESTS := $(patsubst selftests/unit/%.c,$(BUILD)/selftests/unit/%,$(wildcard selftests/unit/test_*.c))
BPF_TESTS := $(patsubst selftests/bpf/%.c,$(BUILD)/selftests/bpf/%,$(wildcard selftests/bpf/test_*.c))
TEST_TOOLS := $(patsubst selftests/tools/%.c,$(BUILD)/selftests/tools/%,$(wildcard selftests/tools/*.c))
TEST_BPF_SRCS := $(wildcard selftests/bpf/progs/*.bpf.c)
TEST_SKELS := $(patsubst selftests/bpf/progs/%.bpf.c,$(BUILD)/selftests/bpf/%.skel.h,$(TEST_BPF_SRCS))

# --- top-level targets ---------------------------------------------------------

.PHONY: all bpf test test-build demo demo-down install uninstall clean check deps deps-test
all: deps $(BINS)
bpf: deps $(SKELS)

deps:
	$(Q)mk/deps.sh build

deps-test:
	$(Q)mk/deps.sh test

test-build: all $(UNIT_TESTS) $(BPF_TESTS) $(TEST_TOOLS)

test: deps-test
	$(Q)$(MAKE) --no-print-directory test-build
	$(Q)BUILD=$(BUILD) selftests/run $(if $(T),-f '$(T)')

demo: all
	$(Q)BUILD=$(BUILD) mk/demo.sh up

demo-down:
	$(Q)BUILD=$(BUILD) mk/demo.sh down

install: all
	install -d $(DESTDIR)$(CNI_BIN_DIR) $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/sluice $(DESTDIR)$(CNI_BIN_DIR)/sluice
	install -m 0755 $(BUILD)/sluiced $(BUILD)/sluicectl $(DESTDIR)$(PREFIX)/bin/

uninstall:
	rm -f $(DESTDIR)$(CNI_BIN_DIR)/sluice $(DESTDIR)$(PREFIX)/bin/sluiced $(DESTDIR)$(PREFIX)/bin/sluicectl

check: $(SKELS)
	$(Q)for f in $(LIB_SRCS) $(wildcard userspace/agent/*.c userspace/ctl/*.c cni/*.c); do \
		$(CLANG) --analyze -Xanalyzer -analyzer-werror $(CPPFLAGS) -std=gnu11 -o /dev/null $$f || exit 1; \
	done

clean:
	rm -rf $(BUILD)

# --- BPF ---------------------------------------------------------------------

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c | $(BUILD)/bpf
	$(call msg,CLANG-BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

$(BUILD)/selftests/bpf/%.bpf.o: selftests/bpf/progs/%.bpf.c | $(BUILD)/selftests/bpf
	$(call msg,CLANG-BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -Iselftests/bpf/progs -c $< -o $@

$(BUILD)/selftests/bpf/%.skel.h: $(BUILD)/selftests/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# --- userspace -----------------------------------------------------------------

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# Only the loader includes the skeletons: generate them first.
$(BUILD)/obj/userspace/loader/%.o: userspace/loader/%.c | $(SKELS)
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIBSLUICE): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/sluiced: $(AGENT_OBJS) $(LIBSLUICE)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(AGENT_OBJS) $(LIBSLUICE) $(LIBS)

$(BUILD)/sluicectl: $(CTL_OBJS) $(LIBSLUICE)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(CTL_OBJS) $(LIBSLUICE) $(LIBS)

$(BUILD)/sluice: $(CNI_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(CNI_OBJS) $(CNI_LIBS)

# --- tests ---------------------------------------------------------------------

$(BUILD)/selftests/unit/%: $(BUILD)/obj/selftests/unit/%.o $(TEST_LIB_OBJS) $(LIBSLUICE)
	@mkdir -p $(@D)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(TEST_LIB_OBJS) $(LIBSLUICE) $(LIBS) -lcmocka

# BPF tests include their test skeletons from $(BUILD)/selftests/bpf. A static
# pattern rule: make 4.3 does not chain implicit rules for the non-% prerequisites
# of a plain pattern rule, so from a clean tree the generic %.o rule would win
# and compile before any test skeleton exists.
BPF_TEST_OBJS := $(patsubst selftests/bpf/%.c,$(BUILD)/obj/selftests/bpf/%.o,$(wildcard selftests/bpf/test_*.c))
$(BPF_TEST_OBJS): $(BUILD)/obj/selftests/bpf/%.o: selftests/bpf/%.c $(TEST_SKELS) | $(SKELS)
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -I$(BUILD)/selftests/bpf -Iselftests $(CFLAGS) -c $< -o $@

$(BUILD)/selftests/bpf/%: $(BUILD)/obj/selftests/bpf/%.o $(TEST_LIB_OBJS) $(LIBSLUICE)
	@mkdir -p $(@D)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(TEST_LIB_OBJS) $(LIBSLUICE) $(LIBS) -lcmocka

# Tools may use the packet builder (sl-pktcost does).
$(BUILD)/selftests/tools/%: $(BUILD)/obj/selftests/tools/%.o $(TEST_LIB_OBJS) $(LIBSLUICE)
	@mkdir -p $(@D)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(TEST_LIB_OBJS) $(LIBSLUICE) $(LIBS)

$(BUILD)/bpf $(BUILD)/selftests/bpf:
	$(Q)mkdir -p $@

# --- bench (owned by bench/; see bench/README.md) ------------------------------
#
#   make bench                 every scenario, K=5 interleaved repetitions (< 25 min on 2 cores)
#   make bench QUICK=1         a ~3 minute subset
#   make bench SCENARIOS=cni   one scenario (datapath, policy, drop, cni, footprint; comma-separated)
#
# Results go to bench/results/<UTC timestamp>/ and bench/results/latest.

BENCH_TOOLS := $(BUILD)/bench/sl-rr $(BUILD)/bench/sl-cnibench $(BUILD)/bench/sl-dropgen $(BUILD)/bench/sl-ctgc
BENCH_SKELS := $(patsubst bench/tools/%.bpf.c,$(BUILD)/bench/%.skel.h,$(wildcard bench/tools/*.bpf.c))

.PHONY: bench bench-build deps-bench
deps-bench:
	$(Q)mk/deps.sh bench

bench-build: all $(BENCH_TOOLS)

# sl-pktcost belongs to the policy work: built if it is there and builds,
# otherwise its rows are reported as not available.
bench: deps-bench
	$(Q)$(MAKE) --no-print-directory bench-build
	$(Q)if [ -f selftests/tools/sl-pktcost.c ]; then \
		$(MAKE) --no-print-directory $(BUILD)/selftests/tools/sl-pktcost >/dev/null 2>&1 || \
		echo "bench: selftests/tools/sl-pktcost does not build; its rows will be n/a" >&2; fi
	$(Q)BUILD=$(BUILD) QUICK=$(QUICK) K=$(K) SCENARIOS=$(SCENARIOS) bench/run.sh

$(BUILD)/bench/%.bpf.o: bench/tools/%.bpf.c
	@mkdir -p $(@D)
	$(call msg,CLANG-BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bench/%.skel.h: $(BUILD)/bench/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# sl-dropgen includes the skeleton of dropgen.bpf.c.
$(BUILD)/obj/bench/tools/sl-dropgen.o: bench/tools/sl-dropgen.c $(BUILD)/bench/dropgen.skel.h
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -I$(BUILD)/bench $(CFLAGS) -c $< -o $@

$(BUILD)/bench/sl-dropgen: $(BUILD)/obj/bench/tools/sl-dropgen.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< -lbpf -lelf -lz

# sl-ctgc times the agent's own conntrack GC (libsluice).
$(BUILD)/bench/sl-ctgc: $(BUILD)/obj/bench/tools/sl-ctgc.o $(LIBSLUICE)
	@mkdir -p $(@D)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIBSLUICE) $(LIBS)

$(BUILD)/bench/sl-%: $(BUILD)/obj/bench/tools/sl-%.o
	@mkdir -p $(@D)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< -lpthread

# --- end of bench ----------------------------------------------------------------

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
