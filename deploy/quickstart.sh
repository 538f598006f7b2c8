#!/bin/sh
# Install dependencies, build, and start a primary MX on loopback (127.0.0.1:2525) with an embedded SQLite
# database and a demo domain (example.com: info@ -> someone@gmail.test, postmaster@ and abuse@ too).
# Everything lives under ./demo/ in the checkout; mxd stays in the foreground (Ctrl-C stops it).
set -eu
cd "$(dirname "$0")/.."
sh deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
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
cat <<MSG
mxd: primary MX on 127.0.0.1:2525, database $DEMO/mxd.db, queue $DEMO/queue, log $DEMO/mail.log
try:  swaks --server 127.0.0.1:2525 --to info@example.com
      build/mxctl -c $DEMO/mxd.conf queue list
MSG
exec build/mxd -c "$DEMO/mxd.conf"
