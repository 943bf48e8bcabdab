#!/usr/bin/env bash
# Checks deploy/systemd/scimbridge.service where systemd-analyze exists:
# `verify` must print nothing (an unknown key is only a warning there), and
# `security --offline` must rate the unit's exposure 2.0 or lower.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "systemd-analyze not available: the unit is not verified here" >&2
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# verify checks that ExecStart's binary exists: point it at a fresh build.
go build -o "$tmp/scimbridge" ./cmd/scimbridge
sed "s|/usr/local/bin/scimbridge|$tmp/scimbridge|g" deploy/systemd/scimbridge.service >"$tmp/scimbridge.service"
out=$(systemd-analyze verify "$tmp/scimbridge.service" 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
	echo "systemd-analyze verify deploy/systemd/scimbridge.service:" >&2
	echo "$out" >&2
	exit 1
fi
if ! systemd-analyze security --offline=yes --threshold=20 "$tmp/scimbridge.service" >"$tmp/security.txt" 2>&1; then
	cat "$tmp/security.txt" >&2
	echo "systemd-analyze security: exposure above 2.0" >&2
	exit 1
fi
echo "ok   systemd unit: $(grep -o 'Overall exposure level.*' "$tmp/security.txt")"
