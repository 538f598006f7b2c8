#!/usr/bin/python3
"""
sinkmx: test SMTP servers ("sink MXes") that stand in for the mailbox providers mxd forwards to, for
Debian's /usr/bin/python3 with python3-aiosmtpd. Each sink listens on one 127.0.0.x address and runs
its own asyncio event loop in its own thread, so a test may start many of them in one process. The
SMTP protocol is aiosmtpd's (aiosmtpd.smtp.SMTP, subclassed); DATA is read here so that the octets
on the wire can be kept and the connection dropped part-way. Nothing here talks to anything but its
clients on loopback.

As a module:
    import sinkmx
    sink = sinkmx.Sink("127.0.0.5", 0, mode="accept", store="/tmp/dir")   # port 0: pick a free one
    sink.start()                  # returns once listening; also usable as "with sinkmx.Sink(...) as sink:"
    sink.port, sink.address       # 2525, "127.0.0.5:2525"
    sink.wait_for_messages(2, timeout=10)   # -> True when at least 2 messages were accepted
    sink.messages                 # [Message, ...] accepted so far (a copy), in order
    sink.connections              # connections accepted so far
    sink.active, sink.max_active  # connections open now / most open at once (concurrency tests)
    sink.dropped                  # connections closed by drop_after
    sink.commands                 # [(peer, "MAIL FROM:<a@b> SIZE=10"), ...] every command line received
                                  # (AUTH arguments masked)
    sink.clear()                  # forget messages, commands and counters
    sink.stop()

Message attributes: seq (1, 2, ...), mail_from ("" for the null sender), rcpt_tos, mail_options
(["SIZE=123", "BODY=8BITMIME"]), peer ("127.0.0.1:40000"), helo, tls (bool), tls_version ("TLSv1.3"
or None), auth_user (str or None), data (bytes: the content after dot-unstuffing, line ends exactly
as received), raw (bytes: everything received after the 354 up to and including the final ".\r\n",
dot-stuffing included), path (the stored file, or None).

Options (keyword arguments of Sink; the script's --options have the same names with dashes):
    mode            "accept" (default), "tempfail" (4xx at tempfail_at), "permfail" (550 5.1.1 at RCPT
                    for permfail_users, default all)
    store           directory: each accepted message is written to "<host>_<port>_<seq>.msg": one line
                    of JSON with the envelope (the attributes above but data/raw), a newline, then data
    hostname        name in the greeting and EHLO reply (default "sink.test")
    tempfail_at     "greeting" (421 and close), "mail", "rcpt", "data" (reply to the DATA command) or
                    "dot" (reply to the end of data); default "rcpt"
    tempfail_reply  the reply to use instead of the default for that stage ("{addr}" is replaced by
                    the recipient at RCPT)
    permfail_users  list of addresses (case-insensitive) refused with 550 5.1.1; None or ["*"]: all
    rcpt_replies    {address: "450 4.2.0 try later", ...}: a fixed reply for these recipients, in any
                    mode (a 2xx reply accepts the recipient)
    greeting        the whole greeting line, e.g. "554 5.7.1 go away"; when it is not 2xx the sink
                    closes the connection right after it
    tls_cert, tls_key   PEM files: offer STARTTLS
    require_tls     MAIL before STARTTLS gets 530 5.7.0
    auth_user, auth_password   offer AUTH (PLAIN, LOGIN, CRAM-MD5) and accept these credentials
    auth_mechanisms list of mechanisms to offer (default ["PLAIN", "LOGIN", "CRAM-MD5"])
    auth_require_tls    offer and allow AUTH only after STARTTLS (default True)
    require_auth    MAIL, RCPT, DATA before AUTH get 530 5.7.0
    delay           seconds to wait before every reply, the greeting included (slow servers)
    drop_after      close the connection once this many octets of DATA content have arrived
    pipelining      announce PIPELINING (default True)
    ehlo            answer EHLO (default True); False: 502, so clients must fall back to HELO
    size_limit      announce "SIZE n", refuse MAIL SIZE= above it (552 5.3.4) and bigger content
    smtputf8, eightbitmime  announce SMTPUTF8 / 8BITMIME (default True)
    timeout         idle seconds before the sink hangs up (default 300)
    verbose         log aiosmtpd's protocol trace on stderr

As a script:
    /usr/bin/python3 tests/lib/sinkmx.py --listen 127.0.0.5:2525 [--listen 127.0.0.6:0 ...]
        [--mode accept|tempfail|permfail] [--store DIR] [--tempfail-at rcpt] [--permfail-users a,b]
        [--rcpt-reply 'addr=450 4.2.0 later' ...] [--greeting '421 4.3.2 busy']
        [--tls-cert F --tls-key F] [--require-tls] [--auth-user U --auth-password P]
        [--auth-mechanisms PLAIN,LOGIN] [--auth-plaintext] [--require-auth] [--delay S]
        [--drop-after N] [--no-pipelining] [--no-ehlo] [--size-limit N] [--no-smtputf8]
        [--no-8bitmime] [--hostname NAME] [--verbose]
starts one sink per --listen (all with the same options), prints "READY 127.0.0.5:2525 127.0.0.6:41234"
on stdout (flushed) once all listen, then serves until SIGTERM or SIGINT. With --store, the messages
are the files in DIR.
"""

import argparse
import asyncio
import hmac
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

__all__ = ["Sink", "Message", "load_message"]

STAGES = ("greeting", "mail", "rcpt", "data", "dot")
TEMPFAIL_REPLIES = {
    "greeting": "421 4.3.2 {host} Service not available, closing transmission channel",
    "mail": "451 4.3.0 Error: temporary failure, try again later",
    "rcpt": "450 4.2.1 <{addr}>: Recipient address rejected: try again later",
    "data": "451 4.3.0 Error: temporary failure, try again later",
    "dot": "451 4.3.0 Error: queue file write error",
}
PERMFAIL_REPLY = "550 5.1.1 <{addr}>: Recipient address rejected: User unknown in virtual mailbox table"
ALL_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")

logging.getLogger("mail.log").setLevel(logging.CRITICAL)
warnings.filterwarnings("ignore", module="aiosmtpd")


class Message:
    """One accepted message; see the module documentation."""

    FIELDS = ("seq", "mail_from", "rcpt_tos", "mail_options", "peer", "helo", "tls", "tls_version", "auth_user")

    def __init__(self, **kw):
        for f in self.FIELDS:
            setattr(self, f, kw.get(f))
        self.data = kw.get("data", b"")
        self.raw = kw.get("raw", b"")
        self.path = kw.get("path")

    def envelope(self):
        return {f: getattr(self, f) for f in self.FIELDS}

    def __repr__(self):
        return "Message(%r, from=%r, to=%r, %d octets)" % (self.seq, self.mail_from, self.rcpt_tos, len(self.data))


def load_message(path):
    """Read a file written by a sink with store=DIR."""
    with open(path, "rb") as f:
        head = f.readline()
        data = f.read()
    env = json.loads(head.decode("utf-8"))
    return Message(data=data, path=path, **env)


class _Handler:
    """aiosmtpd hooks: EHLO keywords and the MAIL and RCPT policy of the sink."""

    def __init__(self, sink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        s = self.sink
        session.host_name = hostname
        keep = [responses[0][4:]]
        if s.pipelining:
            keep.append("PIPELINING")
        for r in responses[1:]:
            kw = r[4:]
            word = kw.split(" ")[0].upper()
            if word == "HELP":
                continue
            if word == "AUTH" and (not s.auth_user or kw.strip() == "AUTH"):
                continue
            if word == "8BITMIME" and not s.eightbitmime:
                continue
            keep.append(kw)
        keep.append("ENHANCEDSTATUSCODES")
        return ["250-" + k for k in keep[:-1]] + ["250 " + keep[-1]]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        s = self.sink
        if s.require_tls and session.ssl is None:
            return "530 5.7.0 Must issue a STARTTLS command first"
        if s.mode == "tempfail" and s.tempfail_at == "mail":
            return s.stage_reply("mail", "")
        envelope.mail_from = address  # "<>" for the null sender: aiosmtpd wants it non-empty
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        s = self.sink
        reply = s.rcpt_replies.get(address.lower())
        if reply is None and s.mode == "tempfail" and s.tempfail_at == "rcpt":
            reply = s.stage_reply("rcpt", address)
        if reply is None and s.mode == "permfail":
            users = s.permfail_users
            if users is None or "*" in users or address.lower() in users:
                reply = PERMFAIL_REPLY.format(addr=address)
        if reply is None:
            reply = "250 2.1.5 Ok"
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return reply


class _SinkSMTP(SMTP):
    """aiosmtpd's SMTP with the sink's greeting, delays, DATA reading and CRAM-MD5."""

    def __init__(self, sink, **kw):
        self.sink = sink
        super().__init__(_Handler(sink), **kw)

    async def _handle_client(self):
        s = self.sink
        s._opened()
        self._greeting = None
        try:
            if s.greeting is not None or (s.mode == "tempfail" and s.tempfail_at == "greeting"):
                line = s.greeting if s.greeting is not None else s.stage_reply("greeting", "")
                if not line.startswith("2"):
                    await self.push(line)
                    self.transport.close()
                    return
                self._greeting = line  # replaces aiosmtpd's own in push()
            await super()._handle_client()
        finally:
            s._closed()

    async def push(self, status):
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        if self._greeting is not None:
            status, self._greeting = self._greeting, None
        await super().push(status)

    def _record(self, line):
        words = line.split(None, 2)
        if words and words[0].upper() == "AUTH" and len(words) > 2:
            line = "%s %s ****" % (words[0], words[1])
        with self.sink._lock:
            self.sink._commands.append((self._peer_str(), line))

    def _peer_str(self):
        peer = self.session.peer if self.session else None
        return "%s:%s" % (peer[0], peer[1]) if peer else "?"

    async def smtp_EHLO(self, hostname):
        self._record("EHLO %s" % (hostname or ""))
        if not self.sink.ehlo:
            await self.push("502 5.5.2 Error: command not recognized")
            return
        await super().smtp_EHLO(hostname)

    async def smtp_HELO(self, hostname):
        self._record("HELO %s" % (hostname or ""))
        await super().smtp_HELO(hostname)

    async def smtp_MAIL(self, arg):
        self._record("MAIL %s" % (arg or ""))
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        self._record("RCPT %s" % (arg or ""))
        await super().smtp_RCPT(arg)

    async def smtp_RSET(self, arg):
        self._record("RSET")
        await super().smtp_RSET(arg)

    async def smtp_QUIT(self, arg):
        self._record("QUIT")
        await super().smtp_QUIT(arg)

    async def smtp_STARTTLS(self, arg):
        self._record("STARTTLS")
        await super().smtp_STARTTLS(arg)

    async def smtp_AUTH(self, arg):
        self._record("AUTH %s" % (arg or ""))
        await super().smtp_AUTH(arg)

    async def auth_CRAM__MD5(self, _, args):
        """RFC 2195 CRAM-MD5 (the method name maps to the mechanism "CRAM-MD5")."""
        s = self.sink
        if len(args) != 1:
            await self.push("501 5.5.4 Syntax: AUTH CRAM-MD5")
            return AuthResult(success=False, handled=True)
        challenge = ("<%s.%d@%s>" % (secrets.token_hex(8), int(time.time()), s.hostname)).encode()
        response = await self.challenge_auth(challenge)
        if not isinstance(response, bytes):
            return AuthResult(success=False, handled=True)
        user, _, digest = response.partition(b" ")
        expected = hmac.new((s.auth_password or "").encode(), challenge, "md5").hexdigest().encode()
        ok = user.decode("utf-8", "replace") == s.auth_user and hmac.compare_digest(digest, expected)
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(user, b""))

    async def smtp_DATA(self, arg):
        self._record("DATA")
        s = self.sink
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        if s.mode == "tempfail" and s.tempfail_at == "data":
            await self.push(s.stage_reply("data", ""))
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        raw = bytearray()
        data = bytearray()
        bol = True
        while self.transport is not None:
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as e:
                line = await self._reader.read(e.consumed)
            except asyncio.IncompleteReadError:
                return
            if not line:
                return
            raw += line
            if bol and line == b".\r\n":
                break
            if s.drop_after is not None and len(raw) >= s.drop_after:
                with s._lock:
                    s.dropped += 1
                self.transport.close()
                return
            data += line[1:] if bol and line.startswith(b".") else line
            bol = line.endswith(b"\r\n")
        if s.size_limit and len(data) > s.size_limit:
            self._set_post_data_state()
            await self.push("552 5.3.4 Error: message file too big")
            return
        if s.mode == "tempfail" and s.tempfail_at == "dot":
            self._set_post_data_state()
            await self.push(s.stage_reply("dot", ""))
            return
        ssl_object = self.transport.get_extra_info("ssl_object") if self.session.ssl is not None else None
        auth = self.session.auth_data
        sender = self.envelope.mail_from
        msg = Message(mail_from="" if sender == "<>" else sender, rcpt_tos=list(self.envelope.rcpt_tos),
                      mail_options=list(self.envelope.mail_options), peer=self._peer_str(),
                      helo=self.session.host_name, tls=self.session.ssl is not None,
                      tls_version=ssl_object.version() if ssl_object is not None else None,
                      auth_user=auth.login.decode("utf-8", "replace") if isinstance(auth, LoginPassword) else None,
                      data=bytes(data), raw=bytes(raw))
        seq = s._add(msg)
        self._set_post_data_state()
        await self.push("250 2.0.0 Ok: queued as SINK%06d" % seq)


class Sink:
    """One test SMTP server on host:port in a thread of its own; see the module documentation."""

    def __init__(self, host="127.0.0.1", port=0, mode="accept", store=None, hostname="sink.test",
                 tempfail_at="rcpt", tempfail_reply=None, permfail_users=None, rcpt_replies=None,
                 greeting=None, tls_cert=None, tls_key=None, require_tls=False, auth_user=None,
                 auth_password=None, auth_mechanisms=ALL_MECHANISMS, auth_require_tls=True,
                 require_auth=False, delay=0.0, drop_after=None, pipelining=True, ehlo=True,
                 size_limit=None, smtputf8=True, eightbitmime=True, timeout=300, verbose=False):
        if mode not in ("accept", "tempfail", "permfail"):
            raise ValueError("mode must be accept, tempfail or permfail")
        if tempfail_at not in STAGES:
            raise ValueError("tempfail_at must be one of %s" % ", ".join(STAGES))
        if bool(tls_cert) != bool(tls_key):
            raise ValueError("tls_cert and tls_key go together")
        self.host = host
        self.port = port
        self.mode = mode
        self.store = store
        self.hostname = hostname
        self.tempfail_at = tempfail_at
        self.tempfail_reply = tempfail_reply
        self.permfail_users = None if permfail_users is None else [u.lower() for u in permfail_users]
        self.rcpt_replies = {k.lower(): v for k, v in (rcpt_replies or {}).items()}
        self.greeting = greeting
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self.require_tls = require_tls
        self.auth_user, self.auth_password = auth_user, auth_password
        self.auth_mechanisms = [m.upper() for m in auth_mechanisms]
        self.auth_require_tls = auth_require_tls
        self.require_auth = require_auth
        self.delay = delay
        self.drop_after = drop_after
        self.pipelining = pipelining
        self.ehlo = ehlo
        self.size_limit = size_limit
        self.smtputf8 = smtputf8
        self.eightbitmime = eightbitmime
        self.timeout = timeout
        self.verbose = verbose
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._messages = []
        self._commands = []
        self._seq = 0
        self.connections = self.active = self.max_active = self.dropped = 0
        self._loop = None
        self._server = None
        self._thread = None
        self._error = None
        if store:
            os.makedirs(store, exist_ok=True)

    # --- state shared with the server thread -------------------------------------------------------

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def messages(self):
        with self._lock:
            return list(self._messages)

    @property
    def commands(self):
        with self._lock:
            return list(self._commands)

    def clear(self):
        with self._lock:
            self._messages.clear()
            self._commands.clear()
            self.connections = self.dropped = 0
            self.max_active = self.active

    def wait_for_messages(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def stage_reply(self, stage, addr):
        text = self.tempfail_reply or TEMPFAIL_REPLIES[stage]
        return text.format(addr=addr, host=self.hostname)

    def _opened(self):
        with self._lock:
            self.connections += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def _closed(self):
        with self._lock:
            self.active -= 1

    def _add(self, msg):
        with self._cond:
            self._seq += 1
            msg.seq = self._seq
        if self.store:
            name = "%s_%d_%06d.msg" % (self.host, self.port, msg.seq)
            path = os.path.join(self.store, name)
            tmp = os.path.join(self.store, "." + name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(json.dumps(msg.envelope()).encode("utf-8") + b"\n")
                f.write(msg.data)
            os.rename(tmp, path)
            msg.path = path
        with self._cond:
            self._messages.append(msg)
            self._cond.notify_all()
        return msg.seq

    # --- the server thread -------------------------------------------------------------------------

    def _tls_context(self):
        if not self.tls_cert:
            return None
        import ssl
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.tls_cert, self.tls_key)
        return ctx

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and self.auth_user is not None
              and auth_data.login.decode("utf-8", "replace") == self.auth_user
              and hmac.compare_digest(auth_data.password, (self.auth_password or "").encode()))
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def _factory(self):
        offered = self.auth_mechanisms if self.auth_user else []
        return _SinkSMTP(self, hostname=self.hostname, ident="sinkmx", loop=self._loop,
                         data_size_limit=self.size_limit, enable_SMTPUTF8=self.smtputf8,
                         tls_context=self._tls_context(), timeout=self.timeout,
                         auth_required=self.require_auth, auth_require_tls=self.auth_require_tls,
                         auth_exclude_mechanism=[m for m in ALL_MECHANISMS if m not in offered],
                         authenticator=self._authenticator)

    def _run(self, ready):
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                loop.create_server(self._factory, host=self.host, port=self.port, reuse_address=True))
            self.port = self._server.sockets[0].getsockname()[1]
        except Exception as e:  # reported by start()
            self._error = e
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        self._server.close()
        tasks = asyncio.all_tasks(loop)
        for t in tasks:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(self._server.wait_closed())
        loop.close()

    def start(self):
        if self.verbose:
            logging.basicConfig(level=logging.DEBUG)
            logging.getLogger("mail.log").setLevel(logging.DEBUG)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True,
                                        name="sinkmx-%s" % self.host)
        self._thread.start()
        ready.wait(30)
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def stop(self):
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    p = argparse.ArgumentParser(description="test SMTP servers for mxd (see the module documentation)")
    p.add_argument("--listen", action="append", required=True, help="ADDR:PORT (port 0: any free port)")
    p.add_argument("--mode", default="accept", choices=("accept", "tempfail", "permfail"))
    p.add_argument("--store")
    p.add_argument("--hostname", default="sink.test")
    p.add_argument("--tempfail-at", default="rcpt", choices=STAGES)
    p.add_argument("--tempfail-reply")
    p.add_argument("--permfail-users", help="comma-separated addresses (default: all)")
    p.add_argument("--rcpt-reply", action="append", default=[], help="ADDRESS=REPLY")
    p.add_argument("--greeting")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--require-tls", action="store_true")
    p.add_argument("--auth-user")
    p.add_argument("--auth-password")
    p.add_argument("--auth-mechanisms", default=",".join(ALL_MECHANISMS))
    p.add_argument("--auth-plaintext", action="store_true", help="offer AUTH before STARTTLS too")
    p.add_argument("--require-auth", action="store_true")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--drop-after", type=int)
    p.add_argument("--no-pipelining", action="store_true")
    p.add_argument("--no-ehlo", action="store_true")
    p.add_argument("--size-limit", type=int)
    p.add_argument("--no-smtputf8", action="store_true")
    p.add_argument("--no-8bitmime", action="store_true")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)

    rcpt_replies = {}
    for item in a.rcpt_reply:
        addr, sep, reply = item.partition("=")
        if not sep:
            p.error("--rcpt-reply wants ADDRESS=REPLY")
        rcpt_replies[addr] = reply
    sinks = []
    for listen in a.listen:
        host, sep, port = listen.rpartition(":")
        if not sep or not port.isdigit():
            p.error("--listen wants ADDR:PORT")
        sinks.append(Sink(host.strip("[]"), int(port), mode=a.mode, store=a.store, hostname=a.hostname,
                          tempfail_at=a.tempfail_at, tempfail_reply=a.tempfail_reply,
                          permfail_users=a.permfail_users.split(",") if a.permfail_users else None,
                          rcpt_replies=rcpt_replies, greeting=a.greeting, tls_cert=a.tls_cert,
                          tls_key=a.tls_key, require_tls=a.require_tls, auth_user=a.auth_user,
                          auth_password=a.auth_password,
                          auth_mechanisms=[m for m in a.auth_mechanisms.split(",") if m],
                          auth_require_tls=not a.auth_plaintext, require_auth=a.require_auth,
                          delay=a.delay, drop_after=a.drop_after, pipelining=not a.no_pipelining,
                          ehlo=not a.no_ehlo, size_limit=a.size_limit, smtputf8=not a.no_smtputf8,
                          eightbitmime=not a.no_8bitmime, timeout=a.timeout, verbose=a.verbose))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        for s in sinks:
            s.start()
    except OSError as e:
        print("sinkmx: cannot listen: %s" % e, file=sys.stderr)
        for s in sinks:
            s.stop()
        return 1
    print("READY " + " ".join(s.address for s in sinks), flush=True)
    while not done.wait(1.0):
        pass
    for s in sinks:
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
