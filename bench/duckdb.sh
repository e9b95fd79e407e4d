#!/usr/bin/env bash
# tarn beside DuckDB in the same run, on the same JSON lines, as ratios (run
# by make bench). Each side runs as its own process, so that wall time and
# peak RSS (/usr/bin/time %M) are per process:
#   load   tarn ingest into a new lake, against DuckDB loading the lines into
#          a typed table deduplicated by the id field, in a database file:
#          line by line (read_csv of one text column), valid JSON lines only,
#          json_transform to the column types that read_json_auto detects
#          from a sample, SELECT DISTINCT ON (id), then CHECKPOINT. (Line by
#          line because read_json(ignore_errors=true) also drops the valid
#          line after each truncated one; its own load is shown as a line
#          without a target.)
#   bytes  du -sb of the lake against the DuckDB file, and against the whole
#          input through zstd -19
#   Q1, Q2 two GROUP BY queries, each a whole process (open, query, close),
#          against each store; the sorted rows of both sides must be equal,
#          else MISMATCH is printed (the timings still are)
# Loads and queries run ROUNDS times, the two sides alternating; times are
# medians, RSS the largest of the rounds. Nothing is asserted about speed.
#
# INPUT is a file of the bench generator's events (event_id, timestamp,
# event_type, user_id, page, ...), or the word noaa-seattle: NOAA's Seattle
# observations (8,759 hourly temperatures of 2010 and 1,461 daily weather
# rows of 2012-2015, public domain) from the offline copy in PyPI's
# vega_datasets 0.9.0, one JSON line per row as
# tests/cli/aggregate_real_data.py writes them (times converted to UTC),
# plus every 20th line again as a byte-identical re-delivery; stored with
# --id-field date --time-field date --name-field kind.
#
# DuckDB is DuckDB's Node client from npm (@duckdb/node-api), installed into
# $TARN_BENCH_CACHE/duckdb (default ~/.cache/tarn-bench/duckdb); without
# node, npm or /usr/bin/time, or when the install fails, this prints
# "duckdb: skipped (REASON)" and exits 0. Exits 1 when a side fails.
#
# usage: bench/duckdb.sh TARN WORKDIR INPUT.jsonl|noaa-seattle [LABEL]
# environment: TARN_BENCH_CACHE, TARN_BENCH_ROUNDS (3),
#              TARN_BENCH_DUCKDB (the npm version, 1.5.6-r.1),
#              TARN_BENCH_KEEP=1 keeps WORKDIR/run.* (lake, database)
set -u
[ $# -ge 3 ] || { echo "usage: bench/duckdb.sh TARN WORKDIR INPUT.jsonl|noaa-seattle [LABEL]" >&2; exit 2; }
TARN=$(realpath "$1")
WORK=$2
INPUT=$3
LABEL=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${TARN_BENCH_CACHE:-$HOME/.cache/tarn-bench}
ROUNDS=${TARN_BENCH_ROUNDS:-3}
WANT=${TARN_BENCH_DUCKDB:-1.5.6-r.1}
THREADS=$(nproc)
MODULES=$CACHE/duckdb

skip() {
	echo "duckdb: skipped ($*)"
	exit 0
}
fail() {
	echo "duckdb: FAILED: $*"
	exit 1
}

# --- DuckDB's Node client, once per cache -----------------------------------
command -v node >/dev/null || skip "no node on PATH"
[ -x /usr/bin/time ] || skip "no /usr/bin/time (Debian package time)"
if [ ! -f "$MODULES/.installed-$WANT" ]; then
	command -v npm >/dev/null || skip "no npm on PATH"
	mkdir -p "$MODULES" || skip "cannot create $MODULES"
	echo "duckdb: installing @duckdb/node-api@$WANT into $MODULES" >&2
	log=$MODULES/npm.log
	if npm install --prefix "$MODULES" --no-audit --no-fund "@duckdb/node-api@$WANT" >"$log" 2>&1; then
		touch "$MODULES/.installed-$WANT"
	else
		echo "duckdb: @duckdb/node-api@$WANT did not install; trying the newest" >&2
		npm install --prefix "$MODULES" --no-audit --no-fund "@duckdb/node-api@latest" >>"$log" 2>&1 ||
			skip "npm install @duckdb/node-api failed: $(grep -m1 -i 'err' "$log" || tail -1 "$log")"
		touch "$MODULES/.installed-$WANT"
	fi
fi
DUCK_VERSION=$(node "$HERE/duckdb.mjs" "$MODULES" :memory: 1 "SELECT version()" 2>&1) ||
	skip "DuckDB's Node client does not load: $DUCK_VERSION"
DUCK_VERSION=${DUCK_VERSION#v}
DUCK="DuckDB $DUCK_VERSION ($THREADS threads)"

mkdir -p "$WORK" || fail "cannot create $WORK"
RUN=$(mktemp -d "$WORK/run.XXXXXX") || fail "cannot create a folder in $WORK"
[ -n "${TARN_BENCH_KEEP:-}" ] || trap 'rm -rf "$RUN"' EXIT

# --- the input and its fields ---------------------------------------------------
# the fields each side's SQL uses: id, time, then the two queries
if [ "$INPUT" = noaa-seattle ]; then
	command -v python3 >/dev/null || skip "noaa-seattle: no python3"
	data=""
	for d in "$HERE"/../build/pyenv/lib/python3*/site-packages/vega_datasets/_data \
		"$CACHE/vega_datasets/vega_datasets/_data"; do
		[ -f "$d/seattle-temps.csv" ] && data=$d && break
	done
	if [ -z "$data" ]; then
		echo "duckdb: installing vega_datasets==0.9.0 (PyPI) into $CACHE/vega_datasets" >&2
		python3 -m pip install --quiet --disable-pip-version-check --no-deps \
			--target "$CACHE/vega_datasets" vega_datasets==0.9.0 >"$RUN/pip.log" 2>&1 ||
			skip "noaa-seattle: pip install vega_datasets==0.9.0 failed: $(tail -1 "$RUN/pip.log")"
		data=$CACHE/vega_datasets/vega_datasets/_data
	fi
	INPUT=$RUN/noaa-seattle.jsonl
	python3 - "$data" "$INPUT" <<'EOF' || fail "noaa-seattle: could not convert the CSV files"
import csv, datetime, json, sys
data, out = sys.argv[1:3]
lines = []
with open(data + "/seattle-temps.csv", newline="") as f:
    for row in csv.DictReader(f):
        # the hourly clock read at a fixed UTC-08:00, as the file has no zone
        t = datetime.datetime.strptime(row["date"], "%Y/%m/%d %H:%M") + datetime.timedelta(hours=8)
        lines.append('{"date":"%s","kind":"hourly","obs":{"temp":%s}}'
                     % (t.strftime("%Y-%m-%dT%H:%M:00Z"), row["temp"]))
with open(data + "/seattle-weather.csv", newline="") as f:
    for row in csv.DictReader(f):
        lines.append('{"date":"%sT00:00:00Z","kind":"daily","obs":{"precipitation":%s,"temp_max":%s,'
                     '"temp_min":%s,"wind":%s},"weather":%s}'
                     % (row["date"].replace("/", "-"), row["precipitation"], row["temp_max"],
                        row["temp_min"], row["wind"], json.dumps(row["weather"])))
lines += lines[::20]
with open(out, "w") as f:
    f.writelines(ln + "\n" for ln in lines)
EOF
	LABEL=${LABEL:-"NOAA Seattle observations (vega_datasets 0.9.0)"}
	FIELDS=(--id-field date --time-field date --name-field kind)
	ID=date TIME=date
	Q1_NAME="Q1 observations per UTC day"
	Q1_TARN="SELECT event_date, count(*) FROM events GROUP BY 1"
	Q1_DUCK="SELECT CAST(\"date\" AS DATE), count(*) FROM events GROUP BY 1"
	Q2_NAME="Q2 observations per weather"
	Q2_TARN="SELECT payload->>'\$.weather', count(*) FROM events GROUP BY 1"
	Q2_DUCK="SELECT weather, count(*) FROM events GROUP BY 1"
else
	[ -r "$INPUT" ] || fail "cannot read $INPUT"
	INPUT=$(realpath "$INPUT")
	LABEL=${LABEL:-"the bench generator's events ($(basename "$INPUT"))"}
	FIELDS=()
	ID=event_id TIME=timestamp
	Q1_NAME="Q1 distinct users per UTC day"
	Q1_TARN="SELECT event_date, count(DISTINCT payload->>'\$.user_id') FROM events GROUP BY 1"
	Q1_DUCK="SELECT CAST(\"timestamp\" AS DATE), count(DISTINCT user_id) FROM events GROUP BY 1"
	Q2_NAME="Q2 purchases per page"
	Q2_TARN="SELECT payload->>'\$.page', count(*) FROM events WHERE payload->>'\$.event_type' = 'purchase' GROUP BY payload->>'\$.page'"
	Q2_DUCK="SELECT page, count(*) FROM events WHERE event_type = 'purchase' GROUP BY page"
fi
LINES=$(wc -l <"$INPUT")
IN_SQL=${INPUT//\'/\'\'}
TEXT="read_csv('$IN_SQL', columns={'line': 'VARCHAR'}, header=false, auto_detect=false, delim=E'\\x01', quote='', escape='', new_line='\\n')"
DUCK_LOAD=(
	"SET VARIABLE shape = (SELECT json_group_object(column_name, column_type) FROM (DESCRIBE SELECT * FROM read_json_auto('$IN_SQL', format='newline_delimited', ignore_errors=true)))"
	"CREATE TABLE events AS SELECT DISTINCT ON (\"$ID\") * FROM (SELECT unnest(json_transform(line, getvariable('shape'))) FROM (SELECT line FROM $TEXT WHERE json_valid(line))) WHERE \"$ID\" IS NOT NULL AND \"$TIME\" IS NOT NULL"
	"CHECKPOINT"
	"SELECT count(*) FROM events"
)
DUCK_LOAD_AUTO=(
	"CREATE TABLE events AS SELECT DISTINCT ON (\"$ID\") * FROM read_json_auto('$IN_SQL', format='newline_delimited', ignore_errors=true) WHERE \"$ID\" IS NOT NULL AND \"$TIME\" IS NOT NULL"
	"CHECKPOINT"
	"SELECT count(*) FROM events"
)

# --- measuring ----------------------------------------------------------------
# timed NAME CMD...: runs CMD with stdout NAME.out and stderr NAME.err in
# $RUN; appends its wall seconds to NAME.s and its peak RSS (KB) to NAME.kb
timed() {
	local p=$RUN/$1 t0 t1 rc
	shift
	t0=$(date +%s.%N)
	/usr/bin/time -o "$p.time" -f '%M' "$@" >"$p.out" 2>"$p.err"
	rc=$?
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }' >>"$p.s"
	tail -1 "$p.time" >>"$p.kb"
	return $rc
}
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
largest() { sort -g "$1" | tail -1; }
bytes() { du -sb "$@" 2>/dev/null | awk '{ n += $1 } END { print n + 0 }'; }
rows_differ() { # NAME: the first round's rows of both sides, sorted (tarn's CSV ends lines in CRLF)
	tail -n +2 "$RUN/$1.tarn.out" | tr -d '\r' | LC_ALL=C sort >"$RUN/$1.tarn.rows"
	LC_ALL=C sort "$RUN/$1.duck.out" >"$RUN/$1.duck.rows"
	! cmp -s "$RUN/$1.tarn.rows" "$RUN/$1.duck.rows"
}

echo "duckdb: $LABEL, $LINES lines, $ROUNDS rounds, tarn beside $DUCK" >&2
for r in $(seq "$ROUNDS"); do
	rm -rf "$RUN/lake" "$RUN/events.duckdb" "$RUN/events.duckdb.wal"
	timed load.tarn "$TARN" ingest --lake "$RUN/lake" --no-progress "${FIELDS[@]}" "$INPUT" ||
		fail "tarn ingest: $(cat "$RUN/load.tarn.err")"
	timed load.duck node "$HERE/duckdb.mjs" "$MODULES" "$RUN/events.duckdb" "$THREADS" "${DUCK_LOAD[@]}" ||
		fail "DuckDB load: $(cat "$RUN/load.duck.err")"
	echo "duckdb: load round $r: tarn $(tail -1 "$RUN/load.tarn.s") s, DuckDB $(tail -1 "$RUN/load.duck.s") s" >&2
done
# sizes first: a tarn query leaves a -shm and a -wal file beside each shard
# that it opened
BYTES_TARN=$(bytes "$RUN/lake")
BYTES_SHARDS=$(bytes "$RUN/lake/shards")
BYTES_DUCK=$(bytes "$RUN/events.duckdb" "$RUN/events.duckdb.wal")
STORED_TARN=$("$TARN" query --lake "$RUN/lake" --format csv "SELECT count(*) FROM events" | tr -d '\r' | tail -1)
STORED_DUCK=$(tail -1 "$RUN/load.duck.out")
BYTES_ZSTD=""
if command -v zstd >/dev/null; then
	echo "duckdb: input through zstd -19 -T$THREADS" >&2
	BYTES_ZSTD=$(zstd -19 -T"$THREADS" -q -c "$INPUT" | wc -c)
fi

for r in $(seq "$ROUNDS"); do
	for q in q1 q2 one; do
		case $q in
		q1) tq=$Q1_TARN dq=$Q1_DUCK ;;
		q2) tq=$Q2_TARN dq=$Q2_DUCK ;;
		one) tq="SELECT 1" dq="SELECT 1" ;;
		esac
		timed "$q.tarn" "$TARN" query --lake "$RUN/lake" --format csv "$tq" ||
			fail "tarn query: $(cat "$RUN/$q.tarn.err")"
		[ "$r" = 1 ] && cp "$RUN/$q.tarn.out" "$RUN/$q.tarn.first"
		timed "$q.duck" node "$HERE/duckdb.mjs" "$MODULES" "$RUN/events.duckdb" "$THREADS" "$dq" ||
			fail "DuckDB query: $(cat "$RUN/$q.duck.err")"
		[ "$r" = 1 ] && cp "$RUN/$q.duck.out" "$RUN/$q.duck.first"
	done
done
for q in q1 q2; do
	cp "$RUN/$q.tarn.first" "$RUN/$q.tarn.out"
	cp "$RUN/$q.duck.first" "$RUN/$q.duck.out"
done

rm -f "$RUN/auto.duckdb"
timed auto.duck node "$HERE/duckdb.mjs" "$MODULES" "$RUN/auto.duckdb" "$THREADS" "${DUCK_LOAD_AUTO[@]}" ||
	fail "DuckDB read_json_auto load: $(cat "$RUN/auto.duck.err")"
STORED_AUTO=$(tail -1 "$RUN/auto.duck.out")

# --- the table ------------------------------------------------------------------
mismatch=0
if [ "$STORED_TARN" != "$STORED_DUCK" ]; then
	echo "MISMATCH: tarn stored $STORED_TARN events, DuckDB $STORED_DUCK"
	mismatch=1
fi
for q in q1 q2; do
	if rows_differ $q; then
		echo "MISMATCH: $q: tarn and DuckDB give different rows ($RUN/$q.*.rows):"
		diff "$RUN/$q.tarn.rows" "$RUN/$q.duck.rows" | head -10
		mismatch=1
	fi
done
echo
echo "tarn vs $DUCK on $LABEL: $LINES input lines ($(bytes "$INPUT") bytes);" \
	"stored: tarn $STORED_TARN, DuckDB $STORED_DUCK; Q1 $(wc -l <"$RUN/q1.duck.rows") rows," \
	"Q2 $(wc -l <"$RUN/q2.duck.rows") rows, equal on both sides: $([ $mismatch = 0 ] && echo yes || echo NO);" \
	"$THREADS cores; medians of $ROUNDS rounds"
echo
awk -v duck="$DUCK" -v threads="$THREADS" -v lines="$LINES" \
	-v lt="$(median "$RUN/load.tarn.s")" -v ld="$(median "$RUN/load.duck.s")" \
	-v la="$(median "$RUN/auto.duck.s")" -v stored_auto="$STORED_AUTO" -v stored="$STORED_DUCK" \
	-v bt="$BYTES_TARN" -v bs="$BYTES_SHARDS" -v bd="$BYTES_DUCK" -v bz="$BYTES_ZSTD" \
	-v q1t="$(median "$RUN/q1.tarn.s")" -v q1d="$(median "$RUN/q1.duck.s")" -v q1n="$Q1_NAME" \
	-v q2t="$(median "$RUN/q2.tarn.s")" -v q2d="$(median "$RUN/q2.duck.s")" -v q2n="$Q2_NAME" \
	-v ot="$(median "$RUN/one.tarn.s")" -v od="$(median "$RUN/one.duck.s")" \
	-v okt="$(largest "$RUN/one.tarn.kb")" -v okd="$(largest "$RUN/one.duck.kb")" \
	-v kt="$(largest "$RUN/load.tarn.kb")" -v kd="$(largest "$RUN/load.duck.kb")" '
	function row(line, what, t, base, b, ratio, target, met,    f) {
		f = what ~ /, s,/ ? "%.3f" : "%.2f"
		printf "| %s | %s | " f " | %s | " f " | %.3f | %s | %s |\n", line, what, t, base, b,
			ratio, target, met < 0 ? "-" : met ? "yes" : "NO"
		if (met >= 0) { n++; m += met }
	}
	BEGIN {
		mb = 1000000
		print "| line | measure | tarn | baseline (same run) | baseline | ratio | target | met |"
		print "|---|---|---:|---|---:|---:|---|---|"
		r = lt > 0 ? ld / lt : 0
		row("d1", "load, deduplicated by id: input lines/s (ratio: tarn / DuckDB)", lines / lt,
			duck, lines / ld, r, ">= 1.0x", r >= 1.0)
		r = bt / bd
		row("d2", "bytes on disk after the load, MB (lake folder / DuckDB file)", bt / mb, duck,
			bd / mb, r, "<= 1.0x", r <= 1.0)
		if (bz != "") {
			r = bt / bz
			row("d3", "bytes on disk, MB, against the whole input through zstd -19", bt / mb,
				"zstd -19 -T" threads, bz / mb, r, "<= 1.0x", r <= 1.0)
		}
		r = q1d / q1t
		row("d4", q1n ", s, whole process (ratio: speed tarn / DuckDB)", q1t, duck, q1d, r,
			">= 1.0x", r >= 1.0)
		r = q2d / q2t
		row("d5", q2n ", s, whole process (ratio: speed tarn / DuckDB)", q2t, duck, q2d, r,
			">= 1.0x", r >= 1.0)
		row("d6", "peak RSS of the load, MB (ratio: tarn / DuckDB)", kt / 1024, duck, kd / 1024,
			kt / kd, "tarn <= 64 MB", kt / 1024 <= 64)
		row("d7", "bytes of the lake'"'"'s shards/ alone, MB (without catalog and gold)", bs / mb,
			duck, bd / mb, bs / bd, "-", -1)
		row("d8", "open + SELECT 1 + close, s, each side'"'"'s fixed cost (ratio: speed tarn / DuckDB)", ot, duck,
			od, od / ot, "-", -1)
		row("d9", "load with read_json_auto(ignore_errors=true) instead: lines/s (it stored " \
			stored_auto " of " stored ")", lines / lt, duck, lines / la, la / lt, "-", -1)
		printf "\nduckdb: %d of %d targets met; DuckDB runs in Node.js: its process alone " \
			"(open, SELECT 1, close) takes %.2f s and %.0f MB (tarn query: %.2f s, %.0f MB)\n",
			m, n, od, okd / 1024, ot, okt / 1024
	}'
