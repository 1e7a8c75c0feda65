# dsoftbus-lite top-level commands. See README.md.
SHELL := /bin/bash
#   make test   install missing packages, build normal + sanitizer (+ fuzz when
#               clang is present) builds, run every test; ends with CTest's summary
#   make demo   build and run the two-node demo
#   make bench  build and run the benchmarks (build/bench/results.json)
#   make fuzz   run every fuzz target for FUZZ_SECONDS each
#   make format / make lint / make install

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD := build
FUZZ_SECONDS ?= 60
CMAKE_COMMON := -DDSB_WERROR=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
HAVE_CLANG := $(shell command -v clang >/dev/null 2>&1 && echo yes)

.PHONY: all deps build build-normal build-asan build-fuzz test demo bench fuzz \
        format lint install clean

all: build-normal

deps:
	@scripts/deps.sh

$(BUILD)/normal/CMakeCache.txt:
	cmake -S . -B $(BUILD)/normal -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_COMMON) >/dev/null

$(BUILD)/asan/CMakeCache.txt:
	cmake -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=Debug -DDSB_SANITIZE=ON \
	  -DDSB_TEST_SUFFIX=.asan $(CMAKE_COMMON) >/dev/null

$(BUILD)/fuzz/CMakeCache.txt:
	CC=clang cmake -S . -B $(BUILD)/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DDSB_FUZZ=ON $(CMAKE_COMMON) >/dev/null

build-normal: deps $(BUILD)/normal/CMakeCache.txt
	cmake --build $(BUILD)/normal -j$(JOBS)

build-asan: deps $(BUILD)/asan/CMakeCache.txt
	cmake --build $(BUILD)/asan -j$(JOBS)

build-fuzz: deps $(BUILD)/fuzz/CMakeCache.txt
	cmake --build $(BUILD)/fuzz -j$(JOBS)

build: build-normal build-asan $(if $(HAVE_CLANG),build-fuzz)

# One CTest run over all builds, so the last line is one summary for all.
test: build
	@mkdir -p $(BUILD)/all
	@{ echo 'subdirs("../normal")'; echo 'subdirs("../asan")'; \
	   $(if $(HAVE_CLANG),echo 'subdirs("../fuzz")';) } > $(BUILD)/all/CTestTestfile.cmake
	@cd $(BUILD)/all && ctest -j$(JOBS) --output-on-failure --timeout 900 2>&1 | \
	  awk '/^Total Test time/ { next } /^$$/ { blank++; next } \
	       { while (blank > 0) { print ""; blank-- } print; fflush() }' ; \
	  exit $${PIPESTATUS[0]}

demo: build-normal
	@scripts/demo.sh $(BUILD)/normal

bench: build-normal
	@mkdir -p $(BUILD)/bench
	@scripts/bench.sh $(BUILD)/normal $(BUILD)/bench

fuzz: build-fuzz
	@scripts/fuzz.sh $(BUILD)/fuzz $(FUZZ_SECONDS)

format:
	@find include src tools tests fuzz bench -name '*.[ch]' -print0 | \
	  xargs -0 clang-format -i --style=file

lint: build-normal
	@scripts/lint.sh $(BUILD)/normal

install: build-normal
	cmake --install $(BUILD)/normal

clean:
	rm -rf $(BUILD)
