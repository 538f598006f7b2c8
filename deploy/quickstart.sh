#!/bin/sh
# Install dependencies, build, and start a primary MX on loopback (127.0.0.1:2525) with an embedded SQLite
# database and a demo domain (example.com: info@, postmaster@ and abuse@ -> someone@gmail.test, and a DKIM
# key whose DNS record goes to ./demo/example.com.zone), plus the
# admin UI on http://127.0.0.1:8080/ (user "admin", password printed below) and Prometheus metrics on
# http://127.0.0.1:9125/metrics. The external mailboxes are stood in for by a local SMTP sink on
# 127.0.0.1:2526 (relayhost), which stores what mxd forwards in ./demo/mailbox/, so nothing leaves the
# machine. Everything lives under ./demo/ in the checkout; mxd stays in the foreground (Ctrl-C stops it,
# the admin UI and the sink).
set -eu
cd "$(dirname "$0")/.."
sh deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMXD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"
DEMO=$(pwd)/demo
mkdir -p "$DEMO"
if [ ! -f "$DEMO/mxd.conf" ]; then
	sed "s|@DEMO@|$DEMO|g" deploy/demo.conf.in > "$DEMO/mxd.conf"
fi
MXCTL="build/mxctl -c $DEMO/mxd.conf"
$MXCTL init
$MXCTL domain show example.com >/dev/null 2>&1 || {
	$MXCTL domain add example.com --description "demo domain"
	$MXCTL alias add info@example.com someone@gmail.test
	$MXCTL alias add postmaster@example.com someone@gmail.test
	$MXCTL alias add abuse@example.com someone@gmail.test
}
if [ ! -f "$DEMO/dkim/example.com/mxd.pem" ]; then
	# The DKIM key of the demo domain, and the DNS record that would publish it.
	$MXCTL dkim keygen example.com > "$DEMO/example.com.zone"
fi
if [ ! -f "$DEMO/admin-password" ]; then
	umask 077
	head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$DEMO/admin-password"
	$MXCTL admin add admin --superadmin --password-file "$DEMO/admin-password"
fi
build/admin/mxadmin -c "$DEMO/mxd.conf" &
ADMIN_PID=$!
mkdir -p "$DEMO/mailbox"
/usr/bin/python3 tests/lib/sinkmx.py --listen 127.0.0.1:2526 --store "$DEMO/mailbox" --hostname mailbox.demo \
	>"$DEMO/mailbox.log" 2>&1 &
SINK_PID=$!
trap 'kill $ADMIN_PID $SINK_PID 2>/dev/null' EXIT INT TERM
cat <<MSG
mxd: primary MX on 127.0.0.1:2525, database $DEMO/mxd.db, queue $DEMO/queue, log $DEMO/mail.log
admin UI: http://127.0.0.1:8080/  user admin, password $(cat "$DEMO/admin-password")
forwarded mail lands in $DEMO/mailbox/
DKIM key of example.com: $DEMO/dkim/example.com/mxd.pem, its DNS record in $DEMO/example.com.zone
try:  swaks --server 127.0.0.1:2525 --to info@example.com
      build/mxctl -c $DEMO/mxd.conf queue list
      build/mxctl -c $DEMO/mxd.conf status
      build/mxctl -c $DEMO/mxd.conf dkim list
MSG
build/mxd -c "$DEMO/mxd.conf"
