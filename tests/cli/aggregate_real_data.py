#!/usr/bin/env python3
"""Declared aggregates over public real-world data that is not ours,
compared with the independent model (aggregate_model.py).

The data: NOAA's Seattle observations as the vega_datasets package (0.9.0,
PyPI, MIT) ships them offline: seattle-temps.csv (hourly temperatures of
2010, 8,759 rows, °F with one decimal, local clock) and
seattle-weather.csv (daily precipitation, temperatures, wind and weather
of 2012-2015, 1,461 rows). NOAA's data is in the public domain. Each row
becomes one JSON line, its numbers written exactly as in the CSV; its id
and its time are its own `date` field (the hourly clock read at a fixed
UTC-08:00, as the file has no zone; the daily rows at 00:00 UTC) and its
name is `kind` (hourly or daily), so the lake is ingested with
`--id-field date --time-field date --name-field kind`.

Steps: the first part of both files (two ingest runs), four declarations
over history (backfill), the rest plus 200 re-delivered earlier lines;
every declared table equals the model after each step; verify passes.

usage: aggregate_real_data.py TARN WORKDIR DATA_DIR"""
import csv
import datetime
import json
import os
import random
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aggregate_model as M  # noqa: E402

TARN, WORK, DATA = sys.argv[1:4]
LAKE = os.path.join(WORK, "seattle")
FIELDS = ["--id-field", "date", "--time-field", "date", "--name-field", "kind"]


def tarn(*args):
    p = subprocess.run([TARN] + list(args), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("tarn %s: exit %d: %s" % (" ".join(args[:2]), p.returncode, p.stderr))
    return p.stdout


def lines():
    """(line, record) pairs: hourly then daily, in file order."""
    out = []
    with open(os.path.join(DATA, "seattle-temps.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["date"] >= "2010/03/01":
                break
            d = datetime.datetime.strptime(row["date"], "%Y/%m/%d %H:%M")
            date = d.strftime("%Y-%m-%dT%H:%M:00-08:00")
            out.append('{"date":"%s","kind":"hourly","obs":{"temp":%s}}' % (date, row["temp"]))
    with open(os.path.join(DATA, "seattle-weather.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["date"] >= "2012/03/01":
                break
            date = row["date"].replace("/", "-") + "T00:00:00Z"
            out.append('{"date":"%s","kind":"daily","obs":{"precipitation":%s,"temp_max":%s,'
                       '"temp_min":%s,"wind":%s},"weather":%s}'
                       % (date, row["precipitation"], row["temp_max"], row["temp_min"],
                          row["wind"], json.dumps(row["weather"])))
    return [(ln, json.loads(ln, parse_float=Decimal)) for ln in out]


def event(p):
    t = datetime.datetime.fromisoformat(p["date"].replace("Z", "+00:00"))
    us = int(t.timestamp()) * 1000000
    return M.Event(p["date"], us, p["kind"], p)


def path(p):
    return M.path(p)


TEMP = path("obs.temp")
DECLS = [
    M.Decl("temp_daily", "day", [
        M.Measure("hours", "count(*)"),
        M.Measure("mean", "avg", M.path_raw("obs.temp")),
        M.Measure("lo", "min", TEMP),
        M.Measure("hi", "max", TEMP),
        M.Measure("warm", "count(*)", filt=M.cmp(TEMP, ">=", 60)),
        M.Measure("degree_hours", "sum", M.path_raw("obs.temp")),
    ], where=M.cmp(M.EVENT_NAME, "=", "hourly")),
    M.Decl("temp_hourly", "hour", [M.Measure("t", "sum", M.path_raw("obs.temp"))],
           where=M.cmp(M.EVENT_NAME, "=", "hourly")),
    M.Decl("weather_daily", "day", [
        M.Measure("n", "count(*)"),
        M.Measure("rain", "sum", M.path_raw("obs.precipitation")),
        M.Measure("wind", "avg", M.path_raw("obs.wind")),
        M.Measure("spread", "max", path("obs.temp_max")),
    ], by=[("weather", path("weather"))], where=M.cmp(M.EVENT_NAME, "=", "daily")),
    M.Decl("kinds_daily", "day", [
        M.Measure("n", "count(*)"),
        M.Measure("weathers", "distinct", path("weather")),
        M.Measure("rainy", "count", path("obs.precipitation"),
                  filt=M.cmp(path("obs.precipitation"), ">", 0)),
    ], by=[("kind", M.EVENT_NAME)]),
]


def check(step, events):
    for d in DECLS if step != "history" else []:
        bad = M.diff(d, events, os.path.join(LAKE, "gold.db"))
        if bad:
            sys.exit("%s: %s differs from the model:\n    %s" % (step, d.name, "\n    ".join(bad)))
    n = int(tarn("query", "--lake", LAKE, "--format", "csv",
                 "SELECT count(*) FROM events").split()[1])
    if n != len(events):
        sys.exit("%s: %d stored, %d distinct sent" % (step, n, len(events)))


def write(name, chunk):
    path_ = os.path.join(WORK, name)
    with open(path_, "w") as f:
        f.writelines(ln + "\n" for ln in chunk)
    return path_


def main():
    os.makedirs(WORK, exist_ok=True)
    data = lines()
    r = random.Random(21)
    hourly = [x for x in data if x[1]["kind"] == "hourly"]
    daily = [x for x in data if x[1]["kind"] == "daily"]
    first = hourly[:900] + daily[:35]
    rest = hourly[900:] + daily[35:]
    tarn("ingest", "--lake", LAKE, *FIELDS, write("a.jsonl", [ln for ln, _ in first[:500]]))
    tarn("ingest", "--lake", LAKE, *FIELDS, write("b.jsonl", [ln for ln, _ in first[500:]]))
    stored = [event(p) for _, p in first]
    check("history", stored)
    for d in DECLS:
        tarn("aggregate", "create", "--lake", LAKE, *d.args())
    check("backfill", stored)
    again = [ln for ln, _ in r.sample(first, 200)]
    chunk = [ln for ln, _ in rest] + again
    r.shuffle(chunk)
    tarn("ingest", "--lake", LAKE, *FIELDS, write("c.jsonl", chunk))
    stored += [event(p) for _, p in rest]
    check("rest and re-deliveries", stored)
    out = subprocess.run([TARN, "verify", "--lake", LAKE], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("verify: %s" % (out.stdout + out.stderr))
    # not asserted: how often an average in doubles (summed in file order,
    # as SQLite's avg() would) is not the exact one that tarn keeps
    days = {}
    for e in stored:
        if e.name == "hourly":
            days.setdefault(e.date, []).append(e.payload["obs"]["temp"])
    off = 0
    for temps in days.values():
        approx = 0.0
        for t in temps:
            approx += float(t)
        off += approx / len(temps) != float(Fraction(sum(temps)) / len(temps))
    mean = days
    print("%d hourly and %d daily NOAA observations, %d events; 4 declarations equal the"
          " model; on %d of %d days a double-precision average of the day's temperatures"
          " is not the exact one" % (len(hourly), len(daily), len(stored), off, len(mean)))


main()
