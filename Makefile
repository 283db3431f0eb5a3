# StreamForge. `make demo` runs it on embedded defaults; `make test` runs every test.
.DEFAULT_GOAL := build
GO        ?= go
BIN       := bin
GOFLAGS   ?=
CLOUD_PKG := ./cloud/cmd/streamforge-cloud

BUILD_TARGETS :=
TEST_PREREQS  :=
-include mk/*.mk

.PHONY: all build cloud deps demo test test-go bench clean

all: build

deps:
	@scripts/install-deps.sh
	@$(GO) mod download
	@npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	@npm ci --prefix cloud/web/ui --no-audit --no-fund --loglevel=error
	@scripts/install-fuzzer.sh

build: cloud $(BUILD_TARGETS)

cloud:
	$(GO) build $(GOFLAGS) -o $(BIN)/streamforge-cloud $(CLOUD_PKG)

# The demo needs the system packages (the agent's cgo build needs gcc)
# but not the test tools deps adds (npm packages, the API fuzzer): the
# dashboard's bundle is committed.
demo:
	@scripts/install-deps.sh
	@$(MAKE) --no-print-directory build
	@scripts/demo.sh

# Installs what the tests need, starts the real services they use, runs every test.
test: deps $(TEST_PREREQS)
	@scripts/test.sh

bench: deps
	@scripts/bench.sh

clean:
	rm -rf $(BIN)
