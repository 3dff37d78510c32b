# The short commands. Everything real happens in CMake (CMakeLists.txt);
# every target first installs what is missing (scripts/install-deps.sh).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
ESTC        = $(BUILD)/estc
CENSUS      = examples/census/linear.est

.PHONY: all deps build test test-asan demo bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DESTC_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -LE slow

demo: build
	@echo "== estc train $(CENSUS)"
	@$(ESTC) train $(CENSUS)
	@echo "== estc evaluate on adult.test"
	@$(ESTC) evaluate $(CENSUS) --data examples/census/data/adult.test
	@echo "== estc predict: the first rows of adult.test"
	@$(ESTC) predict $(CENSUS) --data examples/census/data/adult.test --format csv | head -6

# the benchmark suite (bench/run.sh): estc against PyTorch and scikit-learn
RUNS ?= 3
bench: build
	bash bench/run.sh $(RUNS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
