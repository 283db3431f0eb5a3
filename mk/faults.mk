# Long fault suites outside `make test` (docs/reliability.md).
SOAK_DURATION ?= 1h
SOAK_RESTART  ?= 5m

.PHONY: soak

# One hour at 10,000 readings/s into Apache Kafka, the broker restarted every
# 5 minutes; writes docs/img/soak-rss.svg and .csv.
soak: deps kafka-jars
	@mkdir -p docs/img
	STREAMFORGE_SOAK_DURATION=$(SOAK_DURATION) STREAMFORGE_SOAK_RESTART=$(SOAK_RESTART) \
	  STREAMFORGE_SOAK_PLOT=$(CURDIR)/docs/img/soak-rss.svg \
	  $(GO) test ./tests/e2e -run '^$$' -bench Soak -benchtime 1x -timeout 3h
