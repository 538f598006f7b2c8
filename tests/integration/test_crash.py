"""Crash safety under load: mxd is killed with SIGKILL 20 times at random moments while clients keep
sending. After the last restart every message that got a 250 reaches the sink (counted by Message-ID),
no partial message is delivered, and duplicates (a crash between the remote 250 and our record of it)
are counted and reported."""
import collections
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
import sink  # noqa: E402
from fixtures import hosted  # noqa: E402

KILLS = 20
MARK = "END-OF-MESSAGE-MARK"


class CrashSafety(unittest.TestCase):
    def test_kill9_under_load_loses_nothing_acknowledged(self):
        s = sink.Sink("127.0.0.1", mxtest.free_port())
        inst = mxtest.Instance({"queue_run_delay": "1s", "minimal_backoff_time": "1s",
                                "maximal_backoff_time": "2s", "smtp_tls_security_level": "none"})
        rng = random.Random(1234)
        acked, lock, stop = set(), threading.Lock(), threading.Event()
        counter = [0]

        def client_loop(k):
            while not stop.is_set():
                with lock:
                    counter[0] += 1
                    msgid = "crash-%d-%d@test" % (k, counter[0])
                try:
                    c = inst.client(timeout=5)
                    r = c.send_mail("a@sender.test", ["info@example.com"],
                                    mxtest.make_message(msgid, body=("line\r\n" * 50) + MARK + "\r\n"))
                    c.close()
                    if r.code == 250:
                        with lock:
                            acked.add(msgid)
                except (OSError, ConnectionError, ValueError):
                    time.sleep(0.05)

        try:
            hosted(inst)
            inst.mxctl("route", "add", "*", "[127.0.0.1]:%d" % s.port)
            inst.start()
            threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.2, 0.9))
                inst.kill9()
                inst.start()
            time.sleep(0.5)
            stop.set()
            for t in threads:
                t.join()

            def delivered_ids():
                ids = collections.Counter()
                for m in s.messages:
                    for line in m.data.split(b"\r\n"):
                        if line.lower().startswith(b"message-id:"):
                            ids[line.split(b"<", 1)[1].split(b">", 1)[0].decode()] += 1
                return ids

            deadline = time.time() + 90
            while time.time() < deadline and not acked <= set(delivered_ids()):
                time.sleep(0.5)
            ids = delivered_ids()
            missing = acked - set(ids)
            self.assertGreater(len(acked), 50, "the load was too light to mean anything")
            self.assertEqual(missing, set(), "acknowledged but never delivered: %d" % len(missing))
            partial = [m for m in s.messages if MARK.encode() not in m.data]
            self.assertEqual(partial, [], "partial messages delivered")
            dups = sum(n - 1 for n in ids.values() if n > 1)
            print("\ncrash test: %d kills, %d acknowledged, %d delivered, %d duplicates" %
                  (KILLS, len(acked), len(s.messages), dups))
            inst.stop()
        finally:
            stop.set()
            inst.cleanup()
            s.stop()


class SecondaryCrashSafety(unittest.TestCase):
    def test_secondary_holding_mail_kill9(self):
        """A secondary holds mail for a primary that is down while it is killed 20 times; when the primary
        comes back, every acknowledged message reaches it."""
        primary_port = mxtest.free_port()
        inst = mxtest.Instance({"role": "secondary", "primary_hosts": "[127.0.0.1]:%d" % primary_port,
                                "primary_probe_interval": "1s", "minimal_backoff_time": "300s",
                                "maximal_backoff_time": "600s", "smtp_tls_security_level": "none",
                                "replica_max_age": "30d"})
        rng = random.Random(99)
        acked, lock, stop = set(), threading.Lock(), threading.Event()
        counter = [0]
        primary = None

        def client_loop(k):
            while not stop.is_set():
                with lock:
                    counter[0] += 1
                    msgid = "sec-%d-%d@test" % (k, counter[0])
                try:
                    c = inst.client(timeout=5)
                    r = c.send_mail("a@sender.test", ["info@example.com"], mxtest.make_message(msgid))
                    c.close()
                    if r.code == 250:
                        with lock:
                            acked.add(msgid)
                except (OSError, ConnectionError, ValueError):
                    time.sleep(0.05)

        try:
            import sqlite3
            hosted(inst)
            db = sqlite3.connect(inst.settings["database"])
            db.execute("CREATE TABLE IF NOT EXISTS sync_state(key TEXT PRIMARY KEY, value TEXT)")
            db.execute("INSERT OR REPLACE INTO sync_state(key, value) VALUES ('last_sync', ?)", (str(int(time.time())),))
            db.commit()
            db.close()
            inst.start()
            threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(3)]
            for t in threads:
                t.start()
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.2, 0.6))
                inst.kill9()
                inst.start()
            stop.set()
            for t in threads:
                t.join()
            primary = sink.Sink("127.0.0.1", primary_port)
            deadline = time.time() + 90

            def delivered():
                return {line.split(b"<", 1)[1].split(b">", 1)[0].decode()
                        for m in primary.messages for line in m.data.split(b"\r\n")
                        if line.lower().startswith(b"message-id:")}

            while time.time() < deadline and not acked <= delivered():
                time.sleep(0.5)
            self.assertGreater(len(acked), 20)
            self.assertEqual(acked - delivered(), set())
            print("\nsecondary crash test: %d kills, %d acknowledged, %d delivered to the primary" %
                  (KILLS, len(acked), len(primary.messages)))
            inst.stop()
        finally:
            stop.set()
            inst.cleanup()
            if primary is not None:
                primary.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
