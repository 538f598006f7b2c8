#!/bin/sh
# A primary MX, a secondary MX and a mailbox provider on one machine, each in its own network namespace,
# for trying mxd by hand: forwarding, the secondary holding mail while the primary is down, and the
# drain when it comes back. Run as root (network namespaces), after building (sh deploy/quickstart.sh
# or cmake --build build).
#
#   sh deploy/demo.sh start              namespaces, addresses, both MX hosts and the provider
#   sh deploy/demo.sh status             what runs, what listens, the queues, the provider's mailbox
#   sh deploy/demo.sh send [mx1|mx2] [RCPT]  a message from the "Internet" (default: mx2, info@example.com)
#   sh deploy/demo.sh down mx1|mx2|mbox  stop one host (kill the primary to see the secondary hold mail)
#   sh deploy/demo.sh up mx1|mx2|mbox    start it again
#   sh deploy/demo.sh stop               stop everything, delete the namespaces and the demo's files
#
# The network, addresses only inside the namespaces (nothing is added to the host's own network):
#
#   PREFIX-mx1   10.200.0.1  primary MX     (mx1.demo.test; routes everything to the provider)
#   PREFIX-mx2   10.200.0.2  secondary MX   (mx2.demo.test; relays to the primary)
#   PREFIX-mbox  10.200.0.3  the provider   (tests/lib/sinkmx.py; stores what it receives) and the
#                            "Internet" that "send" sends from
#   PREFIX-lan   a bridge joining the three
#
# Both MX hosts serve example.com (info@ and postmaster@ -> someone@gmail.example). Settings:
#   MXD_BIN, MXCTL_BIN   the programs (default: build/mxd and build/mxctl, else /usr/sbin/...)
#   MXD_DEMO_DIR         configuration, databases, queues, logs, mailbox (default /tmp/mxd-demo)
#   MXD_DEMO_PREFIX      namespace name prefix (default mxdemo)
#   MXD_DEMO_NET         the /24 to use, first three octets (default 10.200.0)
#   MXD_DEMO_USER        the mail_owner mxd switches to (default mxd if that user exists, else nobody)
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${MXD_BIN:-}" ]; then
	if [ -x "$SRC/build/mxd" ]; then MXD_BIN=$SRC/build/mxd; else MXD_BIN=/usr/sbin/mxd; fi
fi
if [ -z "${MXCTL_BIN:-}" ]; then
	if [ -x "$SRC/build/mxctl" ]; then MXCTL_BIN=$SRC/build/mxctl; else MXCTL_BIN=/usr/sbin/mxctl; fi
fi
DIR=${MXD_DEMO_DIR:-/tmp/mxd-demo}
P=${MXD_DEMO_PREFIX:-mxdemo}
NET=${MXD_DEMO_NET:-10.200.0}
if [ -z "${MXD_DEMO_USER:-}" ]; then
	if getent passwd mxd >/dev/null; then MXD_DEMO_USER=mxd; else MXD_DEMO_USER=nobody; fi
fi
PY=/usr/bin/python3
NODES="mx1 mx2 mbox"

say() { echo "demo: $*"; }
die() {
	echo "demo: $*" >&2
	exit 1
}

addr() {
	case $1 in
	mx1) echo "$NET.1" ;;
	mx2) echo "$NET.2" ;;
	mbox) echo "$NET.3" ;;
	*) die "unknown host '$1' (mx1, mx2 or mbox)" ;;
	esac
}

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

pid_alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

# Wait until something listens on port 25 in node's namespace (or its process dies).
wait_listening() {
	i=0
	while [ $i -lt 200 ]; do
		if ip netns exec "$P-$1" ss -Hltn "sport = :25" | grep -q .; then
			return 0
		fi
		pid_alive "$1" || break
		sleep 0.1
		i=$((i + 1))
	done
	echo "demo: $1 did not start; its log:" >&2
	tail -n 20 "$DIR/$1/stderr" >&2 || true
	return 1
}

write_conf() { # node role
	node=$1
	mkdir -p "$DIR/$node"
	{
		echo "# mxd demo: $node ($2), written by deploy/demo.sh"
		echo "role = $2"
		echo "myhostname = $node.demo.test"
		echo "smtpd_listen = $(addr "$node"):25"
		echo "database = $DIR/$node/db/mxd.db"
		echo "queue_directory = $DIR/$node/queue"
		echo "maillog_file = $DIR/$node/mail.log"
		echo "mail_owner = $MXD_DEMO_USER"
		echo "mynetworks = 127.0.0.0/8"
		# No DNS server in the demo network: lookups fail at once; routes use addresses.
		echo "resolver = $(addr mbox):53"
		echo "smtp_tls_security_level = may"
		echo "dkim_key_directory = $DIR/$node/dkim"
		# the demo's names are published nowhere: mxctl check shows what is missing, on demand
		echo "check_at_start = no"
		echo "check_smtp_probe ="
		echo "queue_run_delay = 5s"
		echo "minimal_backoff_time = 5s"
		echo "maximal_backoff_time = 30s"
		if [ "$2" = primary ]; then
			echo "trusted_peers = $(addr mx2)/32"
		else
			echo "primary_hosts = [$(addr mx1)]:25"
			echo "trusted_peers = $(addr mx1)/32"
			echo "primary_probe_interval = 2s"
		fi
	} >"$DIR/$node/mxd.conf"
}

mxctl_node() { # node args...
	node=$1
	shift
	"$MXCTL_BIN" -c "$DIR/$node/mxd.conf" "$@"
}

setup_tables() { # node
	mxctl_node "$1" init >/dev/null
	mxctl_node "$1" domain add example.com --description "demo domain" >/dev/null
	mxctl_node "$1" alias add info@example.com someone@gmail.example >/dev/null
	mxctl_node "$1" alias add postmaster@example.com someone@gmail.example >/dev/null
	# The DKIM key of the node's own name (its bounces come from MAILER-DAEMON@NODE.demo.test) and the
	# record that would publish it.
	mxctl_node "$1" dkim keygen "$1.demo.test" >"$DIR/$1/dkim.zone" 2>/dev/null
	if [ "$1" = mx1 ]; then
		# The provider's mailboxes: everything the primary forwards goes to the sink.
		mxctl_node "$1" route add '*' "[$(addr mbox)]:25" --description "demo mailbox provider" >/dev/null
	fi
}

start_node() { # node
	node=$1
	pid_alive "$node" && die "$node runs already (pid $(cat "$DIR/$node.pid"))"
	if [ "$node" = mbox ]; then
		mkdir -p "$DIR/mbox/messages"
		ip netns exec "$P-mbox" setsid "$PY" "$SRC/tests/lib/sinkmx.py" --listen "$(addr mbox):25" \
			--store "$DIR/mbox/messages" --hostname mbox.demo.test \
			>"$DIR/mbox/stdout" 2>"$DIR/mbox/stderr" </dev/null &
	else
		ip netns exec "$P-$node" setsid "$MXD_BIN" -c "$DIR/$node/mxd.conf" \
			>"$DIR/$node/stdout" 2>"$DIR/$node/stderr" </dev/null &
	fi
	echo $! >"$DIR/$node.pid"
	wait_listening "$node"
	say "$node up on $(addr "$node"):25 (pid $(cat "$DIR/$node.pid"))"
}

stop_node() { # node
	node=$1
	[ -f "$DIR/$node.pid" ] || return 0
	pid=$(cat "$DIR/$node.pid")
	if kill -TERM "$pid" 2>/dev/null; then
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 150 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null || true
		say "$node stopped"
	fi
	rm -f "$DIR/$node.pid"
}

cmd_start() {
	[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces)"
	if [ ! -x "$MXD_BIN" ] || [ ! -x "$MXCTL_BIN" ]; then
		die "no mxd/mxctl at $MXD_BIN, $MXCTL_BIN: build first (or set MXD_BIN, MXCTL_BIN)"
	fi
	ns_exists "$P-lan" && die "a demo runs already ($P-*): sh deploy/demo.sh stop"
	trap 'cmd_stop >/dev/null 2>&1' EXIT
	mkdir -p "$DIR"
	chmod 0755 "$DIR"

	ip netns add "$P-lan"
	ip -n "$P-lan" link set lo up
	ip -n "$P-lan" link add br0 type bridge
	ip -n "$P-lan" link set br0 up
	for node in $NODES; do
		ip netns add "$P-$node"
		ip -n "$P-$node" link set lo up
		ip -n "$P-$node" link add eth0 type veth peer name "v-$node" netns "$P-lan"
		ip -n "$P-$node" addr add "$(addr "$node")/24" dev eth0
		ip -n "$P-$node" link set eth0 up
		ip -n "$P-lan" link set "v-$node" master br0 up
	done
	say "network: $P-mx1 $(addr mx1), $P-mx2 $(addr mx2), $P-mbox $(addr mbox) on bridge $P-lan/br0"

	write_conf mx1 primary
	write_conf mx2 secondary
	setup_tables mx1
	setup_tables mx2
	for node in mbox mx1 mx2; do
		start_node "$node"
	done
	trap - EXIT
	cat <<MSG
demo: running. Try:
  sh deploy/demo.sh send mx1                 # forwarded by the primary to the provider
  sh deploy/demo.sh down mx1; sh deploy/demo.sh send mx2   # the secondary holds it
  sh deploy/demo.sh up mx1                   # ... and hands it over within seconds
  sh deploy/demo.sh status
  ip netns exec $P-mbox swaks --server $(addr mx1) --to info@example.com
  $MXCTL_BIN -c $DIR/mx1/mxd.conf queue list; tail $DIR/mx1/mail.log
  sh deploy/demo.sh stop
MSG
}

cmd_stop() {
	for node in mx2 mx1 mbox; do
		stop_node "$node"
	done
	# Anything else still running in the demo's namespaces was started by it: end it by pid.
	for node in $NODES lan; do
		if ns_exists "$P-$node"; then
			for pid in $(ip netns pids "$P-$node" 2>/dev/null); do
				kill -KILL "$pid" 2>/dev/null || true
			done
			ip netns del "$P-$node"
		fi
	done
	if [ -f "$DIR/mx1/mxd.conf" ] || [ -f "$DIR/mbox/stdout" ]; then
		rm -rf "$DIR"
	fi
	say "stopped; namespaces $P-* deleted"
}

cmd_status() {
	ns_exists "$P-lan" || {
		say "not running"
		return 3
	}
	rc=0
	for node in $NODES; do
		if pid_alive "$node"; then
			state="running (pid $(cat "$DIR/$node.pid"))"
		else
			state="DOWN"
			rc=3
		fi
		listen=$(ip netns exec "$P-$node" ss -Hltn "sport = :25" | awk '{print $4}' | tr '\n' ' ')
		say "$node $(addr "$node"): $state; listening: ${listen:-nothing}"
	done
	for node in mx1 mx2; do
		echo "--- $node queue:"
		mxctl_node "$node" queue list 2>&1 | tail -n 10 || true
	done
	echo "--- mailbox provider: $(find "$DIR/mbox/messages" -name '*.msg' 2>/dev/null | wc -l) message(s) in $DIR/mbox/messages"
	return $rc
}

cmd_send() { # [mx1|mx2] [rcpt]
	node=${1:-mx2}
	rcpt=${2:-info@example.com}
	ns_exists "$P-mbox" || die "not running: sh deploy/demo.sh start"
	ip netns exec "$P-mbox" "$PY" - "$(addr "$node")" "$rcpt" <<'PY'
import email.utils
import smtplib
import sys

host, rcpt = sys.argv[1], sys.argv[2]
msg = ("From: Alice <alice@sender.example>\r\nTo: <%s>\r\nSubject: mxd demo\r\nDate: %s\r\n"
       "Message-ID: %s\r\n\r\nHello from the demo.\r\n") % (rcpt, email.utils.formatdate(),
                                                            email.utils.make_msgid(domain="sender.example"))
with smtplib.SMTP(host, 25, local_hostname="client.sender.example", timeout=30) as s:
    refused = s.sendmail("alice@sender.example", [rcpt], msg)
print("demo: %s accepted the message for <%s>" % (host, rcpt))
PY
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
send)
	shift
	cmd_send "$@"
	;;
down)
	[ $# -eq 2 ] || die "usage: $0 down mx1|mx2|mbox"
	addr "$2" >/dev/null
	stop_node "$2"
	;;
up)
	[ $# -eq 2 ] || die "usage: $0 up mx1|mx2|mbox"
	addr "$2" >/dev/null
	ns_exists "$P-$2" || die "not running: sh deploy/demo.sh start"
	start_node "$2"
	;;
*)
	echo "usage: $0 start|stop|status|send [mx1|mx2] [RCPT]|down NODE|up NODE" >&2
	exit 2
	;;
esac
