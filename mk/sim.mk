# Simulated PLCs (Modbus TCP and OPC UA) for the demo and the tests.
BUILD_TARGETS += sim
.PHONY: sim opcua-peer

sim:
	$(GO) build $(GOFLAGS) -o $(BIN)/streamforge-sim ./adapters/cmd/streamforge-sim

# node-opcua-server, the independent OPC UA peer of the adapter tests.
opcua-peer: tests/peers/node_modules/.package-lock.json
tests/peers/node_modules/.package-lock.json: tests/peers/package-lock.json
	@npm ci --prefix tests/peers --no-audit --no-fund --loglevel=error
TEST_PREREQS += opcua-peer
