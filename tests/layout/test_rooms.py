#!/usr/bin/python3
"""The house rules, checked on the tree and on the build's real compile commands.

- mxd/ holds main.c (and at most a README.md) beside its rooms; every room folder (mxd/*/, db/, admin/)
  declares itself with mxd_room() in its CMakeLists.txt.
- A room's source reaches exactly the headers of the rooms it depends on (its DEPENDS, followed through),
  and no other: for each room, a probe that includes one header of every other room is preprocessed with
  the flags CMake gives that room's first source file (compile_commands.json); it must fail for every
  room outside the dependency closure and succeed for every room inside it.
- No #include climbs out of the include roots ("../"), and no source file (C or Python, product or
  test) is over 800 lines.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import unittest

SRC = os.environ.get("MXD_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("MXD_BUILD_DIR", "")
MAX_LINES = 800


def rooms():
    """{target: (folder, [direct deps])} from every mxd_room() call in the tree."""
    found = {}
    for folder in ["db", "admin"] + ["mxd/" + d for d in sorted(os.listdir(os.path.join(SRC, "mxd")))]:
        path = os.path.join(SRC, folder, "CMakeLists.txt")
        if not os.path.isfile(path):
            continue
        text = open(path).read()
        m = re.search(r"mxd_room\((\w+)([^)]*)\)", text, re.S)
        if not m:
            continue
        args = m.group(2).split()
        deps = []
        if "DEPENDS" in args:
            for a in args[args.index("DEPENDS") + 1:]:
                if a in ("LIBS", "EXCLUDE"):
                    break
                deps.append(a)
        found[m.group(1)] = (folder, deps)
    return found


def closure(graph, target):
    seen, todo = set(), list(graph[target][1])
    while todo:
        t = todo.pop()
        if t not in seen:
            seen.add(t)
            todo.extend(graph[t][1])
    return seen


def preprocessor_flags(args):
    """The -I, -isystem, -iquote and -D flags of a compile command, with their values."""
    flags, i = [], 0
    while i < len(args):
        a = args[i]
        if a in ("-I", "-isystem", "-iquote", "-D") and i + 1 < len(args):
            flags += [a, args[i + 1]]
            i += 1
        elif a.startswith(("-I", "-isystem", "-iquote", "-D")):
            flags.append(a)
        i += 1
    return flags


class Layout(unittest.TestCase):
    def test_mxd_root_holds_only_main(self):
        entries = os.listdir(os.path.join(SRC, "mxd"))
        files = sorted(e for e in entries if os.path.isfile(os.path.join(SRC, "mxd", e)))
        self.assertTrue(set(files) <= {"main.c", "README.md"}, files)
        graph = rooms()
        for d in entries:
            if os.path.isdir(os.path.join(SRC, "mxd", d)):
                self.assertIn("mxd/" + d, [f for f, _ in graph.values()], "mxd/%s declares no mxd_room()" % d)

    def test_no_relative_includes_and_small_files(self):
        out = subprocess.run(["git", "-C", SRC, "ls-files", "*.c", "*.h", "*.py"], capture_output=True, text=True)
        files = out.stdout.split() if out.returncode == 0 else []
        self.assertTrue(files, "git ls-files found no sources")
        long_files = []
        for f in files:
            text = open(os.path.join(SRC, f), errors="replace").read()
            for line in text.splitlines() if f.endswith((".c", ".h")) else []:
                self.assertNotRegex(line, r'^\s*#\s*include\s+"\.\./', f)
            n = text.count("\n")
            if n > MAX_LINES:
                long_files.append("%s (%d lines)" % (f, n))
        self.assertEqual(long_files, [], "source files over %d lines" % MAX_LINES)

    @unittest.skipUnless(BUILD and os.path.isfile(os.path.join(BUILD, "compile_commands.json")),
                         "needs the build's compile_commands.json (MXD_BUILD_DIR)")
    def test_rooms_reach_only_their_dependencies(self):
        graph = rooms()
        self.assertGreaterEqual(len(graph), 10, graph)
        commands = json.load(open(os.path.join(BUILD, "compile_commands.json")))
        header = {}
        for t, (folder, _) in graph.items():
            hs = sorted(h for h in os.listdir(os.path.join(SRC, folder))
                        if h.endswith(".h") and not h.endswith("_private.h"))
            self.assertTrue(hs, folder)
            header[t] = folder + "/" + hs[0]
        with tempfile.TemporaryDirectory() as tmp:
            for t, (folder, _) in sorted(graph.items()):
                prefix = os.path.realpath(os.path.join(SRC, folder)) + "/"
                cmd = next((c for c in commands if os.path.realpath(c["file"]).startswith(prefix)
                            and os.path.dirname(os.path.realpath(c["file"])) + "/" == prefix), None)
                self.assertIsNotNone(cmd, "no compile command for a source of " + folder)
                args = shlex.split(cmd["command"])
                flags = preprocessor_flags(args)
                allowed = closure(graph, t) | {t}
                for other, h in sorted(header.items()):
                    probe = os.path.join(tmp, "probe.c")
                    with open(probe, "w") as f:
                        f.write('#include "%s"\n' % h)
                    r = subprocess.run([args[0], "-E", "-o", os.devnull] + flags + [probe],
                                       cwd=cmd["directory"], capture_output=True, text=True)
                    with self.subTest(room=folder, includes=h):
                        if other in allowed:
                            self.assertEqual(r.returncode, 0, "%s may include %s: %s" % (folder, h, r.stderr))
                        else:
                            self.assertNotEqual(r.returncode, 0, "%s reaches %s, a room it does not depend on"
                                                % (folder, h))


if __name__ == "__main__":
    unittest.main(verbosity=2)
