# scimbridge — see README.md.
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin/scimbridge
N ?= 100000

.PHONY: all build deps test test-short vet fmt lint demo bench clean

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

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

# A throwaway slapd with a sample directory with nested groups, synced and served.
demo: deps build
	@deploy/demo.sh

# Benchmarks (not part of `make test`): make bench N=100000
bench: deps build
	$(GO) run ./cmd/scimbridge-bench -n $(N)
	$(GO) test -run '^$$' -bench MisconfiguredExternalID -benchtime 2x ./bridge

clean:
	rm -rf bin
