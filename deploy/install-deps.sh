#!/bin/sh
# Install what mxd needs to build, run and test, from Debian 12 packages only. Idempotent.
set -eu
export DEBIAN_FRONTEND=noninteractive
PKGS="build-essential cmake pkg-config ca-certificates openssl sqlite3 \
 libevent-dev libssl-dev libsqlite3-dev libunbound-dev libsodium-dev libmicrohttpd-dev libspf2-dev \
 libcmocka-dev python3 python3-aiosmtpd python3-dnslib python3-dkim swaks pflogsumm \
 dpkg-dev file adduser systemd iproute2 groff-base python3-yaml postfix valgrind \
 chromium chromium-driver python3-selenium clang libclang-rt-14-dev rspamd"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
