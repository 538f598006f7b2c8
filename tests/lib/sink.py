"""sink: an SMTP server standing in for external mailboxes in delivery tests (Debian's /usr/bin/python3
with aiosmtpd). Listens on a loopback address and port, stores what it receives, and can refuse.

    s = sink.Sink("127.0.0.1", port)          # started; s.port
    s.rcpt_reply = {"bad@x.test": "550 5.1.1 no such user"}   # per recipient; "*" for all
    s.data_reply = "451 4.3.0 try later"     # or None to accept
    s.messages                               # [Message(mail_from, rcpt_tos, data bytes, peer)]
    s.max_concurrent                         # most sessions open at once
    s.wait(n, timeout)                       # until n messages arrived
    s.stop()

    Sink(host, port, tls=(cert, key), auth=("user", "secret"))   # STARTTLS offered; AUTH required,
                                                                 # and only over TLS
    Message.auth is the user that authenticated (None without AUTH), Message.tls whether TLS was on.
"""
import asyncio
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class Message:
    def __init__(self, mail_from, rcpt_tos, data, peer, auth=None, tls=False):
        self.mail_from, self.rcpt_tos, self.data, self.peer = mail_from, rcpt_tos, data, peer
        self.auth, self.tls = auth, tls


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        r = self.sink.rcpt_reply.get(address.lower()) or self.sink.rcpt_reply.get("*")
        if r is not None:
            return r
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        if self.sink.data_reply is not None:
            return self.sink.data_reply
        with self.sink.lock:
            user = session.auth_data.login.decode() if getattr(session, "auth_data", None) is not None else None
            self.sink.messages.append(Message(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                              session.peer, user, server._tls_protocol is not None))
        return "250 2.0.0 Ok: queued as SINK%d" % len(self.sink.messages)


class _CountingSMTP(SMTP):
    def __init__(self, handler, sink, **kw):
        super().__init__(handler, **kw)
        self._sink = sink

    def connection_made(self, transport):
        with self._sink.lock:
            self._sink.open += 1
            self._sink.max_concurrent = max(self._sink.max_concurrent, self._sink.open)
        super().connection_made(transport)

    def connection_lost(self, exc):
        with self._sink.lock:
            self._sink.open -= 1
        super().connection_lost(exc)


class _Controller(Controller):
    def __init__(self, sink, **kw):
        self._sink = sink
        super().__init__(_Handler(sink), **kw)

    def factory(self):
        kw = dict(hostname="sink.test", decode_data=False, enable_SMTPUTF8=True, ident="sink")
        if self._sink.tls is not None:
            import ssl
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*self._sink.tls)
            kw["tls_context"] = ctx
        if self._sink.auth is not None:
            user, password = self._sink.auth

            def authenticator(server, session, envelope, mechanism, auth_data):
                from aiosmtpd.smtp import AuthResult
                ok = auth_data.login.decode() == user and auth_data.password.decode() == password
                return AuthResult(success=ok, handled=False, auth_data=auth_data)
            kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
        return _CountingSMTP(self.handler, self._sink, **kw)


class Sink:
    def __init__(self, host, port, tls=None, auth=None):
        self.tls, self.auth = tls, auth
        self.lock = threading.Lock()
        self.messages = []
        self.rcpt_reply = {}
        self.data_reply = None
        self.delay = 0
        self.open = 0
        self.max_concurrent = 0
        self.host, self.port = host, port
        self.controller = _Controller(self, hostname=host, port=port)
        self.controller.start()

    def wait(self, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return True
            time.sleep(0.05)
        return False

    def stop(self):
        self.controller.stop()
