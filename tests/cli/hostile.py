#!/usr/bin/env python3
"""Write the named hostile inputs of the reliability issue as JSON lines,
one case per line, and print the expected outcome of each line
('stored' or a quarantine reason) to the file given second."""
import json
import sys

T = "2026-11-20T10:00:00Z"
cases = []


def ev(eid, t=T, **kw):
    d = {"event_id": eid, "timestamp": t}
    d.update(kw)
    return json.dumps(d, ensure_ascii=False).encode()


cases.append((b'{"event_id":"big","timestamp":"%s","pad":"%s"}' % (T.encode(), b"x" * (16 << 20)), "oversized"))
cases.append((b'{"event_id":"nul\x00","timestamp":"2026-11-20T10:00:00Z"}', "not_json"))
cases.append((b'{"event_id":"nul-escaped\\u0000x","timestamp":"2026-11-20T10:00:00Z"}', "stored"))
cases.append((b'{"event_id":"bad-utf8-\xff\xfe","timestamp":"2026-11-20T10:00:00Z"}', "not_json"))
cases.append((b"[" * 100000 + b"]" * 100000, "not_json"))
cases.append((b'{"event_id":12345,"timestamp":"2026-11-20T10:00:00Z"}', "stored"))
cases.append((ev(""), "bad_id"))
cases.append((ev("i" * 300), "bad_id"))
cases.append((ev("y0", "0000-01-01T00:00:00Z"), "bad_time"))
cases.append((ev("y9999", "9999-12-31T23:59:59Z"), "stored"))
cases.append((ev("y10000", "10000-01-01T00:00:00Z"), "bad_time"))
cases.append((b'{"event_id":"neg","timestamp":-1000}', "stored"))
cases.append((ev("plus14", "2026-11-21T08:00:00+14:00"), "stored"))
cases.append((ev("leap", "2016-12-31T23:59:60Z"), "stored"))
cases.append((ev("../../etc/passwd", event_name="../../shards/x.db"), "stored"))
cases.append((ev("quote'\"", event_name="a'; DROP TABLE events; --"), "stored"))
cases.append((ev("nl", event_name="line1\nline2/.."), "stored"))
cases.append((ev("2026-11-20.db", event_name="/etc/shadow"), "stored"))

with open(sys.argv[1], "wb") as f:
    for data, _ in cases:
        f.write(data + b"\n")
with open(sys.argv[2], "w") as f:
    for _, want in cases:
        f.write(want + "\n")
