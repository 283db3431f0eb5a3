# Kafka side of the data path: test and demo brokers, the consume tool, the
# Apache Kafka jars, and the arm64 agent builds.
KAFKA_VERSION ?= 4.4.0
AGENT_PKG     ?= ./agent/cmd/streamforge-agent
ARM64_CC      ?= aarch64-linux-gnu-gcc
MUSL_SPECS    ?= /usr/lib/aarch64-linux-musl/musl-gcc.specs

BUILD_TARGETS += kafka-tools
TEST_PREREQS  += kafka-jars

.PHONY: kafka-tools kafka-jars agent-arm64 agent-arm64-glibc agent-arm64-musl

# bin/kfake-broker (Kafka-protocol broker for the demo and fast tests) and
# bin/streamforge-consume (prints what the agent wrote).
kafka-tools:
	$(GO) build $(GOFLAGS) -o $(BIN)/kfake-broker ./tests/kafka/cmd/kfake-broker
	$(GO) build $(GOFLAGS) -o $(BIN)/streamforge-consume ./tests/kafka/cmd/streamforge-consume

# Apache Kafka's broker classpath from Maven Central, cached under ~/.cache/streamforge.
kafka-jars:
	@KAFKA_VERSION=$(KAFKA_VERSION) scripts/kafka.sh jars >/dev/null

agent-arm64: agent-arm64-glibc agent-arm64-musl

# Dynamic glibc build (needs glibc >= 2.34 on the device): gcc-aarch64-linux-gnu, libc6-dev-arm64-cross.
agent-arm64-glibc:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=1 CC=$(ARM64_CC) \
	  $(GO) build $(GOFLAGS) -o $(BIN)/streamforge-agent-linux-arm64 $(AGENT_PKG)

# Static musl build (runs on any arm64 Linux): needs musl-dev:arm64
# (dpkg --add-architecture arm64; apt-get install musl-dev:arm64).
agent-arm64-musl:
	@test -f $(MUSL_SPECS) || { echo "agent-arm64-musl: $(MUSL_SPECS) missing: dpkg --add-architecture arm64 && apt-get update && apt-get install musl-dev:arm64" >&2; exit 1; }
	GOOS=linux GOARCH=arm64 CGO_ENABLED=1 CC="$(ARM64_CC) -specs $(MUSL_SPECS)" \
	  $(GO) build $(GOFLAGS) -tags musl -ldflags '-linkmode external -extldflags -static' \
	  -o $(BIN)/streamforge-agent-linux-arm64-musl $(AGENT_PKG)
