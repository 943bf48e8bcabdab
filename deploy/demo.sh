#!/usr/bin/env bash
# make demo: a throwaway slapd with a sample directory (nested groups), synced
# and served by bin/scimbridge, with real SCIM answers, tokens and curl
# commands. Serves until Ctrl-C; DEMO_SECONDS=N stops it after N seconds.
# With SCIMBRIDGE_PUSH_URL and SCIMBRIDGE_PUSH_TOKEN set (and optionally
# SCIMBRIDGE_PUSH_PROFILE=rfc|iomete), each sync is also pushed there.
# `make demo` runs deploy/install-deps.sh and builds bin/scimbridge first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
GO="${GO:-go}"
"$GO" build -o bin/scimbridge ./cmd/scimbridge
"$GO" build -o bin/scimbridge-demo ./cmd/scimbridge-demo
exec bin/scimbridge-demo -bin bin/scimbridge -listen "${DEMO_LISTEN:-127.0.0.1:8080}"
