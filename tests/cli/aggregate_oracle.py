#!/usr/bin/env python3
"""Independent oracle for t_aggregate_declared: the declared aggregate
`quakes` (hour windows, by properties.net; count, exact sum and avg of
properties.mag, count(DISTINCT net), count FILTER mag > 4, max mag) through
the model of aggregate_model.py (Python decimal/fractions, not tarn's
code), over the input JSON lines (first write wins), compared with
gold.db's table exactly.

usage: aggregate_oracle.py GOLD_DB FILE.jsonl..."""
import json
import os
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aggregate_model as M  # noqa: E402

NET, MAG = M.path("properties.net"), M.path("properties.mag")
QUAKES = M.Decl("quakes", "hour", [
    M.Measure("n", "count(*)"),
    M.Measure("mag_sum", "sum", M.path_raw("properties.mag")),
    M.Measure("nets", "distinct", NET),
    M.Measure("mag_avg", "avg", M.path_raw("properties.mag")),
    M.Measure("big", "count(*)", filt=M.cmp(MAG, ">", 4)),
    M.Measure("mx", "max", MAG),
], by=[("net", NET)])


def main():
    gold, files = sys.argv[1], sys.argv[2:]
    events = {}
    for name in files:
        for line in open(name, encoding="utf-8"):
            ev = json.loads(line, parse_float=Decimal)
            if ev["id"] not in events:  # first write wins; re-deliveries add nothing
                p = ev["properties"]
                events[ev["id"]] = M.Event(ev["id"], p["time"] * 1000, p.get("type"), ev)
    bad = M.diff(QUAKES, events.values(), gold, limit=len(events) + 1)
    for line in bad[:5]:
        print("differs", line)
    print("%d groups, %d differ" % (len(M.expected(QUAKES, events.values())), len(bad)))
    sys.exit(1 if bad else 0)


main()
