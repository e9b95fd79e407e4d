"""payload->>PATH as tarn answers it must be SQLite's own, row by row.

usage: arrow_oracle.py TARN LAKE INPUT.jsonl

tarn query registers its own ->> (it reads a stored payload's value
without SQLite's JSON parse where it can, and hands everything else to
SQLite). The oracle here is Python's sqlite3 module, which runs the
system's SQLite with nothing of tarn loaded: each input line's payload
->> each path, against `tarn query` over the lake that holds the same
lines (keyed by event_id), in a plain SELECT and inside aggregates.
Prints what differs and exits 1; exits 0 when every value is equal.
"""
import json
import sqlite3
import subprocess
import sys

PATHS = ["$.s", "$.n", "$.r", "$.b", "$.z", "$.o", "$.a", "$.e", "$.o.k", "$.o.k.x",
         "$.missing", "$.big", "$.neg", "$.u", '$."q k"', "$.a[0]", "$.a[#-1]", "s", "$",
         "$.d.d", "$.event_id", "$.dup", "$.esc"]


def tarn(lake, sql):
    out = subprocess.run([sys.argv[1], "query", "--lake", lake, "--format", "json", sql],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def main():
    lake, src = sys.argv[2], sys.argv[3]
    db = sqlite3.connect(":memory:")
    rows = {}
    for line in open(src, encoding="utf-8"):
        line = line.rstrip("\n")
        rows[json.loads(line)["event_id"]] = line
    bad = 0
    for i, path in enumerate(PATHS):
        lit = path.replace("'", "''")
        got = {r["event_id"]: (r["t"], r["q"]) for r in tarn(
            lake, f"SELECT event_id, typeof(payload->>'{lit}') AS t,"
            f" quote(payload->>'{lit}') AS q FROM events")}
        want = {}
        for eid, payload in rows.items():
            t, q = db.execute("SELECT typeof(?1->>?2), quote(?1->>?2)", (payload, path)).fetchone()
            want[eid] = (t, q)
        if got != want:
            for eid in sorted(want):
                if got.get(eid) != want[eid]:
                    print(f"{path} {eid}: tarn {got.get(eid)} sqlite {want[eid]}")
                    bad += 1
        # the same inside aggregates (where SQLite asks no virtual table)
        agg = tarn(lake, f"SELECT count(DISTINCT quote(payload->>'{lit}')) AS d,"
                         f" total(length(payload->>'{lit}')) AS l FROM events")[0]
        vals = [db.execute("SELECT quote(?1->>?2), length(?1->>?2)", (p, path)).fetchone()
                for p in rows.values()]
        wd = len({v[0] for v in vals})
        wl = float(sum(v[1] or 0 for v in vals))
        if (agg["d"], float(agg["l"])) != (wd, wl):
            print(f"{path} aggregates: tarn {agg} sqlite d={wd} l={wl}")
            bad += 1
    # errors stay SQLite's: a column that is not JSON
    r = subprocess.run([sys.argv[1], "query", "--lake", lake,
                        "SELECT event_name->>'$.x' FROM events"], capture_output=True, text=True)
    if r.returncode != 1 or "malformed JSON" not in r.stderr:
        print(f"not-JSON column: exit {r.returncode}, stderr {r.stderr!r}")
        bad += 1
    print(f"arrow: {len(PATHS)} paths x {len(rows)} payloads, {bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
