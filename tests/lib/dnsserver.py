#!/usr/bin/python3
"""
dnsserver: a small authoritative DNS server for mxd's tests (Debian's /usr/bin/python3 with dnslib).

It answers over UDP and TCP on 127.0.0.1:PORT from zones given as text, and never talks to anything
but its clients on loopback.

As a module:
    import dnsserver
    srv = dnsserver.start(ZONES, port=0)    # port 0: pick a free port (the same one for UDP and TCP)
    srv.port                                # the port it listens on
    srv.queries                             # [(qname, qtype), ...] received so far, e.g. ("gmail.test", "MX")
    srv.set_zones(OTHER_ZONES)              # replace the data while running
    srv.stop()
ZONES is the zone text below, or a dict {origin: text or list of lines}, which is the same as the text
"$ORIGIN origin" followed by the lines, for each origin.

As a script:
    /usr/bin/python3 tests/lib/dnsserver.py --port 5353 --zone FILE [--log] [--address 127.0.0.1]
prints "READY <port>" on stdout (flushed) once both sockets listen, then serves until SIGTERM or SIGINT.
--port 0 picks a free port; --log prints each query and its outcome on stderr.

ZONE FORMAT (one item per line; '#' or ';' at the start of a line or after white space, outside
double quotes, starts a comment; blank lines are ignored):

    $ORIGIN gmail.test          start the zone gmail.test: the server is authoritative for it and every
                                name below it. Later names that do not end with '.' are relative to it,
                                and '@' is the origin itself.
    $TTL 300                    TTL of the records that follow (default 300)
    NAME [TTL] [IN] TYPE RDATA  an ordinary master-file record; any type dnslib knows (MX, A, AAAA, TXT,
                                CNAME, NS, SOA, SRV, PTR, TLSA, CAA, ...). TXT RDATA is quoted:
                                    @ TXT "v=spf1 ip4:127.0.0.1 -all"
    NAME [TYPE] SERVFAIL        answer SERVFAIL (for every type, or only TYPE)
    NAME [TYPE] REFUSED         answer REFUSED
    NAME [TYPE] NXDOMAIN        answer NXDOMAIN even though the name has records
    NAME [TYPE] TIMEOUT         never answer (UDP: drop the query; TCP: hold the connection open)

A record whose absolute name lies under no $ORIGIN starts a zone named by its last two labels
("mx1.gmail.test." belongs to gmail.test). Names compare case-insensitively.

Answers: records of the type asked (or any type for ANY) with AA set; a CNAME at the name is answered
for every other type and followed through the zones (at most 8 steps); the A and AAAA records of MX
targets go in the additional section. A name in a zone that has no records and no names below it gets
NXDOMAIN, a name that exists without the type asked gets an empty NOERROR (NODATA); both carry the
zone's SOA in the authority section (an SOA is made up when the zone has none: TTL 300, negative TTL
60). A name outside every zone gets REFUSED.

Example: a null MX, a domain without MX (its A/AAAA is the implicit MX), a broken and a silent name:

    $ORIGIN gmail.test
    @        MX 10 mx1
    @        MX 20 mx2.gmail.test.
    mx1      A 127.0.0.1
    mx2      AAAA ::1
    $ORIGIN nullmx.test
    @        MX 0 .
    $ORIGIN nomx.test
    @        A 127.0.0.2
    broken   SERVFAIL
    slow     TIMEOUT
"""

import argparse
import signal
import sys
import threading

from dnslib import DNSError, QTYPE, RCODE, RR, SOA
from dnslib.server import DNSHandler, DNSLogger, DNSServer

DEFAULT_TTL = 300
NEGATIVE_TTL = 60
ACTIONS = {"SERVFAIL": RCODE.SERVFAIL, "REFUSED": RCODE.REFUSED, "NXDOMAIN": RCODE.NXDOMAIN, "TIMEOUT": None}
CNAME_LIMIT = 8


class ZoneError(ValueError):
    pass


def _name(label):
    """Canonical text of a DNS name: lower case, no trailing dot ("" for the root)."""
    return str(label).lower().rstrip(".")


def _is_under(name, origin):
    return origin == "" or name == origin or name.endswith("." + origin)


def _strip_comment(line):
    """line without a comment: '#' or ';' at the start or after white space, outside double quotes."""
    quoted = False
    for i, c in enumerate(line):
        if c == '"':
            quoted = not quoted
        elif c in "#;" and not quoted and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


class Zones:
    """Parsed zone data: origins, records by name, and the names with a forced outcome."""

    def __init__(self, text):
        self.origins = []  # zone origins, longest first after parsing
        self.records = {}  # name -> [RR]
        self.actions = {}  # (name, qtype or None) -> action keyword
        self._parse(text)
        self.origins.sort(key=len, reverse=True)
        self.existing = set()  # every name with records plus all its ancestors (empty non-terminals)
        for name in self.records:
            labels = name.split(".")
            for i in range(len(labels)):
                self.existing.add(".".join(labels[i:]))
        self.soa = {}
        for origin in self.origins:
            found = [rr for rr in self.records.get(origin, []) if rr.rtype == QTYPE.SOA]
            if found:
                self.soa[origin] = found[0]
            else:
                rdata = SOA(mname="ns." + origin, rname="hostmaster." + origin,
                            times=(1, 3600, 600, 86400, NEGATIVE_TTL))
                self.soa[origin] = RR(origin + ".", QTYPE.SOA, ttl=DEFAULT_TTL, rdata=rdata)

    def _add_origin(self, origin):
        if origin not in self.origins:
            self.origins.append(origin)

    def _absolute(self, token, origin, lineno):
        if token == "@":
            if origin is None:
                raise ZoneError("line %d: '@' before any $ORIGIN" % lineno)
            return origin
        if token.endswith("."):
            return token.lower().rstrip(".")
        if origin is None:
            raise ZoneError("line %d: relative name %r before any $ORIGIN" % (lineno, token))
        return (token + "." + origin).lower() if origin else token.lower()

    def _parse(self, text):
        origin = None
        ttl = DEFAULT_TTL
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = _strip_comment(raw).strip()
            if not line:
                continue
            words = line.split()
            keyword = words[0].upper()
            if keyword == "$ORIGIN":
                if len(words) != 2:
                    raise ZoneError("line %d: $ORIGIN takes one name" % lineno)
                origin = words[1].lower().rstrip(".")
                self._add_origin(origin)
                continue
            if keyword == "$TTL":
                if len(words) != 2 or not words[1].isdigit():
                    raise ZoneError("line %d: $TTL takes a number of seconds" % lineno)
                ttl = int(words[1])
                continue
            name = self._absolute(words[0], origin, lineno)
            if not any(_is_under(name, o) for o in self.origins):
                self._add_origin(".".join(name.split(".")[-2:]))
            if 2 <= len(words) <= 3 and words[-1].upper() in ACTIONS:
                qtype = None
                if len(words) == 3:
                    qtype = words[1].upper()
                    if qtype not in QTYPE.reverse:
                        raise ZoneError("line %d: unknown type %r" % (lineno, words[1]))
                self.actions[(name, qtype)] = words[-1].upper()
                continue
            rest = words[1:]
            rr_ttl = ttl
            if rest and rest[0].isdigit():
                rr_ttl = int(rest.pop(0))
            if rest and rest[0].upper() == "IN":
                rest.pop(0)
            if len(rest) < 2:
                raise ZoneError("line %d: expected NAME [TTL] [IN] TYPE RDATA" % lineno)
            rtype = rest[0].upper()
            rdata = line.split(None, len(words) - len(rest) + 1)[-1]
            try:
                rrs = RR.fromZone("%s. %d IN %s %s" % (name, rr_ttl, rtype, rdata),
                                  origin=(origin + ".") if origin else ".")
            except Exception as e:  # dnslib raises assorted types for bad rdata
                raise ZoneError("line %d: bad record: %s" % (lineno, e)) from e
            self.records.setdefault(name, []).extend(rrs)

    def zone_of(self, name):
        for origin in self.origins:
            if _is_under(name, origin):
                return origin
        return None

    def action(self, name, qtype):
        return self.actions.get((name, qtype)) or self.actions.get((name, None))


class _Drop(DNSError):
    """Raised by the resolver to send no reply at all."""


class _Resolver:
    def __init__(self, server):
        self.server = server

    def resolve(self, request, handler):
        srv = self.server
        zones = srv.zones
        qname = _name(request.q.qname)
        qtype = QTYPE[request.q.qtype]
        with srv.lock:
            srv.queries.append((qname, qtype))
        reply = request.reply()
        action = zones.action(qname, qtype)
        if action is not None:
            srv.log("%s %s -> %s" % (qname, qtype, action))
            if action == "TIMEOUT":
                if handler.protocol == "tcp":
                    srv.stopping.wait(60)
                raise _Drop("no answer for %s" % qname)
            reply.header.rcode = ACTIONS[action]
            if action == "NXDOMAIN":
                reply.add_auth(zones.soa[zones.zone_of(qname)])
            return reply
        origin = zones.zone_of(qname)
        if origin is None:
            srv.log("%s %s -> REFUSED (no zone)" % (qname, qtype))
            reply.header.rcode = RCODE.REFUSED
            return reply
        name = qname
        for _ in range(CNAME_LIMIT):
            records = zones.records.get(name, [])
            cnames = [rr for rr in records if rr.rtype == QTYPE.CNAME]
            if cnames and qtype != "CNAME":
                reply.add_answer(cnames[0])
                name = _name(cnames[0].rdata.label)
                if zones.zone_of(name) is None:
                    break
                continue
            matches = [rr for rr in records if qtype == "ANY" or QTYPE[rr.rtype] == qtype]
            for rr in matches:
                reply.add_answer(rr)
                if rr.rtype == QTYPE.MX:
                    target = _name(rr.rdata.label)
                    for extra in zones.records.get(target, []):
                        if extra.rtype in (QTYPE.A, QTYPE.AAAA):
                            reply.add_ar(extra)
            if not matches:
                if name not in zones.existing:
                    reply.header.rcode = RCODE.NXDOMAIN
                reply.add_auth(zones.soa[zones.zone_of(name)])
            break
        srv.log("%s %s -> %s" % (qname, qtype, RCODE[reply.header.rcode]) +
                "".join(" %s" % rr.rdata for rr in reply.rr))
        return reply


class _QuietLogger(DNSLogger):
    def __init__(self):
        super().__init__(log="-request,-reply,-truncated,-error", prefix=False)


class Server:
    """A running server; see the module documentation."""

    def __init__(self, zones, port=0, verbose=False, address="127.0.0.1"):
        self.zones = _zones_from(zones)
        self.queries = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.verbose = verbose
        resolver = _Resolver(self)
        last_error = None
        for _ in range(50):
            udp = DNSServer(resolver, address=address, port=port, logger=_QuietLogger(), handler=DNSHandler)
            chosen = udp.server.server_address[1]
            try:
                tcp = DNSServer(resolver, address=address, port=chosen, tcp=True, logger=_QuietLogger(),
                                handler=DNSHandler)
            except OSError as e:
                udp.server.server_close()
                last_error = e
                if port:
                    raise
                continue
            break
        else:
            raise OSError("no free port for UDP and TCP: %s" % last_error)
        self.port = chosen
        self._servers = [udp, tcp]
        for s in self._servers:
            # A short poll interval makes stop() quick (socketserver's default is 0.5 s per server).
            threading.Thread(target=s.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def set_zones(self, zones):
        self.zones = _zones_from(zones)

    def log(self, text):
        if self.verbose:
            print("dnsserver: " + text, file=sys.stderr, flush=True)

    def stop(self):
        self.stopping.set()
        for s in self._servers:
            s.server.shutdown()
            s.server.server_close()
        self._servers = []


def _zones_from(zones):
    if isinstance(zones, Zones):
        return zones
    if isinstance(zones, dict):
        parts = []
        for origin, body in zones.items():
            lines = body if isinstance(body, (list, tuple)) else body.splitlines()
            parts.append("$ORIGIN %s" % origin)
            parts.extend(lines)
        zones = "\n".join(parts)
    return Zones(zones)


def start(zones, port=0, verbose=False, address="127.0.0.1"):
    """Serve zones (text or dict) on address:port over UDP and TCP; returns the running Server."""
    return Server(zones, port, verbose, address)


def main():
    p = argparse.ArgumentParser(description="Authoritative test DNS server on 127.0.0.1 (see the zone format "
                                "at the top of this file).")
    p.add_argument("--port", type=int, default=5353, help="port for UDP and TCP; 0 picks a free one")
    p.add_argument("--zone", required=True, help="zone file ('-' for stdin)")
    p.add_argument("--log", action="store_true", help="print each query on stderr")
    p.add_argument("--address", default="127.0.0.1", help="address to listen on (a test network namespace's own)")
    args = p.parse_args()
    try:
        text = sys.stdin.read() if args.zone == "-" else open(args.zone, encoding="utf-8").read()
        zones = Zones(text)
    except (OSError, ZoneError) as e:
        print("dnsserver: %s: %s" % (args.zone, e), file=sys.stderr)
        return 2
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    server = start(zones, args.port, args.log, args.address)
    print("READY %d" % server.port, flush=True)
    while not done.wait(1):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
