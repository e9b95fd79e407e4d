#!/usr/bin/env python3
"""Every tarn subcommand, flag, table and HTTP path that README.md and the
man page name exists in the code.

The names that exist are read from the running code, never from a second
hand-kept list: subcommands from `tarn --help`, each one's flags from
`tarn SUB --help`, tables and views from the schemas of a lake that tarn
wrote (every SQLite file in it, through the sqlite3 module), and paths from
the `/api/` list of a running `tarn serve`.

The names the documents use are found by their context:
  - a command line, in a code block or an inline `code` span, that starts
    `tarn SUB`: SUB is a subcommand and every flag on it is one of SUB's;
  - a lone flag in a code span (`--keep-days`): a flag of some subcommand,
    unless the span or its sentence names another program (kcat, zstd, ...);
  - a table: a name after FROM or JOIN in code, a `tarn gold ... NAME`
    argument, a backticked name in the first column of a markdown table
    whose header is "table", and every /api/NAME path.

    check.py TARN LAKE API_BASE_URL README MANPAGE

Prints one line per check and ends "docs: N passed, N failed, 0 skipped".
"""
import glob
import json
import os
import re
import sqlite3
import subprocess
import sys
import urllib.request

TARN, LAKE, API, README, MAN = sys.argv[1:6]

FLAG = re.compile(r"(?<![\w./=-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])")
# programs whose flags the documents quote beside tarn's
FOREIGN = ("kcat", "zstd", "wrk", "chromium", "sqlite3", "debootstrap", "apt-get", "curl",
           "script", "make", "python3", "hyperfine", "perf", "valgrind", "mvn", "duckdb",
           "git", "dd", "gcc", "cc", "clang", "tar", "sudo", "env", "timeout", "kill")


def run(*args):
    return subprocess.run(args, capture_output=True, text=True).stdout


# ---- what exists ----
top = run(TARN, "--help")
subcommands = set(re.findall(r"^  ([a-z]+) +\S", top, re.M))
flags = {}
for sub in subcommands:
    h = run(TARN, sub, "--help")
    flags[sub] = set(FLAG.findall(h)) | {"-h", "--help"}
all_flags = set().union(*flags.values())

tables = {"events"}  # the eponymous view tarn query offers (query.c)
for path in glob.glob(os.path.join(LAKE, "*.db")) + glob.glob(os.path.join(LAKE, "shards", "*.db")):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    tables |= {r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    con.close()
with urllib.request.urlopen(API + "api/") as r:
    api_list = json.load(r)
api_paths = set(api_list["tables"]) | {"/api/"}
api_names = {p[len("/api/"):] for p in api_paths}


# ---- what the documents name ----
def man_text(path):
    """The man page as plain lines: font escapes gone, \\- as -, a `.B tarn
    SUB` line joined with the synopsis line after it."""
    out = []
    lines = open(path, encoding="utf-8").read().splitlines()
    i = 0
    while i < len(lines):
        ln = re.sub(r"\\f[BIRP]|\\&|\\\(..", "", lines[i]).replace("\\-", "-").replace("\\e", "\\")
        if ln.startswith(".B tarn ") and i + 1 < len(lines) and not lines[i + 1].startswith("."):
            i += 1
            ln += " " + re.sub(r"\\f[BIRP]", "", lines[i]).replace("\\-", "-")
        out.append(re.sub(r"^\.(B|I|BR|IR|TP|IP|PP|SH|SS|br)\b ?", "", ln))
        i += 1
    return out


def code_pieces(path):
    """(text, where, is_block_line, before) for every code block line and
    inline span; before: the paragraph's text up to the span."""
    pieces = []
    if path.endswith(".1"):
        for n, ln in enumerate(man_text(path), 1):
            pieces.append((ln, "%s:%d" % (os.path.basename(path), n), True, ln))
        return pieces
    fenced = False
    para, para_at = [], None

    def flush():
        # a paragraph's spans (they may cross lines), each with its paragraph
        text = " ".join(para)
        for m in re.finditer(r"`([^`]+)`", text):
            pieces.append((m.group(1), para_at, False, text[:m.start()]))
        para.clear()

    for n, ln in enumerate(open(path, encoding="utf-8").read().splitlines(), 1):
        where = "%s:%d" % (os.path.basename(path), n)
        if ln.startswith("```"):
            flush()
            fenced = not fenced
            continue
        if fenced or ln.startswith("    "):
            flush()
            pieces.append((ln, where, True, ln))
            continue
        if not ln.strip() or ln.startswith("#") or ln.startswith("|"):
            flush()
            if ln.startswith("|"):
                para_at = where
                para.append(ln)
                flush()
            continue
        if not para:
            para_at = where
        para.append(ln)
    flush()
    return pieces


def tarn_commands(text):
    """Each `tarn SUB args` in text: (SUB, [args up to the end of that command])."""
    toks = text.replace("(", " ( ").replace(")", " ) ").split()
    cmds = []
    for i, t in enumerate(toks):
        if t not in ("tarn", "bin/tarn", "$TARN", "build/tarn") or i + 1 >= len(toks):
            continue
        sub = toks[i + 1]
        if not re.fullmatch(r"[a-z]+", sub):
            continue
        args = []
        for a in toks[i + 2:]:
            if a in ("&&", ";", "#", "&", "||") or a.startswith(">") or a.startswith("2>"):
                break
            if a == "|" and args is not None:
                # an alternative inside (...) goes on; a pipe into a program ends
                depth = args.count("(") - args.count(")")
                if depth <= 0:
                    break
            args.append(a)
        cmds.append((sub, args))
    return cmds


problems = {"subcommands": [], "flags": [], "tables": [], "api paths": []}
counts = {k: 0 for k in problems}
made = set()
for doc in (README, MAN):
    for text, where, block, sentence in code_pieces(doc):
        cmds = tarn_commands(text)
        # tables the documents create themselves in an example
        made.update(re.findall(r"CREATE (?:VIRTUAL )?(?:TABLE|VIEW) ([a-z_][a-z0-9_]*)", text))
        for sub, args in tarn_commands(text):
            # tarn aggregate create --lake DIR NAME declares the table NAME
            if sub == "aggregate" and args[:1] == ["create"]:
                words = [a for a in args[1:] if not a.startswith("-")]
                if len(words) >= 2:
                    made.add(words[1])
        # a command line is only checked where it reads as one: a block line,
        # or a span that starts with tarn
        if not block and not re.match(r"(bin/)?tarn ", text):
            cmds = []
        for sub, args in cmds:
            counts["subcommands"] += 1
            if sub not in subcommands:
                # prose in a code block ("tarn keeps ...") has no flags after it
                if block and not any(FLAG.fullmatch(a) for a in args):
                    continue
                problems["subcommands"].append("%s: tarn %s" % (where, sub))
                continue
            for a in args:
                m = FLAG.fullmatch(a.split("=")[0])
                if m:
                    counts["flags"] += 1
                    if a.split("=")[0] not in flags[sub]:
                        problems["flags"].append("%s: tarn %s %s" % (where, sub, a))
            if sub == "gold":
                for a in args:
                    if re.fullmatch(r"[a-z][a-z0-9_]+", a) and a not in ("table", "csv", "json"):
                        counts["tables"] += 1
                        if a not in tables:
                            problems["tables"].append("%s: tarn gold %s" % (where, a))
        if not block and not cmds:
            for f in re.findall(r"^(--[a-z][a-z0-9-]*)(?:[ =]|$)", text):
                # the program last named before it says whose flag it is
                progs = [w for w in re.findall(r"[\w/$.-]+", sentence)
                         if w in FOREIGN or w.endswith("tarn")]
                if progs and not progs[-1].endswith("tarn"):
                    continue
                counts["flags"] += 1
                if f not in all_flags:
                    problems["flags"].append("%s: %s" % (where, f))
        if block or not cmds:
            for name in re.findall(r"\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_.]*)", text):
                name = name.split(".")[-1]
                if name in ("tarn_events", "pragma_table_info") or name in made:
                    continue
                counts["tables"] += 1
                if name not in tables:
                    problems["tables"].append("%s: FROM %s" % (where, name))
        for p in re.findall(r"(/api/[a-z0-9_]*)", text):
            if p in ("/api/NAME", "/api/"):
                continue
            counts["api paths"] += 1
            if p not in api_paths:
                problems["api paths"].append("%s: %s" % (where, p))
    # markdown tables whose first header cell is "table", and /api/ rows' names
    if doc == README:
        header = None
        for n, ln in enumerate(open(doc, encoding="utf-8").read().splitlines(), 1):
            if not ln.startswith("|"):
                header = None
                continue
            cells = [c.strip() for c in ln.strip("|").split("|")]
            if header is None:
                header = cells[0].lower()
                continue
            if header == "table":
                for name in re.findall(r"`([a-z_][a-z0-9_]*)`", cells[0]):
                    counts["tables"] += 1
                    if name not in tables:
                        problems["tables"].append("README.md:%d: table %s" % (n, name))
            if cells[0] == "`/api/`":
                # "/api/NAME for each gold table and `a`, `b`": each is a path
                for name in re.findall(r"`([a-z_][a-z0-9_]*)`", " ".join(cells[1:])):
                    counts["api paths"] += 1
                    if name not in api_names:
                        problems["api paths"].append("README.md:%d: /api/%s" % (n, name))

passed = failed = 0
for kind in problems:
    if counts[kind] == 0:
        print("FAIL docs %s: none found (the check no longer reads the documents)" % kind)
        failed += 1
    elif problems[kind]:
        print("FAIL docs %s: %d named, %d not in the code:" % (kind, counts[kind], len(problems[kind])))
        for p in problems[kind]:
            print("    " + p)
        failed += 1
    else:
        print("PASS docs %s: %d named, all exist" % (kind, counts[kind]))
        passed += 1
print("docs: %d passed, %d failed, 0 skipped" % (passed, failed))
sys.exit(1 if failed else 0)
