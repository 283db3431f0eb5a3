# PKI: the streamforge-pki tool and the step-ca program the identity tests run.
STEP_CA_VERSION := v0.30.2
STEP_CA_BIN     := $(HOME)/.cache/streamforge/bin/step-ca

BUILD_TARGETS += pki
TEST_PREREQS  += step-ca

.PHONY: pki step-ca

pki:
	$(GO) build $(GOFLAGS) -o $(BIN)/streamforge-pki ./pki/cmd/streamforge-pki

# go install does not touch go.mod; CGO_ENABLED=0 avoids libpcsclite-dev.
step-ca: $(STEP_CA_BIN)
$(STEP_CA_BIN):
	GOBIN=$(dir $(STEP_CA_BIN)) CGO_ENABLED=0 GOFLAGS=-buildvcs=false $(GO) install github.com/smallstep/certificates/cmd/step-ca@$(STEP_CA_VERSION)
