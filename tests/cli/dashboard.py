#!/usr/bin/env python3
"""Checks for tests/cli/run.sh t_serve_dashboard.

  dashboard.py page DOM.html GOLD.json [EXPECT_EVENTS]
      the figures the page shows (data-key/data-value of each .num) equal
      those of `tarn gold --format json`; prints "events=N dau=N".
  dashboard.py api URL GOLD.json EVENTS
      /api/* tables equal tarn gold's, /api/health and /metrics count EVENTS.
  dashboard.py hostile URL
      bad requests get a 4xx (never a crash), and the server still answers.
  dashboard.py aggregates TARN LAKE URL DOM.html
      every aggregate `tarn aggregate list` declares has its panels on the
      page and its series at /api/aggregates/NAME, with the groups and
      values computed here from `tarn query` of its table; prints
      "aggregates=N panels=N points=N".
"""
import html.parser, json, re, socket, subprocess, sys, urllib.request, urllib.error


def figures(dom):
    out = {}
    for m in re.finditer(r'data-key="([a-z_]+)" data-value="([^"]*)"(?: data-date="([^"]*)")?', dom):
        out[m.group(1)] = (m.group(2), m.group(3))
    return out


def latest(rows, col):
    return rows[-1]["event_date"], rows[-1][col]


def check_page(dom_path, gold_path, expect_events=None):
    dom = open(dom_path, encoding="utf-8").read()
    gold = json.load(open(gold_path))
    f = figures(dom)
    for key, table, col in (("dau", "daily_active_users", "dau_count"),
                            ("total_purchases", "conversion_rate_daily", "total_purchases")):
        date, want = latest(gold[table], col)
        assert f[key] == (str(want), date), (key, f.get(key), want, date)
    date, want = latest(gold["conversion_rate_daily"], "conversion_rate")
    assert f["conversion_rate"][1] == date and abs(float(f["conversion_rate"][0]) - want) < 1e-12, \
        (f["conversion_rate"], want)
    per_day = {}
    for r in gold["events_per_name_daily"]:
        per_day[r["event_date"]] = per_day.get(r["event_date"], 0) + r["event_count"]
    last = max(per_day)
    assert f["events"] == (str(per_day[last]), last), (f["events"], per_day[last], last)
    total = sum(per_day.values())
    assert int(f["lake_events"][0]) == total, (f["lake_events"], total)
    if expect_events is not None:
        assert total == int(expect_events), (total, expect_events)
    for svg in ("daily active users per day", "conversion rate per day", "purchases per day",
                "events per day", "events per minute by name", "logins per minute by source",
                "top pages by purchases"):
        assert f'aria-label="{svg}"' in dom, "no chart: " + svg
    print(f"events={total} dau={f['dau'][0]} date={f['dau'][1]}")


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")


def check_api(base, gold_path, events):
    gold = json.load(open(gold_path))
    for table, rows in gold.items():
        st, ctype, body = get(base + "api/" + table)
        assert st == 200 and ctype.startswith("application/json"), (table, st, ctype)
        assert json.loads(body) == rows, table
    st, _, body = get(base + "api/health")
    h = json.loads(body)
    assert h["events"] == int(events) and h["shards"] >= 1, h
    st, ctype, body = get(base + "metrics")
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    assert re.search(r"^tarn_lake_events %s$" % events, body, re.M), body[:300]
    for line in body.splitlines():
        assert line.startswith("#") or re.match(r'^[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$', line), line
    st, _, body = get(base + "api/")
    assert "/api/events_per_minute" in json.loads(body)["tables"]


def raw(host, port, data, read=65536):
    s = socket.create_connection((host, port), timeout=3)
    try:
        s.sendall(data)
        got = b""
        while b"\r\n" not in got:
            chunk = s.recv(read)
            if not chunk:
                break
            got += chunk
        return got
    finally:
        s.close()


def status_of(resp):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", resp)
    return int(m.group(1)) if m else None


def check_hostile(base):
    m = re.match(r"http://([0-9.]+):(\d+)/", base)
    host, port = m.group(1), int(m.group(2))
    cases = [
        ("POST", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", {405}),
        ("DELETE", b"DELETE /api/health HTTP/1.1\r\nHost: x\r\n\r\n", {405}),
        ("dotdot", b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", {400, 404}),
        ("encoded dotdot", b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", {400, 404}),
        ("unknown api", b"GET /api/sqlite_master HTTP/1.1\r\nHost: x\r\n\r\n", {404}),
        ("long URL", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {400, 413, 414, 431}),
        ("long header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100000 + b"\r\n\r\n", {400, 413, 431}),
        ("GET with a body", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", {400}),
        ("huge body", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" + b"z" * 200000, {400, 413}),
        ("endless chunked body", b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         + (b"4000\r\n" + b"c" * 0x4000 + b"\r\n") * 5, {400, 413, None}),
        ("HTTP/9.9", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", {400, 505}),
        ("bad header line", b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", {400}),
        # no answer (the connection is closed, or held until its timeout) is fine here
        ("binary garbage", b"\x00\x01\x02 nonsense\r\n\r\n", {400, 505, None}),
        ("no host", b"GET / HTTP/1.1\r\n\r\n", {400}),
    ]
    for name, data, want in cases:
        try:
            st = status_of(raw(host, port, data))
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            st = None  # the server closed on us: acceptable for a bad request
            want = want | {None}
        assert st in want, (name, st, want)
    st, _, body = get(base)
    assert st == 200 and "Daily active users" in body


TOP, WINDOWS = 10, 120


def tarn_json(tarn, *args):
    return json.loads(subprocess.run([tarn, *args], check=True, capture_output=True).stdout)


def combiner(expr, n_by):
    """How the page combines a measure over the --by columns after the first
    (None: it cannot, the panel is not drawn)."""
    e = expr.strip().lower()
    word = re.match(r"[a-z]+", e).group(0)
    if n_by <= 1:
        return lambda vs: vs[0]
    if word == "count" and not re.match(r"count\s*\(\s*distinct", e):
        return sum
    return {"sum": sum, "min": min, "max": max}.get(word)


def expected_series(decl, rows):
    """{measure col: [(group, [(x, v), ...]), ...] in rank order, or None}"""
    x = "event_date" if decl["window"] == "day" else "window_start"
    g = decl["by"][0]["col"] if decl["by"] else None
    windows = sorted({r[x] for r in rows})[-WINDOWS:]
    out = {}
    for m in decl["measures"]:
        col, comb = m["col"], combiner(m["expr"], len(decl["by"]))
        if comb is None:
            out[col] = None
            continue
        total, cells = {}, {}
        for r in rows:
            key = r[g] if g else None
            v = r[col]
            total[key] = total.get(key, 0.0) + (v if isinstance(v, (int, float)) else 0.0)
            if r[x] in windows:
                cells.setdefault((key, r[x]), []).append(v)
        # SQLite's order: total descending, then the group (NULL first)
        ranked = sorted(total, key=lambda k: (-total[k], k is not None, k if k is not None else ""))
        series = []
        for key in ranked[:TOP]:
            pts = [(w, comb(cells[(key, w)])) for w in windows if (key, w) in cells]
            series.append((key, [(w, v) for w, v in pts if isinstance(v, (int, float))]))
        out[col] = (len(total), series)
    return out


def same_value(got, want, combined):
    if isinstance(want, int) and not isinstance(want, bool):
        return got == str(want)
    return float(got) == want or (combined and abs(float(got) - want) <= 1e-9 * max(1, abs(want)))


class Panels(html.parser.HTMLParser):
    """{(aggregate, measure): {"title": text, "paths": [(group, points)],
    "legend": [group], "text": all text}} from the page's DOM."""

    def __init__(self):
        super().__init__()
        self.panels, self.cur, self.depth, self.listed = {}, None, 0, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-aggregate" in a:
            self.listed[a["data-aggregate"]] = True
        if tag == "section":
            if self.cur is not None:
                self.depth += 1
            elif "data-measure" in a:
                self.cur = (a["data-aggregate"], a["data-measure"])
                self.panels[self.cur] = {"paths": [], "legend": [], "text": ""}
                self.depth = 0
        elif self.cur is not None and tag == "path" and "data-group" in a:
            pts = [p.split("=", 1) for p in a["data-points"].split(";") if p]
            self.panels[self.cur]["paths"].append((a["data-group"], pts))
        elif self.cur is not None and tag == "span" and "data-group" in a:
            self.panels[self.cur]["legend"].append(a["data-group"])

    def handle_endtag(self, tag):
        if tag == "section" and self.cur is not None:
            if self.depth == 0:
                self.cur = None
            else:
                self.depth -= 1

    def handle_data(self, data):
        if self.cur is not None:
            self.panels[self.cur]["text"] += data


def label(decl, key):
    if key is None:
        return "(null)" if decl["by"] else "all"
    return str(key)


def check_aggregates(tarn, lake, base, dom_path):
    decls = tarn_json(tarn, "aggregate", "list", "--lake", lake, "--format", "json")
    page = Panels()
    page.feed(open(dom_path, encoding="utf-8").read())
    st, _, body = get(base + "api/aggregates")
    listed = {a["name"]: a for a in json.loads(body)}
    assert sorted(listed) == sorted(d["name"] for d in decls), (sorted(listed), decls)
    assert sorted(page.listed) == sorted(listed), (page.listed, sorted(listed))
    n_panels = n_points = 0
    for decl in decls:
        name = decl["name"]
        rows = tarn_json(tarn, "query", "--lake", lake, "--format", "json",
                         'SELECT * FROM "%s"' % name)
        assert listed[name]["rows"] == len(rows) == decl["rows"], (name, listed[name], len(rows))
        assert listed[name]["series"] == "/api/aggregates/" + name
        st, ctype, body = get(base + "api/aggregates/" + name)
        assert st == 200 and ctype.startswith("application/json"), (name, st, ctype)
        api = {m["col"]: m for m in json.loads(body)["measures"]}
        combined = len(decl["by"]) > 1
        m_expr = {m["col"]: m["expr"] for m in decl["measures"]}
        for col, want in expected_series(decl, rows).items():
            panel = page.panels.get((name, col))
            assert panel is not None, "no panel for %s.%s" % (name, col)
            n_panels += 1
            if want is None:
                assert "not drawn" in panel["text"] and not panel["paths"], (name, col)
                assert api[col]["series"] is None, (name, col, api[col])
                continue
            n_groups, series = want
            labels = [label(decl, k) for k, _ in series]
            assert [g for g, _ in panel["paths"]] == labels, (name, col, panel["paths"], labels)
            assert panel["legend"] == labels, (name, col, panel["legend"], labels)
            if n_groups > TOP:
                assert "top %d of %d groups" % (TOP, n_groups) in panel["text"], panel["text"]
            if combined:
                word = {sum: "sum", min: "min", max: "max"}[combiner(m_expr[col], 2)]
                assert "combined by " + word in panel["text"], panel["text"]
            assert api[col]["groups"] == n_groups, (name, col, api[col]["groups"], n_groups)
            assert [s["group"] for s in api[col]["series"]] == [k for k, _ in series]
            for (grp, got), (key, pts), s in zip(panel["paths"], series, api[col]["series"]):
                assert [x for x, _ in got] == [x for x, _ in pts], (name, col, grp, got, pts)
                for (gx, gv), (wx, wv) in zip(got, pts):
                    assert same_value(gv, wv, combined), (name, col, grp, gx, gv, wv)
                assert [p[0] for p in s["points"]] == [x for x, _ in pts], (name, col, grp)
                for (ax, av), (wx, wv) in zip(s["points"], pts):
                    assert same_value(json.dumps(av), wv, combined), (name, col, grp, ax, av, wv)
                n_points += len(pts)
    print("aggregates=%d panels=%d points=%d" % (len(decls), n_panels, n_points))


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "page":
        check_page(*sys.argv[2:])
    elif what == "api":
        check_api(*sys.argv[2:])
    elif what == "hostile":
        check_hostile(*sys.argv[2:])
    elif what == "aggregates":
        check_aggregates(*sys.argv[2:])
    else:
        sys.exit("unknown check " + what)
