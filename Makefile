# metrist-orchestrator-ebpf-plugin
#
# The build, documented: BPF object (clang -target bpf) -> skeleton (bpftool
# gen skeleton) -> daemon (gcc, libbpf). Generated files live under $(BUILD).
#
#   make          build build/metrist-orchestrator-ebpf-plugin
#   make run      install missing build deps, build, run with the default endpoint
#   make test     install missing deps, build, run unit, fuzz (short) and e2e tests,
#                 then unit and e2e again against an ASan/UBSan build, the release
#                 files (test-dist), the image under podman with the DaemonSet's
#                 settings (test-container) and the kernel matrix's quick run
#                 (5.10, 6.1, 6.12 in qemu: test-kernels-quick)
#   make check-asan  unit and e2e tests against an ASan/UBSan build
#   make fuzz     longer fuzz run (FUZZ_SECONDS per target)

NAME      := metrist-orchestrator-ebpf-plugin
BUILD     ?= build
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0)

CC        ?= gcc
CLANG     ?= clang
BPFTOOL   ?= bpftool
ARCH_INC  := /usr/include/$(shell uname -m)-linux-gnu
LLHTTP_DIR := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp

SAN_FLAGS ?=
CFLAGS    ?= -O2 -g
CFLAGS    += -Wall -Wextra -Wno-unused-parameter -std=gnu11 -D_GNU_SOURCE \
	     -DVERSION='"$(VERSION)"' -Isrc -I$(BUILD) -I$(LLHTTP_INC) $(SAN_FLAGS)
LDFLAGS   += $(SAN_FLAGS)
# Capstone (Go return instructions) is linked statically in every build: the daemon
# needs no libcapstone at run time, and src/capstone_x86_only.c keeps the other
# architectures out of the executable.
LDLIBS    := -lbpf -lelf -lz -lcares -ljansson -l:libcapstone.a -lpthread

BPF_SRC   := src/bpf/tls_trace.bpf.c
BPF_OBJ   := $(BUILD)/tls_trace.bpf.o
SKEL      := $(BUILD)/tls_trace.skel.h

SRCS      := $(wildcard src/*.c)
OBJS      := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))
LIB_OBJS  := $(filter-out $(BUILD)/obj/main.o,$(OBJS))
LLHTTP_OBJS := $(patsubst %,$(BUILD)/llhttp/%.o,api http llhttp)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 20

BUILD_DEPS := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libzstd-dev \
	      libc-ares-dev libjansson-dev node-llhttp libcapstone-dev make gcc pkg-config
TEST_DEPS  := libcmocka-dev libclang-rt-14-dev python3 python3-pytest curl golang-go nodejs \
	      openssl nginx-full iproute2 util-linux procps libnghttp2-dev nghttp2-client \
	      python3-httpx python3-h2 wget git gnutls-bin libgnutls28-dev pkg-config \
	      libpcre2-dev libyaml-dev python3-yaml tmux

.PHONY: all run test check-asan unit fuzz fuzz-short e2e deps test-deps clean format

all: $(BUILD)/$(NAME)

# ---- dependencies (Debian/Ubuntu, as root) ----------------------------------
deps:
	@scripts/install-deps.sh $(BUILD_DEPS)

test-deps:
	@scripts/install-deps.sh $(BUILD_DEPS) $(TEST_DEPS)

# ---- BPF object and skeleton ------------------------------------------------
# No kernel headers, no kernel BTF: uprobe programs only read user memory, and
# struct pt_regs comes from the UAPI <asm/ptrace.h>.
$(BPF_OBJ): $(BPF_SRC) $(wildcard src/bpf/*.h) | $(BUILD)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -I$(ARCH_INC) -Isrc/bpf \
		-Wall -Wno-unused-function -Wno-gnu-variable-sized-type-not-at-end -c $< -o $@

$(SKEL): $(BPF_OBJ)
	$(BPFTOOL) gen skeleton $< name tls_trace > $@

# ---- daemon -----------------------------------------------------------------
$(BUILD)/obj/%.o: src/%.c $(SKEL) $(wildcard src/*.h) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# llhttp's generated C sources, built as they are (warnings are theirs).
$(BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) -O2 -g $(SAN_FLAGS) -I$(LLHTTP_INC) -c $< -o $@

$(BUILD)/$(NAME): $(OBJS) $(LLHTTP_OBJS)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD):
	@mkdir -p $(BUILD)

# ---- tests ------------------------------------------------------------------
$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) $(LLHTTP_OBJS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(filter-out %.h,$^) -o $@ $(LDLIBS) -lcmocka

# nghttp2 plays both peers of the HTTP/2 unit tests (the daemon does not link it).
$(BUILD)/tests/test_http2: LDLIBS += -lnghttp2
# suggest-config's output read back as the Orchestrator reads it: YAML, PCRE.
$(BUILD)/tests/test_suggest: LDLIBS += -lpcre2-8 -lyaml

# Go programs of the tests (tests/unit/go_*/, tests/e2e/go_*/), built with Debian's
# golang-go, offline, into $(BUILD)/tests/go/: NAME (with symbols), NAME-stripped
# (-ldflags='-s -w'), NAME-pie-stripped, and NAME.objdump (go tool objdump of the
# crypto/tls functions the Go back end probes, the reference test_go_elf checks against);
# go.version is the toolchain's version.
GO        ?= go
GO_DIR    := $(BUILD)/tests/go
GO_ENV    := GOCACHE=$(abspath $(GO_DIR))/cache GOPATH=$(abspath $(GO_DIR))/path \
	     GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod
GO_PROGS  := $(patsubst %/,%,$(dir $(wildcard tests/unit/go_*/main.go tests/e2e/go_*/main.go)))
GO_BINS   := $(GO_DIR)/go.version $(foreach p,$(notdir $(GO_PROGS)),$(GO_DIR)/$(p) \
	       $(addprefix $(GO_DIR)/$(p),-stripped -pie-stripped .objdump))
GO_TLS_FUNCS := ^crypto/tls\.\(\*Conn\)\.(Read|Write|Close|clientHandshake|serverHandshake)$$

define go_prog
$(GO_DIR)/$(notdir $(1)): $(wildcard $(1)/*.go)
	@mkdir -p $$(dir $$@)
	$(GO_ENV) $(GO) build -o $$@ $$^
$(GO_DIR)/$(notdir $(1))-stripped: $(wildcard $(1)/*.go)
	@mkdir -p $$(dir $$@)
	$(GO_ENV) $(GO) build -ldflags='-s -w' -o $$@ $$^
$(GO_DIR)/$(notdir $(1))-pie-stripped: $(wildcard $(1)/*.go)
	@mkdir -p $$(dir $$@)
	$(GO_ENV) $(GO) build -buildmode=pie -ldflags='-s -w' -o $$@ $$^
$(GO_DIR)/$(notdir $(1)).objdump: $(GO_DIR)/$(notdir $(1))
	$(GO_ENV) $(GO) tool objdump -s '$$(GO_TLS_FUNCS)' $$< > $$@.tmp && mv $$@.tmp $$@
endef
$(foreach p,$(GO_PROGS),$(eval $(call go_prog,$(p))))
$(GO_DIR)/go.version:
	@mkdir -p $(dir $@)
	$(GO_ENV) $(GO) env GOVERSION > $@.tmp && mv $@.tmp $@

# test_go_elf analyses the Go programs above.
$(BUILD)/tests/test_go_elf: | $(GO_BINS)

unit: $(UNIT_BINS)
	@scripts/run-unit.sh $(UNIT_BINS)

# Fuzz targets: every non-main source and llhttp, rebuilt with libFuzzer and sanitizers.
FUZZ_CFLAGS := -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	       -D_GNU_SOURCE -std=gnu11 -Isrc -I$(BUILD) -I$(LLHTTP_INC)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(filter-out src/main.c,$(SRCS)) $(LLHTTP_DIR)/api.c \
		$(LLHTTP_DIR)/http.c $(LLHTTP_DIR)/llhttp.c $(SKEL)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@ $(LDLIBS)

$(BUILD)/fuzz/fuzz_suggest: LDLIBS += -lpcre2-8 -lyaml

fuzz-short: FUZZ_SECONDS = 15
fuzz-short fuzz: $(FUZZ_BINS)
	@scripts/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# The tests' daemons log each attach (--verbose): a failed run then shows
# when each process got its probes, which is what a missed call needs.
E2E_DAEMON_ARGS ?= --verbose

e2e: $(BUILD)/$(NAME) $(GO_BINS)
	@scripts/mount-bpf.sh
	$(E2E_ENV) GO_TEST_DIR=$(abspath $(GO_DIR)) DAEMON_ARGS="$(E2E_DAEMON_ARGS)" DAEMON=$(abspath $(BUILD)/$(NAME)) /usr/bin/python3 -m pytest -v -p no:cacheprovider tests/e2e

test: test-deps
	$(MAKE) all unit
	$(MAKE) fuzz-short
	$(MAKE) e2e
	$(MAKE) check-asan
	$(MAKE) test-dist
	$(MAKE) test-container
	$(MAKE) test-kernels-quick KERNEL_TEST_DAEMON=$(DIST_BUILD)/$(NAME)

check-asan: test-deps
	$(MAKE) BUILD=build-asan SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
		E2E_ENV="E2E_SANITIZED=1" all unit e2e

run: deps
	$(MAKE) all
	@scripts/mount-bpf.sh
	$(BUILD)/$(NAME)

format:
	clang-format -i src/*.c src/*.h src/bpf/*.c src/bpf/*.h tests/unit/*.c tests/fuzz/*.c

clean:
	rm -rf build build-asan dist

# ==== distribution: make dist, make test-dist ==================================
# Release files in $(DIST)/ (see README "Install" and packaging/):
#   make dist               static-pie executable (own build dir, own flags), tarball,
#                           .deb for Ubuntu 20.04, latest-*.txt, the OCI image
#                           (scripts/image.sh); signed when METRIST_SIGNING_KEY_FILE
#                           or METRIST_SIGNING_KEY_ID is set (packaging/keys/README)
#   make image              only the OCI image (FROM scratch, buildah), into $(DIST)/,
#                           signed likewise
#   make test-dist          build everything into $(DIST_TEST_OUT) with a throw-away key
#                           and test it (tests/dist/run.sh), then boot Debian bullseye
#                           with systemd-nspawn, install the .deb and check the running
#                           service (tests/dist/systemd.sh); part of make test, ~1 min
#                           once the bullseye root is cached (/var/cache/metrist-ebpf-test);
#                           and the seed's install commands, verbatim, against the files
#                           served over HTTP (tests/dist/seed.sh)
#   make test-dist-systemd  only the systemd boot test
DIST          ?= dist
DIST_BUILD    := build-dist
DIST_TEST_OUT := $(DIST_BUILD)/test-out
DIST_DEPS     := $(BUILD_DEPS) libzstd-dev dpkg-dev file binutils gnupg buildah
DIST_TEST_DEPS := $(DIST_DEPS) lintian debootstrap systemd-container systemd util-linux skopeo \
		  python3 iproute2
# Hardening for the release build; passed through the environment so the main
# Makefile's CFLAGS (+= -Isrc ...) still apply.
DIST_CFLAGS   := -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fcf-protection
# c-ares' getservbyname/getservbyport_r would pull glibc's NSS (dlopen of the
# host's libnss_*) into a static executable: replaced by stubs (packaging/static/no-nss.c).
DIST_LDLIBS   := $(DIST_BUILD)/no-nss.o -Wl,--wrap=getservbyname,--wrap=getservbyport_r \
		 -lbpf -lelf -lz -lzstd -lcares -ljansson -l:libcapstone.a -lpthread

.PHONY: dist dist-bin dist-deps test-dist test-dist-deps test-dist-systemd clean-dist image

dist-deps:
	@scripts/install-deps.sh $(DIST_DEPS)

test-dist-deps:
	@scripts/install-deps.sh $(DIST_TEST_DEPS)

$(DIST_BUILD)/no-nss.o: packaging/static/no-nss.c
	@mkdir -p $(DIST_BUILD)
	$(CC) $(DIST_CFLAGS) -Wall -Wextra -c $< -o $@

# main.o is the only object carrying VERSION: rebuild it every time so the
# executable never reports a stale `git describe`.
dist-bin: $(DIST_BUILD)/no-nss.o
	rm -f $(DIST_BUILD)/obj/main.o $(DIST_BUILD)/$(NAME)
	CFLAGS="$(DIST_CFLAGS)" $(MAKE) BUILD=$(DIST_BUILD) LDFLAGS=-static-pie \
		LDLIBS="$(DIST_LDLIBS)" all

dist: dist-deps
	$(MAKE) dist-bin
	scripts/dist.sh $(DIST_BUILD)/$(NAME) $(DIST)

image: dist-deps
	$(MAKE) dist-bin
	scripts/image.sh $(DIST_BUILD)/$(NAME) $(DIST)
	@if [ -n "$$METRIST_SIGNING_KEY_FILE$$METRIST_SIGNING_KEY_ID" ]; then \
		scripts/sign.sh $(DIST) $(DIST)/$(NAME)-*-x86_64.oci.tar; \
	else echo "NOTE: no signing key given: the image is NOT signed (packaging/keys/README)" >&2; fi

test-dist: test-dist-deps
	$(MAKE) dist-bin
	tests/dist/run.sh $(DIST_BUILD)/$(NAME) $(DIST_TEST_OUT)
	tests/dist/seed.sh $(DIST_BUILD)/$(NAME) $(DIST_TEST_OUT)
	tests/dist/systemd.sh $(DIST_BUILD)/$(NAME) $(DIST_TEST_OUT)

test-dist-systemd: test-dist-deps
	$(MAKE) dist-bin
	tests/dist/systemd.sh $(DIST_BUILD)/$(NAME) $(DIST_TEST_OUT)

clean: clean-dist
clean-dist:
	rm -rf $(DIST_BUILD)

# ---- containers and Kubernetes (issue 16): make test-container ------------------
# The release image (scripts/image.sh) run by podman with exactly the settings
# of deploy/kubernetes/daemonset.yaml (tests/container/manifest_to_podman.py):
# host and container curls reported, a TLS server in a container pays nothing,
# one instance per host across containers, each capability needed; and the
# manifests checked offline against the Kubernetes API schema. ~3 min. The
# image is built unsigned into $(CONTAINER_TEST_OUT).
CONTAINER_TEST_DEPS := podman buildah runc skopeo python3-pytest python3-yaml python3-kubernetes \
		       yamllint curl openssl util-linux debootstrap
CONTAINER_TEST_OUT  := $(DIST_BUILD)/image-test
.PHONY: test-container
test-container: test-dist-deps
	@scripts/install-deps.sh $(CONTAINER_TEST_DEPS)
	$(MAKE) dist-bin
	rm -f $(CONTAINER_TEST_OUT)/*.oci.tar
	scripts/image.sh $(DIST_BUILD)/$(NAME) $(CONTAINER_TEST_OUT)
	IMAGE_ARCHIVE=$$(ls $(abspath $(CONTAINER_TEST_OUT))/*.oci.tar) HOST_DAEMON=$(abspath $(DIST_BUILD)/$(NAME)) \
		/usr/bin/python3 -m pytest -v -rs -p no:cacheprovider tests/container
# ---- end containers --------------------------------------------------------------

# ---- bench (issue 6; maintained with bench/) ---------------------------------
# make bench                 full benchmark, as root, ~12 min: prints a summary,
#                            writes bench/results.json and the table in BENCHMARKS.md
# BENCH_QUICK=1 make bench   short version for iteration (~3 min)
BENCH_DEPS := wrk nghttp2-client bpftrace nginx-full openssl libssl-dev python3 gcc golang-go \
	      binutils linux-libc-dev
.PHONY: bench
bench: deps
	@scripts/install-deps.sh $(BENCH_DEPS)
	$(MAKE) all
	@scripts/mount-bpf.sh
	BENCH_DAEMON=$(BUILD)/$(NAME) python3 bench/bench.py
# ---- end bench ----------------------------------------------------------------

# ==== kernel matrix (issue 18): make test-kernels, make test-kernels-quick =====
# Boots Debian's own kernels under qemu (bullseye 5.10, bookworm 6.1, trixie
# 6.12; TCG unless KVM boots them) and runs the release executable (make
# dist-bin) inside each guest against real clients: tests/kernels/. Kernels and
# a bullseye root come from Debian packages on first use (~2-3 min) and are
# cached in /var/cache/metrist-ebpf-test/kernels (scripts/kernel-images.sh).
#   make test-kernels        5.10 and 6.1 in both probe modes, 6.12 (~4 min warm)
#   make test-kernels-quick  the bounded subset (KERNEL_TEST_QUICK=1 in run.sh)
#   KERNEL_TEST_DAEMON=path  test that executable instead of building dist-bin
# Other knobs (matrix, accelerator, extra daemon args): tests/kernels/run.sh.
KERNEL_TEST_DEPS := qemu-system-x86 debootstrap e2fsprogs golang-go
KERNEL_TEST_DAEMON ?=
.PHONY: test-kernels test-kernels-quick test-kernels-deps

test-kernels-deps:
	@scripts/install-deps.sh $(DIST_DEPS) $(KERNEL_TEST_DEPS)

test-kernels test-kernels-quick: test-kernels-deps
	$(if $(KERNEL_TEST_DAEMON),,$(MAKE) dist-bin)
	$(if $(filter test-kernels-quick,$@),KERNEL_TEST_QUICK=1) \
		tests/kernels/run.sh $(or $(KERNEL_TEST_DAEMON),$(DIST_BUILD)/$(NAME))
# ---- end kernel matrix -----------------------------------------------------------

# ---- bench-arming (issue 11: arming holds under load; maintained with bench/arming.py) ----
# make bench-arming                 as root, ~10 min: idle CPU of the daemon and the
#                                   kernel threads (30 s), one-shot capture of 1000
#                                   curls idle and busy; prints a table and merges
#                                   the results into bench/arming-results.json
# BENCH_QUICK=1 make bench-arming   short version for iteration (~3 min)
# BENCH_ARMING_ARGS="--n 300 --rcu-expedited 0 --label x"   any flag of bench/arming.py
BENCH_ARMING_DEPS := curl nginx-full openssl python3
.PHONY: bench-arming
bench-arming: deps
	@scripts/install-deps.sh $(BENCH_ARMING_DEPS)
	$(MAKE) all
	@scripts/mount-bpf.sh
	BENCH_DAEMON=$(BUILD)/$(NAME) python3 bench/arming.py $(BENCH_ARMING_ARGS)
# ---- end bench-arming -------------------------------------------------------------

# ---- bench-baseline (issue 11: "no regression"; maintained with bench/baseline.py) ----
# make bench-baseline [BASELINE=rev]  as root, ~12 min: an earlier daemon (built from
#                                   git rev BASELINE; default a7b7a43, the last commit
#                                   before issue 11 rebuilt the control path) and this
#                                   one, side by side in one run, interleaved a o b
#                                   (ka, close, srv, paced); writes bench/baseline-results.json
#                                   and the "Against an earlier daemon" table of BENCHMARKS.md
BASELINE ?= a7b7a43
BASELINE_DIR := $(BUILD)/baseline-$(BASELINE)
.PHONY: bench-baseline
bench-baseline: deps
	@scripts/install-deps.sh $(BENCH_DEPS)
	$(MAKE) all
	rm -rf $(BASELINE_DIR) && mkdir -p $(BASELINE_DIR)
	git archive $(BASELINE) | tar -x -C $(BASELINE_DIR)
	$(MAKE) -C $(BASELINE_DIR) all VERSION=$(BASELINE)
	@scripts/mount-bpf.sh
	BENCH_DAEMON=$(BUILD)/$(NAME) BENCH_BASELINE_DAEMON=$(BASELINE_DIR)/build/$(NAME) \
		BASELINE=$(BASELINE) python3 bench/baseline.py
# ---- end bench-baseline -----------------------------------------------------------

# ---- soak (issue 15; maintained with bench/soak.py) ---------------------------------
# make soak                  as root, SOAK_SECONDS (30 min) of mixed load (HTTP/1.1
#                            keep-alive, HTTP/2, a one-shot curl storm) against a local
#                            nginx; samples the daemon's RSS, descriptors, threads and CPU
#                            per call every SOAK_SAMPLE s and fails unless they stay flat
#                            and >= 99 % of the calls arrive; writes bench/soak-results.json.
#                            Not part of make test. Alone on the host: the e2e suite and
#                            benchmarks would trace each other (flock /tmp/e2e.lock make soak).
# SOAK_SECONDS=180 make soak  the short version
SOAK_SECONDS ?= 1800
SOAK_DEPS := curl nginx-full openssl python3 python3-pytest python3-httpx python3-h2
.PHONY: soak
soak: deps
	@scripts/install-deps.sh $(SOAK_DEPS)
	$(MAKE) all
	@scripts/mount-bpf.sh
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_DAEMON=$(abspath $(BUILD)/$(NAME)) /usr/bin/python3 bench/soak.py
# ---- end soak -------------------------------------------------------------------------
