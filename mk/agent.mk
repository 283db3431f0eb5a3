# The agent binary (cgo: confluent-kafka-go bundles librdkafka).
BUILD_TARGETS += agent

.PHONY: agent

agent:
	CGO_ENABLED=1 $(GO) build $(GOFLAGS) -o $(BIN)/streamforge-agent ./agent/cmd/streamforge-agent
