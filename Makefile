# Karpa build. `make` builds the release binary with -Werror; `make test`
# builds everything again with ASan+UBSan and runs every test; `make bench`
# runs the benchmarks against their peers; `make install PREFIX=...`.
#
# Sources are found by wildcard so that adding a module never edits this file:
#   src/*/*.c -> libkarpa (utilities, data, harness, sandbox, proof, judge, validator)
#   recipe/*.c -> librecipe (the patchable recipe, built with pinned flags): linked
#                 into the runner, and into tests and benches that drive it in-process;
#                 never into libkarpa or the karpa binary
#   cli/*.c   -> karpa
#   tests/test_*.c, tests/hostile/test_*.c -> one cmocka binary each

CC      ?= cc
.DEFAULT_GOAL := all
PREFIX  ?= /usr/local
BUILD   ?= build

PKGS     = libsodium libarchive jansson sqlite3 cmocka libutf8proc libseccomp libcrypto libmicrohttpd libcurl libxxhash libelf
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null || echo -I/usr/include/x86_64-linux-gnu/openblas-pthread)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
# libkarpa and the karpa binary do not link OpenBLAS: its constructor starts a
# thread pool that spins for a while in every process, and only the
# calibration (and the proof's record of it) uses it, so blas_dl.c loads it at
# run time (docs/calibration.md).
# BLAS_LIBDIR is where it looks when libopenblas.so.0 is not on the loader's path.
BLAS_LIBDIR := $(patsubst %/,%,$(shell pkg-config --variable=libdir openblas 2>/dev/null))

# -Wno-format-truncation: messages are truncated on purpose; paths go through fs_join, which checks.
WARN    = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter -Wno-format-truncation
# The recipe's pinned flags (PROTOCOL 4.2): recorded in every proof. No
# -ffast-math and no FP contraction: bits must not depend on the optimizer.
RECIPE_FLAGS_AVX2 = -O3 -mavx2 -mfma -ffp-contract=off -fno-fast-math -fopenmp -Werror=implicit-function-declaration \
                    -Werror=trampolines -fno-common
# The portable recipe (docs/determinism.md): plain C for the baseline ISA of
# any target, fmaf where the AVX2 kernel fuses; the same bits as the AVX2
# build. `make PORTABLE=1` makes it the pinned build (karpa-recipe and every
# recipe built by recipe_build.c); a host that is not x86-64 always uses it.
# karpa-recipe-portable is built beside the AVX2 runner so a test can
# compare the two.
RECIPE_FLAGS_PORTABLE = -O3 -ffp-contract=off -fno-fast-math -fopenmp -Werror=implicit-function-declaration \
                        -Werror=trampolines -fno-common -DKARPA_PORTABLE
HOST_ARCH := $(shell uname -m)
ifeq ($(HOST_ARCH),x86_64)
PORTABLE ?= 0
else
PORTABLE := 1
endif
ifeq ($(PORTABLE),1)
RECIPE_FLAGS = $(RECIPE_FLAGS_PORTABLE)
else
RECIPE_FLAGS = $(RECIPE_FLAGS_AVX2)
endif
BASE    = -std=c11 -D_GNU_SOURCE -Isrc -Irecipe $(PKG_CFLAGS) $(BLAS_CFLAGS) -fopenmp
REL_CFLAGS  = $(BASE) $(WARN) -O2 -g -ffp-contract=off -mavx2 -mfma
# KARPA_TEST_HOOKS: fault injection (crash points) exists only in this build.
SAN_CFLAGS  = $(BASE) $(WARN) -DKARPA_TEST_HOOKS -O1 -g -fno-omit-frame-pointer -ffp-contract=off -mavx2 -mfma \
              -fsanitize=address,undefined -fno-sanitize-recover=undefined
LIBS    = $(PKG_LIBS) -fopenmp -lm -lpthread -ldl

LIB_SRC    := $(wildcard src/*/*.c)
RECIPE_SRC := $(wildcard recipe/*.c)
CLI_SRC    := $(wildcard cli/*.c)
TEST_SRC   := $(wildcard tests/test_*.c tests/hostile/test_*.c)
BENCH_SRC  := $(wildcard bench/*.c)

REL_LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/rel/%.o)
REL_RECIPE_OBJ := $(RECIPE_SRC:%.c=$(BUILD)/rel/%.o)
REL_CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/rel/%.o)
SAN_LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/san/%.o)
SAN_RECIPE_OBJ := $(RECIPE_SRC:%.c=$(BUILD)/san/%.o)
SAN_CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/san/%.o)
TEST_BIN       := $(TEST_SRC:%.c=$(BUILD)/san/%)
BENCH_BIN      := $(BENCH_SRC:%.c=$(BUILD)/rel/%)

# -z noexecstack: the runner's stack is never executable, even where an
# object asks for it (a GCC trampoline, which -Werror=trampolines refuses
# at compile time, and check 1's judge.nested_function before that).
RUNNER_LIBS = -lseccomp -lsodium -fopenmp -lm -Wl,-z,noexecstack
RUNNER_LINK = $(BLAS_LIBS) $(RUNNER_LIBS)
# A runner for aarch64, which only a prover asks for (`karpa prove
# --runner-isa aarch64`, docs/determinism.md): the portable flags and the
# runner's libraries, cross-compiled by Debian's aarch64-linux-gnu-gcc
# against the arm64 packages (multiarch; scripts/setup.sh), run under
# qemu-aarch64. The BLAS paths are the arm64 package's own.
AARCH64_PC = PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig pkg-config
AARCH64_BLAS_CFLAGS := $(shell $(AARCH64_PC) --cflags openblas 2>/dev/null || \
                         echo -I/usr/include/aarch64-linux-gnu/openblas-pthread/)
AARCH64_BLAS_LIBS := $(shell $(AARCH64_PC) --libs openblas 2>/dev/null || echo -lopenblas)
RECIPE_FLAGS_AARCH64 = $(RECIPE_FLAGS_PORTABLE) $(AARCH64_BLAS_CFLAGS)
RUNNER_LINK_AARCH64 = $(AARCH64_BLAS_LIBS) $(RUNNER_LIBS)
# recipe_build.c compiles external recipes with exactly the flags used here.
BUILD_DEFS = -DKARPA_RECIPE_FLAGS='"$(RECIPE_FLAGS) $(BLAS_CFLAGS)"' -DKARPA_SRC_DIR='"$(CURDIR)"' \
             -DKARPA_LINK_FLAGS='"$(RUNNER_LINK)"' \
             -DKARPA_RECIPE_FLAGS_AARCH64='"$(RECIPE_FLAGS_AARCH64)"' \
             -DKARPA_LINK_FLAGS_AARCH64='"$(RUNNER_LINK_AARCH64)"' \
             -DKARPA_NVCC='"$(NVCC)"' -DKARPA_NVCC_FLAGS='"$(NVCC_RECIPE_FLAGS)"' \
             -DKARPA_CUDA_FLAGS='"$(CUDA_RECIPE_FLAGS)"' -DKARPA_CUDA_LINK='"$(CUDA_RUNNER_LINK)"'
$(BUILD)/rel/src/sandbox/recipe_build.o $(BUILD)/san/src/sandbox/recipe_build.o: CFLAGS_EXTRA = $(BUILD_DEFS)
$(BUILD)/rel/src/sandbox/recipe_build.o $(BUILD)/san/src/sandbox/recipe_build.o: Makefile
$(BUILD)/rel/src/harness/blas_dl.o $(BUILD)/san/src/harness/blas_dl.o $(BUILD)/fuzz/obj/src/harness/blas_dl.o: \
	CFLAGS_EXTRA = -DKARPA_BLAS_LIBDIR='"$(BLAS_LIBDIR)"'

.PHONY: all test bench install clean fuzz fuzz-check
# `make -s print-VAR` prints a variable (tests/cross/isa.sh reads the pinned flags).
print-%:
	@echo '$($*)'
.SECONDARY:
all: $(BUILD)/karpa $(BUILD)/karpa-recipe $(BUILD)/karpa-recipe-portable $(BENCH_BIN)

$(BUILD)/rel/recipe/%.o: recipe/%.c
	@mkdir -p $(dir $@)
	@echo "  CC   $@"; $(CC) $(BASE) $(WARN) $(RECIPE_FLAGS) -g -MMD -MP -c $< -o $@
$(BUILD)/rel/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC   $@"; $(CC) $(REL_CFLAGS) $(CFLAGS_EXTRA) -MMD -MP -c $< -o $@
$(BUILD)/portable/recipe/%.o: recipe/%.c
	@mkdir -p $(dir $@)
	@echo "  CC   $@"; $(CC) $(BASE) $(WARN) $(RECIPE_FLAGS_PORTABLE) -g -MMD -MP -c $< -o $@
$(BUILD)/san/recipe/%.o: recipe/%.c
	@mkdir -p $(dir $@)
	@echo "  CC   $@"; $(CC) $(SAN_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC   $@"; $(CC) $(SAN_CFLAGS) $(CFLAGS_EXTRA) -MMD -MP -c $< -o $@

$(BUILD)/rel/libkarpa.a: $(REL_LIB_OBJ)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/san/libkarpa.a: $(SAN_LIB_OBJ)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/rel/librecipe.a: $(REL_RECIPE_OBJ)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/san/librecipe.a: $(SAN_RECIPE_OBJ)
	@rm -f $@; ar rcs $@ $^

# The dashboard page is built into the binary by .incbin (dashboard.c),
# which -MMD does not see: its objects depend on the page by name.
$(BUILD)/rel/src/validator/dashboard.o $(BUILD)/san/src/validator/dashboard.o \
	$(BUILD)/fuzz/obj/src/validator/dashboard.o: src/validator/dashboard.html

$(BUILD)/karpa: $(REL_CLI_OBJ) $(BUILD)/rel/libkarpa.a
	@echo "  CC   $@"; $(CC) $(REL_CFLAGS) -o $@ $(REL_CLI_OBJ) $(BUILD)/rel/libkarpa.a $(LIBS)
$(BUILD)/san/karpa: $(SAN_CLI_OBJ) $(BUILD)/san/libkarpa.a
	@echo "  CC   $@"; $(CC) $(SAN_CFLAGS) -o $@ $(SAN_CLI_OBJ) $(BUILD)/san/libkarpa.a $(LIBS)

# The runner: the project's recipe wrapped in its own process (recipe_wire.h),
# with the harness files recipe_build.c compiles into every runner.
RUNNER_HARNESS_OBJ = $(BUILD)/rel/runner/main.o $(BUILD)/rel/src/sandbox/recipe_wire.o \
		$(BUILD)/rel/src/sandbox/sandbox_inner.o $(BUILD)/rel/src/sandbox/recipe_trace.o \
		$(BUILD)/rel/src/sandbox/gemmtab.o $(BUILD)/rel/src/util/kerr.o
$(BUILD)/karpa-recipe: $(RUNNER_HARNESS_OBJ) $(REL_RECIPE_OBJ)
	@echo "  LD   $@"; $(CC) $(REL_CFLAGS) -o $@ $^ $(RUNNER_LINK)

$(BUILD)/karpa-recipe-portable: $(RUNNER_HARNESS_OBJ) $(RECIPE_SRC:%.c=$(BUILD)/portable/%.o)
	@echo "  LD   $@"; $(CC) $(REL_CFLAGS) -o $@ $^ $(RUNNER_LINK)

$(BUILD)/san/tests/%: $(BUILD)/san/tests/%.o $(BUILD)/san/libkarpa.a $(BUILD)/san/librecipe.a
	@echo "  CC   $@"; $(CC) $(SAN_CFLAGS) -o $@ $< $(BUILD)/san/libkarpa.a $(BUILD)/san/librecipe.a $(LIBS) \
		$(WRAP_$(notdir $@))
# test_nomem fails the project's allocations one at a time: its own
# malloc, calloc, realloc and strdup stand in for libc's in what it links.
WRAP_test_nomem := -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=strdup -Wl,--wrap=strndup
# bench_gemm times OpenBLAS against the recipe's gemm: the one bench that links it.
$(BUILD)/rel/bench/bench_gemm: BENCH_LIBS = $(BLAS_LIBS)
$(BUILD)/rel/bench/%: $(BUILD)/rel/bench/%.o $(BUILD)/rel/libkarpa.a $(BUILD)/rel/librecipe.a
	@echo "  CC   $@"; $(CC) $(REL_CFLAGS) -o $@ $< $(BUILD)/rel/libkarpa.a $(BUILD)/rel/librecipe.a $(LIBS) $(BENCH_LIBS)

# Fuzz targets (tests/fuzz/fuzz_*.c, docs/fuzzing.md): libFuzzer needs clang.
# A separate object tree under $(BUILD)/fuzz, every object instrumented for
# coverage with ASan+UBSan; the gcc builds above are untouched. Warnings are
# not errors here: -Werror is the gcc build's contract, and clang's warning
# set differs.
FUZZ_CC     ?= clang-14
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  = $(BASE) -Wall -Wextra -Wno-unused-parameter -O1 -g -fno-omit-frame-pointer \
               -ffp-contract=off -mavx2 -mfma $(FUZZ_SAN)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES  := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_BIN    := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(RECIPE_SRC:%.c=$(BUILD)/fuzz/obj/%.o)
$(BUILD)/fuzz/obj/src/sandbox/recipe_build.o: CFLAGS_EXTRA = $(BUILD_DEFS)
$(BUILD)/fuzz/obj/src/sandbox/recipe_build.o: Makefile

$(BUILD)/fuzz/obj/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	@echo "  FZ   $@"; $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP -c $< -o $@
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  FZ   $@"; $(FUZZ_CC) $(FUZZ_CFLAGS) $(CFLAGS_EXTRA) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(BUILD)/fuzz/libkarpa.a: $(FUZZ_LIB_OBJ)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o $(BUILD)/fuzz/libkarpa.a
	@echo "  LD   $@"; $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/fuzz/libkarpa.a $(LIBS)

fuzz: $(FUZZ_BIN)
# Replays every seed corpus, then gives each target a short run (FUZZ_SECONDS).
FUZZ_SECONDS ?= 10
fuzz-check: $(FUZZ_BIN)
	@bash tests/fuzz/run.sh $(BUILD)/fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

# The GPU recipe (recipe/cuda/, docs/gpu.md): built by `make gpu` where the
# CUDA toolkit is installed; a machine without it skips it cleanly, and no
# CPU target depends on it. Kernels are CUDA C++ (.cu); everything else,
# the GPU tests and the benchmark are C11 against the CUDA runtime's C API.
# The CUDA runtime is linked statically and cuBLASLt dynamically (the GPU
# machine's toolkit provides it); bench/gpu.sh collects the few other
# shared libraries a bare GPU machine may lack.
NVCC      ?= $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard /usr/local/cuda/bin/nvcc))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
# sm_90: the H100/H200 the GPU scales are measured on; add gencodes for others.
CUDA_GENCODE ?= -gencode=arch=compute_90,code=sm_90
NVCC_FLAGS = -std=c++17 -O3 $(CUDA_GENCODE) -Irecipe/cuda -Irecipe -Isrc -Xptxas -warn-spills \
             -Xcompiler -Wall,-Wextra,-Werror -Werror all-warnings
# A GPU runner built from a recipe folder (recipe_build_cuda): its CUDA part
# with these nvcc flags, its C files with the pinned recipe flags and the
# toolkit's headers, linked as karpa-recipe-cuda is.
# -fno-gnu-unique: an inline function's static stays an ordinary symbol,
# which the build can make local (docs/symcheck.md).
NVCC_RECIPE_FLAGS = -std=c++17 -O3 $(CUDA_GENCODE) -Xcompiler -Wall,-Wextra,-fno-gnu-unique
CUDA_RECIPE_FLAGS = $(RECIPE_FLAGS) -isystem $(CUDA_HOME)/include
CUDA_RUNNER_LINK  = $(RUNNER_LIBS) -L$(CUDA_HOME)/lib64 -lcublasLt -lcudart_static -lstdc++ -ldl -lrt -lpthread
GPU_CFLAGS = $(BASE) $(WARN) -O2 -g -ffp-contract=off -mavx2 -mfma -isystem $(CUDA_HOME)/include -Irecipe/cuda
GPU_LIBS   = -L$(CUDA_HOME)/lib64 -lcublasLt -lcudart_static -lstdc++ -ldl -lrt -lpthread -fopenmp -lm
GPU_CU_SRC := $(wildcard recipe/cuda/*.cu)
GPU_C_SRC  := $(filter-out recipe/cuda/recipe_cuda.c,$(wildcard recipe/cuda/*.c))
GPU_OBJ    := $(GPU_CU_SRC:%.cu=$(BUILD)/gpu/%.o) $(GPU_C_SRC:%.c=$(BUILD)/gpu/%.o)
# The CPU recipe's model without its API (recipe.c): the GPU recipe shares
# its configs, init and state blob, and the parity tests run both engines.
GPU_CPU_OBJ := $(filter-out $(BUILD)/rel/recipe/recipe.o,$(REL_RECIPE_OBJ))
# gm.c reads and writes the algorithm table through the harness's gemmtab.
GPU_CPU_OBJ += $(BUILD)/rel/src/sandbox/gemmtab.o $(BUILD)/rel/src/util/kerr.o
GPU_TEST_SRC := $(wildcard tests/gpu/test_*.c)
GPU_TEST_BIN := $(GPU_TEST_SRC:%.c=$(BUILD)/gpu/%)
GPU_BENCH_SRC := $(wildcard bench/gpu/*.c)
GPU_BENCH_BIN := $(GPU_BENCH_SRC:%.c=$(BUILD)/gpu/%)

$(BUILD)/gpu/%.o: %.cu recipe/cuda/gk.h $(wildcard recipe/cuda/*.cuh)
	@mkdir -p $(dir $@)
	@echo "  NVCC $@"; $(NVCC) $(NVCC_FLAGS) -c $< -o $@
$(BUILD)/gpu/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC   $@"; $(CC) $(GPU_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/gpu/libgg.a: $(GPU_OBJ)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/gpu/tests/gpu/%: $(BUILD)/gpu/tests/gpu/%.o $(BUILD)/gpu/libgg.a $(GPU_CPU_OBJ)
	@echo "  LD   $@"; $(CC) $(GPU_CFLAGS) -o $@ $< $(BUILD)/gpu/libgg.a $(GPU_CPU_OBJ) -lcmocka $(GPU_LIBS) $(GPU_TEST_LIBS)
# the sandbox's GPU profile test and the pin test drive the runner through
# the validator's own library
$(BUILD)/gpu/tests/gpu/test_gpu_sandbox $(BUILD)/gpu/tests/gpu/test_gemm_pin: $(BUILD)/rel/libkarpa.a
$(BUILD)/gpu/tests/gpu/test_gpu_sandbox $(BUILD)/gpu/tests/gpu/test_gemm_pin: \
	GPU_TEST_LIBS = $(BUILD)/rel/libkarpa.a $(LIBS)
$(BUILD)/gpu/bench/gpu/%: $(BUILD)/gpu/bench/gpu/%.o $(BUILD)/gpu/libgg.a $(GPU_CPU_OBJ)
	@echo "  LD   $@"; $(CC) $(GPU_CFLAGS) -o $@ $< $(BUILD)/gpu/libgg.a $(GPU_CPU_OBJ) $(GPU_LIBS) $(GPU_BENCH_LIBS)
# the GPU check's system-call tracer names calls through libseccomp
$(BUILD)/gpu/bench/gpu/systrace: GPU_BENCH_LIBS = -lseccomp
# The runner for the GPU recipe: the same fixed harness side as karpa-recipe.
$(BUILD)/karpa-recipe-cuda: $(filter-out $(GPU_CPU_OBJ),$(RUNNER_HARNESS_OBJ)) \
		$(BUILD)/gpu/recipe/cuda/recipe_cuda.o \
		$(BUILD)/gpu/libgg.a $(GPU_CPU_OBJ)
	@echo "  LD   $@"; $(CC) $(REL_CFLAGS) -o $@ $^ -lseccomp -lsodium $(GPU_LIBS) -Wl,-z,noexecstack

# The GPU calibration program (src/harness/gpucalib_tool.cu, docs/calibration.md):
# karpa builds its own copy on demand (recipe_build_gpucalib); this one, with
# the warnings-as-errors flags, is for bench/gpu.sh to carry to a GPU machine.
$(BUILD)/gpu/src/harness/gpucalib_tool.o: src/harness/calibrate.h src/util/kerr.h
$(BUILD)/karpa-gpucalib: $(BUILD)/gpu/src/harness/gpucalib_tool.o
	@echo "  LD   $@"; $(CC) $(GPU_CFLAGS) -o $@ $^ $(GPU_LIBS)
# the GPU calibration's test runs that program through the validator's own library
$(BUILD)/gpu/tests/gpu/test_gpucalib: $(BUILD)/rel/libkarpa.a
$(BUILD)/gpu/tests/gpu/test_gpucalib: GPU_TEST_LIBS = $(BUILD)/rel/libkarpa.a $(LIBS)

.PHONY: gpu
ifneq ($(NVCC),)
gpu: $(BUILD)/karpa-recipe-cuda $(BUILD)/karpa-gpucalib $(GPU_TEST_BIN) $(GPU_BENCH_BIN)
else
gpu:
	@echo "gpu: no nvcc found (set NVCC=...); the GPU recipe is not built"
endif

# Tests find the binaries under test through these variables.
test: $(TEST_BIN) $(BUILD)/san/karpa $(BUILD)/karpa $(BUILD)/karpa-recipe $(BUILD)/karpa-recipe-portable
	@KARPA_BIN=$(CURDIR)/$(BUILD)/san/karpa KARPA_REL_BIN=$(CURDIR)/$(BUILD)/karpa \
	  KARPA_RUNNER=$(CURDIR)/$(BUILD)/karpa-recipe \
	  KARPA_SRC=$(CURDIR) bash tests/run.sh $(TEST_BIN)

bench: all
	@bash bench/run.sh $(BUILD)

install: $(BUILD)/karpa $(BUILD)/karpa-recipe
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/karpa $(DESTDIR)$(PREFIX)/bin/karpa
	install -m 0755 $(BUILD)/karpa-recipe $(DESTDIR)$(PREFIX)/bin/karpa-recipe
	install -m 0644 docs/karpa.1 $(DESTDIR)$(PREFIX)/share/man/man1/karpa.1

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
