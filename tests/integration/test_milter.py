"""Milters (smtpd_milters) against a small milter written here, speaking the Sendmail milter protocol
(version 6) with asyncio: quarantine (held in the queue with its reason, listed, released, deleted),
header edits, recipient edits, discard, reject with the milter's reply, a milter that sends garbage and
one that hangs (milter_default_action within milter_content_timeout, while another session is served),
a milter that is down, the macros it is given, the counters, two milters in order (inet and unix:
sockets, the second seeing the first one's edits), a reject at the RCPT step, reload, the secondary role, and the
quarantine and refusals in the admin UI and API."""
import asyncio
import os
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402

SMFIP_NR_HDR = 0x80


class TestMilter:
    """A milter on 127.0.0.1:port; what it does at the end of a message depends on its Subject."""

    def __init__(self, unix_path=None):
        self.unix_path = unix_path
        self.loop = asyncio.new_event_loop()
        self.macros = {}
        self.headers = []
        self.connections = 0
        self.server = None
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        if self.unix_path is not None:
            server = asyncio.start_unix_server(self._conn, self.unix_path)
        else:
            server = asyncio.start_server(self._conn, "127.0.0.1", self.port)
        self.server = self.loop.run_until_complete(server)
        ready.set()
        self.loop.run_forever()

    def stop(self):
        def close():
            self.server.close()
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.call_later(0.1, self.loop.stop)
        self.loop.call_soon_threadsafe(close)
        self.thread.join(10)

    @staticmethod
    def packet(cmd, data=b""):
        return struct.pack(">I", len(data) + 1) + cmd + data

    async def _conn(self, reader, writer):
        self.connections += 1
        subject = ""
        headers = []
        try:
            while True:
                n = struct.unpack(">I", await reader.readexactly(4))[0]
                body = await reader.readexactly(n)
                cmd, data = body[:1], body[1:]
                if cmd == b"O":
                    writer.write(self.packet(b"O", struct.pack(">III", 6, 0x1ff, SMFIP_NR_HDR)))
                elif cmd == b"D":
                    parts = data[1:].split(b"\0")
                    for k, v in zip(parts[0::2], parts[1::2]):
                        self.macros[k.decode()] = v.decode()
                elif cmd == b"L":
                    name, value = data.split(b"\0")[:2]
                    headers.append((name.decode(), value.decode()))
                    if name.lower() == b"subject":
                        subject = value.decode()
                elif cmd == b"R" and b"blocked@" in data:
                    writer.write(self.packet(b"y", b"550 5.7.1 <blocked@example.com>: recipient refused by milter\0"))
                elif cmd in (b"C", b"H", b"M", b"R", b"T", b"N", b"B"):
                    writer.write(self.packet(b"c"))
                elif cmd == b"E":
                    self.headers = headers
                    if not await self._eom(subject, writer):
                        return
                elif cmd == b"Q":
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _eom(self, subject, writer):
        p = self.packet
        if subject == "quarantine":
            writer.write(p(b"q", b"looks like phishing\0") + p(b"c"))
        elif subject == "headers":
            writer.write(p(b"h", b"X-Milter-Added\0yes\n\tfolded\0") +
                         p(b"i", struct.pack(">I", 0) + b"X-Milter-First\0top\0") +
                         p(b"m", struct.pack(">I", 1) + b"Subject\0changed by milter\0") +
                         p(b"m", struct.pack(">I", 1) + b"X-Drop\0\0") + p(b"c"))
        elif subject == "rcpts":
            writer.write(p(b"-", b"<info@example.com>\0") + p(b"+", b"<sales@example.com>\0") + p(b"c"))
        elif subject == "discard":
            writer.write(p(b"d"))
        elif subject == "reject":
            writer.write(p(b"y", b"550 5.7.1 Rejected by the test milter\0"))
        elif subject == "garbage":
            writer.write(b"garbage, not a milter packet\r\n")
        elif subject == "badheader":
            writer.write(p(b"h", b"X-Evil\0a\r\nInjected: yes\0") + p(b"c"))
        elif subject == "slow":
            await asyncio.sleep(1)
            writer.write(p(b"c"))
        elif subject == "hang":
            await asyncio.sleep(30)
            return False
        else:
            writer.write(p(b"c"))
        return True


def wait_log(inst, text, timeout=15):
    deadline = time.monotonic() + timeout
    while text not in inst.read_log() and time.monotonic() < deadline:
        time.sleep(0.05)


def queue_ids(inst, quarantine=False):
    out = inst.mxctl("queue", "quarantine" if quarantine else "list").stdout
    return re.findall(r"^([0-9A-F]{16})\s", out, re.M)


def msg(subject, extra="", body="Hello.\r\n"):
    return ("From: <sender@example.org>\r\nTo: <info@example.com>\r\nSubject: %s\r\n%s"
            "Message-ID: <%s@example.org>\r\n\r\n%s" % (subject, extra, subject, body))


class Milter(unittest.TestCase):
    def setUp(self):
        self.milter = TestMilter()
        self.addCleanup(self.milter.stop)
        self.metrics_port = mxtest.free_port()
        self.inst = mxtest.Instance({
            "smtpd_milters": "inet:127.0.0.1:%d" % self.milter.port,
            "milter_content_timeout": "3s",
            "metrics_listen": "127.0.0.1:%d" % self.metrics_port,
        })
        self.addCleanup(self.inst.cleanup)
        self.inst.mxctl("domain", "add", "example.com")
        self.inst.mxctl("alias", "add", "info@example.com", "someone@gmail.test")
        self.inst.mxctl("alias", "add", "sales@example.com", "other@gmail.test")
        self.inst.mxctl("alias", "add", "blocked@example.com", "third@gmail.test")
        self.inst.start()
        self.addCleanup(self.inst.stop)

    def send(self, subject, extra="", rcpts=("info@example.com",), body="Hello.\r\n"):
        c = self.inst.client()
        self.addCleanup(c.close)
        return c.send_mail("sender@example.org", list(rcpts), msg(subject, extra, body))

    def test_clean_message_passes_with_macros(self):
        r = self.send("clean")
        self.assertEqual(r.code, 250, r)
        m = self.milter.macros
        self.assertEqual(m.get("{client_addr}"), "127.0.0.1")
        self.assertEqual(m.get("j"), "mx.mxd.test")
        self.assertEqual(m.get("{mail_addr}"), "sender@example.org")
        self.assertEqual(m.get("{rcpt_addr}"), "info@example.com")
        self.assertIn(m.get("i"), r.text)
        self.assertEqual(m.get("{auth_authen}"), "")
        names = [h[0] for h in self.milter.headers]
        self.assertEqual(names[0], "Received")  # ours, as Postfix shows it to milters
        self.assertIn("Subject", names)

    def test_quarantine_held_listed_released_deleted(self):
        r = self.send("quarantine")
        self.assertEqual(r.code, 250, r)
        qid = r.text.split()[-1]
        self.assertEqual(queue_ids(self.inst, quarantine=True), [qid])
        show = self.inst.mxctl("queue", "show", qid).stdout
        self.assertIn("held: yes", show)
        self.assertIn("quarantine: looks like phishing (milter inet:127.0.0.1:", show)
        self.assertIn("HELD", self.inst.mxctl("queue", "list").stdout)
        log = self.inst.read_log()
        self.assertIn("%s: milter-hold: END-OF-MESSAGE from unknown[127.0.0.1]: milter triggers HOLD "
                      "action: looks like phishing" % qid, log)
        self.inst.mxctl("queue", "release", qid)
        self.assertEqual(queue_ids(self.inst, quarantine=True), [])
        self.assertIn("held: no", self.inst.mxctl("queue", "show", qid).stdout)
        r = self.send("quarantine")
        qid2 = r.text.split()[-1]
        self.inst.mxctl("queue", "delete", qid2)
        self.assertEqual(queue_ids(self.inst, quarantine=True), [])

    def test_header_edits_before_store(self):
        r = self.send("headers", extra="X-Drop: remove me\r\n")
        self.assertEqual(r.code, 250, r)
        qid = r.text.split()[-1]
        content = self.inst.mxctl("queue", "show", qid).stdout.split("*** CONTENT ***\n", 1)[1]
        self.assertTrue(content.startswith("X-Milter-First: top\n"), content[:200])
        self.assertIn("X-Milter-Added: yes\n\tfolded\n", content)
        self.assertIn("Subject: changed by milter\n", content)
        self.assertNotIn("Subject: headers", content)
        self.assertNotIn("X-Drop", content)
        self.assertIn("\n\nHello.\n", content)

    def test_header_edits_on_a_large_message(self):
        """3 MiB, so the content is a mapped spool file: the edited header section is written in front,
        the body stored as it came."""
        body = "".join("line %07d of a large message\r\n" % n for n in range(100000))
        r = self.send("headers", extra="X-Drop: remove me\r\n", body=body)
        self.assertEqual(r.code, 250, r)
        qid = r.text.split()[-1]
        content = self.inst.mxctl("queue", "show", qid).stdout.split("*** CONTENT ***\n", 1)[1]
        self.assertTrue(content.startswith("X-Milter-First: top\n"), content[:200])
        self.assertIn("Subject: changed by milter\n", content)
        self.assertNotIn("X-Drop", content)
        head, stored = content.split("\n\n", 1)
        self.assertIn("X-Milter-Added: yes\n\tfolded\n", head + "\n")
        self.assertEqual(stored.rstrip("\n"), body.replace("\r\n", "\n").rstrip("\n"))

    def test_header_that_would_inject_a_line_is_refused(self):
        r = self.send("badheader")
        self.assertEqual((r.code, r.text[4:9]), (451, "4.7.1"), r)
        self.assertEqual(queue_ids(self.inst), [])
        self.assertIn("malformed reply: header value holds a line break that does not fold", self.inst.read_log())

    def test_recipient_edits(self):
        r = self.send("rcpts")
        self.assertEqual(r.code, 250, r)
        qid = r.text.split()[-1]
        show = self.inst.mxctl("queue", "show", qid).stdout
        self.assertIn("<other@gmail.test>", show)
        self.assertIn("orig_to=<sales@example.com>", show)
        self.assertNotIn("someone@gmail.test", show)
        log = self.inst.read_log()
        self.assertIn("%s: milter: recipient <info@example.com> deleted" % qid, log)
        self.assertIn("%s: milter: recipient <sales@example.com> added" % qid, log)

    def test_reject_at_rcpt_step(self):
        r = self.send("clean", rcpts=("info@example.com", "blocked@example.com"))
        self.assertEqual((r.code, r.text[4:]), (550, "5.7.1 <blocked@example.com>: recipient refused by milter"), r)
        self.assertEqual(queue_ids(self.inst), [])

    def test_discard(self):
        r = self.send("discard")
        self.assertEqual(r.code, 250, r)
        self.assertEqual(queue_ids(self.inst), [])
        self.assertRegex(self.inst.read_log(), r"milter-discard: END-OF-MESSAGE from unknown\[127.0.0.1\]: "
                         r"milter triggers DISCARD action")

    def test_reject_with_the_milters_reply(self):
        r = self.send("reject")
        self.assertEqual((r.code, r.text[4:]), (550, "5.7.1 Rejected by the test milter"), r)
        self.assertEqual(queue_ids(self.inst), [])
        self.assertIn("milter-reject: END-OF-MESSAGE from unknown[127.0.0.1]: 550 5.7.1 Rejected by the "
                      "test milter", self.inst.read_log())
        # the session goes on: the next message is judged on its own
        c = self.inst.client()
        self.addCleanup(c.close)
        self.assertEqual(c.send_mail("sender@example.org", ["info@example.com"], msg("reject")).code, 550)
        r = c.send_mail("sender@example.org", ["info@example.com"], msg("clean"))
        self.assertEqual(r.code, 250, r)

    def test_garbage_gives_default_action(self):
        r = self.send("garbage")
        self.assertEqual((r.code, r.text[4:]), (451, "4.7.1 Service unavailable - try again later"), r)
        self.assertEqual(queue_ids(self.inst), [])
        self.assertIn("warning: milter inet:127.0.0.1:%d: malformed reply: packet too long" % self.milter.port,
                      self.inst.read_log())

    def test_hanging_milter_times_out_while_others_are_served(self):
        hung = self.inst.client(timeout=30)
        self.addCleanup(hung.close)
        hung.reply()
        hung.cmd("EHLO client.example")
        hung.cmd("MAIL FROM:<sender@example.org>")
        hung.cmd("RCPT TO:<info@example.com>")
        self.assertEqual(hung.cmd("DATA").code, 354)
        start = time.monotonic()
        hung.send(msg("hang").encode() + b".\r\n")
        time.sleep(0.3)
        r = self.send("clean")  # another session meanwhile
        self.assertEqual(r.code, 250, r)
        self.assertLess(time.monotonic() - start, 2.7)  # well before the hung one's timeout
        r = hung.reply()
        elapsed = time.monotonic() - start
        self.assertEqual((r.code, r.text[4:9]), (451, "4.7.1"), r)
        self.assertGreater(elapsed, 2.5)
        self.assertLess(elapsed, 8)
        self.assertIn("timeout waiting for the reply to SMFIC_BODYEOB", self.inst.read_log())
        self.assertEqual(len(queue_ids(self.inst)), 1)  # only the clean one

    def test_counters(self):
        self.send("reject")
        self.send("discard")
        self.send("quarantine")
        self.send("garbage")
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=10).read().decode()
        for verdict, n in (("reject", 1), ("discard", 1), ("quarantine", 1), ("tempfail", 1), ("failed", 1)):
            self.assertIn('mxd_smtpd_milter_total{verdict="%s"} %d' % (verdict, n), body)
        status = self.inst.mxctl("status").stdout
        self.assertIn("milter verdicts:", status)
        self.assertIn('{verdict="quarantine"} 1', status)

    def test_pipelined_quit_and_half_close_still_get_the_verdict(self):
        c = self.inst.client()
        self.addCleanup(c.close)
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<sender@example.org>")
        c.cmd("RCPT TO:<info@example.com>")
        c.cmd("DATA")
        c.send(msg("slow").encode() + b".\r\nQUIT\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        r = c.reply()
        self.assertEqual(r.code, 250, r)
        self.assertEqual(c.reply().code, 221)
        self.assertEqual(len(queue_ids(self.inst)), 1)

    def test_shutdown_while_a_milter_hangs(self):
        self.inst.settings["milter_content_timeout"] = "60s"
        self.inst.write_conf()
        self.inst.stop()
        self.inst.start()
        c = self.inst.client(timeout=30)
        self.addCleanup(c.close)
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<sender@example.org>")
        c.cmd("RCPT TO:<info@example.com>")
        c.cmd("DATA")
        c.send(msg("hang").encode() + b".\r\n")
        time.sleep(0.3)
        start = time.monotonic()
        self.inst.stop()  # SIGTERM: a clean exit (status 0, sanitizers quiet) is required
        self.assertLess(time.monotonic() - start, 5)
        r = c.reply()
        self.assertEqual((r.code, r.text[4:9]), (421, "4.3.2"), r)
        self.assertIn("milter run cancelled: shutting down; nothing stored", self.inst.read_log())

    def test_reload(self):
        def reload(expect):
            n = self.inst.read_log().count(expect)
            self.inst.write_conf()
            self.inst.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while self.inst.read_log().count(expect) == n and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertGreater(self.inst.read_log().count(expect), n)
        self.inst.settings["smtpd_milters"] = "inet:milter.example:1"
        reload("reload failed, the running configuration stays: smtpd_milters: 'inet:milter.example:1'")
        self.assertEqual(self.send("reject").code, 550)  # the milter still runs
        self.inst.settings["smtpd_milters"] = ""
        reload("reload -- configuration")
        self.assertEqual(self.send("reject").code, 250)  # no milter any more
        self.inst.settings["smtpd_milters"] = "inet:127.0.0.1:%d" % self.milter.port
        reload("reload -- configuration")
        self.assertEqual(self.send("reject").code, 550)

    def test_client_leaves_while_the_milter_works(self):
        c = self.inst.client()
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<sender@example.org>")
        c.cmd("RCPT TO:<info@example.com>")
        c.cmd("DATA")
        c.send(msg("slow").encode() + b".\r\n")
        time.sleep(0.2)
        c.close()
        wait_log(self.inst, "lost connection while the milters ran: nothing stored")
        self.assertEqual(queue_ids(self.inst), [])
        self.assertIn("lost connection while the milters ran: nothing stored", self.inst.read_log())
        self.assertEqual(self.send("clean").code, 250)


class MilterUnixSocket(unittest.TestCase):
    def test_unix_socket_milter_after_an_inet_one(self):
        first = TestMilter()
        self.addCleanup(first.stop)
        d = tempfile.mkdtemp(prefix="mxtest-milter-")
        self.addCleanup(shutil.rmtree, d, True)
        second = TestMilter(unix_path=os.path.join(d, "milter.sock"))
        self.addCleanup(second.stop)
        inst = mxtest.Instance({"smtpd_milters": "inet:127.0.0.1:%d, unix:%s" % (first.port, second.unix_path)})
        self.addCleanup(inst.cleanup)
        inst.mxctl("domain", "add", "example.com")
        inst.mxctl("alias", "add", "info@example.com", "someone@gmail.test")
        inst.start()
        self.addCleanup(inst.stop)
        c = inst.client()
        self.addCleanup(c.close)
        r = c.send_mail("sender@example.org", ["info@example.com"], msg("headers"))
        self.assertEqual(r.code, 250, r)
        self.assertEqual((first.connections, second.connections), (1, 1))
        # the second milter saw the first one's edits
        self.assertIn(("Subject", "changed by milter"), second.headers)
        self.assertIn(("X-Milter-First", "top"), second.headers)
        r = c.send_mail("sender@example.org", ["info@example.com"], msg("reject"))
        self.assertEqual(r.code, 550, r)
        self.assertEqual(first.connections, 2)
        self.assertEqual(second.connections, 1)  # the first one's reject ends the run


class MilterSecondary(unittest.TestCase):
    """The secondary refuses what the primary would: the same milters, the same verdicts."""

    def test_secondary_role(self):
        import sqlite3
        milter = TestMilter()
        self.addCleanup(milter.stop)
        inst = mxtest.Instance({
            "role": "secondary",
            "myhostname": "mx2.example.com",
            "primary_hosts": "[127.0.0.1]:%d" % mxtest.free_port(),
            "smtpd_milters": "inet:127.0.0.1:%d" % milter.port,
        })
        self.addCleanup(inst.cleanup)
        inst.mxctl("domain", "add", "example.com")
        inst.mxctl("alias", "add", "info@example.com", "someone@gmail.test")
        db = sqlite3.connect(inst.settings["database"])
        db.execute("CREATE TABLE IF NOT EXISTS sync_state(key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT OR REPLACE INTO sync_state(key, value) VALUES ('last_sync', ?)", (str(int(time.time())),))
        db.commit()
        db.close()
        inst.start()
        self.addCleanup(inst.stop)
        c = inst.client()
        self.addCleanup(c.close)
        r = c.send_mail("sender@example.org", ["info@example.com"], msg("reject"))
        self.assertEqual((r.code, r.text[4:]), (550, "5.7.1 Rejected by the test milter"))
        r = c.send_mail("sender@example.org", ["info@example.com"], msg("quarantine"))
        self.assertEqual(r.code, 250, r)
        self.assertEqual(queue_ids(inst, quarantine=True), [r.text.split()[-1]])


class MilterQuarantineAdmin(unittest.TestCase):
    """The quarantine in the admin UI and API: reasons shown, domain admins see and release only their
    domains' messages."""

    def test_quarantine_in_ui_and_api(self):
        from admin_client import Browser, DOMA_PW, ROOT_PW, add_admin, start_mxadmin, stop_mxadmin
        milter = TestMilter()
        self.addCleanup(milter.stop)
        port = mxtest.free_port()
        inst = mxtest.Instance({"smtpd_milters": "inet:127.0.0.1:%d" % milter.port,
                                "admin_listen": "127.0.0.1:%d" % port})
        self.addCleanup(inst.cleanup)
        for d in ("a.test", "b.test"):
            inst.mxctl("domain", "add", d)
            inst.mxctl("alias", "add", "info@" + d, "someone-%s@ext.test" % d[0])
        for name, pw, role in (("root", ROOT_PW, ["--superadmin"]), ("doma", DOMA_PW, ["--domain", "a.test"])):
            add_admin(inst, name, pw, *role)
        inst.start()
        self.addCleanup(inst.stop)
        proc, log = start_mxadmin(inst.conf, port)
        self.addCleanup(stop_mxadmin, proc, log)
        ids = {}
        for d in ("a.test", "b.test"):
            c = inst.client()
            self.addCleanup(c.close)
            r = c.send_mail("sender@example.org", ["info@" + d], msg("quarantine"))
            self.assertEqual(r.code, 250, r)
            ids[d] = r.text.split()[-1]
        c = inst.client()
        self.addCleanup(c.close)
        self.assertEqual(c.send_mail("sender@example.org", ["info@a.test"], msg("clean")).code, 250)
        self.assertEqual(c.send_mail("sender@example.org", ["info@b.test"], msg("reject")).code, 550)
        base = "http://127.0.0.1:%d" % port
        root, doma = Browser(base), Browser(base)
        self.assertEqual(root.login("root", ROOT_PW).status, 303)
        self.assertEqual(doma.login("doma", DOMA_PW).status, 303)
        root_token = inst.mxctl("admin", "token", "root").stdout.strip()
        doma_token = inst.mxctl("admin", "token", "doma").stdout.strip()

        q = root.api("GET", "/queue?quarantine=1", token=root_token).json()
        self.assertEqual(sorted(m["id"] for m in q["messages"]), sorted(ids.values()))
        self.assertTrue(all(m["held"] and m["quarantine"].startswith("looks like phishing (milter inet:")
                            for m in q["messages"]))
        self.assertEqual(len(root.api("GET", "/queue", token=root_token).json()["messages"]), 3)
        q = doma.api("GET", "/queue?quarantine=1", token=doma_token).json()
        self.assertEqual([m["id"] for m in q["messages"]], [ids["a.test"]])
        page = root.get("/queue?quarantine=1").body
        self.assertIn("quarantine: looks like phishing", page)
        self.assertIn(ids["b.test"], page)
        page = doma.get("/queue?quarantine=1").body
        self.assertIn(ids["a.test"], page)
        self.assertNotIn(ids["b.test"], page)
        self.assertIn("looks like phishing", doma.get("/queue/show?id=" + ids["a.test"]).body)

        # refusals by reason in the delivery log, scoped like everything else
        wait_log(inst, "milter-reject")  # then the committer writes the rows with its next transaction
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "milter-reject" not in root.api(
                "GET", "/log?address=info@b.test", token=root_token).body:
            time.sleep(0.1)
        rows = root.api("GET", "/log?address=info@b.test", token=root_token).json()["entries"]
        events = {(e["event"], e["dsn"]) for e in rows}
        self.assertIn(("milter-reject", "5.7.1"), events, rows)
        self.assertIn(("milter-hold", ""), events, rows)
        self.assertTrue(any("Rejected by the test milter" in e["reply"] for e in rows))
        rows = doma.api("GET", "/log?address=info@b.test", token=doma_token)
        self.assertNotIn("milter-reject", rows.body)
        self.assertIn("milter-reject", root.get("/log?address=info@b.test").body)
        # the dashboard's 24-hour figures: refused 1 (b.test), discarded 0, quarantined 2 (a and b) for
        # root; domain admin of a.test: only its quarantined one
        dash = re.sub(r"\s+", " ", root.get("/").body)
        self.assertIn("<dt>Refused by milters</dt><dd>1</dd> <dt>Discarded</dt><dd>0</dd> "
                      "<dt>Quarantined</dt><dd>2</dd>", dash)
        dash = re.sub(r"\s+", " ", doma.get("/").body)
        self.assertIn("<dt>Refused by milters</dt><dd>0</dd> <dt>Discarded</dt><dd>0</dd> "
                      "<dt>Quarantined</dt><dd>1</dd>", dash)

        self.assertEqual(doma.api("POST", "/queue/%s/release" % ids["b.test"], token=doma_token).status, 404)
        self.assertEqual(doma.api("POST", "/queue/%s/release" % ids["a.test"], token=doma_token).status, 200)
        self.assertEqual(root.api("DELETE", "/queue/" + ids["b.test"], token=root_token).status, 200)
        self.assertEqual(root.api("GET", "/queue?quarantine=1", token=root_token).json()["messages"], [])
        m = root.api("GET", "/queue/" + ids["a.test"], token=root_token).json()
        self.assertEqual((m["held"], m["quarantine"]), (False, ""))


class MilterDown(unittest.TestCase):
    def start(self, settings):
        port = mxtest.free_port()  # nobody listens there
        s = {"smtpd_milters": "inet:127.0.0.1:%d" % port}
        s.update(settings)
        inst = mxtest.Instance(s)
        self.addCleanup(inst.cleanup)
        inst.mxctl("domain", "add", "example.com")
        inst.mxctl("alias", "add", "info@example.com", "someone@gmail.test")
        inst.start()
        self.addCleanup(inst.stop)
        c = inst.client()
        self.addCleanup(c.close)
        return inst, c.send_mail("sender@example.org", ["info@example.com"], msg("clean"))

    def test_default_tempfail(self):
        inst, r = self.start({})
        self.assertEqual((r.code, r.text[4:]), (451, "4.7.1 Service unavailable - try again later"))
        self.assertIn("Connection refused", inst.read_log())

    def test_default_reject(self):
        _, r = self.start({"milter_default_action": "reject"})
        self.assertEqual((r.code, r.text[4:]), (550, "5.7.1 Command rejected"))

    def test_default_accept(self):
        _, r = self.start({"milter_default_action": "accept"})
        self.assertEqual(r.code, 250)

    def test_default_quarantine(self):
        inst, r = self.start({"milter_default_action": "quarantine"})
        self.assertEqual(r.code, 250, r)
        out = inst.mxctl("queue", "quarantine").stdout
        self.assertIn("(quarantine: milter failed: Connection refused (milter inet:127.0.0.1:", out)

    def test_our_networks_go_through(self):
        inst, r = self.start({"mynetworks": "127.0.0.0/8"})
        self.assertEqual(r.code, 250)
        self.assertIn("(our own network: the milter is skipped)", inst.read_log())

    def test_bad_setting_named(self):
        inst = mxtest.Instance({"smtpd_milters": "inet:milter.example:11332"})
        self.addCleanup(inst.cleanup)
        r = subprocess_run(inst)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("smtpd_milters: 'inet:milter.example:11332'", r.stderr)


def subprocess_run(inst):
    import subprocess
    return subprocess.run(inst.command(), capture_output=True, text=True, timeout=30)


if __name__ == "__main__":
    unittest.main()
