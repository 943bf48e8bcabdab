#!/usr/bin/env bash
# Installs what scimbridge's tests and demo need, only when missing:
# OpenLDAP slapd + ldap-utils, Samba AD DC (for the Active Directory tests),
# Node.js + npm and the SCIMMY test server's npm packages (from its lock file),
# CA certificates, tzdata and systemd-analyze for the deployment checks,
# Debian's chromium and a font for the admin console's browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapadd >/dev/null 2>&1 || need+=(ldap-utils)
command -v samba >/dev/null 2>&1 || [ -x /usr/sbin/samba ] || need+=(samba-ad-dc samba-ad-provision)
command -v ldbsearch >/dev/null 2>&1 || need+=(ldb-tools)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# The image test copies the CA bundle and tzdata as the Dockerfile does;
# make deploy-check verifies the systemd unit with systemd-analyze.
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
[ -d /usr/share/zoneinfo ] || need+=(tzdata)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)

if [ ${#need[@]} -gt 0 ]; then
	echo "installing: ${need[*]}" >&2
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The packaged services are not used (tests start their own instances on
# loopback); make sure none holds the LDAP ports.
for svc in slapd samba-ad-dc; do
	if command -v service >/dev/null 2>&1 && service "$svc" status >/dev/null 2>&1; then
		service "$svc" stop >/dev/null 2>&1 || true
	fi
done

if [ -f testdata/scimmy/package-lock.json ]; then
	if [ ! -d testdata/scimmy/node_modules ] || [ testdata/scimmy/package-lock.json -nt testdata/scimmy/node_modules/.package-lock.json ]; then
		echo "installing the SCIMMY test server's npm packages" >&2
		(cd testdata/scimmy && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	fi
fi
