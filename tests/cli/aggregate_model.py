"""An independent model of declared aggregates (issue 21), for the tests:
Python's decimal and fractions, not tarn's code.

A declaration is built from expressions that each carry their SQLite text
(what `tarn aggregate create` is given) and a Python function over one
event (what this model evaluates). The model follows the contract in the
README ("Declare your own gold"): `->>` gives TEXT for a JSON string,
INTEGER for a JSON integer or boolean, REAL for a JSON number with a
fraction or exponent, NULL for null or a missing path; sums are exact
decimals of the numbers as written, an all-integer sum is an INTEGER, any
other sum the REAL nearest to the exact sum; avg is the exact sum over the
count, rounded once; min/max and grouping follow SQLite's ordering and
equality of values (numbers by value, below text; text by bytes)."""
import datetime
import json
import re
import sqlite3
from decimal import Decimal
from fractions import Fraction


class Event:
    """One stored event: its id, time (µs), name and parsed payload
    (floats as Decimal, the number as written)."""

    def __init__(self, eid, time_us, name, payload):
        self.id = eid
        self.time_us = time_us
        self.name = name
        self.payload = payload
        t = datetime.datetime.fromtimestamp(time_us // 1000000, datetime.timezone.utc)
        self.date = t.strftime("%Y-%m-%d")
        self.hour = t.strftime("%Y-%m-%dT%H:00:00Z")
        self.minute = t.strftime("%Y-%m-%dT%H:%M:00Z")


def raw(ev, path):
    """The JSON value at a dotted path (None when missing)."""
    v = ev.payload
    for part in path.split("."):
        if not isinstance(v, dict) or part not in v:
            return None
        v = v[part]
    return v


def sql_value(v):
    """What SQLite's ->> gives for a JSON value."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return v


class Expr:
    def __init__(self, sql, fn):
        self.sql = sql
        self.fn = fn


def path(p):
    return Expr("payload->>'$.%s'" % p, lambda ev: sql_value(raw(ev, p)))


def path_raw(p):
    """The same SQL as path(p), evaluated to the JSON value itself (for
    exact sums)."""
    return Expr("payload->>'$.%s'" % p, lambda ev: raw(ev, p))


EVENT_NAME = Expr("event_name", lambda ev: ev.name)


def _lower(v):
    # SQLite's lower(): ASCII only, and a number becomes its text
    if v is None:
        return None
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        raise ValueError("lower() of a REAL is not modelled")
    return "".join(c.lower() if c.isascii() else c for c in v)


def lower(e):
    return Expr("lower(%s)" % e.sql, lambda ev: _lower(e.fn(ev)))


def order_key(v):
    """SQLite's ordering of non-NULL values: numbers by value < text."""
    if isinstance(v, str):
        return (1, v.encode("utf-8"))
    return (0, Fraction(v))


def compare(a, op, b):
    """SQL comparison with SQLite's rules for values without affinity;
    None (NULL) when either side is NULL."""
    if a is None or b is None:
        return None
    ka, kb = order_key(a), order_key(b)
    return {"=": ka == kb, "<>": ka != kb, "<": ka < kb, "<=": ka <= kb,
            ">": ka > kb, ">=": ka >= kb}[op]


def cmp(e, op, lit):
    text = "'%s'" % lit if isinstance(lit, str) else repr(lit)
    return Expr("%s %s %s" % (e.sql, op, text), lambda ev: compare(e.fn(ev), op, lit))


def is_in(e, lits):
    text = ", ".join("'%s'" % x for x in lits)
    return Expr("%s IN (%s)" % (e.sql, text),
                lambda ev: None if e.fn(ev) is None else e.fn(ev) in lits)


def not_null(e):
    return Expr("%s IS NOT NULL" % e.sql, lambda ev: e.fn(ev) is not None)


def both(a, b):
    return Expr("(%s) AND (%s)" % (a.sql, b.sql), lambda ev: bool(a.fn(ev)) and bool(b.fn(ev)))


class Measure:
    """kind: count(*), count, sum, avg, min, max, distinct."""

    def __init__(self, col, kind, arg=None, filt=None):
        self.col, self.kind, self.arg, self.filt = col, kind, arg, filt

    def sql(self):
        if self.kind == "count(*)":
            s = "count(*)"
        elif self.kind == "distinct":
            s = "count(DISTINCT %s)" % self.arg.sql
        else:
            s = "%s(%s)" % (self.kind, self.arg.sql)
        if self.filt:
            s += " FILTER (WHERE %s)" % self.filt.sql
        return s


class Decl:
    def __init__(self, name, every, measures, by=(), where=None):
        self.name, self.every, self.measures, self.by, self.where = \
            name, every, list(measures), list(by), where

    def args(self):
        a = [self.name, "--every", self.every]
        if self.where:
            a += ["--where", self.where.sql]
        for col, e in self.by:
            a += ["--by", "%s=%s" % (col, e.sql)]
        for m in self.measures:
            a += ["--measure", "%s=%s" % (m.col, m.sql())]
        return a

    def columns(self):
        cols = ["event_date"] + (["window_start"] if self.every != "day" else [])
        return cols + [c for c, _ in self.by] + [m.col for m in self.measures]


INT_TEXT = re.compile(r"[+-]?[0-9]+\Z")
NUM_PREFIX = re.compile(r"\s*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))")


def exact(v):
    """(Decimal, is_integer) of a non-NULL value in sum/avg, as SQLite's
    sum() reads it: a text that is an integer is one, any other text its
    numeric prefix (none: 0)."""
    if isinstance(v, bool):
        return Decimal(int(v)), True
    if isinstance(v, int):
        return Decimal(v), True
    if isinstance(v, Decimal):
        return v, False
    if isinstance(v, float):
        return Decimal(repr(v)), False
    if isinstance(v, str):
        if INT_TEXT.match(v) and -2**63 <= int(v) < 2**63:
            return Decimal(int(v)), True
        m = NUM_PREFIX.match(v)
        return (Decimal(m.group(1)) if m else Decimal(0)), False
    raise TypeError(v)


class State:
    def __init__(self):
        self.n = 0
        self.sum = Decimal(0)
        self.all_int = True
        self.best = None
        self.seen = set()


def window(ev, every):
    return None if every == "day" else (ev.hour if every == "hour" else ev.minute)


def group_norm(v):
    """A group key part: numbers by value (1 and 1.0 are one group)."""
    if isinstance(v, float) and v == int(v):
        return int(v)
    return v


def expected(decl, events):
    """{(event_date, window, by...): (measure values...)} for the stored
    events (an iterable of Event)."""
    groups = {}
    for ev in events:
        if decl.where and not decl.where.fn(ev):
            continue
        key = (ev.date, window(ev, decl.every)) + tuple(group_norm(e.fn(ev)) for _, e in decl.by)
        states = groups.setdefault(key, [State() for _ in decl.measures])
        for m, st in zip(decl.measures, states):
            if m.filt and not m.filt.fn(ev):
                continue
            if m.kind == "count(*)":
                st.n += 1
                continue
            v = m.arg.fn(ev)
            if v is None:
                continue
            if m.kind in ("sum", "avg"):
                d, is_int = exact(v)
                st.sum += d
                st.all_int = st.all_int and is_int
                st.n += 1
            elif m.kind in ("min", "max"):
                v = sql_value(v)
                if st.best is None:
                    st.best = v
                elif m.kind == "min" and order_key(v) < order_key(st.best):
                    st.best = v
                elif m.kind == "max" and order_key(v) > order_key(st.best):
                    st.best = v
            elif m.kind == "distinct":
                st.seen.add(order_key(sql_value(v)))
            else:
                st.n += 1
    out = {}
    for key, states in groups.items():
        vals = []
        for m, st in zip(decl.measures, states):
            if m.kind in ("count(*)", "count"):
                vals.append(st.n)
            elif m.kind == "distinct":
                vals.append(len(st.seen))
            elif m.kind == "sum":
                if not st.n:
                    vals.append(None)
                elif st.all_int:
                    if not -2**63 <= st.sum < 2**63:
                        raise OverflowError(decl.name)
                    vals.append(int(st.sum))
                else:
                    vals.append(float(st.sum))
            elif m.kind == "avg":
                vals.append(float(Fraction(st.sum) / st.n) if st.n else None)
            else:
                vals.append(st.best)
        out[key] = tuple(vals)
    return out


def same(want, got, kinds):
    """Equal values, and for sums of the same SQLite type (an INTEGER sum
    is not a REAL one; min/max of 4 and 4.0 may be either)."""
    if len(want) != len(got):
        return False
    for w, g, k in zip(want, got, kinds):
        if w is None or g is None:
            if w is not g:
                return False
        elif isinstance(w, str) or isinstance(g, str):
            if w != g:
                return False
        elif w != g or (k == "sum" and isinstance(w, float) != isinstance(g, float)):
            return False
    return True


def actual(decl, gold_db):
    """The declared table as gold.db holds it, keyed as expected()."""
    db = sqlite3.connect("file:%s?mode=ro" % gold_db, uri=True)
    try:
        cols = ", ".join('"%s"' % c for c in decl.columns())
        rows = db.execute("SELECT %s FROM \"%s\"" % (cols, decl.name)).fetchall()
    finally:
        db.close()
    nb = len(decl.by)
    out = {}
    for r in rows:
        if decl.every == "day":
            r = (r[0], None) + tuple(r[1:])
        key = (r[0], r[1]) + tuple(group_norm(v) for v in r[2:2 + nb])
        if key in out:
            out[key] = ("duplicate group row",)
        else:
            out[key] = tuple(r[2 + nb:])
    return out


def diff(decl, events, gold_db, limit=5):
    """Lines describing where the table differs from the model (empty:
    equal)."""
    want = expected(decl, events)
    got = actual(decl, gold_db)
    lines = []
    for key in sorted(set(want) | set(got), key=repr):
        w, g = want.get(key), got.get(key)
        if w is None or g is None or not same(w, g, [m.kind for m in decl.measures]):
            lines.append("%s %r: want %r, got %r" % (decl.name, key, w, g))
    if len(lines) > limit:
        lines = lines[:limit] + ["... %d more" % (len(lines) - limit)]
    return lines
