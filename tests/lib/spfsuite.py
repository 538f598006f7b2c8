"""spfsuite: the OpenSPF RFC 7208 test suite (tests/spf/rfc7208-tests.yml, release 2014.04) for mxd's
tests and benchmarks: its scenarios, a DNS server that serves one scenario's zone at a time, a network
namespace holding every client address of the suite, and one case run end to end over SMTP.

    scenarios = spfsuite.load()                 # [Scenario(name, zone, cases)], in the file's order
    dns = spfsuite.SuiteDNS()                   # 127.0.0.1:dns.port, UDP and TCP; dns.set_zone(zone)
    spfsuite.SuiteDNS(shuffle=True)             # records of an answer in a random order each time
    ns = spfsuite.Namespace(scenarios)          # needs root; ns.enter() / ns.leave() / ns.remove()
    verdict = spfsuite.run_case(inst, sink, case)

The zone of a scenario is the suite's "zonedata", read as the suite's own driver (pyspf's testspf.py)
reads it: a name's SPF (type 99) records are also served as TXT when the name has no TXT of its own;
"NONE" is no record; "TIMEOUT" (for the whole name or one type) is a lookup that fails, which this
server answers with SERVFAIL at once (a DNS error is a temperror for SPF either way, RFC 7208 2.6.6,
and a dropped query would hold a check for the whole lookup timeout). A name the zone does not hold is
NXDOMAIN; a name it holds without the type asked is an empty answer (NODATA). A CNAME is answered with
the records of its target. A TXT record of no strings (null-text: the suite says it is illegal, and DNS
cannot carry it, RFC 1035 3.3.14) is served as one empty string.

Client addresses: a case's "host" is the address the SMTP client connects from. They live on the
loopback interface of a network namespace the test creates (ip netns), where mxd, the DNS server and
the sink run too: the process enters it with setns() from its main thread, so everything started after
(threads, subprocesses, sockets) is inside. An IPv4-mapped IPv6 host (::FFFF:1.2.3.4) connects over
IPv4 from 1.2.3.4: RFC 7208 5 treats such a client as the IPv4 address, and that is what a client with
that address is on the wire.
"""
import ctypes
import ipaddress
import os
import random
import re
import socket
import subprocess
import threading
import time

import yaml
from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

SUITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "spf", "rfc7208-tests.yml")
CLONE_NEWNET = 0x40000000
RCPT = "info@rcpt.mxd.test"


class Case:
    def __init__(self, name, scenario, data):
        self.name = name
        self.scenario = scenario
        self.helo = str(data["helo"])
        self.host = str(data["host"])
        self.mailfrom = str(data["mailfrom"])
        r = data["result"]
        self.results = [r] if isinstance(r, str) else list(r)
        self.spec = data.get("spec")

    def source(self):
        """The address the client connects from (see the module's text on IPv4-mapped hosts)."""
        ip = ipaddress.ip_address(self.host)
        if ip.version == 6 and ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ip)


class Scenario:
    def __init__(self, data):
        self.name = data.get("description", "")
        self.zone = load_zone(data.get("zonedata") or {})
        self.cases = [Case(name, self, d) for name, d in data["tests"].items()]


def load_zone(zonedata):
    """{name (lower case, no final dot): [(type, value) or "TIMEOUT"]} as testspf.py reads it."""
    zone = {}
    for name, rrs in zonedata.items():
        out, spf, has_txt = [], [], False
        for item in rrs:
            if not isinstance(item, dict):
                out.append(str(item))  # "TIMEOUT"
                continue
            for t, v in item.items():
                if t in ("TXT", "SPF") and isinstance(v, str):
                    v = [v]
                if t == "TXT":
                    has_txt = True
                if t == "SPF" and v != ["NONE"]:
                    spf.append(("TXT", v))
                if v != ["NONE"]:
                    out.append((t, v))
        if not has_txt:
            out.extend(spf)
        zone[str(name).lower().rstrip(".")] = out
    return zone


def load(path=SUITE):
    with open(path, "rb") as f:
        return [Scenario(d) for d in yaml.safe_load_all(f)]


def _rdata(t, v):
    if t == "A":
        return QTYPE.A, A(v)
    if t == "AAAA":
        return QTYPE.AAAA, AAAA(v)
    if t == "MX":
        return QTYPE.MX, MX(str(v[1]), int(v[0]))
    if t == "PTR":
        return QTYPE.PTR, PTR(str(v))
    if t == "CNAME":
        return QTYPE.CNAME, CNAME(str(v))
    if t in ("TXT", "SPF"):
        # a TXT of no strings cannot be sent (RFC 1035 3.3.14: one or more): one empty string instead
        rd = TXT([s.encode("utf-8") for s in v] or [b""])
        return (QTYPE.TXT if t == "TXT" else 99), rd
    raise ValueError("record type %s" % t)


class _Resolver(BaseResolver):
    def __init__(self, server):
        self.server = server

    def resolve(self, request, handler):
        reply = request.reply()
        reply.header.aa = 1
        q = request.q
        # the labels as sent (str() would write a space as \032)
        name = b".".join(q.qname.label).decode("utf-8", "replace").lower()
        with self.server.lock:
            zone = self.server.zone
            self.server.queries.append((name, QTYPE.get(q.qtype)))
        qtype = QTYPE.get(q.qtype)
        for _ in range(8):
            rrs = zone.get(name)
            if rrs is None:
                if name.startswith("error."):
                    reply.header.rcode = RCODE.SERVFAIL
                    return reply
                if not reply.rr:
                    reply.header.rcode = RCODE.NXDOMAIN
                break
            # as testspf.py: a bare TIMEOUT fails the lookup unless a record of the type asked came
            # before it (then it ends the answer); a TIMEOUT value fails lookups of its type
            seen, failed, upto = False, False, len(rrs)
            for i, r in enumerate(rrs):
                if r == "TIMEOUT":
                    failed, upto = not seen, i
                    break
                if r[0] == qtype:
                    seen = True
                    if r[1] == "TIMEOUT":
                        failed = True
                        break
            if failed:
                reply.header.rcode = RCODE.SERVFAIL
                reply.rr = []
                return reply
            rrs = rrs[:upto]
            cname = [r for r in rrs if r != "TIMEOUT" and r[0] == "CNAME"]
            if cname and qtype != "CNAME":
                rtype, rd = _rdata("CNAME", cname[0][1])
                reply.add_answer(RR(DNSLabel(name + "."), rtype, rdata=rd, ttl=60))
                name = str(cname[0][1]).rstrip(".").lower()
                continue
            found = [r for r in rrs if r != "TIMEOUT" and r[0] == qtype]
            if self.server.shuffle:
                random.shuffle(found)
            for r in found:
                rtype, rd = _rdata(r[0], r[1])
                reply.add_answer(RR(DNSLabel(name + "."), rtype, rdata=rd, ttl=60))
            break
        if not reply.rr:
            reply.add_auth(RR(DNSLabel(name + "."), QTYPE.SOA, ttl=60,
                              rdata=SOA("ns.spf.test.", "hostmaster.spf.test.", (1, 60, 60, 60, 60))))
        return reply


class _Quiet(DNSLogger):
    def __init__(self):
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)


class SuiteDNS:
    """An authoritative server for one scenario's zone at a time, on 127.0.0.1 (UDP and TCP)."""

    def __init__(self, shuffle=False):
        self.lock = threading.Lock()
        self.shuffle = shuffle  # answer records in a random order each time, as real servers may
        self.zone = {}
        self.queries = []
        for _ in range(20):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
            s.close()
            try:
                self.udp = DNSServer(_Resolver(self), port=self.port, address="127.0.0.1", logger=_Quiet())
                self.tcp = DNSServer(_Resolver(self), port=self.port, address="127.0.0.1", tcp=True,
                                     logger=_Quiet())
                break
            except OSError:
                continue
        self.udp.start_thread()
        self.tcp.start_thread()

    def set_zone(self, zone):
        with self.lock:
            self.zone = zone
            self.queries = []

    def stop(self):
        self.udp.stop()
        self.tcp.stop()


def netns_permitted():
    name = "mxspfprobe%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        return False, (r.stderr or r.stdout).strip()
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return True, ""


class Namespace:
    """A network namespace whose loopback holds 127.0.0.1, ::1 and every case's client address."""

    def __init__(self, scenarios, prefix="mxspf"):
        self.name = "%s%d" % (prefix, os.getpid())
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.home = None
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self._ip("link", "set", "lo", "up")
            hosts = sorted({c.source() for s in scenarios for c in s.cases})
            for h in hosts:
                if ":" in h:
                    self._ip("-6", "addr", "add", h + "/128", "dev", "lo", "nodad")
                else:
                    self._ip("addr", "add", h + "/32", "dev", "lo")
        except Exception:
            self.remove()
            raise

    def _ip(self, *args):
        subprocess.run(["ip", "-n", self.name] + list(args), check=True, capture_output=True)

    def _setns(self, path):
        fd = os.open(path, os.O_RDONLY)
        try:
            if self.libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + path)
        finally:
            os.close(fd)

    def enter(self):
        """Move the calling thread (call it from the main thread before starting anything) inside."""
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        self._setns("/run/netns/" + self.name)

    def leave(self):
        if self.home is not None:
            if self.libc.setns(self.home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
            os.close(self.home)
            self.home = None

    def remove(self):
        self.leave()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def smtp_path(address):
    """address as an RFC 5321 path: a local part that is not a dot-string is quoted."""
    if address == "":
        return "<>"
    local, at, domain = address.rpartition("@")
    if at and local and not re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
                                         local):
        local = '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "<%s%s%s>" % (local, at, domain)


def received_spf(data):
    """The result word of the first Received-SPF field of a message, lower case; None when none."""
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii", "replace")
    head = re.sub(r"\n[ \t]+", " ", head)
    m = re.search(r"^Received-SPF:\s*(\w+)", head, re.M | re.I)
    return m.group(1).lower() if m else None


def send_case(port, case, timeout=30, timings=None):
    """One SMTP session from the case's client address; ("sent", None) once DATA is accepted, else
    ("smtp", "<reply>") for the reply that ended it. With a dict as timings, timings["MAIL"] is the
    seconds from sending MAIL to its reply (the SPF check runs in between)."""
    src = case.source()
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    buf = b""

    def reply():
        nonlocal buf
        lines = []
        while True:
            while b"\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                buf += chunk
            line, buf = buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return lines[-1]

    def cmd(line):
        s.sendall(line.encode("utf-8", "surrogateescape") + b"\r\n")
        return reply()

    try:
        s.bind((src, 0))
        s.connect((src, port))
        reply()
        for line, want in (("EHLO " + case.helo, "250"), ("MAIL FROM:" + smtp_path(case.mailfrom), "250"),
                           ("RCPT TO:<%s>" % RCPT, "250"), ("DATA", "354")):
            t0 = time.perf_counter()
            r = cmd(line)
            if timings is not None:
                timings[line.split(":")[0].split(" ")[0]] = time.perf_counter() - t0
            if not r.startswith(want):
                return "smtp", "%s -> %s" % (line.split(":")[0].split(" ")[0], r)
        r = cmd("From: <suite@spf.test>\r\nTo: <%s>\r\nMessage-ID: <%s@spf.test>\r\nSubject: %s\r\n\r\n%s\r\n."
                % (RCPT, case.name, case.name, case.name))
        if not r.startswith("250"):
            return "smtp", "end of data -> " + r
        cmd("QUIT")
        return "sent", None
    finally:
        s.close()


def message_ids(sink_messages):
    out = {}
    for m in sink_messages:
        mm = re.search(rb"^Message-ID: <([^@>]+)@spf\.test>", m.data, re.M | re.I)
        if mm:
            out[mm.group(1).decode()] = m
    return out


def wait_messages(sink, names, timeout=30):
    """{name: message} for the cases named, once all arrived or timeout passed."""
    deadline = time.time() + timeout
    while True:
        with sink.lock:
            got = message_ids(list(sink.messages))
        if all(n in got for n in names) or time.time() > deadline:
            return got
        time.sleep(0.05)
