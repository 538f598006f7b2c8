"""Large bodies written once (queue_segment.h): 100 KB and 3 MiB messages reach the sink byte-intact
through segment files, which are gone once the mail is delivered; a SIGKILL after the 250s loses no large
message; a second mxd on the same queue is refused. Failed segment writes: test_faults.py."""
import os
import random
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
import sink  # noqa: E402
from fixtures import hosted, stop_and_cleanup, wait_for  # noqa: E402

def big_body(size, seed):
    """size octets of printable lines of 78 + CRLF, different for each seed."""
    text = ("%d-" % seed + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" * 2)[:78]
    lines = [text[i % 61:] + text[:i % 61] + "\r\n" for i in range(size // 80 + 1)]
    return "".join(lines)[:size - 2] + "\r\n"


def send(inst, msgid, body):
    c = inst.client(timeout=60)
    try:
        return c.send_mail("a@sender.test", ["info@example.com"], mxtest.make_message(msgid, body=body))
    finally:
        c.close()


def segment_files(inst):
    d = os.path.join(inst.settings["queue_directory"], "segments")
    return sorted(f for f in os.listdir(d) if f.endswith(".seg")) if os.path.isdir(d) else []


def delivered_all(s):
    """Message-ID -> what the sink received."""
    got = {}
    for m in list(s.messages):
        for line in m.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                got[line.split(b"<", 1)[1].split(b">", 1)[0].decode()] = m.data
    return got


def delivered(s, msgid):
    return delivered_all(s).get(msgid)


class Segments(unittest.TestCase):
    def setUp(self):
        self.sink = sink.Sink("127.0.0.1", mxtest.free_port())
        self.inst = mxtest.Instance({"queue_run_delay": "1s", "minimal_backoff_time": "1s",
                                     "maximal_backoff_time": "2s", "smtp_tls_security_level": "none"})
        hosted(self.inst)

    def tearDown(self):
        stop_and_cleanup(self.inst)
        self.sink.stop()

    def route_to_sink(self):
        self.inst.mxctl("route", "add", "*", "[127.0.0.1]:%d" % self.sink.port)

    def assert_intact(self, msgid, body, got=None):
        data = (got or delivered_all(self.sink)).get(msgid)
        self.assertIsNotNone(data, msgid)
        self.assertTrue(data.endswith(body.encode()), "%s: the body differs" % msgid)

    def test_large_bodies_intact_and_segments_removed(self):
        self.route_to_sink()
        self.inst.start()
        bodies = {"seg100k@test": big_body(100 * 1024, 1), "seg3m@test": big_body(3 << 20, 2),
                  "small@test": "hi\r\n"}
        for msgid, body in bodies.items():
            r = send(self.inst, msgid, body)
            self.assertEqual(r.code, 250, r.lines)
        self.assertTrue(self.sink.wait(3, 60), self.inst.read_log()[-2000:])
        for msgid, body in bodies.items():
            self.assert_intact(msgid, body)
        seg_dir = os.path.join(self.inst.settings["queue_directory"], "segments")
        qmode = os.stat(self.inst.settings["queue_directory"]).st_mode
        self.assertEqual(os.stat(seg_dir).st_mode & 0o7777, 0o700 | (qmode & 0o2070))  # the queue's group bits
        self.assertTrue(wait_for(lambda: segment_files(self.inst) == [], 20), segment_files(self.inst))
        self.inst.stop()

    def test_kill9_after_250_loses_no_large_message(self):
        self.inst.start(extra_args=["-o", "relayhost=[127.0.0.1]:9"])
        bodies = {"crash%d@test" % n: big_body(100 * 1024 + n * 4099, n) for n in range(12)}
        bodies["crash-big@test"] = big_body(3 << 20, 99)
        for msgid, body in bodies.items():
            r = send(self.inst, msgid, body)
            self.assertEqual(r.code, 250, r.lines)
        self.inst.kill9()
        self.assertNotEqual(segment_files(self.inst), [])
        self.route_to_sink()
        self.inst.start()
        self.assertTrue(self.sink.wait(len(bodies), 90), self.inst.read_log()[-2000:])
        for msgid, body in bodies.items():
            self.assert_intact(msgid, body)
        self.assertTrue(wait_for(lambda: segment_files(self.inst) == [], 20), segment_files(self.inst))

    def test_kill9_under_load_loses_nothing_acknowledged(self):
        """SIGKILL at random moments while clients send large bodies (test_crash.py's pattern): crashes
        fall between a segment write and its COMMIT too; every message that got a 250 arrives intact."""
        rng = random.Random(18)
        acked, lock, stop = {}, threading.Lock(), threading.Event()
        counter = [0]

        def client_loop(k):
            while not stop.is_set():
                with lock:
                    counter[0] += 1
                    n = counter[0]
                msgid, body = "load-%d-%d@test" % (k, n), big_body(40 * 1024 + (n % 7) * 20011, n)
                try:
                    if send(self.inst, msgid, body).code == 250:
                        with lock:
                            acked[msgid] = body
                except (OSError, ConnectionError, ValueError):
                    time.sleep(0.05)

        self.route_to_sink()
        self.inst.start()
        threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        try:
            for _ in range(6):
                time.sleep(rng.uniform(0.3, 0.9))
                self.inst.kill9()
                self.inst.start()
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertGreater(len(acked), 20, "the load was too light to mean anything")
        self.assertTrue(wait_for(lambda: set(acked) <= set(delivered_all(self.sink)), 90),
                        "acknowledged but never delivered: %d" % len(set(acked) - set(delivered_all(self.sink))))
        got = delivered_all(self.sink)
        for msgid, body in acked.items():
            self.assert_intact(msgid, body, got)
        self.assertTrue(wait_for(lambda: segment_files(self.inst) == [], 20), segment_files(self.inst))

    def test_second_mxd_on_the_same_queue_is_refused(self):
        self.inst.start()
        other = dict(self.inst.settings)
        other["smtpd_listen"] = "127.0.0.1:%d" % mxtest.free_port()
        other["maillog_file"] = os.path.join(self.inst.dir, "other.log")
        conf = os.path.join(self.inst.dir, "other.conf")
        with open(conf, "w") as f:
            for k, v in other.items():
                f.write("%s = %s\n" % (k, v))
        r = subprocess.run([mxtest.MXD, "-c", conf], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("in use by another mxd", r.stdout + r.stderr + self.read_other_log(other))
        r = send(self.inst, "still@test", big_body(100 * 1024, 3))  # the first one is unharmed
        self.assertEqual(r.code, 250, r.lines)
        self.inst.stop()

    def read_other_log(self, settings):
        try:
            with open(settings["maillog_file"], errors="replace") as f:
                return f.read()
        except OSError:
            return ""


if __name__ == "__main__":
    unittest.main()
