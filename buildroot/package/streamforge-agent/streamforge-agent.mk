################################################################################
#
# streamforge-agent
#
################################################################################

# Built from the StreamForge checkout that holds this external tree.
STREAMFORGE_AGENT_VERSION = local
STREAMFORGE_AGENT_SITE = $(BR2_EXTERNAL_STREAMFORGE_PATH)/..
STREAMFORGE_AGENT_SITE_METHOD = local
STREAMFORGE_AGENT_LICENSE = Proprietary
STREAMFORGE_AGENT_GOMOD = github.com/streamforge/streamforge
STREAMFORGE_AGENT_BUILD_TARGETS = agent/cmd/streamforge-agent
STREAMFORGE_AGENT_LDFLAGS = -X main.version=$(STREAMFORGE_AGENT_VERSION)

# confluent-kafka-go picks its bundled librdkafka by C library.
ifeq ($(BR2_TOOLCHAIN_USES_MUSL),y)
STREAMFORGE_AGENT_TAGS = musl
endif

# A local site skips the download step, where Buildroot vendors the Go
# modules of other packages; vendor them into the build directory instead
# (the checkout itself stays untouched). GOPROXY is taken from the
# environment of the build, so a mirror or an offline module cache works.
define STREAMFORGE_AGENT_VENDOR_MODULES
	if [ ! -d $(@D)/vendor ]; then \
		cd $(@D) && $(HOST_GO_COMMON_ENV) GOFLAGS=-mod=mod \
			GOPROXY=$(if $(GOPROXY),$(GOPROXY),direct) \
			$(GO_BIN) mod vendor; \
	fi
endef
STREAMFORGE_AGENT_POST_RSYNC_HOOKS += STREAMFORGE_AGENT_VENDOR_MODULES

$(eval $(golang-package))
