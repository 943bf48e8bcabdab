# scimbridge — see README.md.
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin/scimbridge
N ?= 100000
SHAPE ?= wide

.PHONY: all build deps test test-short vet fmt lint demo bench fuzz clean deploy-check image
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

all: build

build:
	$(GO) build -o $(BIN) ./cmd/scimbridge

deps:
	@deploy/install-deps.sh

# The whole suite: real slapd, Samba AD DC and SCIMMY, started by the tests.
test: deps
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) deploy-check

# The deployment files: the kustomize base and the Helm chart rendered and
# decoded strictly into the Kubernetes API types, the chart linted (tools
# pinned in deploy/validate/go.mod), and the systemd unit verified.
deploy-check:
	cd deploy/validate && $(GO) test -count=1 ./... && $(GO) run . -repo ../..
	@deploy/check-systemd.sh

# The container image, where a container engine (docker or podman) exists.
image:
	@engine=$$(command -v docker || command -v podman || true); \
	if [ -z "$$engine" ]; then echo "make image: no container engine (docker or podman) on this machine" >&2; exit 1; fi; \
	$$engine build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t scimbridge:$(VERSION) .

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

# A throwaway slapd with a sample directory with nested groups, synced and served.
demo: deps build
	@deploy/demo.sh

# Benchmarks (not part of `make test`): make bench N=100000 [SHAPE=deep]
# The Samba AD interval benchmark (issue 15) needs the Samba DC the tests use;
# its figures go to bench/results/samba-interval.txt.
bench: deps build
	$(GO) run ./cmd/scimbridge-bench -n $(N) -shape $(SHAPE)
	{ echo "# $$(date -u '+%F %H:%M UTC'), $$(nproc) CPUs,$$(uptime | sed 's/.*,  *load/ load/')"; \
		SCIMBRIDGE_REQUIRE_AD=1 $(GO) test -run '^$$' -bench ChangedIntervalSamba -benchtime 1x ./internal/adtest; } > bench/results/samba-interval.txt; \
		s=$$?; cat bench/results/samba-interval.txt; exit $$s
	$(GO) test -run '^$$' -bench MisconfiguredExternalID -benchtime 2x ./bridge

# Fuzz targets (not part of `make test`), one after the other, FUZZTIME each:
# make fuzz FUZZTIME=5m. A finding stops the run; its input is saved under the
# package's testdata/fuzz. Minimizing a new input is cut at 5s: left at its
# default of 60s, it can take a whole FUZZTIME of a slow target.
FUZZTIME ?= 60s
FUZZ_TARGETS ?= \
	./schema:FuzzParse ./schema:FuzzMapUser ./schema:FuzzMapGroup \
	./ldapsource:FuzzCheckSyntax ./ldapsource:FuzzDecodeMessage ./ldapsource:FuzzBulkStream \
	./scimserver:FuzzListQuery ./scimserver:FuzzAppendString \
	./bridge:FuzzNormalizeDN

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$${t#*:}$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s "$${t%%:*}"; \
	done

clean:
	rm -rf bin
