"""Dialogue tests: each tests/dialogue/scripts/*.dlg is an SMTP conversation and the replies expected,
line by line, run against one running mxd (a fresh connection per script).

Script lines:
  # ...              comment
  > TEXT             send TEXT + CRLF
  >> TEXT            send TEXT as is; \\r \\n \\0 \\t and \\\\ are escapes
  >>py EXPR          send the bytes of a Python expression, e.g. b"A" * 600 + b"\\r\\n"
  < PREFIX [| SUB]   read one reply; its last line must start with PREFIX (and contain SUB)
  <{N} PREFIX        the same N times
  <closed            the server closes the connection (after any replies already read)
  <open              the connection is still open after a second
"""
import glob
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import mxtest  # noqa: E402
from fixtures import hosted, stop_and_cleanup  # noqa: E402

SCRIPTS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "scripts", "*.dlg")))


def unescape(text):
    out, i = bytearray(), 0
    raw = text.encode()
    while i < len(raw):
        c = raw[i:i + 1]
        if c == b"\\" and i + 1 < len(raw):
            n = raw[i + 1:i + 2]
            out += {b"r": b"\r", b"n": b"\n", b"0": b"\0", b"t": b"\t", b"\\": b"\\"}.get(n, b"\\" + n)
            i += 2
        else:
            out += c
            i += 1
    return bytes(out)


def run_script(path, inst):
    c = inst.client()
    try:
        for no, line in enumerate(open(path).read().splitlines(), 1):
            where = "%s:%d" % (os.path.basename(path), no)
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith(">>py "):
                c.send(eval(line[5:], {}))
            elif line.startswith(">> "):
                c.send(unescape(line[3:]))
            elif line == ">":
                c.send(b"\r\n")
            elif line.startswith("> "):
                c.send(line[2:].encode() + b"\r\n")
            elif line == "<closed":
                assert c.closed(), "%s: connection still open" % where
            elif line == "<open":
                assert not c.closed(timeout=1), "%s: connection closed" % where
            elif line.startswith("<"):
                count = 1
                spec = line[1:]
                if spec.startswith("{"):
                    count, spec = int(spec[1:spec.index("}")]), spec[spec.index("}") + 1:]
                spec = spec.strip()
                prefix, _, sub = spec.partition(" | ")
                for _ in range(count):
                    try:
                        r = c.reply()
                    except Exception as e:
                        raise AssertionError("%s: expected %r, got %s" % (where, spec, e))
                    assert r.text.startswith(prefix.strip()), "%s: expected %r, got %r" % (where, spec, r.lines)
                    assert sub == "" or sub in "\n".join(r.lines), "%s: expected %r in %r" % (where, sub, r.lines)
            else:
                raise AssertionError("%s: bad script line %r" % (where, line))
    finally:
        c.close()


class Dialogues(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.inst = mxtest.Instance({
            "message_size_limit": "20000",
            "smtpd_recipient_limit": "5",
            "smtpd_hard_error_limit": "20",
            "smtpd_client_connection_limit": "1000",
        })
        i = cls.inst
        hosted(i)
        i.mxctl("alias", "add", "sales@example.com", "a@gmail.test", "b@outlook.test")
        i.mxctl("alias", "add", "postmaster@example.com", "admin@gmail.test")
        i.mxctl("domain", "add", "catchall.test")
        i.mxctl("alias", "add", "@catchall.test", "bucket@gmail.test")
        i.start()

    @classmethod
    def tearDownClass(cls):
        stop_and_cleanup(cls.inst)


def make_test(path):
    def test(self):
        run_script(path, self.inst)
    return test


for _path in SCRIPTS:
    setattr(Dialogues, "test_" + os.path.splitext(os.path.basename(_path))[0], make_test(_path))

if __name__ == "__main__":
    unittest.main(verbosity=2)
