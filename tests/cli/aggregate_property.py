#!/usr/bin/env python3
"""Property test of declared aggregates (issue 21) against an independent
model (aggregate_model.py: Python decimal, not tarn's code).

Each round, from one seed: random nested events (epoch-ms and RFC 3339
times under meta.ts, names under meta.kind that may be missing, decimals
with 0-4 places, integers, booleans, numeric and other text, nulls, missing
paths); random declarations (day, hour and minute windows, --where, --by on
nested paths, count(*), count, sum, avg, min, max, count(DISTINCT),
FILTER); `tarn ingest` runs of one to three files at random boundaries,
with late events for old days, byte-identical re-deliveries (some long
after the original), conflicting copies of stored ids; declarations
created before any event, on a lake with history (backfill), dropped and
declared again; kill -9 at random points of ingest and of create. After
every step each declared table must equal the model computed from the
events the lake stores (`tarn query "SELECT event_id FROM events"`, mapped
back to the records this script wrote), the stored set must hold every
event of a completed run and nothing else, and each round ends with `tarn
verify`. Rounds run until the time budget is spent (at least one).

usage: aggregate_property.py TARN WORKDIR [BUDGET_S]
The seed is TARN_PROP_SEED or random; it is printed first and on failure:
run again with TARN_PROP_SEED=N (and a budget of 1) to repeat a round.
TARN_PROP_VERBOSE=1 prints every step."""
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aggregate_model as M  # noqa: E402

TARN = WORK = None
FIELDS = ["--id-field", "id", "--time-field", "meta.ts", "--name-field", "meta.kind"]
DAY0_MS = 1763596800000  # 2025-11-20T00:00:00Z


class Failure(Exception):
    pass


def tarn(*args, check=True, stdin=subprocess.DEVNULL):
    p = subprocess.run([TARN] + list(args), stdin=stdin, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise Failure("tarn %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()))
    return p


def killed(args, delay_s):
    """Run tarn with args and kill -9 it after delay_s (if still running);
    True when the kill landed."""
    p = subprocess.Popen([TARN] + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        p.wait(timeout=delay_s)
        return False
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait()
        return True


# ---- random events ----

def rand_number(r):
    k = r.random()
    if k < 0.35:
        return r.randint(-50, 500)
    places = r.randint(1, 4)
    text = "%d.%0*d" % (r.randint(-99, 999), places, r.randint(0, 10 ** places - 1))
    if text.startswith("-0.") and r.random() < 0.5:
        text = text[1:]
    return Decimal(text)


def rand_amount(r):
    k = r.random()
    if k < 0.1:
        return None  # missing
    if k < 0.15:
        return "null"
    if k < 0.2:
        return r.choice(["12", "-3", "7abc", "x", "2.5", ""])
    if k < 0.23:
        return r.choice([True, False])
    return rand_number(r)


def time_value(r, ms):
    if r.random() < 0.7:
        return ms
    t = time.gmtime(ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%03dZ" % (ms % 1000)


def make_event(r, i, day_lo, day_hi):
    ms = DAY0_MS + r.randint(day_lo, day_hi) * 86400000 + r.randint(0, 86399999)
    meta = {"ts": time_value(r, ms)}
    if r.random() < 0.85:
        meta["kind"] = r.choice(["click", "view", "buy", "Click"])
    p = {"id": "e%05d" % i, "meta": meta, "u": "u%d" % r.randint(0, 30)}
    ctx = {}
    if r.random() < 0.8:
        ctx["geo"] = {"cc": r.choice(["de", "fr", "us", "br", "jp"])}
    if r.random() < 0.9:
        ctx["dev"] = {"os": r.choice(["ios", "iOS", "android", "linux", 3])}
    if ctx or r.random() < 0.5:
        p["ctx"] = ctx
    a = rand_amount(r)
    if a == "null":
        p["amt"] = None
    elif a is not None:
        p["amt"] = a
    if r.random() < 0.9:
        p["n"] = r.choice([r.randint(0, 9), r.randint(0, 9), Decimal("%d.0" % r.randint(0, 9))])
    keys = list(p)
    r.shuffle(keys)
    return {k: p[k] for k in keys}


def line_of(p):
    # Decimals as written: json cannot write Decimal, so write them by hand
    def enc(v):
        if isinstance(v, Decimal):
            return str(v)
        if isinstance(v, dict):
            return "{" + ",".join("%s:%s" % (json.dumps(k), enc(x)) for k, x in v.items()) + "}"
        return json.dumps(v)
    return enc(p)


def to_event(p):
    ts = p["meta"]["ts"]
    if isinstance(ts, int):
        us = ts * 1000
    else:
        base = time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")
        import calendar
        us = calendar.timegm(base) * 1000000 + int(ts[20:23]) * 1000
    return M.Event(p["id"], us, p["meta"].get("kind"), p)


# ---- random declarations ----

CC, OS, N, AMT, U = (M.path("ctx.geo.cc"), M.path("ctx.dev.os"), M.path("n"), M.path("amt"),
                     M.path("u"))
AMT_RAW, N_RAW = M.path_raw("amt"), M.path_raw("n")


def rand_pred(r):
    return r.choice([
        M.cmp(M.EVENT_NAME, "=", "click"),
        M.not_null(M.EVENT_NAME),
        M.cmp(N, ">", 4),
        M.cmp(AMT, ">=", 1),
        M.is_in(CC, ["de", "fr"]),
        M.cmp(M.lower(OS), "=", "ios"),
        M.both(M.not_null(CC), M.cmp(N, "<=", 6)),
    ])


def rand_measure(r, col):
    kind = r.choice(["count(*)", "count", "sum", "sum", "avg", "min", "max", "distinct"])
    if kind == "count(*)":
        arg = None
    elif kind in ("sum", "avg"):
        arg = r.choice([AMT_RAW, AMT_RAW, N_RAW])
    elif kind == "distinct":
        arg = r.choice([U, CC, N, OS])
    else:
        arg = r.choice([AMT, N, CC, OS])
    filt = rand_pred(r) if r.random() < 0.35 else None
    return M.Measure(col, kind, arg, filt)


def rand_decl(r, name):
    by_pool = [("cc", CC), ("os", OS), ("kind", M.EVENT_NAME), ("n", N), ("los", M.lower(OS))]
    r.shuffle(by_pool)
    by = by_pool[:r.choice([0, 1, 1, 2])]
    ms = [rand_measure(r, "m%d" % i) for i in range(r.randint(1, 5))]
    where = rand_pred(r) if r.random() < 0.4 else None
    return M.Decl(name, r.choice(["day", "hour", "minute"]), ms, by, where)


# ---- the round ----

class Lake:
    def __init__(self, r, d):
        self.r = r
        self.dir = d
        self.records = {}   # id -> first record sent (what the lake keeps)
        self.acked = set()  # ids of completed runs
        self.decls = {}
        self.files = 0
        self.last_ingest_s = self.last_create_s = 0.05

    def write(self, lines):
        self.files += 1
        path = os.path.join(WORK, "in-%d.jsonl" % self.files)
        with open(path, "w") as f:
            for ln in lines:
                f.write(ln + "\n")
        return path

    def ingest(self, files, kill=False):
        args = ["ingest", "--lake", self.dir] + FIELDS + files
        if kill and killed(args, self.r.uniform(0, self.last_ingest_s * 1.3)):
            tarn("ingest", "--lake", self.dir, os.devnull)  # the next writer repairs gold
            return "killed"
        t = time.monotonic()
        tarn(*args)
        self.last_ingest_s = time.monotonic() - t
        for f in files:
            for ln in open(f):
                self.acked.add(json.loads(ln)["id"])
        return "ingested"

    def create(self, decl, kill=False):
        """Declare decl. With kill: kill -9 the create at growing delays
        (from a random fraction of the last create's time, a sixth of it
        more each turn) until one run gets to its commit: each kill before
        that must leave nothing (no catalog row, no table); a run killed
        after its commit, or one left 'building', is finished or kept as
        the contract says."""
        args = ["aggregate", "create", "--lake", self.dir] + decl.args()
        if not kill:
            t = time.monotonic()
            tarn(*args)
            self.last_create_s = time.monotonic() - t
            self.decls[decl.name] = decl
            return "created"
        step = max(self.last_create_s, 0.02) / 6
        delay = self.r.uniform(0, step)
        nothing = 0
        while True:
            landed = killed(args, delay)
            state = self.listed().get(decl.name)
            if state is None and landed:
                left = self.tables_of(decl.name)
                if left:
                    raise Failure("create %s killed: nothing in the catalog but %s" % (decl.name, left))
                nothing += 1
                delay += step
                continue
            break
        self.decls[decl.name] = decl
        if not landed:
            if state != "ready":
                raise Failure("create %s ran to its end but is %s" % (decl.name, state))
            return "%d kills left nothing, then ran to its end" % nothing
        if state != "ready":
            tarn(*args)
            if self.listed().get(decl.name) != "ready":
                raise Failure("%s not ready after the next create" % decl.name)
            return "%d kills left nothing, one left it %s: finished" % (nothing, state)
        return "%d kills left nothing, one after its commit" % nothing

    def tables_of(self, name):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.dir, "gold.db"), uri=True)
        try:
            return [r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE name IN (?, ?, ?)",
                (name, name + "__state", name + "__distinct"))]
        finally:
            db.close()

    def listed(self):
        out = tarn("aggregate", "list", "--lake", self.dir, "--format", "json").stdout
        return {a["name"]: a["state"] for a in json.loads(out)}

    def check(self, step):
        out = tarn("query", "--lake", self.dir, "--format", "csv",
                   "SELECT event_id FROM events").stdout.split("\n")[1:]
        ids = [x.strip() for x in out if x.strip()]
        if len(ids) != len(set(ids)):
            raise Failure("%s: an event id stored twice" % step)
        stored = set(ids)
        if stored - set(self.records):
            raise Failure("%s: stored ids never sent: %s" % (step, sorted(stored - set(self.records))[:5]))
        if self.acked - stored:
            raise Failure("%s: acknowledged ids not stored: %s" % (step, sorted(self.acked - stored)[:5]))
        events = [to_event(self.records[i]) for i in stored]
        listed = self.listed()
        for name, decl in self.decls.items():
            if listed.get(name) != "ready":
                raise Failure("%s: %s is %s" % (step, name, listed.get(name)))
            bad = M.diff(decl, events, os.path.join(self.dir, "gold.db"))
            if bad:
                raise Failure("%s: %s differs from the model:\n    %s" % (step, name, "\n    ".join(bad)))
        return len(stored)


def one_round(seed, log):
    r = random.Random(seed)
    lake = Lake(r, os.path.join(WORK, "lake-%d" % seed))
    n_new = r.randint(250, 500)
    pool = [make_event(r, i, 3, 6) for i in range(n_new)]
    late = [make_event(r, n_new + i, 0, 2) for i in range(r.randint(40, 120))]
    lines = {p["id"]: line_of(p) for p in pool + late}
    for p in pool + late:
        lake.records[p["id"]] = p
    names = iter("agg%d" % i for i in range(100))
    kills = {"ingest": 0, "create": 0}

    def step(what, result):
        n = lake.check(what)
        log("  %-46s %-40s %4d stored, %d declared" % (what, result, n, len(lake.decls)))

    # some declarations before any event, the others after history (backfill)
    for _ in range(r.randint(0, 2)):
        d = rand_decl(r, next(names))
        step("create %s (%s) on an empty lake" % (d.name, d.every), lake.create(d))
    order = [p["id"] for p in pool]
    cut = r.randint(len(order) // 4, len(order) // 2)
    sent = []
    pos = 0
    while pos < cut:
        files = []
        for _ in range(r.randint(1, 3)):
            k = r.randint(1, 80)
            files.append(lake.write(lines[i] for i in order[pos:pos + k]))
            sent += order[pos:pos + k]
            pos += k
        step("ingest %d files, history" % len(files), lake.ingest(files))
    for _ in range(r.randint(1, 3)):
        d = rand_decl(r, next(names))
        kill = r.random() < 0.5
        res = lake.create(d, kill=kill)
        kills["create"] += int(res.split()[0]) if kill else 0
        step("create %s (%s) over history%s" % (d.name, d.every, ", kill -9" if kill else ""), res)
    late_ids = [p["id"] for p in late]
    # the rest: new events mixed with late ones, re-deliveries near and far,
    # conflicting copies of stored ids; some runs killed
    rest = order[cut:] + late_ids
    r.shuffle(rest)
    pos = 0
    while pos < len(rest):
        k = r.randint(20, 150)
        chunk = [lines[i] for i in rest[pos:pos + k]]
        sent += rest[pos:pos + k]
        pos += k
        for _ in range(r.randint(0, 10)):  # re-deliveries, some long after
            chunk.insert(r.randint(0, len(chunk)), lines[r.choice(sent)])
        for _ in range(r.randint(0, 2)):  # another payload under a stored id
            old = lake.records[r.choice(sorted(lake.acked))] if lake.acked else None
            if old:
                other = dict(old)
                other["amt"] = Decimal("999.9")
                chunk.insert(r.randint(0, len(chunk)), line_of(other))
        files = []
        while chunk:
            k = r.randint(1, len(chunk))
            files.append(lake.write(chunk[:k]))
            chunk = chunk[k:]
        if r.random() < 0.3:
            res = lake.ingest(files, kill=True)
            if res == "killed":
                kills["ingest"] += 1
                step("ingest %d files, kill -9" % len(files), res)
        res = lake.ingest(files)
        step("ingest %d files, new + late + again" % len(files), res)
        if lake.decls and r.random() < 0.15:
            name = r.choice(sorted(lake.decls))
            tarn("aggregate", "drop", "--lake", lake.dir, name)
            del lake.decls[name]
            d = rand_decl(r, next(names))
            step("drop %s, create %s (%s)" % (name, d.name, d.every), lake.create(d))
    v = tarn("verify", "--lake", lake.dir, check=False)
    if v.returncode != 0:
        raise Failure("verify: exit %d: %s" % (v.returncode, (v.stdout + v.stderr).strip()))
    return len(lake.decls), kills


def main():
    global TARN, WORK
    TARN, WORK = sys.argv[1], sys.argv[2]
    budget = float(sys.argv[3]) if len(sys.argv) > 3 else 60
    seed = int(os.environ.get("TARN_PROP_SEED") or random.SystemRandom().randrange(1, 10**9))
    print("seed %d" % seed)
    start = time.monotonic()
    rounds = 0
    while rounds == 0 or time.monotonic() - start < budget:
        s = seed + rounds
        steps = []
        try:
            n_decl, kills = one_round(s, steps.append)
        except (Failure, OverflowError) as e:
            print("\n".join(steps[-15:]))
            print("FAILED round seed %d (TARN_PROP_SEED=%d): %s" % (s, s, e))
            sys.exit(1)
        rounds += 1
        if os.environ.get("TARN_PROP_VERBOSE"):
            print("\n".join(steps))
        print("round seed %d: %d steps, %d declarations at the end, kill -9 landed in %d"
              " ingests, %d creates left nothing" % (s, len(steps), n_decl, kills["ingest"], kills["create"]))
    print("%d rounds in %.0f s" % (rounds, time.monotonic() - start))


main()
