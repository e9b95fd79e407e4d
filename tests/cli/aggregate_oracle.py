#!/usr/bin/env python3
"""Independent oracle for t_aggregate_declared: recomputes the declared
aggregate `quakes` (hour windows, by properties.net; count, exact sum and
avg of properties.mag, count(DISTINCT net), count FILTER mag > 4, max mag)
from the input JSON lines with Python's decimal/fractions, not tarn's code,
and compares it with gold.db's table, exactly.

usage: aggregate_oracle.py GOLD_DB FILE.jsonl..."""
import datetime
import json
import sqlite3
import sys
from decimal import Decimal
from fractions import Fraction


def main():
    gold, files = sys.argv[1], sys.argv[2:]
    seen = set()
    groups = {}
    for name in files:
        for line in open(name, encoding="utf-8"):
            ev = json.loads(line, parse_float=Decimal)
            if ev["id"] in seen:  # first write wins; re-deliveries add nothing
                continue
            seen.add(ev["id"])
            p = ev["properties"]
            t = datetime.datetime.fromtimestamp(p["time"] / 1000, datetime.timezone.utc)
            hour = t.replace(minute=0, second=0, microsecond=0)
            key = (t.strftime("%Y-%m-%d"), hour.strftime("%Y-%m-%dT%H:00:00Z"), p.get("net"))
            g = groups.setdefault(key, {"n": 0, "sum": Decimal(0), "k": 0, "big": 0, "max": None})
            g["n"] += 1
            mag = p.get("mag")
            if mag is not None:
                g["sum"] += Decimal(mag)
                g["k"] += 1
                g["big"] += mag > 4
                g["max"] = mag if g["max"] is None else max(g["max"], mag)
    want = {}
    for key, g in groups.items():
        s = float(g["sum"]) if g["k"] else None
        avg = float(Fraction(g["sum"]) / g["k"]) if g["k"] else None
        want[key] = (g["n"], s, 1 if key[2] is not None else 0, avg, g["big"],
                     None if g["max"] is None else float(g["max"]))
    db = sqlite3.connect("file:%s?mode=ro" % gold, uri=True)
    got = {}
    for row in db.execute("SELECT event_date, window_start, net, n, mag_sum, nets, mag_avg,"
                          " big, mx FROM quakes"):
        got[tuple(row[:3])] = tuple(row[3:])
    bad = 0
    for key in sorted(set(want) | set(got), key=str):
        if want.get(key) != got.get(key):
            bad += 1
            if bad <= 5:
                print("differs", key, "want", want.get(key), "got", got.get(key))
    print("%d groups, %d differ" % (len(want), bad))
    sys.exit(1 if bad else 0)


main()
