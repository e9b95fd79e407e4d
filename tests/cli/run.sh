#!/usr/bin/env bash
# End-to-end tests of the tarn command: real lake files, the embedded
# broker over TCP on 127.0.0.1, and independent clients (kcat, the sqlite3
# shell, python3's json) to check what tarn wrote. Ends with
# "cli: N passed, N failed, N skipped".
set -u
TARN=${TARN:-bin/tarn}
TARN=$(cd "$(dirname "$TARN")" && pwd)/$(basename "$TARN")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FIX=$ROOT/fixtures
# the loadable extension, as sqlite3's .load takes it (no .so suffix)
EXT=${TARN_EXT:-$ROOT/build/libtarn_sqlite.so}
EXT=$(cd "$(dirname "$EXT")" && pwd)/$(basename "$EXT" .so)
WORK=$(mktemp -d /tmp/tarn-cli-XXXXXX)
BROKER_PID=
passed=0
failed=0

kill_leftover_broker() {
	if [ -f "$WORK/broker.pid" ]; then
		kill "$(cat "$WORK/broker.pid")" 2>/dev/null
		rm -f "$WORK/broker.pid"
	fi
}

cleanup() {
	kill_leftover_broker
	[ -f "$WORK/serve.pids" ] && kill $(cat "$WORK/serve.pids") 2>/dev/null
	umount "$WORK/small" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

# each test runs in its own subshell: the first failure ends it
fail() {
	echo "    $*"
	exit 1
}

# a test that cannot run here (not a failure): the reason goes on its line
SKIP_STATUS=77
skip() {
	echo "$*" >"$WORK/skip.reason"
	exit $SKIP_STATUS
}

# SQL through tarn's events view and gold tables: the rows, no header
tq() {
	"$TARN" query --lake "$1" --format csv "$2" | tail -n +2 | tr -d '\r'
}

# sum of one value over every shard file, with the sqlite3 shell
shard_sum() {
	local total=0 n f
	for f in "$1"/shards/*.db; do
		n=$(sqlite3 "file:$f?mode=ro" "$2")
		total=$((total + n))
	done
	echo "$total"
}

start_broker() {
	"$TARN" broker --partitions 4 "$@" >"$WORK/broker.out" 2>"$WORK/broker.err" &
	BROKER_PID=$!
	echo "$BROKER_PID" >"$WORK/broker.pid"
	for _ in $(seq 50); do
		BS=$(head -1 "$WORK/broker.out" 2>/dev/null)
		[ -n "$BS" ] && return 0
		sleep 0.1
	done
	fail "broker did not print its address"
}

stop_broker() {
	local rc=0
	kill "$BROKER_PID" 2>/dev/null
	wait "$BROKER_PID" 2>/dev/null || rc=$?
	rm -f "$WORK/broker.pid"
	BROKER_PID=
	return $rc
}

# TARN_BROKER=kafka (tests/kafka/run.sh): the same cases on a real Apache
# Kafka, whose start_broker and stop_broker replace the two above
if [ "${TARN_BROKER:-embedded}" = kafka ]; then
	. "$ROOT/tests/kafka/lib.sh"
fi

t_file_ingest_dedup() {
	local L=$WORK/l1
	"$TARN" produce -o "$WORK/p.jsonl" --count 3000 --dup-rate 0.05 --seed 3 --days 2 \
		2>"$WORK/produce.err" || fail "produce failed"
	local lines; lines=$(wc -l <"$WORK/p.jsonl")
	[ "$lines" -gt 3050 ] || fail "expected re-sends, got $lines lines"
	"$TARN" ingest --lake "$L" "$WORK/p.jsonl" 2>"$WORK/err" || fail "ingest: $(cat "$WORK/err")"
	[ "$(shard_sum "$L" 'SELECT sum(n_events) FROM blocks')" = 3000 ] || fail "stored != 3000"
	[ "$(shard_sum "$L" "SELECT value FROM meta WHERE key='duplicates'")" = $((lines - 3000)) ] ||
		fail "duplicates not counted"
	# the whole file again: at-least-once delivery, exactly-once effect
	"$TARN" ingest --lake "$L" - <"$WORK/p.jsonl" 2>"$WORK/err" || fail "second ingest"
	grep -q " 0 stored, $lines duplicates" "$WORK/err" || fail "second ingest: $(cat "$WORK/err")"
	[ "$(shard_sum "$L" 'SELECT sum(n_events) FROM blocks')" = 3000 ] || fail "stored twice"
	ls "$L"/shards/*.db | wc -l | grep -q '^[23]$' || fail "expected 2-3 date shards"
}

t_malformed_quarantined() {
	local L=$WORK/l2
	"$TARN" ingest --lake "$L" "$FIX/events.jsonl" 2>"$WORK/err" || fail "ingest"
	grep -q "12 read, 5 stored, 1 duplicates absorbed, 6 quarantined (1 conflicting" "$WORK/err" ||
		fail "summary: $(cat "$WORK/err")"
	local q="file:$L/quarantine.db?mode=ro"
	[ "$(sqlite3 "$q" "SELECT group_concat(reason || '=' || n, ' ') FROM (SELECT reason, count(*) n
		FROM quarantine GROUP BY reason ORDER BY reason)")" = \
		"bad_time=1 conflicting_duplicate=1 no_id=1 not_json=2 not_object=1" ] || fail "reasons"
	# exact bytes and source line kept
	[ "$(sqlite3 "$q" "SELECT kafka_offset || ':' || CAST(payload AS TEXT) FROM quarantine
		WHERE reason='not_object'")" = '5:["an","array"]' ] || fail "quarantined bytes"
	[ "$(sqlite3 "file:$L/shards/2026-11-21.db?mode=ro" 'SELECT sum(n_events) FROM blocks')" = 2 ] ||
		fail "+02:00 and epoch-ms events belong to 2026-11-21 UTC"
	# first write wins: the conflicting copy did not replace the stored one
	[ "$("$TARN" query --lake "$L" --format csv "SELECT json_extract(payload, '\$.source')
		FROM events WHERE event_id='6f1c0e3a-8a8e-4c1e-9a51-0a6d6b0c0002'" | tail -1 | tr -d '\r')" = web ] ||
		fail "first write did not win"
}

t_gold_equals_sql() {
	local L=$WORK/l1 sql
	for sql in \
		"SELECT event_date, count(DISTINCT json_extract(payload,'\$.user_id')) FROM events GROUP BY 1 ORDER BY 1|SELECT event_date, dau_count FROM daily_active_users ORDER BY 1" \
		"SELECT event_date, count(DISTINCT CASE WHEN json_extract(payload,'\$.event_type')='purchase' THEN json_extract(payload,'\$.user_id') END), sum(json_extract(payload,'\$.event_type')='purchase') FROM events GROUP BY 1 ORDER BY 1|SELECT event_date, purchasers, total_purchases FROM conversion_rate_daily ORDER BY 1" \
		"SELECT event_date, json_extract(payload,'\$.source'), count(*) FROM events GROUP BY 1, 2 ORDER BY 1, 2|SELECT * FROM events_per_source_daily ORDER BY 1, 2" \
		"SELECT event_date, json_extract(payload,'\$.page'), count(*) FROM events WHERE json_extract(payload,'\$.event_type')='purchase' GROUP BY 1, 2 ORDER BY 1, 2|SELECT * FROM purchases_per_page_daily ORDER BY 1, 2" \
		"SELECT event_date, event_name, count(*), sum(length(CAST(payload AS BLOB))) FROM events GROUP BY 1, 2 ORDER BY 1, 2|SELECT * FROM events_per_name_daily ORDER BY 1, 2"; do
		local a b
		a=$("$TARN" query --lake "$L" --format csv "${sql%%|*}" | tail -n +2) || fail "query"
		b=$("$TARN" query --lake "$L" --format csv "${sql##*|}" | tail -n +2) || fail "gold"
		[ -n "$a" ] && [ "$a" = "$b" ] || fail "gold differs from SQL recomputation: ${sql##*|}"
	done
	# conversion_rate = purchasers / dau_count
	[ "$("$TARN" query --lake "$L" --format csv "SELECT count(*) FROM conversion_rate_daily
		WHERE abs(conversion_rate - CAST(purchasers AS REAL) / dau_count) > 1e-12" | tail -1 | tr -d '\r')" = 0 ] ||
		fail "conversion_rate"
}

t_verify_and_rebuild() {
	local L=$WORK/l1
	"$TARN" verify --lake "$L" >"$WORK/out" || fail "verify of a clean lake: $(cat "$WORK/out")"
	sqlite3 "$L/gold.db" "UPDATE events_per_source_daily SET event_count = event_count + 1
		WHERE rowid = 1" || fail "tamper"
	"$TARN" verify --lake "$L" >"$WORK/out"
	[ $? = 1 ] || fail "verify missed a wrong gold row"
	grep -q "events_per_source_daily differs" "$WORK/out" || fail "verify did not name the table"
	"$TARN" gold --lake "$L" --rebuild events_per_source_daily >/dev/null 2>&1 || fail "rebuild"
	"$TARN" verify --lake "$L" >/dev/null || fail "verify after rebuild"
}

t_files_private() {
	local f bad=0
	for f in "$WORK"/l1/*.db "$WORK"/l1/shards/*.db; do
		[ "$(stat -c %a "$f")" = 600 ] || bad=1
	done
	[ $bad = 0 ] || fail "lake files are not 0600"
	[ "$(stat -c %a "$WORK/l1")" = 700 ] || fail "lake folder is not 0700"
	echo '{"event_id":"g","timestamp":"2026-11-20T00:00:00Z"}' |
		"$TARN" ingest --lake "$WORK/grp" --group-readable - 2>/dev/null || fail "ingest"
	for f in "$WORK"/grp/*.db "$WORK"/grp/shards/*.db; do
		[ "$(stat -c %a "$f")" = 640 ] || fail "$f is not 0640 with --group-readable"
	done
	[ "$(stat -c %a "$WORK/grp/shards")" = 750 ] || fail "shards/ is not 0750"
}

t_query_read_only() {
	local L=$WORK/l2 before sql
	before=$(md5sum "$L"/gold.db "$L"/shards/*.db)
	for sql in "DELETE FROM daily_active_users" "DROP TABLE daily_active_users" \
		"INSERT INTO events_per_name_daily VALUES('2000-01-01','x',1,1)" \
		"ATTACH '$WORK/x.db' AS x" "SELECT load_extension('/tmp/x.so')" \
		"PRAGMA journal_mode=DELETE" "CREATE TABLE t(x)"; do
		"$TARN" query --lake "$L" "$sql" >/dev/null 2>"$WORK/err"
		[ $? = 1 ] || fail "not refused: $sql"
	done
	[ ! -e "$WORK/x.db" ] || fail "ATTACH created a file"
	[ "$before" = "$(md5sum "$L"/gold.db "$L"/shards/*.db)" ] || fail "lake changed"
	"$TARN" query --lake "$L" --format json "SELECT event_date, count(*) AS n FROM events
		WHERE event_date = '2026-11-21' GROUP BY 1" >"$WORK/q.json" || fail "read query"
	python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r==[{'event_date':'2026-11-21','n':2}], r" \
		"$WORK/q.json" || fail "json output"
}

t_usage_errors() {
	local args
	for args in "" "nope" "ingest" "ingest --lake" "ingest --lake $WORK/u -b x" \
		"replay --lake $WORK/u" "produce --count 0 -o -" "produce -o - --dup-rate 2" \
		"query --lake $WORK/l2 --format xml 'SELECT 1'" "gold --lake $WORK/l2 nosuchtable" \
		"replay --lake $WORK/l2 -o - --since yesterday" "broker --partitions 0"; do
		# shellcheck disable=SC2086
		eval "\"$TARN\" $args" >/dev/null 2>&1
		[ $? = 2 ] || fail "expected exit 2 for: tarn $args"
	done
	"$TARN" stats --lake "$WORK/nolake" >/dev/null 2>&1
	[ $? = 1 ] || fail "stats of a missing lake must exit 1"
	[ ! -e "$WORK/nolake" ] || fail "a reader created a lake"
}

t_stats_json() {
	"$TARN" stats --lake "$WORK/l2" --format json >"$WORK/s.json" || fail "stats"
	python3 - "$WORK/s.json" <<'PY' || fail "stats numbers"
import json, sys
s = json.load(open(sys.argv[1]))
shards = s["shards"]
assert [r["shard"] for r in shards] == ["2026-11-20", "2026-11-21", "total"], shards
assert shards[-1]["events"] == 5 and shards[-1]["duplicates"] == 1, shards[-1]
assert s["lake"][0]["quarantined"] == 6 and s["lake"][0]["conflicting_duplicates"] == 1, s["lake"]
PY
}

t_replay_file_byte_exact() {
	local L=$WORK/l1
	"$TARN" replay --lake "$L" -o "$WORK/back.jsonl" 2>/dev/null || fail "replay"
	[ "$(sort -u "$WORK/p.jsonl" | md5sum)" = "$(sort "$WORK/back.jsonl" | md5sum)" ] ||
		fail "replayed payloads differ from the unique input lines"
	"$TARN" replay --lake "$L" -o - --name purchase --since 2026-01-01 >"$WORK/buy.jsonl" 2>/dev/null
	[ "$(wc -l <"$WORK/buy.jsonl")" = "$(grep -c '"purchase"' <(sort -u "$WORK/p.jsonl"))" ] ||
		fail "--name filter"
	python3 - "$WORK/back.jsonl" <<'PY' || fail "not in event-time order"
import sys
ts = [l.split('"timestamp":"')[1][:24] for l in open(sys.argv[1])]
assert ts == sorted(ts)
PY
}

t_kafka_kcat_roundtrip() {
	local L=$WORK/k1 i
	start_broker --topic in --topic out
	for i in 1 2 3 4 5; do
		echo "user_$i:{\"user_id\":\"user_$i\",\"n\":$i,\"timestamp\":\"2026-11-2${i}T10:00:00Z\"}" |
			kcat -P -b "$BS" -t in -K: -H "event_id=ev-$i" -H "event_name=signup" \
				-H "trace=t$i" || fail "kcat produce"
	done
	# a re-delivery of ev-3
	echo 'user_3:{"user_id":"user_3","n":3,"timestamp":"2026-11-23T10:00:00Z"}' |
		kcat -P -b "$BS" -t in -K: -H "event_id=ev-3" -H "event_name=signup" -H "trace=t3"
	timeout 60 "$TARN" ingest --lake "$L" -b "$BS" -t in -G g1 -e -X session.timeout.ms=6000 \
		-X heartbeat.interval.ms=1000 2>"$WORK/err" || fail "ingest -e did not finish: $(cat "$WORK/err")"
	grep -q "6 read, 5 stored, 1 duplicates" "$WORK/err" || fail "ingest: $(cat "$WORK/err")"
	# offsets committed: the same group reads nothing new (the mock
	# broker makes a re-joining group wait for the old member's session
	# timeout, hence the short one)
	timeout 60 "$TARN" ingest --lake "$L" -b "$BS" -t in -G g1 -e \
		-X session.timeout.ms=6000 -X heartbeat.interval.ms=1000 2>"$WORK/err"
	grep -q "^tarn ingest: 0 read" "$WORK/err" || fail "offsets not committed: $(cat "$WORK/err")"
	[ "$(tq "$L" "SELECT topic || '/' || partition || '/' || (\"offset\" >= 0) FROM events
		WHERE event_date = '2026-11-23'")" = "in/$(tq "$L" "SELECT partition FROM events
		WHERE event_date = '2026-11-23'")/1" ] || fail "provenance not kept"
	timeout 60 "$TARN" replay --lake "$L" -b "$BS" -t out 2>"$WORK/err" || fail "replay: $(cat "$WORK/err")"
	grep -q "5 acknowledged, 0 failed" "$WORK/err" || fail "replay: $(cat "$WORK/err")"
	kcat -C -b "$BS" -t in -e -J -q >"$WORK/in.json" 2>/dev/null
	kcat -C -b "$BS" -t out -e -J -q >"$WORK/out.json" 2>/dev/null
	python3 - "$WORK/in.json" "$WORK/out.json" <<'PY' || fail "replay not byte-exact"
import json, sys
def load(p):
    return [json.loads(l) for l in open(p) if l.strip()]
src, out = load(sys.argv[1]), load(sys.argv[2])
first = {}
for m in sorted(src, key=lambda m: (m["partition"], m["offset"])):
    first.setdefault(m["key"], m)
assert len(out) == 5, len(out)
for m in out:
    s = first[m["key"]]
    for f in ("payload", "key", "headers", "ts", "tstype"):
        assert m[f] == s[f], (f, m[f], s[f])
PY
	stop_broker
}

t_kafka_pretty_payload() {
	local L=$WORK/k2
	start_broker --topic docs --topic back
	kcat -P -b "$BS" -t docs -H event_id=doc-1 -H event_name=document \
		-H published_at=2026-11-20T12:00:00Z "$FIX/pretty.json" || fail "kcat produce"
	timeout 60 "$TARN" ingest --lake "$L" -b "$BS" -t docs -e 2>"$WORK/err" || fail "ingest"
	grep -q "1 stored" "$WORK/err" || fail "not stored: $(cat "$WORK/err")"
	[ "$(tq "$L" "SELECT event_id || '/' || event_name || '/' || length(CAST(payload AS BLOB))
		FROM events WHERE event_date = '2026-11-20'")" = "doc-1/document/$(wc -c <"$FIX/pretty.json")" ] ||
		fail "id/name from headers"
	timeout 60 "$TARN" replay --lake "$L" -b "$BS" -t back 2>/dev/null || fail "replay"
	kcat -C -b "$BS" -t back -e -q -f '%s' >"$WORK/doc.out" 2>/dev/null
	cmp -s "$WORK/doc.out" "$FIX/pretty.json" || fail "payload not byte-exact"
	"$TARN" replay --lake "$L" -o - 2>/dev/null | head -c -1 | cmp -s - "$FIX/pretty.json" ||
		fail "file replay not byte-exact"
	stop_broker
}

t_replay_unreachable() {
	timeout 60 "$TARN" replay --lake "$WORK/l2" -b 127.0.0.1:1 -t x \
		-X message.timeout.ms=2000 2>"$WORK/err"
	[ $? = 1 ] || fail "replay to an unreachable broker must exit 1"
	grep -q "5 of 5 messages to x not acknowledged" "$WORK/err" || fail "message: $(cat "$WORK/err")"
	"$TARN" replay --lake "$WORK/l2" -b 127.0.0.1:1 -t x -X sasl.password=hunter2 \
		-X no.such.property=1 2>"$WORK/err"
	local rc=$?
	[ $rc = 2 ] || [ $rc = 1 ] || fail "bad -X accepted"
	! grep -q hunter2 "$WORK/err" || fail "a secret was printed"
}

# librdkafka's log lines reach stderr through the command, only when
# TARN_KAFKA_DEBUG is set; the library itself prints nothing
t_kafka_debug_log() {
	local L=$WORK/kdbg
	"$TARN" produce -o "$WORK/kdbg.jsonl" --count 20 --seed 5 2>/dev/null || fail "produce"
	"$TARN" ingest --lake "$L" "$WORK/kdbg.jsonl" 2>/dev/null || fail "ingest"
	TARN_KAFKA_DEBUG=1 timeout 60 "$TARN" replay --lake "$L" -b 127.0.0.1:1 -t x \
		-X message.timeout.ms=1500 2>"$WORK/kdbg.err"
	[ $? = 1 ] || fail "replay to an unreachable broker must exit 1"
	grep -q '^librdkafka [0-7] FAIL: .*Connection refused' "$WORK/kdbg.err" ||
		fail "no librdkafka lines with TARN_KAFKA_DEBUG: $(cat "$WORK/kdbg.err")"
	timeout 60 "$TARN" replay --lake "$L" -b 127.0.0.1:1 -t x \
		-X message.timeout.ms=1500 2>"$WORK/kdbg.err"
	[ $? = 1 ] || fail "replay to an unreachable broker must exit 1"
	! grep -q librdkafka "$WORK/kdbg.err" || fail "librdkafka lines without TARN_KAFKA_DEBUG"
	grep -q "20 of 20 messages to x not acknowledged" "$WORK/kdbg.err" ||
		fail "message: $(cat "$WORK/kdbg.err")"
}

t_ingest_runs_until_sigterm() {
	local L=$WORK/k3 pid rc=0 i
	start_broker --topic live
	"$TARN" ingest --lake "$L" -b "$BS" -t live -G live 2>"$WORK/err" &
	pid=$!
	for i in 1 2 3 4 5 6 7; do
		echo "{\"event_id\":\"live-$i\",\"timestamp\":\"2026-11-20T00:00:0${i}Z\"}" |
			kcat -P -b "$BS" -t live
	done
	for _ in $(seq 100); do
		[ -f "$L/shards/2026-11-20.db" ] &&
			[ "$(sqlite3 "file:$L/shards/2026-11-20.db?mode=ro" 'SELECT sum(n_events) FROM blocks' \
				2>/dev/null)" = 7 ] && break
		sleep 0.2
	done
	kill -0 "$pid" 2>/dev/null || fail "ingest without -e stopped by itself"
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	[ $rc = 0 ] || fail "ingest exit status $rc after SIGTERM: $(cat "$WORK/err")"
	grep -q "7 read, 7 stored" "$WORK/err" || fail "summary: $(cat "$WORK/err")"
	stop_broker
}

t_crash_kill9_loop() {
	# short variant; `make torture` runs 500,000 events and 50 kills
	TARN="$TARN" bash "$ROOT/tests/torture/crash.sh" 20000 4 3 1000 | tee "$WORK/crash.out"
	grep -q "lost 0 duplicated 0 verify clean" "$WORK/crash.out" || fail "crash loop"
}

t_disk_full() {
	local D=$WORK/small rc=0 t=0 u=0 f n
	mkdir -p "$D"
	mount -t tmpfs -o size=3m tmpfs "$D" 2>/dev/null ||
		skip "cannot mount a tmpfs here (needs root and mount rights)"
	trap "umount '$D' 2>/dev/null" EXIT
	start_broker --topic full
	"$TARN" produce -b "$BS" -t full --count 30000 --dup-rate 0.05 2>/dev/null || fail "produce"
	n=$(kcat -C -b "$BS" -t full -e -q -o beginning | wc -l)
	"$TARN" ingest --lake "$D/lake" -b "$BS" -t full -G df -e -X session.timeout.ms=6000 \
		-X heartbeat.interval.ms=1000 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] || fail "ingest on a full disk: exit $rc"
	grep -q "disk full" "$WORK/err" || fail "message does not say disk full: $(cat "$WORK/err")"
	"$TARN" verify --lake "$D/lake" >/dev/null || fail "lake left by a full disk does not verify"
	mount -o remount,size=64m "$D" || fail "remount"
	"$TARN" ingest --lake "$D/lake" -b "$BS" -t full -G df -e -X session.timeout.ms=6000 \
		-X heartbeat.interval.ms=1000 2>>"$WORK/err" || fail "rerun after freeing space"
	t=$(shard_sum "$D/lake" 'SELECT sum(n_events) FROM blocks')
	u=$(tq "$D/lake" 'SELECT count(DISTINCT event_id) FROM events')
	[ "$t" = 30000 ] && [ "$u" = 30000 ] || fail "stored $t ($u distinct), not 30000"
	# every message was read exactly once over both runs: no offset was
	# committed beyond what was stored, none was left behind
	[ "$(grep -o '^tarn ingest: [0-9]* read' "$WORK/err" | awk '{ s += $3 } END { print s }')" = "$n" ] ||
		fail "messages read over both runs differ from the $n sent: $(cat "$WORK/err")"
	"$TARN" verify --lake "$D/lake" >/dev/null || fail "verify after the rerun"
	stop_broker
}

t_corrupt_and_foreign_files() {
	local L=$WORK/c1 sums rc=0
	"$TARN" produce -o "$WORK/c.jsonl" --count 4000 --start 2026-11-01 --days 4 2>/dev/null
	"$TARN" ingest --lake "$L" "$WORK/c.jsonl" 2>/dev/null || fail "ingest"
	# a truncated shard, random bytes, a foreign SQLite file, a newer format
	head -c 20000 "$L/shards/2026-11-01.db" >"$WORK/t.db" && mv "$WORK/t.db" "$L/shards/2026-11-01.db"
	rm -f "$L/shards/2026-11-01.db-wal" "$L/shards/2026-11-01.db-shm"
	head -c 65536 /dev/urandom >"$L/shards/2026-10-01.db"
	sqlite3 "$L/shards/2026-10-02.db" "CREATE TABLE notes(x); INSERT INTO notes VALUES('hi')"
	cp "$L/shards/2026-11-02.db" "$L/shards/2026-10-03.db"
	sqlite3 "$L/shards/2026-10-03.db" "PRAGMA user_version = 99"
	sums=$(md5sum "$L"/shards/2026-10-0?.db "$L/shards/2026-11-01.db")
	"$TARN" verify --lake "$L" >"$WORK/v.out" 2>&1 || rc=$?
	[ $rc = 1 ] || fail "verify exit $rc"
	for f in 2026-11-01 2026-10-01 2026-10-02 2026-10-03; do
		grep -q "shards/$f.db" "$WORK/v.out" || fail "verify did not name $f: $(cat "$WORK/v.out")"
	done
	grep -q "2026-10-03.db.*newer" "$WORK/v.out" || fail "newer format not said"
	grep -q "2026-10-02.db.*not a tarn" "$WORK/v.out" || fail "foreign file not said"
	# other days keep working: queries and ingest
	[ "$("$TARN" query --lake "$L" --format csv "SELECT count(*) FROM events WHERE event_date
		BETWEEN '2026-11-02' AND '2026-11-04'" | tail -1 | tr -d '\r')" = 3000 ] || fail "query of good days"
	echo '{"event_id":"late-1","timestamp":"2026-11-04T23:00:00Z"}' |
		"$TARN" ingest --lake "$L" - 2>/dev/null || fail "ingest of another day"
	[ "$sums" = "$(md5sum "$L"/shards/2026-10-0?.db "$L/shards/2026-11-01.db")" ] ||
		fail "a damaged or foreign file was changed"
}

t_concurrent_readers_and_writers() {
	local L=$WORK/cc pid rc=0 i errs=0 n
	"$TARN" produce -o "$WORK/cc.jsonl" --count 200000 --days 2 2>/dev/null
	echo '{"event_id":"first","timestamp":"2026-11-01T00:00:00Z"}' | "$TARN" ingest --lake "$L" - 2>/dev/null
	"$TARN" ingest --lake "$L" "$WORK/cc.jsonl" 2>"$WORK/w.err" &
	pid=$!
	sleep 0.3
	"$TARN" ingest --lake "$L" "$FIX/events.jsonl" 2>"$WORK/second.err" && fail "a second writer was let in"
	grep -q "another tarn process is writing" "$WORK/second.err" || fail "second writer: $(cat "$WORK/second.err")"
	for i in $(seq 20); do
		"$TARN" query --lake "$L" "SELECT count(*) FROM daily_active_users" >/dev/null 2>>"$WORK/r.err" || errs=$((errs + 1))
		for f in "$L"/shards/*.db; do
			# a shard the writer is creating has no tables until its
			# schema commits (tarn's readers see no events there yet)
			n=$(sqlite3 -cmd ".timeout 5000" "file:$f?mode=ro" \
				"SELECT count(*) FROM sqlite_schema WHERE name = 'blocks'" 2>>"$WORK/r.err") ||
				errs=$((errs + 1))
			[ "$n" = 1 ] || continue
			sqlite3 -cmd ".timeout 5000" "file:$f?mode=ro" "SELECT sum(n_events) FROM blocks" >/dev/null 2>>"$WORK/r.err" || errs=$((errs + 1))
		done
		kill -0 "$pid" 2>/dev/null || break
	done
	wait "$pid" || fail "writer failed: $(cat "$WORK/w.err")"
	[ $errs = 0 ] || fail "$errs reader errors: $(head -3 "$WORK/r.err")"
	n=$("$TARN" query --lake "$L" --format csv "SELECT count(*) FROM events" | tail -1 | tr -d '\r')
	[ "$n" = 200001 ] || fail "stored $n"
	"$TARN" verify --lake "$L" >/dev/null || fail "verify"
}

t_replay_checkpoint() {
	local L=$WORK/ck pid rc=0
	"$TARN" produce -o "$WORK/ck.jsonl" --count 3000 --start 2026-11-01 --days 2 2>/dev/null
	"$TARN" ingest --lake "$L" "$WORK/ck.jsonl" 2>/dev/null || fail "ingest"
	# the link is down: nothing acknowledged, nothing checkpointed
	"$TARN" replay --lake "$L" -b 127.0.0.1:1 -t x -X message.timeout.ms=1500 \
		--checkpoint edge 2>"$WORK/err" && fail "replay to a dead link exited 0"
	grep -q "3000 of 3000 messages" "$WORK/err" || fail "$(cat "$WORK/err")"
	start_broker --topic out --topic out2
	"$TARN" replay --lake "$L" -b "$BS" -t out --checkpoint edge 2>"$WORK/err" || fail "replay"
	grep -q "3000 acknowledged" "$WORK/err" || fail "$(cat "$WORK/err")"
	"$TARN" replay --lake "$L" -b "$BS" -t out --checkpoint edge 2>"$WORK/err" || fail "replay again"
	grep -q "^tarn replay: 0 events read" "$WORK/err" || fail "sent again: $(cat "$WORK/err")"
	"$TARN" produce -o "$WORK/ck2.jsonl" --count 500 --start 2026-11-03 --seed 5 --days 1 2>/dev/null
	"$TARN" ingest --lake "$L" "$WORK/ck2.jsonl" 2>/dev/null || fail "ingest more"
	"$TARN" replay --lake "$L" -b "$BS" -t out --checkpoint edge 2>"$WORK/err" || fail "replay new"
	grep -q "^tarn replay: 500 events read, 500 acknowledged" "$WORK/err" || fail "$(cat "$WORK/err")"
	# interrupted half way, then resumed
	"$TARN" replay --lake "$L" -b "$BS" -t out2 --checkpoint slow --rate 1000 2>/dev/null &
	pid=$!
	sleep 1.2
	kill -INT "$pid"
	wait "$pid" || rc=$?
	[ $rc = 1 ] || fail "interrupted replay exit $rc"
	"$TARN" replay --lake "$L" -b "$BS" -t out2 --checkpoint slow 2>/dev/null || fail "resume"
	[ "$(kcat -C -b "$BS" -t out -e -q | wc -l)" = 3500 ] || fail "topic out"
	[ "$(kcat -C -b "$BS" -t out2 -e -q | wc -l)" = 3500 ] || fail "topic out2"
	[ "$(kcat -C -b "$BS" -t out2 -e -q | sort | uniq -d | wc -l)" = 0 ] || fail "duplicates"
	stop_broker
}

t_hostile_inputs() {
	local L=$WORK/h got want
	python3 "$ROOT/tests/cli/hostile.py" "$WORK/h.jsonl" "$WORK/h.want" || fail "python3"
	"$TARN" ingest --lake "$L" "$WORK/h.jsonl" 2>"$WORK/err" || fail "ingest: $(cat "$WORK/err")"
	want=$(grep -c stored "$WORK/h.want")
	grep -q "18 read, $want stored, 0 duplicates absorbed, $((18 - want)) quarantined" "$WORK/err" ||
		fail "summary: $(cat "$WORK/err")"
	# each quarantined line has the expected reason, by line number
	got=$(sqlite3 "file:$L/quarantine.db?mode=ro" "SELECT kafka_offset || ' ' || reason FROM quarantine ORDER BY 1" | sort -n)
	want=$(awk '$1 != "stored" { print NR " " $1 }' "$WORK/h.want")
	[ "$got" = "$want" ] || fail "reasons differ: got [$got] want [$want]"
	# no file was named after event content: only valid date shards
	[ "$(ls "$L/shards" | grep -v -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}\.db(-wal|-shm)?$' | wc -l)" = 0 ] ||
		fail "unexpected files: $(ls "$L/shards")"
	[ "$(ls "$L" | grep -v -E '^(gold|lake|quarantine|ids)\.db(-wal|-shm)?$|^lake\.lock$|^reserve$|^shards$' | wc -l)" = 0 ] ||
		fail "unexpected files: $(ls "$L")"
	[ "$(sqlite3 "file:$L/quarantine.db?mode=ro" "SELECT length(payload) FROM quarantine WHERE reason='oversized'")" -gt 16000000 ] ||
		fail "the 16 MB line was not kept whole"
	"$TARN" verify --lake "$L" >/dev/null || fail "verify"
	[ -f "$L/shards/9999-12-31.db" ] && [ -f "$L/shards/1969-12-31.db" ] && [ -f "$L/shards/2016-12-31.db" ] ||
		fail "edge dates"
}

# Issue 10: the event id is the identity, lake-wide. kcat is the producer.
kafka_ingest() { # LAKE TOPIC GROUP
	timeout 120 "$TARN" ingest --lake "$1" -b "$BS" -t "$2" -G "$3" -e -X session.timeout.ms=6000 \
		-X heartbeat.interval.ms=1000 2>"$WORK/err" || fail "ingest: $(cat "$WORK/err")"
}

t_identity_headers_only_resent_later() {
	local L=$WORK/id1 i
	start_broker --topic hid
	# ids and names only in headers, no time in the payload: the event time
	# is the Kafka CreateTime the producer stamps
	for i in $(seq 1 40); do
		echo "{\"user_id\":\"user_$((i % 7))\",\"n\":$i}" |
			kcat -P -b "$BS" -t hid -H "event_id=hdr-$i" -H "event_name=view" || fail "kcat"
	done
	kafka_ingest "$L" hid g1
	grep -q "40 read, 40 stored, 0 duplicates" "$WORK/err" || fail "first: $(cat "$WORK/err")"
	sleep 1.2
	# 10 of them re-sent later (an outbox relay after a crash): a new CreateTime
	for i in $(seq 1 4 40); do
		echo "{\"user_id\":\"user_$((i % 7))\",\"n\":$i}" |
			kcat -P -b "$BS" -t hid -H "event_id=hdr-$i" -H "event_name=view" || fail "kcat"
	done
	# one re-sent with other bytes: a conflicting duplicate
	echo '{"user_id":"user_1","n":"changed"}' | kcat -P -b "$BS" -t hid -H "event_id=hdr-2" \
		-H "event_name=view"
	kafka_ingest "$L" hid g1
	grep -q "11 read, 0 stored, 10 duplicates absorbed, 1 quarantined (1 conflicting" "$WORK/err" ||
		fail "re-sent: $(cat "$WORK/err")"
	[ "$(tq "$L" "SELECT count(*) || ' ' || count(DISTINCT event_id) FROM events")" = "40 40" ] ||
		fail "events view: $(tq "$L" "SELECT count(*), count(DISTINCT event_id) FROM events")"
	[ "$(tq "$L" "SELECT sum(event_count) FROM events_per_name_daily")" = 40 ] || fail "gold counts twice"
	[ "$(shard_sum "$L" 'SELECT sum(n_events) FROM blocks')" = 40 ] || fail "blocks hold more than 40"
	# the first copy stays
	[ "$(tq "$L" "SELECT payload FROM events WHERE event_id = 'hdr-2'")" = '"{""user_id"":""user_2"",""n"":2}"' ] ||
		fail "first copy replaced: $(tq "$L" "SELECT payload FROM events WHERE event_id = 'hdr-2'")"
	"$TARN" replay --lake "$L" -o "$WORK/r.jsonl" 2>/dev/null || fail "replay"
	[ "$(wc -l <"$WORK/r.jsonl")" = 40 ] || fail "replay gives $(wc -l <"$WORK/r.jsonl")"
	"$TARN" verify --lake "$L" >/dev/null || fail "verify"
	stop_broker
}

t_identity_every_id_form_and_time_source() {
	local L=$WORK/id2 id
	start_broker --topic forms
	# ids in the payload: UUID, text, integer; no time field (CreateTime)
	for id in '"6f1c0e3a-8a8e-4c1e-9a51-0a6d6b0c00aa"' '"order-17"' '12345'; do
		echo "{\"event_id\":$id,\"event_type\":\"click\"}" | kcat -P -b "$BS" -t forms -p 0
	done
	# the same id and bytes with another time (a published_at header)
	echo '{"k":1}' | kcat -P -b "$BS" -t forms -p 1 -H event_id=pub-1 -H published_at=2026-11-20T10:00:00Z
	kafka_ingest "$L" forms g2
	grep -q "4 read, 4 stored" "$WORK/err" || fail "first: $(cat "$WORK/err")"
	sleep 1.2
	for id in '"6f1c0e3a-8a8e-4c1e-9a51-0a6d6b0c00aa"' '"order-17"' '12345'; do
		echo "{\"event_id\":$id,\"event_type\":\"click\"}" | kcat -P -b "$BS" -t forms -p 2
	done
	# two days later by its header, same bytes: the same event
	echo '{"k":1}' | kcat -P -b "$BS" -t forms -p 3 -H event_id=pub-1 -H published_at=2026-11-22T23:00:00Z
	# an integer id equals its decimal text
	echo '{"event_id":"12345","event_type":"click"}' | kcat -P -b "$BS" -t forms -p 3
	kafka_ingest "$L" forms g2
	grep -q "5 read, 0 stored, 4 duplicates absorbed, 1 quarantined (1 conflicting" "$WORK/err" ||
		fail "re-sent: $(cat "$WORK/err")"
	[ "$(tq "$L" "SELECT count(*) FROM events")" = 4 ] || fail "stored twice"
	[ "$(tq "$L" "SELECT count(*) FROM events WHERE event_date = '2026-11-22'")" = 0 ] ||
		fail "a shard holds the re-sent copy"
	"$TARN" verify --lake "$L" >/dev/null || fail "verify"
	stop_broker
}

t_identity_redelivery_a_million_events_later() {
	local L=$WORK/id3 X='{"event_id":"far-away-1","user_id":"user_9","event_type":"purchase","page":"/cart","source":"web"}'
	start_broker --topic far
	echo "$X" | kcat -P -b "$BS" -t far -p 0 || fail "kcat"
	kafka_ingest "$L" far g3
	# 1,000,000 other events reach the lake (from a file: the embedded
	# broker keeps ~100,000 messages a partition)
	"$TARN" produce -o "$WORK/million.jsonl" --count 1000000 --seed 5 2>/dev/null || fail "produce"
	"$TARN" ingest --lake "$L" "$WORK/million.jsonl" 2>"$WORK/err" || fail "file ingest: $(cat "$WORK/err")"
	rm -f "$WORK/million.jsonl"
	# the same event again, from another partition, with a later CreateTime
	sleep 1.1
	echo "$X" | kcat -P -b "$BS" -t far -p 3 || fail "kcat"
	kafka_ingest "$L" far g3
	grep -q "1 read, 0 stored, 1 duplicates absorbed" "$WORK/err" || fail "far re-delivery: $(cat "$WORK/err")"
	[ "$(tq "$L" "SELECT count(*) FROM events WHERE event_id = 'far-away-1'")" = 1 ] || fail "stored twice"
	[ "$(shard_sum "$L" 'SELECT sum(n_events) FROM blocks')" = 1000001 ] || fail "event count"
	# ids.db holds every id as sorted runs, read with the sqlite3 shell
	[ "$(sqlite3 "file:$L/ids.db?mode=ro" 'SELECT sum(n_ids) FROM runs')" = 1000001 ] ||
		fail "ids.db: $(sqlite3 "file:$L/ids.db?mode=ro" 'SELECT sum(n_ids) FROM runs')"
	stop_broker
}

t_crash_kill9_headers_only() {
	# the kill -9 loop over ids in headers and producer-stamped times:
	# re-sends carry later times and must still be absorbed
	HEADERS_ONLY=1 TARN="$TARN" bash "$ROOT/tests/torture/crash.sh" 20000 4 0 1000 |
		tee "$WORK/crash2.out"
	grep -q "lost 0 duplicated 0 verify clean" "$WORK/crash2.out" || fail "crash loop"
}

# libtarn_sqlite.so in the stock sqlite3 shell and Debian's python3: the
# same rows as tarn query's events view, pruning, read-only
t_sqlite_extension() {
	local L=$WORK/ext P=$WORK/ext-pruned sql a b before py
	[ -f "$EXT.so" ] || fail "no $EXT.so (make builds it)"
	"$TARN" produce -o "$WORK/ext.jsonl" --count 4000 --start 2026-11-20 --days 3 --seed 12 \
		2>/dev/null || fail "produce"
	"$TARN" ingest --lake "$L" "$WORK/ext.jsonl" "$FIX/events.jsonl" 2>/dev/null || fail "ingest"
	before=$(md5sum "$L"/*.db "$L"/shards/*.db)
	for sql in \
		"SELECT event_name, count(*) FROM %s WHERE event_date = '2026-11-21' GROUP BY 1 ORDER BY 1" \
		"SELECT event_id, event_time, event_date, event_name, payload, quote(key), topic, partition, \"offset\" FROM %s ORDER BY event_time, event_id" \
		"SELECT count(*), sum(length(payload)) FROM %s WHERE event_time >= 1795219200000000 AND event_time < 1795222800000000" \
		"SELECT event_date, payload FROM %s WHERE event_id = '6f1c0e3a-8a8e-4c1e-9a51-0a6d6b0c0002'"; do
		# shellcheck disable=SC2059
		a=$(sqlite3 -csv -cmd ".load $EXT" :memory: "$(printf "$sql" "tarn_events('$L')")" | tr -d '\r') ||
			fail "sqlite3 shell: $sql"
		# shellcheck disable=SC2059
		b=$(tq "$L" "$(printf "$sql" events)") || fail "tarn query: $sql"
		[ -n "$a" ] && [ "$a" = "$b" ] || fail "shell and tarn query differ: $sql"
	done
	[ "$(sqlite3 -cmd ".load $EXT" :memory: "CREATE VIRTUAL TABLE ev USING tarn('$L');
		SELECT count(*) FROM ev WHERE event_date >= '2026-11-21'")" = \
		"$(tq "$L" "SELECT count(*) FROM events WHERE event_date >= '2026-11-21'")" ] ||
		fail "CREATE VIRTUAL TABLE ... USING tarn"
	# python3's sqlite3 module (Debian's: built with extension loading)
	py=/usr/bin/python3
	"$py" - "$EXT" "$L" "$TARN" <<'PY' || fail "python3 sqlite3 module"
import json, sqlite3, subprocess, sys
ext, lake, tarn = sys.argv[1:4]
db = sqlite3.connect(":memory:")
db.enable_load_extension(True)
db.load_extension(ext)
db.enable_load_extension(False)
cols = 'event_id, event_time, event_date, event_name, payload, hex(key) AS key, topic, partition, "offset"'
got = [dict(zip([d[0] for d in c.description], r)) for c in
       [db.execute(f"SELECT {cols} FROM tarn_events(?) WHERE event_date BETWEEN '2026-11-20' AND '2026-11-21' ORDER BY event_time, event_id", (lake,))]
       for r in c.fetchall()]
out = subprocess.run([tarn, "query", "--lake", lake, "--format", "json",
                      f"SELECT {cols} FROM events WHERE event_date BETWEEN '2026-11-20' AND '2026-11-21' ORDER BY event_time, event_id"],
                     check=True, capture_output=True).stdout
want = json.loads(out)
assert len(got) > 2000 and got == want, (len(got), len(want))
for bad, msg in (("SELECT * FROM tarn_events", "give the lake folder"),
                 ("SELECT * FROM tarn_events('/nonexistent')", "no lake here")):
    try:
        db.execute(bad).fetchall()
        raise SystemExit("no error for " + bad)
    except sqlite3.Error as e:
        assert msg in str(e), str(e)
PY
	[ "$before" = "$(md5sum "$L"/*.db "$L"/shards/*.db)" ] || fail "the extension changed the lake"
	# pruning: a damaged shard of another day is never opened
	cp -r "$L" "$P"
	head -c 5000 /dev/urandom >"$P/shards/2026-11-22.db"
	rm -f "$P"/shards/2026-11-22.db-*
	[ "$(sqlite3 -cmd ".load $EXT" :memory: "SELECT count(*) FROM tarn_events('$P') WHERE event_date = '2026-11-20'")" = \
		"$(tq "$L" "SELECT count(*) FROM events WHERE event_date = '2026-11-20'")" ] ||
		fail "a one-day query read another day's shard"
	sqlite3 -cmd ".load $EXT" :memory: "SELECT count(*) FROM tarn_events('$P')" >/dev/null 2>&1 &&
		fail "the damaged shard went unnoticed in an all-days query"
	return 0
}

# start tarn serve on a free port; sets SERVE_PID and URL
start_serve() {
	"$TARN" serve --listen 127.0.0.1:0 "$@" >"$WORK/serve.out" 2>"$WORK/serve.err" &
	SERVE_PID=$!
	echo "$SERVE_PID" >>"$WORK/serve.pids"
	for _ in $(seq 50); do
		URL=$(head -1 "$WORK/serve.out" 2>/dev/null)
		[ -n "$URL" ] && return 0
		sleep 0.1
	done
	fail "serve did not print its address: $(cat "$WORK/serve.err")"
}

# wait until the gold tables count $2 events
wait_gold_events() {
	local n
	for _ in $(seq 300); do
		n=$(tq "$1" "SELECT sum(event_count) FROM events_per_name_daily" 2>/dev/null)
		[ "$n" = "$2" ] && return 0
		sleep 0.1
	done
	fail "gold never reached $2 events (at ${n:-none})"
}

chrome() {
	local ud
	ud=$(mktemp -d "$WORK/chrome-XXXXXX")
	timeout 90 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$ud" --hide-scrollbars "$@" 2>>"$WORK/chrome.err"
}

# tarn serve beside a running tarn ingest, seen by headless Chromium: the
# figures equal tarn gold's, they move when events arrive, the page
# refreshes itself; /api and /metrics; bad requests get 4xx
t_serve_dashboard() {
	local L=$WORK/srv ipid rc=0 a b
	command -v chromium >/dev/null || fail "no chromium (scripts/deps.sh installs it)"
	"$TARN" produce -o "$WORK/srv.jsonl" --count 60000 --start 2026-11-20 --days 3 --seed 21 \
		2>/dev/null || fail "produce"
	split -l 20000 -d "$WORK/srv.jsonl" "$WORK/srv.part"
	# one ingest process (the lake's writer throughout) reads three FIFOs
	# in turn and commits at the end of each; between them it waits for
	# the next, while the page is read
	mkfifo "$WORK/srv.f0" "$WORK/srv.f1" "$WORK/srv.f2"
	"$TARN" ingest --lake "$L" "$WORK/srv.f0" "$WORK/srv.f1" "$WORK/srv.f2" \
		2>"$WORK/srv-ingest.err" &
	ipid=$!
	echo "$ipid" >>"$WORK/serve.pids"
	cat "$WORK/srv.part00" >"$WORK/srv.f0"
	wait_gold_events "$L" 20000
	start_serve --lake "$L" --refresh 1 --max-seconds 600
	"$TARN" gold --lake "$L" --format json >"$WORK/gold1.json" || fail "gold"
	chrome --dump-dom "$URL" >"$WORK/dom1.html" || fail "chromium --dump-dom"
	a=$(python3 "$ROOT/tests/cli/dashboard.py" page "$WORK/dom1.html" "$WORK/gold1.json" 20000) ||
		fail "page 1 differs from tarn gold"
	python3 "$ROOT/tests/cli/dashboard.py" api "$URL" "$WORK/gold1.json" 20000 || fail "api 1"
	# more events arrive: the same page shows the new figures
	cat "$WORK/srv.part01" >"$WORK/srv.f1"
	wait_gold_events "$L" 40000
	"$TARN" gold --lake "$L" --format json >"$WORK/gold2.json" || fail "gold"
	chrome --dump-dom "$URL" >"$WORK/dom2.html" || fail "chromium --dump-dom"
	b=$(python3 "$ROOT/tests/cli/dashboard.py" page "$WORK/dom2.html" "$WORK/gold2.json" 40000) ||
		fail "page 2 differs from tarn gold"
	[ "$a" != "$b" ] || fail "the figures did not change: $a"
	python3 "$ROOT/tests/cli/dashboard.py" api "$URL" "$WORK/gold2.json" 40000 || fail "api 2"
	# the page refreshes itself (every second here) without a reload
	chrome --dump-dom --virtual-time-budget=4000 "$URL" >"$WORK/dom3.html" || fail "chromium"
	grep -q 'data-refreshes="[1-9]' "$WORK/dom3.html" || fail "the page did not refresh itself"
	mkdir -p "$ROOT/build"
	chrome --screenshot="$ROOT/build/dashboard.png" --window-size=1400,1100 "$URL" >/dev/null ||
		fail "chromium --screenshot"
	[ -s "$ROOT/build/dashboard.png" ] || fail "no screenshot"
	python3 "$ROOT/tests/cli/dashboard.py" hostile "$URL" || fail "hostile requests"
	kill -0 "$ipid" 2>/dev/null || fail "ingest was not running beside serve"
	cat "$WORK/srv.part02" >"$WORK/srv.f2"
	wait "$ipid" || fail "ingest: $(cat "$WORK/srv-ingest.err")"
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID" || rc=$?
	[ $rc = 0 ] || fail "serve exit status $rc after SIGTERM: $(cat "$WORK/serve.err")"
	grep -q " 0 5xx" "$WORK/serve.err" || fail "5xx answers: $(cat "$WORK/serve.err")"
	# --max-seconds: it stops by itself
	timeout 20 "$TARN" serve --lake "$L" --listen 127.0.0.1:0 --max-seconds 1 >/dev/null 2>&1 ||
		fail "serve --max-seconds 1 did not stop by itself with status 0"
	"$TARN" serve --lake "$L" --listen nowhere:80 >/dev/null 2>&1
	[ $? = 2 ] || fail "a bad --listen is a usage error"
	"$TARN" verify --lake "$L" >/dev/null || fail "verify"
}

# GeoJSON-like earthquake reports, not the producer's shape: id at the top
# level, epoch ms under properties.time, decimal magnitudes, 13 networks
# and some events without one (seed first_id count days)
quake_feed() {
	python3 - "$@" <<'PY'
import json, random, sys
seed, first, count, days = map(int, sys.argv[1:])
random.seed(seed)
nets = ["n%02d" % i for i in range(13)] + [None]
for i in range(first, first + count):
    p = {"time": 1763600000000 + random.randint(0, days * 86400 * 1000 - 1),
         "mag": round(random.uniform(-0.9, 6.9), random.choice([1, 2, 3])),
         "type": random.choice(["earthquake", "quarry blast", "explosion"])}
    net = random.choice(nets)
    if net:
        p["net"] = net
    print(json.dumps({"type": "Feature", "id": "us%06d" % i, "properties": p}))
PY
}

# tarn serve draws what the catalog declares, over events of another shape:
# a panel per measure whose lines, groups and values equal tarn query of the
# table (seen by headless Chromium, and at /api/aggregates/NAME); /metrics
# has each one's rows and last update; unknown names get 404 JSON; a
# dropped aggregate leaves the page
t_serve_aggregates() {
	local L=$WORK/sag ING="--id-field id --time-field properties.time --name-field properties.type"
	local t0 t1 n v p code out
	command -v chromium >/dev/null || fail "no chromium (scripts/deps.sh installs it)"
	quake_feed 5 0 4000 7 >"$WORK/sag-a.jsonl"
	{ head -200 "$WORK/sag-a.jsonl"; quake_feed 6 4000 1500 7; } >"$WORK/sag-b.jsonl"
	"$TARN" ingest --lake "$L" $ING "$WORK/sag-a.jsonl" 2>/dev/null || fail "ingest"
	"$TARN" aggregate create --lake "$L" quakes_daily --every day \
		--by net="payload->>'\$.properties.net'" --measure n='count(*)' \
		--measure mag_sum="sum(payload->>'\$.properties.mag')" \
		--measure mag_max="max(payload->>'\$.properties.mag')" || fail "create quakes_daily"
	"$TARN" aggregate create --lake "$L" quakes_hourly --every hour --by kind=event_name \
		--by net="payload->>'\$.properties.net'" --measure n='count(*)' \
		--measure mag_avg="avg(payload->>'\$.properties.mag')" || fail "create quakes_hourly"
	"$TARN" aggregate create --lake "$L" huge --every minute \
		--where "payload->>'\$.properties.mag' > 100" --measure n='count(*)' ||
		fail "create huge"
	# late events for every day and re-deliveries: they change quakes_*, not huge
	t0=$(date +%s.%N)
	"$TARN" ingest --lake "$L" $ING "$WORK/sag-b.jsonl" 2>/dev/null || fail "second ingest"
	t1=$(date +%s.%N)
	start_serve --lake "$L" --refresh 60 --max-seconds 300
	chrome --dump-dom "$URL" >"$WORK/sag-dom1.html" || fail "chromium --dump-dom"
	out=$(python3 "$ROOT/tests/cli/dashboard.py" aggregates "$TARN" "$L" "$URL" \
		"$WORK/sag-dom1.html") || fail "the page or /api/aggregates differs from tarn query"
	[ "$out" = "aggregates=3 panels=6 points=596" ] || fail "checked: $out"
	mkdir -p "$ROOT/build"
	chrome --screenshot="$ROOT/build/dashboard-aggregates.png" --window-size=1400,2000 "$URL" \
		>/dev/null || fail "chromium --screenshot"
	curl -s -m 30 "${URL}metrics" >"$WORK/sag-metrics" || fail "curl /metrics"
	for p in quakes_daily quakes_hourly huge; do
		n=$(tq "$L" "SELECT count(*) FROM $p")
		grep -qx "tarn_aggregate_rows{aggregate=\"$p\"} $n" "$WORK/sag-metrics" ||
			fail "no rows metric $n for $p: $(grep aggregate "$WORK/sag-metrics")"
	done
	[ "$(tq "$L" "SELECT count(*) FROM huge")" = 0 ] || fail "huge has rows"
	for p in quakes_daily:changed quakes_hourly:changed huge:untouched; do
		v=$(sed -n "s/^tarn_aggregate_last_update_timestamp_seconds{aggregate=\"${p%:*}\"} //p" \
			"$WORK/sag-metrics")
		python3 -c '
import sys
v, t0, t1, what = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
# changed by the second ingest: between its start and end; untouched: its
# creation, before it (whole seconds)
assert (t0 <= v <= t1) if what == "changed" else (t0 - 120 < v <= t0), (v, t0, t1, what)
' "${v:-x}" "$t0" "$t1" "${p#*:}" || fail "last update of ${p%:*}: '$v' ($t0..$t1)"
	done
	for p in nope QUAKES_DAILY quakes_daily%22 quakes_daily/n ..%2f..%2fgold.db "" \
		"quakes_daily;DROP%20TABLE%20x" "$(head -c 70 /dev/zero | tr '\0' a)"; do
		code=$(curl -s -m 30 -o "$WORK/sag-404" -w '%{http_code}' "${URL}api/aggregates/$p")
		[ "$code" = 404 ] || fail "/api/aggregates/$p: $code"
		python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); assert list(d) == ["error"], d' \
			"$WORK/sag-404" || fail "/api/aggregates/$p: not a JSON error: $(cat "$WORK/sag-404")"
		grep -q -i -F -e "$WORK" -e .db -e sqlite -e "no such table" "$WORK/sag-404" &&
			fail "/api/aggregates/$p tells of the lake's files: $(cat "$WORK/sag-404")"
	done
	# the page follows the catalog: a dropped aggregate leaves it
	"$TARN" aggregate drop --lake "$L" quakes_hourly || fail "drop"
	code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' "${URL}api/aggregates/quakes_hourly")
	[ "$code" = 404 ] || fail "a dropped aggregate answers $code"
	chrome --dump-dom "$URL" >"$WORK/sag-dom2.html" || fail "chromium --dump-dom"
	grep -q 'data-aggregate="quakes_hourly"' "$WORK/sag-dom2.html" && fail "dropped, still drawn"
	out=$(python3 "$ROOT/tests/cli/dashboard.py" aggregates "$TARN" "$L" "$URL" \
		"$WORK/sag-dom2.html") || fail "after drop: the page differs from tarn query"
	[ "${out%% *}" = "aggregates=2" ] || fail "after drop: $out"
	grep -q 'aria-label="events per day"' "$WORK/sag-dom2.html" || fail "the built-in panels are gone"
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID" || fail "serve exit status after SIGTERM: $(cat "$WORK/serve.err")"
	grep -q " 0 5xx" "$WORK/serve.err" || fail "5xx answers: $(cat "$WORK/serve.err")"
}

# every path of the dashboard at once (the locked cases wait out the busy
# timeout, 5 s, in parallel); then each answer: an error status with a
# short reason, or a valid page, and never a path of the lake's files or
# SQLite's words about them. $1 names the case in messages; sets N_ERR to
# the number of 4xx/5xx answers
serve_answers_clean() {
	local i=0 p code body pids=
	for p in $SERVE_PATHS; do
		curl -s -m 60 -o "$WORK/dmg.body.$i" -w '%{http_code}' "${URL%/}$p" \
			>"$WORK/dmg.code.$i" &
		pids="$pids $!"
		i=$((i + 1))
	done
	wait $pids # not serve, also a child of this shell
	i=0
	N_ERR=0
	for p in $SERVE_PATHS; do
		code=$(cat "$WORK/dmg.code.$i")
		body=$WORK/dmg.body.$i
		i=$((i + 1))
		case $code in
		4?? | 5??)
			N_ERR=$((N_ERR + 1))
			grep -q -E 'lake (unreadable|busy|not found)|no such page' "$body" ||
				fail "$1 $p: $code without a short reason: $(head -c 300 "$body")"
			;;
		200)
			case $p in
			/api/*) python3 -m json.tool "$body" >/dev/null ||
				fail "$1 $p: 200 but not JSON" ;;
			/metrics) grep -q '^tarn_lake_events ' "$body" || fail "$1 $p: 200 but no metrics" ;;
			*) grep -q '</html>\|</section>\|class="err"' "$body" ||
				fail "$1 $p: 200 but no page" ;;
			esac
			;;
		*) fail "$1 $p: status '$code'" ;;
		esac
		grep -q -i -F -e "$WORK" -e /shards/ -e .db -e malformed -e "not a database" \
			-e "no such table" -e "is locked" -e "disk image" -e sqlite -e "no lake here" \
			"$body" && fail "$1 $p: the answer tells of the lake's files: $(head -c 300 "$body")"
	done
	return 0
}

# the detail the clients did not get is in the server's log (stderr), one
# line with the time, the request, the answer ($2: "STATUS REASON: DETAIL", a
# regular expression)
serve_logged() {
	grep -q -E "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z tarn serve: GET /[^ ]*: $2" \
		"$WORK/serve.err" || fail "$1: no log line with '$2': $(tail -3 "$WORK/serve.err")"
	: >"$WORK/serve.err"
}

# a damaged lake: every answer clean, more than $2 of them errors, and the
# detail $3 in the log
serve_fails_cleanly() {
	serve_answers_clean "$1"
	[ "$N_ERR" -gt "$2" ] || fail "$1: only $N_ERR error answers"
	serve_logged "$1" "$3"
}

# tarn serve over a damaged lake: a shard with garbage in its middle, with a
# damaged header, cut short, removed, unreadable, gold.db damaged, a file
# locked by another process, the whole lake gone
t_serve_damaged_lake() {
	local L=$WORK/dmg S G day holder
	"$TARN" produce -o "$WORK/dmg.jsonl" --count 400 --start 2026-11-20 --days 2 --seed 8 \
		2>/dev/null || fail "produce"
	"$TARN" ingest --lake "$L" "$WORK/dmg.jsonl" 2>/dev/null || fail "ingest"
	day=$(ls "$L/shards" | grep -E '^[0-9-]+\.db$' | sort | tail -1)
	S=$L/shards/$day
	G=$L/gold.db
	cp "$S" "$WORK/dmg.shard" || fail "copy"
	start_serve --lake "$L" --threads 24 --max-seconds 300
	SERVE_PATHS="/ /panels /metrics /api/ /nowhere $(curl -s -m 10 "${URL}api/" |
		python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["tables"]))')"
	[ "$(echo $SERVE_PATHS | wc -w)" -gt 10 ] || fail "no /api/ list: $SERVE_PATHS"
	serve_answers_clean healthy
	[ "$N_ERR" = 1 ] || fail "healthy lake: $N_ERR error answers (only /nowhere should be)"
	# 16 KiB of 0xff from the second page on: b-tree pages the reads need
	head -c 16384 /dev/zero | tr '\0' '\377' | dd of="$S" bs=1 seek=4096 conv=notrunc 2>/dev/null
	serve_fails_cleanly "garbage in a shard" 3 \
		"500 lake unreadable: .*/shards/$day: .*database disk image is malformed"
	cp "$WORK/dmg.shard" "$S"
	head -c 100 /dev/zero | dd of="$S" bs=1 conv=notrunc 2>/dev/null
	serve_fails_cleanly "shard header" 3 \
		"500 lake unreadable: .*/shards/$day: .*file is not a database"
	cp "$WORK/dmg.shard" "$S"
	truncate -s 10000 "$S"
	serve_fails_cleanly "shard cut short" 3 "500 lake unreadable: .*/shards/$day: "
	rm -f "$S" "$S-wal" "$S-shm"
	serve_answers_clean "shard removed" # gold still has the day: pages or errors
	cp "$WORK/dmg.shard" "$S"
	if [ "$(id -u)" != 0 ]; then # root reads a file whatever its mode
		chmod 000 "$S"
		serve_fails_cleanly "shard mode 000" 3 "500 lake unreadable: .*/shards/$day"
		chmod 600 "$S"
	fi
	cp "$G" "$WORK/dmg.gold"
	head -c 100 /dev/zero | dd of="$G" bs=1 conv=notrunc 2>/dev/null
	serve_fails_cleanly "gold.db header" 10 \
		"500 lake unreadable: .*gold.db: .*file is not a database"
	cp "$WORK/dmg.gold" "$G"
	serve_answers_clean "repaired"
	[ "$N_ERR" = 1 ] || fail "repaired lake: $N_ERR error answers"
	# another process holds gold.db, then the shard, exclusively (WAL
	# readers pass an ordinary EXCLUSIVE transaction; locking_mode does not)
	for f in "$G" "$S"; do
		sqlite3 "$f" "PRAGMA locking_mode=EXCLUSIVE" "BEGIN EXCLUSIVE" \
			"SELECT count(*) FROM sqlite_master" ".shell sleep 60" >/dev/null &
		holder=$!
		echo "$holder" >>"$WORK/serve.pids"
		sleep 0.5
		serve_fails_cleanly "${f##*/} locked" 3 "503 lake busy: .*database is locked"
		kill "$holder"
		wait "$holder" 2>/dev/null
	done
	mv "$L" "$L.gone"
	serve_fails_cleanly "lake gone" 10 "503 lake not found: .*no lake here"
	mv "$L.gone" "$L"
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID" || fail "serve exit status $?"
}

# progress on stderr only on a terminal unless forced; summaries as JSON
t_progress_and_json() {
	local L=$WORK/pj
	"$TARN" produce -o "$WORK/pj.jsonl" --count 300000 --days 2 --seed 4 2>/dev/null || fail "produce"
	"$TARN" ingest --lake "$L" "$WORK/pj.jsonl" --format json >"$WORK/pj.json" 2>"$WORK/pj.err" ||
		fail "ingest"
	[ ! -s "$WORK/pj.err" ] || fail "stderr is not a terminal, yet: $(cat "$WORK/pj.err")"
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['stored']==300000 and j['read']==300000 and j['ok'] is True and j['bytes']>0, j" \
		"$WORK/pj.json" || fail "ingest JSON summary: $(cat "$WORK/pj.json")"
	# forced: one line a second with events, events/s, bytes and an ETA
	"$TARN" replay --lake "$L" -o /dev/null --rate 150000 --progress --format json \
		>"$WORK/pj.json" 2>"$WORK/pj.err" || fail "replay"
	grep -Eq '^tarn replay: [0-9]+ events, [0-9]+ events/s, [0-9.]+ [kMG]?B$' "$WORK/pj.err" ||
		fail "no progress with --progress: $(cat "$WORK/pj.err")"
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['events']==300000 and j['ok'] is True, j" \
		"$WORK/pj.json" || fail "replay JSON summary"
	rm -rf "$WORK/pj2"
	"$TARN" ingest --lake "$WORK/pj2" "$WORK/pj.jsonl" --progress 2>"$WORK/pj.err" >/dev/null || fail "ingest 2"
	grep -q "ETA" "$WORK/pj.err" || [ "$(grep -c 'events/s' "$WORK/pj.err")" -le 1 ] ||
		fail "file ingest progress without an ETA: $(cat "$WORK/pj.err")"
	# verify and gold --rebuild report progress over the shards too
	"$TARN" verify --lake "$L" >/dev/null 2>"$WORK/pv.err" || fail "verify"
	[ ! -s "$WORK/pv.err" ] || fail "verify progress without a terminal: $(cat "$WORK/pv.err")"
	"$TARN" verify --lake "$L" --progress >/dev/null 2>"$WORK/pv.err" || fail "verify --progress"
	grep -Eq '^tarn verify: [0-9]+ events, [0-9]+ events/s, [0-9.]+ [kMG]?B' "$WORK/pv.err" ||
		fail "no verify progress: $(cat "$WORK/pv.err")"
	"$TARN" gold --lake "$L" --rebuild --progress >/dev/null 2>"$WORK/pv.err" || fail "gold --rebuild"
	grep -Eq '^tarn gold: [0-9]+ events, [0-9]+ events/s' "$WORK/pv.err" ||
		fail "no rebuild progress: $(cat "$WORK/pv.err")"
	"$TARN" gold --lake "$L" --rebuild >/dev/null 2>"$WORK/pv.err" || fail "gold --rebuild"
	grep -q "events/s" "$WORK/pv.err" && fail "rebuild progress without a terminal"
	"$TARN" verify --lake "$L" --format json >"$WORK/pj.json" || fail "verify"
	python3 -c "import json,sys; assert json.load(open(sys.argv[1]))=={'ok':True,'problems':[],'not_recomputed':[]}" "$WORK/pj.json" ||
		fail "verify JSON"
	return 0
}

# on a terminal (script(1) gives it one): progress by default, silenced by
# --no-progress. A root without /dev/pts (a chroot, a minimal container) has
# no terminal to give: skipped there.
t_progress_on_tty() {
	local L=$WORK/pj
	script -qec true /dev/null >"$WORK/tty.out" 2>&1 ||
		skip "no pseudo-terminal here ($(head -1 "$WORK/tty.out"))"
	if [ ! -d "$L/shards" ]; then # progress_and_json did not run first
		"$TARN" produce -o "$WORK/pj.jsonl" --count 300000 --days 2 --seed 4 2>/dev/null ||
			fail "produce"
		"$TARN" ingest --lake "$L" "$WORK/pj.jsonl" 2>/dev/null || fail "ingest"
	fi
	script -qec "'$TARN' replay --lake '$L' -o /dev/null --rate 150000" /dev/null >"$WORK/tty.out" ||
		fail "replay on a tty"
	grep -q "events/s" "$WORK/tty.out" || fail "no progress on a terminal"
	script -qec "'$TARN' replay --lake '$L' -o /dev/null --rate 150000 --no-progress" /dev/null >"$WORK/tty.out" ||
		fail "replay on a tty"
	grep -q "events/s" "$WORK/tty.out" && fail "progress despite --no-progress"
	return 0
}

# the per-minute tables (the speed layer) equal a recomputation from the
# events view, by SQL; --minute-days keeps them for the last N dates only
t_minute_tables() {
	local L=$WORK/pm M="strftime('%Y-%m-%dT%H:%M:00Z', event_time / 1000000, 'unixepoch')" pair a b yesterday
	"$TARN" produce -o "$WORK/pm.jsonl" --count 20000 --start 2026-11-20 --days 2 --seed 8 \
		2>/dev/null || fail "produce"
	# before 1970: the minute of a negative time
	echo '{"event_id":"old-1","event_type":"login","source":"web","user_id":"u","timestamp":"1969-12-31T23:59:30.5Z"}' \
		>>"$WORK/pm.jsonl"
	"$TARN" ingest --lake "$L" "$WORK/pm.jsonl" 2>/dev/null || fail "ingest"
	for pair in \
		"SELECT * FROM events_per_minute|SELECT event_date, $M, json_extract(payload, '\$.event_type'), count(*) FROM events WHERE json_extract(payload, '\$.event_type') IS NOT NULL GROUP BY 1, 2, 3" \
		"SELECT * FROM logins_per_source|SELECT event_date, $M, json_extract(payload, '\$.source'), count(*) FROM events WHERE json_extract(payload, '\$.event_type') = 'login' AND json_extract(payload, '\$.source') IS NOT NULL GROUP BY 1, 2, 3" \
		"SELECT * FROM purchases_per_minute|SELECT event_date, $M, count(*) FROM events WHERE json_extract(payload, '\$.event_type') = 'purchase' GROUP BY 1, 2"; do
		a=$(tq "$L" "SELECT * FROM (${pair%%|*}) ORDER BY 1, 2, 3")
		b=$(tq "$L" "SELECT * FROM (${pair##*|}) ORDER BY 1, 2, 3")
		[ -n "$a" ] && [ "$a" = "$b" ] || fail "differs from the events: ${pair%%|*}"
	done
	[ "$(tq "$L" "SELECT window_start FROM logins_per_source WHERE event_date = '1969-12-31'")" = \
		"1969-12-31T23:59:00Z" ] || fail "minute before 1970"
	"$TARN" verify --lake "$L" >/dev/null || fail "verify"
	# retention of the per-minute rows: the last 2 dates (today, yesterday)
	"$TARN" produce -o "$WORK/pm2.jsonl" --count 5000 --days 4 --seed 9 2>/dev/null || fail "produce"
	"$TARN" ingest --lake "$WORK/pm2" --minute-days 2 "$WORK/pm2.jsonl" 2>/dev/null || fail "ingest"
	yesterday=$(date -u -d yesterday +%F)
	[ "$(tq "$WORK/pm2" "SELECT min(event_date) FROM events_per_minute")" = "$yesterday" ] ||
		fail "per-minute rows before $yesterday kept"
	[ "$(tq "$WORK/pm2" "SELECT count(DISTINCT event_date) FROM events_per_name_daily")" = 4 ] ||
		fail "daily gold lost days"
	"$TARN" verify --lake "$WORK/pm2" >/dev/null || fail "verify with a horizon"
	"$TARN" gold --lake "$WORK/pm2" --rebuild >/dev/null 2>&1 || fail "rebuild"
	[ "$(tq "$WORK/pm2" "SELECT min(event_date) FROM events_per_minute")" = "$yesterday" ] ||
		fail "rebuild brought old per-minute rows back"
	"$TARN" verify --lake "$WORK/pm2" >/dev/null || fail "verify after rebuild"
}

# retention: whole shard files, oldest first; gold stays; an event older
# than the horizon is quarantined as expired; a running writer keeps prune out
t_prune_retention() {
	local L=$WORK/pr keep newest rc=0 ipid n rpid
	"$TARN" produce -o "$WORK/pr.jsonl" --count 12000 --days 6 --seed 31 2>/dev/null || fail "produce"
	"$TARN" ingest --lake "$L" "$WORK/pr.jsonl" 2>/dev/null || fail "ingest"
	[ "$(ls "$L/shards" | grep -c '\.db$')" = 6 ] || fail "expected 6 shards"
	keep=$(date -u -d '2 days ago' +%F)
	# a reader (the sqlite3 shell) inside a read transaction on a shard that
	# prune deletes keeps reading it
	(echo "BEGIN; SELECT sum(n_events) FROM blocks;"; sleep 2
	 echo "SELECT sum(n_events) FROM blocks; COMMIT;") |
		sqlite3 "$L/shards/$(ls "$L/shards" | grep '\.db$' | head -1)" >"$WORK/reader.out" 2>&1 &
	rpid=$!
	sleep 0.5
	"$TARN" prune --lake "$L" --keep-days 3 --format json >"$WORK/pr.json" || fail "prune"
	wait "$rpid" || fail "the reader failed: $(cat "$WORK/reader.out")"
	[ "$(sort -u "$WORK/reader.out")" = 2000 ] || fail "the reader saw: $(cat "$WORK/reader.out")"
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['shards']==4 and j['events']==8000 and j['horizon']==sys.argv[2], j" \
		"$WORK/pr.json" "$keep" || fail "prune summary: $(cat "$WORK/pr.json")"
	[ "$(ls "$L/shards" | grep '\.db$' | head -1)" = "$keep.db" ] || fail "oldest kept: $(ls "$L/shards")"
	[ "$(tq "$L" "SELECT count(DISTINCT event_date) FROM events_per_name_daily")" = 6 ] ||
		fail "gold rows of pruned days lost"
	"$TARN" verify --lake "$L" >"$WORK/out" || fail "verify after prune"
	# it names the pruned days whose gold it kept and could not recompute
	local gone
	gone=$(for d in 6 5 4 3; do date -u -d "$d days ago" +%F; done)
	grep -qx "not recomputed: gold kept for 4 days without a shard (pruned): $(echo $gone | sed 's/ /, /g')" \
		"$WORK/out" || fail "verify after prune: $(cat "$WORK/out")"
	"$TARN" verify --lake "$L" --format json | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["ok"] and j["not_recomputed"] == sys.argv[1:], j' $gone ||
		fail "verify --format json after prune"
	# the same file again: old dates expire (kept, with a reason), the rest are duplicates
	"$TARN" ingest --lake "$L" "$WORK/pr.jsonl" 2>"$WORK/err" || fail "re-ingest"
	grep -q "12000 read, 0 stored, 4000 duplicates absorbed, 8000 quarantined" "$WORK/err" ||
		fail "re-ingest: $(cat "$WORK/err")"
	[ "$(sqlite3 "file:$L/quarantine.db?mode=ro" "SELECT count(*) FROM quarantine WHERE reason='expired'")" = 8000 ] ||
		fail "expired not quarantined"
	# --max-bytes: the oldest go until the rest fit
	newest=$(ls "$L/shards" | grep '\.db$' | tail -1)
	# (tarn counts a shard file with its -wal)
	"$TARN" prune --lake "$L" --max-bytes "$(( $(stat -c %s "$L/shards/$newest") +
		$(stat -c %s "$L/shards/$newest-wal" 2>/dev/null || echo 0) + 1 ))" 2>/dev/null ||
		fail "prune --max-bytes"
	[ "$(ls "$L/shards" | grep '\.db$')" = "$newest" ] || fail "max-bytes kept: $(ls "$L/shards")"
	# quarantine rows have their own horizon
	sqlite3 "$L/quarantine.db" "UPDATE quarantine SET ingest_time = ingest_time - 5 * 86400000000 WHERE rowid % 2 = 0"
	n=$(sqlite3 "file:$L/quarantine.db?mode=ro" "SELECT count(*) FROM quarantine WHERE rowid % 2 = 1")
	"$TARN" prune --lake "$L" --quarantine-days 3 2>/dev/null || fail "prune --quarantine-days"
	[ "$(sqlite3 "file:$L/quarantine.db?mode=ro" "SELECT count(*) FROM quarantine")" = "$n" ] ||
		fail "quarantine rows older than 3 days not deleted"
	"$TARN" verify --lake "$L" >/dev/null || fail "verify"
	# a running writer: prune refuses, nothing deleted; ingest --keep-days prunes as it goes
	start_broker --topic pr
	"$TARN" ingest --lake "$L" -b "$BS" -t pr -G prg -X session.timeout.ms=6000 2>/dev/null &
	ipid=$!
	echo "$ipid" >>"$WORK/serve.pids"
	sleep 1
	"$TARN" prune --lake "$L" --keep-days 1 2>"$WORK/err" || rc=$?
	kill -TERM "$ipid"
	wait "$ipid"
	stop_broker
	[ $rc = 1 ] && grep -q "another tarn process is writing" "$WORK/err" ||
		fail "prune beside a writer: exit $rc: $(cat "$WORK/err")"
	[ "$(ls "$L/shards" | grep '\.db$')" = "$newest" ] || fail "prune deleted beside a writer"
	"$TARN" ingest --lake "$WORK/pr2" --keep-days 2 "$WORK/pr.jsonl" 2>/dev/null || fail "ingest --keep-days"
	[ "$(ls "$WORK/pr2/shards" | grep '\.db$' | head -1)" = "$(date -u -d yesterday +%F).db" ] ||
		fail "ingest --keep-days kept: $(ls "$WORK/pr2/shards")"
	[ "$(sqlite3 "file:$WORK/pr2/lake.db?mode=ro" "SELECT value FROM settings WHERE key='keep_days'")" = 2 ] ||
		fail "keep_days not remembered"
	"$TARN" verify --lake "$WORK/pr2" >/dev/null || fail "verify pr2"
}

# compaction: Kafka ingest at a trickle makes a block per commit; a day
# quiet for --compact-after seconds is rewritten by ingest itself, the
# rest by tarn compact; events, ids and verify unchanged
t_compaction() {
	local L=$WORK/cp ipid a b rpid
	start_broker --topic tr
	"$TARN" ingest --lake "$L" -b "$BS" -t tr -G cpg --compact-after 1 \
		-X session.timeout.ms=6000 2>"$WORK/cp.err" &
	ipid=$!
	echo "$ipid" >>"$WORK/serve.pids"
	sleep 4 # the embedded broker's group join
	# 120 events of 2026-11-20, then 120 of 2026-11-21, 40 a second
	"$TARN" produce -b "$BS" -t tr --count 240 --days 2 --start 2026-11-20 --rate 40 \
		--unkeyed 2>/dev/null || fail "produce"
	sleep 0.3
	kill -TERM "$ipid"
	wait "$ipid" || fail "ingest: $(cat "$WORK/cp.err")"
	stop_broker
	a=$(sqlite3 "file:$L/shards/2026-11-20.db?mode=ro" 'SELECT count(*) FROM blocks')
	b=$(sqlite3 "file:$L/shards/2026-11-21.db?mode=ro" 'SELECT count(*) FROM blocks')
	[ "$a" = 1 ] || fail "the day that went quiet was not compacted: $a blocks"
	[ "$b" -gt 3 ] || fail "the day still written: $b blocks (expected small ones)"
	[ "$(shard_sum "$L" 'SELECT sum(n_events) FROM blocks')" = 240 ] || fail "events"
	# a reader holding a snapshot of the shard while it is compacted
	(echo "BEGIN; SELECT count(*), sum(n_events) FROM blocks;"; sleep 2
	 echo "SELECT count(*), sum(n_events) FROM blocks; COMMIT;") |
		sqlite3 "$L/shards/2026-11-21.db" >"$WORK/reader.out" 2>&1 &
	rpid=$!
	sleep 0.5
	"$TARN" compact --lake "$L" --format json >"$WORK/cp.json" || fail "compact"
	wait "$rpid" || fail "the reader failed: $(cat "$WORK/reader.out")"
	[ "$(sort -u "$WORK/reader.out")" = "$b|120" ] || fail "the reader saw: $(cat "$WORK/reader.out")"
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['old_blocks']==int(sys.argv[2]) and j['new_blocks']==1 and j['events']==120 and j['bytes_after']<j['bytes_before'], j" \
		"$WORK/cp.json" "$b" || fail "compact summary: $(cat "$WORK/cp.json")"
	[ "$(sqlite3 "file:$L/shards/2026-11-21.db?mode=ro" 'SELECT count(*) FROM blocks')" = 1 ] ||
		fail "not compacted"
	[ "$(tq "$L" "SELECT count(*) || ' ' || count(DISTINCT event_id) FROM events")" = "240 240" ] ||
		fail "events view"
	"$TARN" verify --lake "$L" >/dev/null || fail "verify"
	"$TARN" compact --lake "$L" 2023-01-01 2>/dev/null && fail "a date with no shard"
	"$TARN" compact --lake "$L" --progress 2>"$WORK/err" || fail "compact --progress"
	grep -q "^tarn compact: " "$WORK/err" || fail "compact summary: $(cat "$WORK/err")"
	return 0
}

# every command's summary as JSON: produce, broker, demo (the others in
# t_progress_and_json and t_stats_json)
t_json_summaries() {
	local bpid line
	"$TARN" produce -o "$WORK/js.jsonl" --count 500 --dup-rate 0.1 --format json >"$WORK/js.json" \
		2>/dev/null || fail "produce"
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['events']==500+j['re_sends'] and j['re_sends']>0 and j['ok'] is True, j" \
		"$WORK/js.json" || fail "produce JSON: $(cat "$WORK/js.json")"
	"$TARN" broker --topic t1 --partitions 2 --format json >"$WORK/jb.out" 2>/dev/null &
	bpid=$!
	echo "$bpid" >"$WORK/broker.pid"
	for _ in $(seq 50); do
		line=$(head -1 "$WORK/jb.out" 2>/dev/null)
		[ -n "$line" ] && break
		sleep 0.1
	done
	kill "$bpid"
	wait "$bpid" || fail "broker exit status"
	rm -f "$WORK/broker.pid"
	python3 -c "import json,sys; j=json.loads(sys.argv[1]); assert j['bootstrap'].startswith('127.0.0.1:') and j['topics']==['t1'] and j['partitions']==2, j" \
		"$line" || fail "broker JSON: $line"
	timeout 120 "$TARN" demo --count 2000 --lake "$WORK/jd" --format json >"$WORK/jd.json" \
		2>"$WORK/jd.err" || fail "demo: $(tail -3 "$WORK/jd.err")"
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['ok'] is True and j['stored']==2000 and j['duplicates']==j['re_sends'] and j['replay_read_back']==j['replay_acknowledged']>0, j" \
		"$WORK/jd.json" || fail "demo JSON: $(cat "$WORK/jd.json")"
	grep -q "^4. gold tables" "$WORK/jd.err" || fail "demo steps not on stderr"
}

t_broker_stops_on_signal() {
	local rc=0
	start_broker --topic s
	kill -TERM "$BROKER_PID"
	wait "$BROKER_PID" || rc=$?
	rm -f "$WORK/broker.pid"
	[ $rc = 0 ] || fail "broker exit status $rc after SIGTERM"
}

# Issue 11: tarn split. Members of one group share the input's partitions;
# kill -9 mid-way, twice; kcat (read_committed) is the independent reader.
# Delivery to the outputs is at-least-once (the embedded broker has no
# working transactions, README "tarn split"): nothing may be lost, every
# copy must be byte-exact, and copies beyond the first may come only from
# a killed member's last unacknowledged or uncommitted batches.
# start a member; its pid goes to MEMBER (not through $(...): that would
# wait for the member's stdout to close)
split_member() {
	"$TARN" split -b "$BS" -t central -G sg -X session.timeout.ms=6000 \
		-X heartbeat.interval.ms=500 >/dev/null 2>>"$WORK/split.err" &
	MEMBER=$!
	echo "$MEMBER" >>"$WORK/serve.pids" # killed by cleanup if a check fails
}

# the topics the inputs below go to (tarn produce's four event types),
# named here so that a topic missing from the outputs is read (and found
# empty) rather than left out of the check
split_outputs() {
	echo events.click events.login events.logout events.purchase central.dlq
}

split_count() {
	local t n=0
	for t in $(split_outputs); do
		n=$((n + $(kcat -C -b "$BS" -t "$t" -e -q -X isolation.level=read_committed -f 'x\n' | wc -l)))
	done
	echo $n
}

# wait until the outputs hold at least $1 messages, for up to $2 seconds;
# with a third argument, also until their count stays the same for 3 s (a
# count reached through duplicates alone does not mean the members are done)
split_wait() {
	local i n last=-1 same=0
	for i in $(seq $(($2 * 2))); do
		n=$(split_count)
		if [ "$n" -ge "$1" ]; then
			[ $# -lt 3 ] && return 0
			[ "$n" = "$last" ] && same=$((same + 1)) || same=0
			[ "$same" -ge 6 ] && return 0
		fi
		last=$n
		sleep 0.5
	done
	return 1
}

t_split_kill9_two_members() {
	local a b c d n i p
	start_broker --topic central
	split_member
	a=$MEMBER
	split_member
	b=$MEMBER
	# messages that cannot be routed: no name, not JSON, an illegal topic
	echo '{"user_id":"u1"}' | kcat -P -b "$BS" -t central -H "trace=noname" || fail "kcat"
	echo 'not json' | kcat -P -b "$BS" -t central -K: -H "trace=notjson" || fail "kcat"
	echo '{"event_name":"no/slash"}' | kcat -P -b "$BS" -t central || fail "kcat"
	printf 'k:{"event_type":"%s"}\n' "$(head -c 260 /dev/zero | tr '\0' a)" |
		kcat -P -b "$BS" -t central -K: || fail "kcat"
	# each kill lands while messages are still being produced and split
	"$TARN" produce -b "$BS" -t central --count 1500 --rate 1000 --seed 11 2>/dev/null &
	p=$!
	split_wait 300 30 || fail "nothing split: $(cat "$WORK/split.err")"
	kill -9 "$a"
	wait "$a" 2>/dev/null
	wait "$p" || fail "produce 1"
	split_member
	c=$MEMBER
	"$TARN" produce -b "$BS" -t central --count 1500 --rate 1000 --seed 12 2>/dev/null &
	p=$!
	split_wait 1800 60 || fail "split stalled: $(cat "$WORK/split.err")"
	kill -9 "$b"
	wait "$b" 2>/dev/null
	wait "$p" || fail "produce 2"
	split_member
	d=$MEMBER
	n=$(kcat -C -b "$BS" -t central -e -q -f 'x\n' | wc -l)
	[ "$n" = 3004 ] || fail "central holds $n, not 3004"
	split_wait "$n" 90 settled || fail "split stalled at $(split_count) of $n: $(cat "$WORK/split.err")"
	kill -TERM "$c" "$d"
	wait "$c" || fail "member c exit status"
	wait "$d" || fail "member d exit status"
	kcat -C -b "$BS" -t central -e -q -J >"$WORK/central.json" 2>/dev/null
	for i in $(split_outputs); do
		kcat -C -b "$BS" -t "$i" -e -q -J -X isolation.level=read_committed 2>/dev/null
	done >"$WORK/outs.json"
	python3 - "$WORK/central.json" "$WORK/outs.json" <<'PY' >"$WORK/split.check" 2>&1 ||
import json, sys, collections
def load(p):
    return [json.loads(l) for l in open(p) if l.strip()]
src, out = load(sys.argv[1]), load(sys.argv[2])
def hdrs(m):
    h = m.get("headers") or []
    return list(zip(h[0::2], h[1::2]))
want = {}
for m in src:
    name = dict(hdrs(m)).get("event_name")
    if name is None:
        try:
            j = json.loads(m["payload"])
            name = j.get("event_name", j.get("event_type")) if isinstance(j, dict) else None
        except ValueError:
            name = None
    ok = isinstance(name, str) and 0 < len("events." + name) <= 249 and all(
        c.isascii() and (c.isalnum() or c in "._-") for c in name)
    topic = "events." + name if ok else "central.dlq"
    want[(m["partition"], m["offset"])] = (topic, m)
by_content = {}
for k, (tp, m) in want.items():
    c = (tp, m["payload"], m["key"], m["ts"], tuple(hdrs(m)))
    assert c not in by_content, ("inputs not distinct", c)
    by_content[c] = k
seen = collections.Counter()
for o in out:
    h = hdrs(o)
    if o["topic"] == "central.dlq":
        t = dict(h[-4:])
        src_key = (int(t["tarn_source_partition"]), int(t["tarn_source_offset"]))
        assert t["tarn_source_topic"] == "central", t
        h = h[:-4]
    else:
        # find the source by content: payload+key+ts+headers identify it
        src_key = None
    if src_key is None:
        src_key = by_content.get((o["topic"], o["payload"], o["key"], o["ts"], tuple(h)))
        assert src_key is not None, ("no source for", o)
    tp, m = want[src_key]
    assert tp == o["topic"], (tp, o["topic"])
    for f in ("payload", "key", "ts", "tstype"):
        assert m[f] == o[f], (f, m[f], o[f])
    assert hdrs(m) == h, (hdrs(m), h)
    seen[src_key] += 1
missing = sorted(k for k in want if seen[k] == 0)
dups = sum(v - 1 for v in seen.values())
if missing:
    by_part = collections.Counter(k[0] for k in missing)
    print("lost %d (by input partition %s, first %s, last %s), duplicates %d, outputs %d" % (
        len(missing), dict(by_part), missing[0], missing[-1], dups, len(out)))
    sys.exit(1)
dups = sum(v - 1 for v in seen.values())
# the dead-letter topic is at-least-once too: count distinct inputs there
print("inputs %d outputs %d lost 0 duplicates %d dead-lettered %d" % (
    len(want), len(out), dups,
    sum(1 for k, (tp, m) in want.items() if tp == "central.dlq" and seen[k] > 0)))
PY
		fail "check: $(tail -3 "$WORK/split.check"); outputs now $(split_count)"
	cat "$WORK/split.check" | sed 's/^/    /'
	grep -q ' dead-lettered 4$' "$WORK/split.check" || fail "dead-lettered"
	# at-least-once: each kill and each of the four rebalances may re-send
	# what a member had delivered and not yet committed (a batch: 100 ms of
	# input after a fetch burst of up to fetch.wait.max.ms = 500 ms, so a
	# few hundred messages at this rate); a third of the input would mean
	# offsets are not being committed as batches are acknowledged
	[ "$(sed -n 's/.* duplicates \([0-9]*\) .*/\1/p' "$WORK/split.check")" -le 1000 ] ||
		fail "more duplicates than the killed and rebalanced batches explain"
	stop_broker
}

# Issue 11: dead-letter topic. A refused topic stops ingest (exit 1) with
# nothing committed; the rerun delivers every quarantined input to the
# dead-letter topic, which kcat compares with quarantine.db (sqlite3 shell).
t_ingest_dlq() {
	local L=$WORK/dlq rc=0
	start_broker --topic in --refuse refused
	kcat -P -b "$BS" -t in -H trace=t1 -H empty= -l "$FIX/events.jsonl" || fail "kcat"
	echo 'k1:{"event_id":"x-1","timestamp":"2026-11-20T00:00:00Z"}' |
		kcat -P -b "$BS" -t in -K: || fail "kcat"
	echo 'k2:not json at all' | kcat -P -b "$BS" -t in -K: -H trace=t2 || fail "kcat"
	timeout 60 "$TARN" ingest --lake "$L" -b "$BS" -t in -G dg -e --dlq refused \
		-X message.timeout.ms=3000 -X session.timeout.ms=6000 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] || fail "a refused dead-letter topic: exit $rc: $(cat "$WORK/err")"
	grep -q "dead-letter topic refused cannot be written" "$WORK/err" ||
		fail "message: $(cat "$WORK/err")"
	[ "$(sqlite3 "file:$L/quarantine.db?mode=ro" 'SELECT count(*) FROM quarantine' 2>/dev/null ||
		echo 0)" = 0 ] || fail "quarantine committed before the dead-letter acknowledgement"
	# the same group again, to a topic that works: nothing was lost
	timeout 60 "$TARN" ingest --lake "$L" -b "$BS" -t in -G dg -e --dlq dead \
		-X session.timeout.ms=6000 2>"$WORK/err" || fail "rerun: $(cat "$WORK/err")"
	grep -q "^tarn ingest: 14 read, 6 stored, 1 duplicates absorbed, 7 quarantined" "$WORK/err" ||
		fail "rerun: $(cat "$WORK/err")"
	grep -q "7 dead-lettered to dead" "$WORK/err" || fail "rerun: $(cat "$WORK/err")"
	kcat -C -b "$BS" -t in -e -q -J >"$WORK/in.json" 2>/dev/null
	kcat -C -b "$BS" -t dead -e -q -J >"$WORK/dead.json" 2>/dev/null
	sqlite3 -json "file:$L/quarantine.db?mode=ro" "SELECT reason, CAST(payload AS TEXT) AS payload,
		CAST(key AS TEXT) AS key, topic, partition, kafka_offset FROM quarantine" >"$WORK/q.json" ||
		fail "sqlite3"
	python3 - "$WORK/in.json" "$WORK/dead.json" "$WORK/q.json" <<'PY' || fail "dead-letter topic differs from quarantine.db"
import json, sys
def lines(p):
    return [json.loads(l) for l in open(p) if l.strip()]
src = {(m["partition"], m["offset"]): m for m in lines(sys.argv[1])}
dead = lines(sys.argv[2])
q = json.load(open(sys.argv[3]))
assert len(dead) == len(q) == 7, (len(dead), len(q))
def hdrs(m):
    h = m.get("headers") or []
    return list(zip(h[0::2], h[1::2]))
got = set()
for d in dead:
    h = hdrs(d)
    t = dict(h[-4:])
    assert [k for k, _ in h[-4:]] == ["tarn_reason", "tarn_source_topic",
        "tarn_source_partition", "tarn_source_offset"], h
    s = src[(int(t["tarn_source_partition"]), int(t["tarn_source_offset"]))]
    assert t["tarn_source_topic"] == "in"
    for f in ("payload", "key", "ts"):
        assert d[f] == s[f], (f, d[f], s[f])
    assert h[:-4] == hdrs(s), (h, hdrs(s))
    got.add((t["tarn_reason"], d["payload"], d["key"], "in",
             int(t["tarn_source_partition"]), int(t["tarn_source_offset"])))
want = {(r["reason"], r["payload"], r["key"], r["topic"], r["partition"], r["kafka_offset"]) for r in q}
assert got == want, (got ^ want)
PY
	stop_broker
}

# A splitter whose dead-letter topic is refused stops (exit 1) without
# committing that batch; the rerun in the same group delivers it.
t_split_dlq_refused() {
	local rc=0
	start_broker --topic mixed --refuse refused
	echo '{"event_type":"click","n":1}' | kcat -P -b "$BS" -t mixed -H trace=a || fail "kcat"
	echo 'k:nameless' | kcat -P -b "$BS" -t mixed -K: -H trace=b || fail "kcat"
	timeout 60 "$TARN" split -b "$BS" -t mixed -G sd -e --dlq refused -X message.timeout.ms=3000 \
		-X session.timeout.ms=6000 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] || fail "a refused dead-letter topic: exit $rc: $(cat "$WORK/err")"
	grep -q "not acknowledged" "$WORK/err" || fail "message: $(cat "$WORK/err")"
	timeout 60 "$TARN" split -b "$BS" -t mixed -G sd -e -X session.timeout.ms=6000 \
		2>"$WORK/err" || fail "rerun: $(cat "$WORK/err")"
	grep -q "2 read, 1 routed, 1 dead-lettered to mixed.dlq" "$WORK/err" ||
		fail "rerun: $(cat "$WORK/err")"
	[ "$(kcat -C -b "$BS" -t mixed.dlq -e -q -f '%k %s %h\n')" = \
		"k nameless trace=b,tarn_reason=not_json,tarn_source_topic=mixed,tarn_source_partition=$(kcat -C -b "$BS" -t mixed -e -q -f '%p %s\n' | sed -n 's/ nameless$//p'),tarn_source_offset=$(kcat -C -b "$BS" -t mixed -e -q -f '%o %s\n' | sed -n 's/ nameless$//p')" ] ||
		fail "dead-letter message: $(kcat -C -b "$BS" -t mixed.dlq -e -q -f '%k %s %h\n')"
	stop_broker
}

# gold rows of every day but one, one table after another, for comparing
gold_except() {
	local t
	for t in daily_active_users conversion_rate_daily events_per_source_daily \
		purchases_per_page_daily events_per_name_daily events_per_minute \
		logins_per_source purchases_per_minute; do
		sqlite3 "file:$1/gold.db?mode=ro" "SELECT '$t', * FROM $t WHERE event_date <> '$2'"
	done | sort
}

t_rebuild_past_a_damaged_shard() {
	local L=$WORK/rb1 rc=0 before day2
	"$TARN" produce -o "$WORK/rb.jsonl" --count 3000 --start 2026-11-01 --days 3 --seed 5 \
		2>/dev/null || fail "produce"
	"$TARN" ingest --lake "$L" "$WORK/rb.jsonl" 2>/dev/null || fail "ingest"
	before=$(gold_except "$L" 2026-11-02)
	day2=$(sqlite3 "file:$L/gold.db?mode=ro" "SELECT * FROM events_per_source_daily
		WHERE event_date = '2026-11-02' ORDER BY 2")
	# wrong gold on the days before and after the damaged one: rebuild must fix both
	sqlite3 "$L/gold.db" "UPDATE events_per_source_daily SET event_count = event_count + 5;
		DELETE FROM events_per_name_daily WHERE event_date = '2026-11-03'" || fail "tamper"
	dd if=/dev/urandom of="$L/shards/2026-11-02.db" bs=4096 seek=3 count=4 conv=notrunc \
		2>/dev/null || fail "dd"
	"$TARN" gold --lake "$L" --rebuild >/dev/null 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] || fail "rebuild exit $rc: $(cat "$WORK/err")"
	grep -q "shards/2026-11-02.db" "$WORK/err" || fail "damaged shard not named: $(cat "$WORK/err")"
	[ "$(grep -c "shards/2026-11-0[13].db" "$WORK/err")" = 0 ] ||
		fail "a good shard named: $(cat "$WORK/err")"
	[ "$(gold_except "$L" 2026-11-02)" = "$before" ] || fail "other days not rebuilt"
	# the damaged day's gold cannot be recomputed: it stays as it was
	[ "$(sqlite3 "file:$L/gold.db?mode=ro" "SELECT event_date, source, event_count - 5
		FROM events_per_source_daily WHERE event_date = '2026-11-02' ORDER BY 2" |
		tr '|' ,)" = "$(echo "$day2" | tr '|' ,)" ] || fail "the damaged day's gold changed"
	"$TARN" verify --lake "$L" >"$WORK/out" 2>&1
	grep -q "differs" "$WORK/out" && fail "gold still wrong: $(cat "$WORK/out")"
	grep -q "shards/2026-11-02.db" "$WORK/out" || fail "verify: $(cat "$WORK/out")"
}

# Events spread over many days: a batch holds a shard open per day, so
# ingest commits once every open shard holds the batch's events (64) rather
# than keep one open per day (a file over 1,827 days held 645 MB). Every
# event is stored once, and gold equals its recomputation.
t_ingest_many_days() {
	local L=$WORK/days
	python3 -c '
import datetime
t0 = datetime.datetime(2020, 1, 1)
for i in range(600):
    d = t0 + datetime.timedelta(hours=12 * i)
    print("{\"event_id\":\"d%d\",\"timestamp\":\"%s\",\"event_type\":\"obs\",\"user_id\":\"u%d\"}" % (i, d.strftime("%Y-%m-%dT%H:%M:%SZ"), i % 7))
' >"$WORK/days.jsonl"
	"$TARN" ingest --lake "$L" --format json "$WORK/days.jsonl" >"$WORK/out" 2>&1 || fail "ingest: $(cat "$WORK/out")"
	local batches
	batches=$(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["stored"] == 600, c
# 300 days, 64 shards a batch at most: at least 5 commits
assert c["batches"] >= 5, c
print(c["batches"])' "$WORK/out") || fail "counts: $(cat "$WORK/out")"
	[ "$(ls "$L/shards" | grep -c '\.db$')" = 300 ] || fail "shards: $(ls "$L/shards" | head)"
	[ "$(tq "$L" "SELECT count(*), count(DISTINCT event_id) FROM events")" = "600,600" ] ||
		fail "events"
	"$TARN" verify --lake "$L" >"$WORK/out" 2>&1 || fail "verify: $(cat "$WORK/out")"
	echo "    600 events over 300 days, one file: $batches commits"
}

t_ingest_remembers_field_mapping() {
	local L=$WORK/fm1 N=$WORK/nested.jsonl rc=0 gold i
	for i in 1 2 3; do
		printf '{"meta":{"id":"n-%d","at":"2026-11-2%dT10:00:00Z"},"user_id":"u%d","event_type":"purchase","page":"/cart","source":"web"}\n' \
			"$i" "$i" "$i"
	done >"$N"
	"$TARN" ingest --lake "$L" --id-field meta.id --time-field meta.at "$N" 2>"$WORK/err" ||
		fail "first ingest: $(cat "$WORK/err")"
	grep -q "3 read, 3 stored" "$WORK/err" || fail "first ingest: $(cat "$WORK/err")"
	[ "$(sqlite3 "file:$L/lake.db?mode=ro" "SELECT value FROM settings WHERE key='id_field'")" = meta.id ] ||
		fail "id_field not in lake.db settings"
	# no flags: the lake's own mapping, so the same lines are re-deliveries
	"$TARN" ingest --lake "$L" "$N" 2>"$WORK/err" || fail "second ingest: $(cat "$WORK/err")"
	grep -q "3 read, 0 stored, 3 duplicates absorbed, 0 quarantined" "$WORK/err" ||
		fail "second ingest: $(cat "$WORK/err")"
	# the same flag again is no change
	"$TARN" ingest --lake "$L" --id-field meta.id "$N" 2>"$WORK/err" || fail "same flag: $(cat "$WORK/err")"
	grep -q "3 read, 0 stored, 3 duplicates" "$WORK/err" || fail "same flag: $(cat "$WORK/err")"
	# another mapping is refused before anything is read
	"$TARN" ingest --lake "$L" --id-field other "$N" 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] || fail "another --id-field: exit $rc: $(cat "$WORK/err")"
	grep -q "id_field.*meta.id.*other" "$WORK/err" || fail "message: $(cat "$WORK/err")"
	[ "$(tq "$L" "SELECT count(*) FROM events")" = 3 ] || fail "events stored under another id"
	[ "$(sqlite3 "file:$L/quarantine.db?mode=ro" "SELECT count(*) FROM quarantine")" = 0 ] ||
		fail "the refused ingest quarantined inputs"
	"$TARN" verify --lake "$L" >"$WORK/out" 2>&1 || fail "verify: $(cat "$WORK/out")"
	gold=$(gold_except "$L" none)
	[ -n "$gold" ] || fail "no gold"
	"$TARN" gold --lake "$L" --rebuild >/dev/null 2>"$WORK/err" || fail "rebuild: $(cat "$WORK/err")"
	[ "$(gold_except "$L" none)" = "$gold" ] || fail "rebuild changed gold"
	# a lake first ingested without flags remembers the default mapping
	echo '{"event_id":"d-1","timestamp":"2026-11-20T00:00:00Z"}' |
		"$TARN" ingest --lake "$WORK/fm2" - 2>/dev/null || fail "default ingest"
	rc=0
	"$TARN" ingest --lake "$WORK/fm2" --time-field meta.at "$N" 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] || fail "--time-field on a default lake: exit $rc: $(cat "$WORK/err")"
	"$TARN" ingest --lake "$WORK/fm2" --id-field event_id - </dev/null 2>"$WORK/err" ||
		fail "--id-field event_id is the default: $(cat "$WORK/err")"
}

# GeoJSON-like events (not the producer's shape) -> a declared aggregate,
# compared with an independent oracle (Python decimal) after backfill and
# after late events and re-deliveries; exact decimal sums; refusals; drop;
# verify catches a tampered row.
quakes_jsonl() { # seed first_id count
	python3 - "$@" <<'PY'
import json, random, sys
seed, first, count = map(int, sys.argv[1:])
random.seed(seed)
for i in range(first, first + count):
    p = {"time": 1763600000000 + random.randint(0, 3 * 86400 * 1000),
         "mag": round(random.uniform(-0.5, 6.5), random.choice([1, 2, 3])),
         "type": random.choice(["earthquake", "quarry blast"])}
    net = random.choice(["ak", "ci", "us", "nc", None])
    if net:
        p["net"] = net
    print(json.dumps({"type": "Feature", "id": "q%05d" % i, "properties": p}))
PY
}

t_aggregate_declared() {
	local L=$WORK/agg A=$WORK/agg-a.jsonl B=$WORK/agg-b.jsonl rc
	local ING="--id-field id --time-field properties.time --name-field properties.type"
	quakes_jsonl 1 0 400 >"$A"
	"$TARN" ingest --lake "$L" $ING "$A" 2>/dev/null || fail "ingest"
	"$TARN" aggregate create --lake "$L" quakes --every hour \
		--by net="payload->>'\$.properties.net'" --measure n='count(*)' \
		--measure mag_sum="sum(payload->>'\$.properties.mag')" \
		--measure nets="count(DISTINCT payload->>'\$.properties.net')" \
		--measure mag_avg="avg(payload->>'\$.properties.mag')" \
		--measure big="count(*) FILTER (WHERE payload->>'\$.properties.mag' > 4)" \
		--measure mx="max(payload->>'\$.properties.mag')" || fail "create"
	python3 "$ROOT/tests/cli/aggregate_oracle.py" "$L/gold.db" "$A" || fail "after backfill"
	# late events for old hours, new ones, and re-deliveries of the first 100
	{ head -100 "$A"; quakes_jsonl 2 400 300; } >"$B"
	"$TARN" ingest --lake "$L" $ING "$B" 2>/dev/null || fail "second ingest"
	python3 "$ROOT/tests/cli/aggregate_oracle.py" "$L/gold.db" "$A" "$B" || fail "after more"
	"$TARN" aggregate list --lake "$L" --format json | python3 -c '
import json, sys
a = json.load(sys.stdin)[0]
assert a["name"] == "quakes" and a["window"] == "hour" and a["state"] == "ready", a
assert a["by"] == [{"col": "net", "expr": "payload->>'"'"'$.properties.net'"'"'"}], a
assert len(a["measures"]) == 6 and a["rows"] > 0, a' || fail "list --format json"
	"$TARN" verify --lake "$L" >"$WORK/out" || fail "verify: $(cat "$WORK/out")"
	sqlite3 "$L/gold.db" "UPDATE quakes SET n = n + 1 WHERE rowid = (SELECT min(rowid) FROM quakes)" ||
		fail "tamper"
	"$TARN" verify --lake "$L" >"$WORK/out"
	[ $? = 1 ] && grep -q "quakes differs" "$WORK/out" || fail "verify missed a tampered row"
	"$TARN" gold --lake "$L" --rebuild >/dev/null 2>&1 || fail "rebuild"
	"$TARN" verify --lake "$L" >/dev/null || fail "verify after rebuild"
	python3 "$ROOT/tests/cli/aggregate_oracle.py" "$L/gold.db" "$A" "$B" >/dev/null ||
		fail "after rebuild"
	# refused at create, exit 2, naming the part
	for e in "random()" "(SELECT 1)" "(SELECT count(*) FROM quarantine)" "date('now')" \
		"count(*) OVER ()" "nosuch.col"; do
		"$TARN" aggregate create --lake "$L" bad --every day --by "x=$e" \
			--measure 'n=count(*)' 2>"$WORK/err"
		rc=$?
		[ $rc = 2 ] || fail "'$e' not refused with 2 (got $rc)"
		grep -qF -- "--by x: '$e' refused" "$WORK/err" || fail "'$e': $(cat "$WORK/err")"
	done
	"$TARN" aggregate create --lake "$L" quakes --every day --measure 'n=count(*)' 2>/dev/null
	[ $? = 2 ] || fail "a name taken twice"
	"$TARN" aggregate create --lake "$L" events_per_name_daily --every day \
		--measure 'n=count(*)' 2>/dev/null
	[ $? = 2 ] || fail "a built-in table's name"
	"$TARN" aggregate drop --lake "$L" quakes || fail "drop"
	[ "$(sqlite3 "$L/gold.db" "SELECT count(*) FROM sqlite_master WHERE name LIKE 'quakes%'
		OR name IN (SELECT name FROM aggregates)")" = 0 ] || fail "drop left tables"
	"$TARN" aggregate drop --lake "$L" quakes 2>/dev/null
	[ $? = 2 ] || fail "drop of an unknown aggregate"
}

# 0.1 + 0.2 + 0.3 is exactly 0.6 in either order; integer overflow is an error
# The native path (aggregate.c, sqlexpr.c) against SQLite itself: every
# declaration below is in the native subset, and each table must equal the
# GROUP BY the user would write over the events view, on payloads where
# the convenient reading is wrong: repeated keys (SQLite takes the first),
# escapes in values and keys, integers at and past 64 bits, REALs that
# need SQLite's own conversion, booleans, null, objects and arrays.
t_aggregate_native_equals_sql() {
	local L=$WORK/agn i=0 by where n
	local long
	long=$(printf 'x\\u00e9%.0s' $(seq 1 60))
	# the payloads, under ids $1<i>
	nat_payloads() {
		i=0
		for p in '"a":1,"a":2' '"a":{"c":1},"a":{"b":2}' '"s":"x\u00e9\ud83d\ude00"' \
			'"n":9223372036854775807' '"n":9223372036854775808' \
			'"n":-9223372036854775808' '"n":-9223372036854775809' '"n":-0' \
			'"r":0.1' '"r":1e5' '"r":-0.0' '"r":1.5E-3' '"r":123456789.123456789' \
			'"r":2.675' '"r":100000.0' '"b":true' '"b":false' '"b":null' \
			'"o":{"x":[1,2]}' '"o":[1,2,3]' '"\u0061":5' '"s":"5"' '"s":"abc"' '"s":""' \
			"\"s\":\"$long\"" '"n":5,"s":"5","r":5.0' '"a":{"b":{"c":"deep"}}' \
			'"s":"a\"b"' '"n":12,"r":0.30000000000000004'; do
			i=$((i + 1))
			printf '{"event_id":"%s%d","timestamp":"2026-11-2%dT0%d:0%d:00Z",%s,"event_type":"%s"}\n' \
				"$1" $i $((i % 3)) $((i % 7)) $((i % 10)) "$p" "$([ $((i % 2)) = 0 ] && echo x || echo y)"
		done
	}
	nat_payloads n >"$WORK/agn.jsonl"
	"$TARN" ingest --lake "$L" "$WORK/agn.jsonl" 2>/dev/null || fail "ingest"
	# each declaration: by | where
	local decls
	decls=$(
		cat <<'LIST'
payload->>'$.a'|payload->>'$.a' IS NULL OR payload->>'$.a' IS NOT NULL
payload->>'$.a.b'|payload->>'$.a' IS NOT NULL OR payload->>'$.a.b' IS NULL
payload->>'$.s'|payload->>'$.s' <> 'abc'
payload->>'$.n'|payload->>'$.n' > -1 OR payload->>'$.n' <= -1
payload->>'$.r'|payload->>'$.r' >= 0.1 OR payload->>'$.r' < 0.1
payload->>'$.b'|payload->>'$.b' IS NULL OR payload->>'$.b' = 1
payload->>'$.o'|NOT (payload->>'$.o' IS NULL)
payload->>'$.o.x'|event_time > 0
payload->>'$.s'|payload->>'$.s' = '5' OR payload->>'$.n' = 5 OR payload->>'$.r' = 5
payload->>'$.a.b.c'|event_name = 'x' OR event_name = 'y'
event_name|payload->>'$.n' = 9223372036854775807 OR payload->>'$.r' = 100000
payload->>'$.r'|payload->>'$.r' == 0.30000000000000004 OR payload->>'$.r' != 2.675
payload->>'$.n'|event_time > 0 AND NOT payload->>'$.n' < -9223372036854775807
LIST
	)
	# nat<n>'s table against SQLite's GROUP BY over the events view
	nat_check() {
		local got want
		got=$(tq "$L" "SELECT event_date, window_start, quote(v), c, quote(lo), quote(hi), d
			FROM nat$n ORDER BY 1, 2, 3")
		# SQLite's own JSON code: tarn query's ->> is tarn's (checked
		# against SQLite's by t_query_arrow_is_sqlites), json_extract is not
		local sby swhere
		sby=$(echo "$by" | sed "s/payload->>\('[^']*'\)/json_extract(payload, \1)/g")
		swhere=$(echo "$where" | sed "s/payload->>\('[^']*'\)/json_extract(payload, \1)/g")
		want=$(tq "$L" "SELECT event_date, strftime('%Y-%m-%dT%H:00:00Z', event_time / 1000000,
			'unixepoch') AS w, quote($sby) AS v, count(*), quote(min($sby)), quote(max($sby)),
			count(DISTINCT $sby) FROM events WHERE $swhere GROUP BY 1, 2, $sby ORDER BY 1, 2, 3")
		[ -n "$want" ] || fail "nat$n: the check selects no row ($by | $where)"
		[ "$got" = "$want" ] || fail "nat$n ($by | $where) differs$1:
$got
--- SQLite:
$want"
	}
	n=0
	while IFS='|' read -r by where; do
		n=$((n + 1))
		"$TARN" aggregate create --lake "$L" nat$n --every hour --where "$where" --by v="$by" \
			--measure c='count(*)' --measure lo="min($by)" --measure hi="max($by)" \
			--measure d="count(DISTINCT $by)" >/dev/null 2>"$WORK/err" ||
			fail "create nat$n ($by | $where): $(cat "$WORK/err")"
		nat_check ""
	done <<<"$decls"
	# the same payloads again under new ids, now kept by ingest's own
	# batches (their paths read ahead by its reader thread)
	nat_payloads m >"$WORK/agm.jsonl"
	"$TARN" ingest --lake "$L" "$WORK/agm.jsonl" 2>/dev/null || fail "ingest m"
	n=0
	while IFS='|' read -r by where; do
		n=$((n + 1))
		nat_check " after ingest"
	done <<<"$decls"
	"$TARN" aggregate create --lake "$L" viasql --every day --by v="lower(payload->>'\$.s')" \
		--measure c='count(*)' >/dev/null 2>&1 || fail "create viasql"
	# 9 paths above; 30 more would pass the set's budget of 32 paths: wide
	# goes on the SQL path, and list must say so (it asks the set's rule)
	where=$(for k in $(seq 1 30); do printf "payload->>'\$.p%d' IS NULL AND " $k; done)
	"$TARN" aggregate create --lake "$L" wide --every day --where "${where}1" \
		--measure c='count(*)' >/dev/null 2>&1 || fail "create wide"
	"$TARN" aggregate create --lake "$L" wz --every day --by v="payload->>'\$.s'" \
		--measure c='count(*)' >/dev/null 2>&1 || fail "create wz"
	[ "$(tq "$L" "SELECT sum(c) FROM wide")" = $((2 * i)) ] || fail "wide counts"
	"$TARN" aggregate list --lake "$L" --format json | python3 -c '
import json, sys
p = {a["name"]: a["path"] for a in json.load(sys.stdin)}
off = [n for n, v in p.items() if n.startswith("nat") and v != "native"]
assert not off, ("not native", off)
assert p["viasql"] == "sql", p
assert p["wide"] == "sql" and p["wz"] == "native", p' || fail "aggregate list: path"
	echo "    $n declarations on the native path equal SQLite's GROUP BY over $((2 * i)) events"
	"$TARN" verify --lake "$L" >"$WORK/out" || fail "verify: $(cat "$WORK/out")"
}

t_aggregate_exact_sums() {
	local L1=$WORK/dec1 L2=$WORK/dec2 L3=$WORK/ovf v
	printf '{"event_id":"a","timestamp":"2026-11-20T10:00:00Z","v":%s}\n' 0.1 0.2 0.3 |
		awk '{sub("\"a\"", "\"a" NR "\""); print}' >"$WORK/up.jsonl"
	tac "$WORK/up.jsonl" >"$WORK/down.jsonl"
	for v in 1 2; do
		local L=$WORK/dec$v F=$WORK/up.jsonl
		[ $v = 2 ] && F=$WORK/down.jsonl
		"$TARN" ingest --lake "$L" "$F" 2>/dev/null || fail "ingest"
		"$TARN" aggregate create --lake "$L" s --every day \
			--measure "t=sum(payload->>'\$.v')" --measure "a=avg(payload->>'\$.v')" \
			--measure "f=avg(payload->>'\$.v') FILTER (WHERE payload->>'\$.v' > 0.15)" ||
			fail "create"
		# f: the FILTER holds back the 0.1 from avg's count as from its sum
		[ "$(sqlite3 "$L/gold.db" "SELECT t = 0.6, a = 0.2, typeof(t), f = 0.25 FROM s")" = \
			"1|1|real|1" ] ||
			fail "order $v: $(sqlite3 "$L/gold.db" "SELECT printf('%!.17g', t) FROM s")"
	done
	# SQLite's own sum() (doubles) is not exact in one of the orders
	[ "$(tq "$L1" "SELECT sum(payload->>'\$.v') = 0.6 FROM events")" = 0 ] ||
		[ "$(tq "$L2" "SELECT sum(payload->>'\$.v') = 0.6 FROM events")" = 0 ] ||
		echo "    note: SQLite's sum() was exact in both orders here"
	printf '{"event_id":"i%s","timestamp":"2026-11-20T10:00:00Z","v":%s}\n' \
		1 9223372036854775807 2 1 >"$WORK/ovf.jsonl"
	"$TARN" ingest --lake "$L3" "$WORK/ovf.jsonl" 2>/dev/null || fail "ingest"
	"$TARN" aggregate create --lake "$L3" s --every day --measure "t=sum(payload->>'\$.v')" \
		2>"$WORK/err"
	[ $? = 1 ] && grep -q "integer overflow" "$WORK/err" || fail "overflow: $(cat "$WORK/err")"
	[ "$(sqlite3 "$L3/gold.db" "SELECT count(*) FROM sqlite_master WHERE name IN ('s', 's__state', 's__distinct')")" = 0 ] ||
		fail "a failed create left tables"
}

# random declarations over random nested events, batch boundaries, late
# events, re-deliveries, kill -9 in ingest and in create: every declared
# table equals an independent model (Python decimal) after every step, and
# verify passes (tests/cli/aggregate_property.py says what it draws).
# TARN_PROP_SEED=N repeats a failed round; TARN_PROP_BUDGET=S (default 40)
# bounds it: rounds run until S seconds are spent.
t_aggregate_property() {
	mkdir -p "$WORK/prop"
	timeout $((${TARN_PROP_BUDGET:-40} * 4 + 120)) python3 "$ROOT/tests/cli/aggregate_property.py" \
		"$TARN" "$WORK/prop" "${TARN_PROP_BUDGET:-40}" >"$WORK/prop.out" 2>&1 || {
		tail -20 "$WORK/prop.out"
		fail "property test (the seed is above)"
	}
	echo "    $(head -1 "$WORK/prop.out"); $(tail -1 "$WORK/prop.out")"
}

# public real-world data that is not ours: NOAA's Seattle observations as
# the vega_datasets package ships them (bash scripts/deps.sh test installs
# it from PyPI into build/pyenv), converted to JSON lines, ingested with
# their own id and time fields, four declarations compared with the model
t_aggregate_real_data() {
	local data py
	for py in "$ROOT/build/pyenv/bin/python3" python3; do
		data=$("$py" -c 'import importlib.util as u, os
print(os.path.join(u.find_spec("vega_datasets").submodule_search_locations[0], "_data"))' \
			2>/dev/null) && [ -f "$data/seattle-temps.csv" ] && break
		data=
	done
	[ -n "$data" ] || skip "no vega_datasets (bash scripts/deps.sh test installs it from PyPI)"
	python3 "$ROOT/tests/cli/aggregate_real_data.py" "$TARN" "$WORK/real" "$data" \
		>"$WORK/real.out" 2>&1 || fail "$(tail -5 "$WORK/real.out")"
	echo "    $(tail -1 "$WORK/real.out")"
}

# ---- consumer groups as users run them (issue 22, section 4) ----

# The group's committed offsets are at the end of every partition of the
# topics given, as an independent client sees them: kcat joins the group
# (auto.offset.reset=earliest, so a partition without a committed offset is
# read from its start) and must read nothing. On the real broker, Kafka's
# own kafka-consumer-groups must show every partition committed, lag 0.
group_at_end() {
	local g=$1 n rc=0
	shift
	timeout 60 kcat -C -b "$BS" -G "$g" -X auto.offset.reset=earliest -X session.timeout.ms=6000 \
		-X heartbeat.interval.ms=1000 -X enable.auto.commit=false \
		-X enable.auto.offset.store=false -e -q -f '%t/%p/%o\n' "$@" \
		>"$WORK/group.read" 2>"$WORK/group.err" || rc=$?
	[ $rc = 0 ] || fail "kcat -G $g: exit $rc: $(tail -3 "$WORK/group.err")"
	n=$(wc -l <"$WORK/group.read")
	[ "$n" = 0 ] || fail "group $g: $n messages after its committed offsets, first $(head -3 "$WORK/group.read" | tr '\n' ' ')"
	if [ "${TARN_BROKER:-embedded}" = kafka ]; then
		kafka_group_at_end "$g" "$@"
	fi
}

# quick rejoin: the embedded broker makes a re-joining group wait for the
# old member's session timeout
QUICK=(-X session.timeout.ms=6000 -X heartbeat.interval.ms=1000)

# A regex subscription over two topics whose partitions share numbers, in
# one lake and one group (with the assignor in $2, if any): every event of
# both topics stored once and none of the third topic, the group's offsets
# of both topics at their ends, and a rerun after more input reads only
# the new events.
regex_topics() {
	local L=$WORK/rx$1 g=rx$1 strat=()
	[ -n "$2" ] && strat=(-X "partition.assignment.strategy=$2")
	start_broker --topic events.a --topic events.b --topic other
	"$TARN" produce -b "$BS" -t events.a --count 1500 --seed 21 2>/dev/null || fail "produce a"
	"$TARN" produce -b "$BS" -t events.b --count 2500 --seed 22 --start 2026-11-25 \
		2>/dev/null || fail "produce b"
	"$TARN" produce -b "$BS" -t other --count 100 --seed 23 2>/dev/null || fail "produce other"
	timeout 60 "$TARN" ingest --lake "$L" -b "$BS" -t '^events\..*' -G "$g" -e "${QUICK[@]}" \
		${strat[@]+"${strat[@]}"} 2>"$WORK/err" || fail "ingest: $(cat "$WORK/err")"
	grep -q "^tarn ingest: 4000 read, 4000 stored" "$WORK/err" || fail "ingest: $(cat "$WORK/err")"
	[ "$(tq "$L" "SELECT group_concat(topic || '=' || n, ' ') FROM (SELECT topic, count(DISTINCT
		event_id) n FROM events GROUP BY topic ORDER BY topic)")" = "events.a=1500 events.b=2500" ] ||
		fail "per topic: $(tq "$L" "SELECT topic, count(*) FROM events GROUP BY topic")"
	group_at_end "$g" events.a events.b
	# dated in the past: Kafka 4 refuses timestamps more than an hour ahead
	# (log.message.timestamp.after.max.ms)
	"$TARN" produce -b "$BS" -t events.a --count 300 --seed 24 --start 2026-11-05 \
		2>/dev/null || fail "produce a again"
	"$TARN" produce -b "$BS" -t events.b --count 200 --seed 25 --start 2026-11-08 \
		2>/dev/null || fail "produce b again"
	timeout 60 "$TARN" ingest --lake "$L" -b "$BS" -t '^events\..*' -G "$g" -e "${QUICK[@]}" \
		${strat[@]+"${strat[@]}"} 2>"$WORK/err" || fail "ingest again: $(cat "$WORK/err")"
	grep -q "^tarn ingest: 500 read, 500 stored, 0 duplicates" "$WORK/err" ||
		fail "the rerun did not resume at each topic's offsets: $(cat "$WORK/err")"
	group_at_end "$g" events.a events.b
	stop_broker
}

t_ingest_regex_topics_offsets() {
	regex_topics eager ""
}

t_ingest_regex_topics_cooperative() {
	regex_topics coop cooperative-sticky
}

# wait_stored LAKE TRIES: wait (0.5 s a try) until LAKE's blocks hold an
# event; 1 when they never did
wait_stored() {
	local i
	for i in $(seq "$2"); do
		[ -d "$1/shards" ] && [ "$(shard_sum "$1" 'SELECT sum(n_events) FROM blocks' \
			2>/dev/null)" -gt 0 ] 2>/dev/null && return 0
		sleep 0.5
	done
	return 1
}

# Members join and leave while tarn ingests: lake A's ingest runs
# throughout; lake B's joins the same group, then is killed (-9); a kcat
# member that never commits joins and leaves. Input arrives meanwhile.
# Each lake holds each event at most once, every event is in A or B, and
# the group's offsets end at the topic's end. A lake that had committed
# offsets for events it did not hold would lose them here: B's kill leaves
# its uncommitted batch to whoever takes its partitions, from the offsets
# it committed.
members_join_leave() {
	local A=$WORK/ma$1 B=$WORK/mb$1 g=m$1 strat=() a b k p total n i
	[ -n "$2" ] && strat=(-X "partition.assignment.strategy=$2")
	start_broker --topic live
	"$TARN" ingest --lake "$A" -b "$BS" -t live -G "$g" "${QUICK[@]}" ${strat[@]+"${strat[@]}"} \
		--no-progress 2>"$WORK/a.err" &
	a=$!
	echo "$a" >>"$WORK/serve.pids"
	"$TARN" produce -b "$BS" -t live --count 4000 --rate 200 --seed 31 2>/dev/null &
	p=$!
	sleep 2
	"$TARN" ingest --lake "$B" -b "$BS" -t live -G "$g" "${QUICK[@]}" ${strat[@]+"${strat[@]}"} \
		--no-progress 2>"$WORK/b.err" &
	b=$!
	echo "$b" >>"$WORK/serve.pids"
	wait_stored "$B" 40
	# kcat as a member that reads and never commits (kcat -G stores and
	# commits what it printed unless enable.auto.offset.store=false)
	kcat -C -b "$BS" -G "$g" "${QUICK[@]}" ${strat[@]+"${strat[@]}"} -X enable.auto.commit=false \
		-X enable.auto.offset.store=false -q -f '%p/%o\n' live >"$WORK/kcat.member" 2>/dev/null &
	k=$!
	echo "$k" >>"$WORK/serve.pids"
	for i in $(seq 40); do
		[ -s "$WORK/kcat.member" ] && break
		sleep 0.5
	done
	kill -9 "$b"
	wait "$b" 2>/dev/null
	sleep 1
	kill -TERM "$k"
	wait "$k" 2>/dev/null
	wait "$p" || fail "produce"
	total=$(kcat -C -b "$BS" -t live -e -q -f 'x\n' | wc -l)
	[ "$total" -ge 4000 ] || fail "live holds $total"
	# A takes over every partition and reads to the end
	for i in $(seq 120); do
		n=$( (tq "$A" "SELECT event_id FROM events"; [ -d "$B/shards" ] &&
			tq "$B" "SELECT event_id FROM events") 2>/dev/null | sort -u | wc -l)
		[ "$n" -ge 4000 ] && break
		sleep 0.5
	done
	kill -TERM "$a"
	wait "$a" || fail "A's exit status: $(cat "$WORK/a.err")"
	[ -s "$WORK/kcat.member" ] || fail "the kcat member read nothing: no partition moved to it"
	kcat -C -b "$BS" -t live -e -q -f '%h\n' >"$WORK/live.hdrs" 2>/dev/null
	tq "$A" "SELECT event_id FROM events" >"$WORK/a.ids"
	: >"$WORK/b.ids"
	[ -d "$B/shards" ] && tq "$B" "SELECT event_id FROM events" >"$WORK/b.ids"
	python3 - "$WORK/live.hdrs" "$WORK/a.ids" "$WORK/b.ids" <<'PY' >"$WORK/members.check" 2>&1 ||
import sys
ids = set()
for line in open(sys.argv[1]):
    h = dict(kv.split("=", 1) for kv in line.strip().split(",") if "=" in kv)
    ids.add(h["event_id"])
a = [l.strip() for l in open(sys.argv[2]) if l.strip()]
b = [l.strip() for l in open(sys.argv[3]) if l.strip()]
assert len(a) == len(set(a)), "lake A holds an event twice"
assert len(b) == len(set(b)), "lake B holds an event twice"
lost = ids - set(a) - set(b)
assert not lost, "lost from both lakes: %d, e.g. %s" % (len(lost), sorted(lost)[:3])
assert not (set(a) | set(b)) - ids, "events that were never sent"
assert len(b) > 0, "B stored nothing: it never held a partition"
print("events %d in A %d in B %d in both %d" % (len(ids), len(a), len(b), len(set(a) & set(b))))
PY
		fail "check: $(tail -3 "$WORK/members.check")"
	sed 's/^/    /' "$WORK/members.check"
	# each lake's own count agrees with its shard files
	[ "$(shard_sum "$A" 'SELECT sum(n_events) FROM blocks')" = "$(wc -l <"$WORK/a.ids")" ] ||
		fail "A's blocks and events view differ"
	group_at_end "$g" live
	stop_broker
}

# -e stops at the end of the group's partitions, not only of its own: a
# member killed while holding partitions keeps them until its session times
# out, and an `ingest -e` that joins meanwhile must read them after the
# rebalance, not exit 0 with their messages unread (on a real Kafka the
# crash loop's last run once stopped 1,101 events short this way). Here
# a kcat member that never commits holds half the partitions; ingest -e
# takes the other half, reaches their end and must still be running when
# kcat is killed; then it gets every partition and stores all 2,000.
t_ingest_e_waits_for_the_group() {
	local L=$WORK/eg k i n
	start_broker --topic held
	"$TARN" produce -b "$BS" -t held --count 2000 --unkeyed --seed 41 2>/dev/null || fail "produce"
	kcat -C -b "$BS" -G eg "${QUICK[@]}" -X auto.offset.reset=earliest -X enable.auto.commit=false \
		-X enable.auto.offset.store=false -u -q -f '%p\n' held >"$WORK/eg.kcat" 2>/dev/null &
	k=$!
	echo "$k" >>"$WORK/serve.pids"
	for n in $(seq 60); do
		[ -s "$WORK/eg.kcat" ] && break
		sleep 0.5
	done
	[ -s "$WORK/eg.kcat" ] || fail "the kcat member read nothing"
	"$TARN" ingest --lake "$L" -b "$BS" -t held -G eg -e "${QUICK[@]}" --no-progress \
		2>"$WORK/eg.err" &
	i=$!
	echo "$i" >>"$WORK/serve.pids"
	# ingest holds some partitions once it has stored something
	wait_stored "$L" 60
	n=$(shard_sum "$L" 'SELECT sum(n_events) FROM blocks')
	[ "$n" -gt 0 ] && [ "$n" -lt 2000 ] || fail "ingest stored $n before kcat left: no partition was kcat's"
	sleep 2
	kill -0 "$i" 2>/dev/null || fail "ingest -e stopped with kcat's partitions unread: $(cat "$WORK/eg.err")"
	kill -9 "$k"
	wait "$k" 2>/dev/null
	timeout 60 tail --pid="$i" -f /dev/null
	wait "$i" || fail "ingest -e: $(cat "$WORK/eg.err")"
	[ "$(tq "$L" 'SELECT count(DISTINCT event_id) FROM events')" = 2000 ] ||
		fail "ingest -e stored $(tq "$L" 'SELECT count(*) FROM events') of 2000"
	! grep -q "unread" "$WORK/eg.err" || fail "ingest -e gave up waiting: $(cat "$WORK/eg.err")"
	group_at_end eg held
	stop_broker
}

t_ingest_members_join_and_leave() {
	members_join_leave eager ""
}

t_ingest_members_join_and_leave_cooperative() {
	members_join_leave coop cooperative-sticky
}

# split from a regex subscription over two topics: every input routed once,
# the group's offsets of both input topics at their ends
t_split_regex_topics_offsets() {
	local n
	start_broker --topic in.a --topic in.b
	"$TARN" produce -b "$BS" -t in.a --count 700 --seed 41 2>/dev/null || fail "produce a"
	"$TARN" produce -b "$BS" -t in.b --count 500 --seed 42 --start 2026-11-10 2>/dev/null ||
		fail "produce b"
	timeout 60 "$TARN" split -b "$BS" -t '^in\..*' -G sx -e --to 'out.{name}' --dlq in.dlq \
		"${QUICK[@]}" 2>"$WORK/err" || fail "split: $(cat "$WORK/err")"
	for t in click login logout purchase; do
		kcat -C -b "$BS" -t "out.$t" -e -q -f '%h\n' 2>/dev/null
	done >"$WORK/out.hdrs"
	n=$(tr ',' '\n' <"$WORK/out.hdrs" | grep '^event_id=' | sort -u | wc -l)
	[ "$n" = 1200 ] || fail "$n distinct events routed, not 1200: $(cat "$WORK/err")"
	group_at_end sx in.a in.b
	stop_broker
}

# the same GROUP BY that aggregate pages (--every hour, by page) stands for,
# straight from the events view: "event_date,window_start,page,n,users" rows
pages_by_query() {
	tq "$1" "SELECT event_date, strftime('%Y-%m-%dT%H:00:00Z', event_time / 1000000,
		'unixepoch') AS w, payload->>'\$.page' AS page, count(*) AS n,
		count(DISTINCT payload->>'\$.user_id') AS users FROM events GROUP BY 1, 2, 3
		ORDER BY 1, 2, 3"
}

create_pages() { # $1: lake, $2: name; the rest: more options
	local L=$1 name=$2
	shift 2
	"$TARN" aggregate create --lake "$L" "$name" --every hour --by page="payload->>'\$.page'" \
		--measure n='count(*)' --measure users="count(DISTINCT payload->>'\$.user_id')" "$@"
}

# tarn aggregate create while a tarn ingest holds the lake: the ingest builds
# it between two batches; no event missed or counted twice across the switch
t_aggregate_create_while_ingesting() {
	local L=$WORK/agl ip pp i n
	start_broker --topic ev
	"$TARN" produce -b "$BS" -t ev --count 10000 --seed 3 --days 4 --dup-rate 0.05 \
		>/dev/null 2>&1 || fail "produce"
	"$TARN" ingest --lake "$L" -b "$BS" -t ev -G agl -X session.timeout.ms=6000 \
		>"$WORK/agl.out" 2>&1 &
	ip=$!
	for i in $(seq 150); do
		n=$(tq "$L" "SELECT count(*) FROM events" 2>/dev/null)
		[ "${n:-0}" -gt 0 ] && break
		sleep 0.2
	done
	[ "${n:-0}" -gt 0 ] || fail "the ingest stored nothing"
	"$TARN" produce -b "$BS" -t ev --count 10000 --seed 4 --days 4 --rate 5000 \
		--dup-rate 0.05 >/dev/null 2>&1 &
	pp=$!
	sleep 0.5
	create_pages "$L" pages 2>"$WORK/agl.err" || fail "create beside the ingest: $(cat "$WORK/agl.err")"
	grep -q "a tarn ingest is writing" "$WORK/agl.err" ||
		fail "create did not go through the running ingest: $(cat "$WORK/agl.err")"
	# one the writer cannot build: create says why, exits 1; the ingest goes on
	"$TARN" aggregate create --lake "$L" ovf --every day \
		--measure t='sum(9223372036854775807)' 2>"$WORK/agl.err"
	[ $? = 1 ] && grep -q "integer overflow" "$WORK/agl.err" ||
		fail "an unbuildable request: $(cat "$WORK/agl.err")"
	wait $pp || fail "second produce"
	for i in $(seq 200); do
		n=$(tq "$L" "SELECT count(*) FROM events")
		[ "$n" = 20000 ] && break
		sleep 0.2
	done
	kill -TERM $ip
	wait $ip || fail "ingest exit: $(cat "$WORK/agl.out")"
	[ "$n" = 20000 ] || fail "stored $n of 20000"
	pages_by_query "$L" >"$WORK/agl.want"
	tq "$L" "SELECT * FROM pages ORDER BY 1, 2, 3" >"$WORK/agl.got"
	cmp -s "$WORK/agl.want" "$WORK/agl.got" ||
		fail "pages differs from its GROUP BY: $(diff "$WORK/agl.want" "$WORK/agl.got" | head -5)"
	[ "$(tq "$L" "SELECT sum(n) FROM pages")" = 20000 ] || fail "pages does not count 20000"
	"$TARN" aggregate list --lake "$L" | grep -q '^ovf' && fail "the failed request stayed"
	"$TARN" verify --lake "$L" >"$WORK/out" || fail "verify: $(cat "$WORK/out")"
	stop_broker
}

# kill -9 during a backfill: the aggregate does not exist, or is complete;
# create again then builds it whole
t_aggregate_backfill_kill9() {
	local L=$WORK/agk i p state none=0 whole=0
	"$TARN" produce -o "$WORK/agk.jsonl" --count 30000 --seed 5 --days 6 >/dev/null 2>&1 ||
		fail "produce"
	"$TARN" ingest --lake "$L" "$WORK/agk.jsonl" 2>/dev/null || fail "ingest"
	local want
	want=$(pages_by_query "$L")
	for i in 1 2 3; do
		# the tarn process itself is killed, not a shell around it
		"$TARN" aggregate create --lake "$L" k$i --every hour --by page="payload->>'\$.page'" \
			--measure n='count(*)' --measure users="count(DISTINCT payload->>'\$.user_id')" \
			2>/dev/null &
		p=$!
		sleep "0.0$((RANDOM % 8 + 1))"
		kill -9 $p 2>/dev/null
		wait $p 2>/dev/null
		state=$(sqlite3 "$L/gold.db" "SELECT state FROM aggregates WHERE name = 'k$i'")
		if [ -z "$state" ]; then
			[ "$(sqlite3 "$L/gold.db" "SELECT count(*) FROM sqlite_master
				WHERE name LIKE 'k${i}%'")" = 0 ] || fail "k$i: tables without a catalog row"
			none=$((none + 1))
			create_pages "$L" k$i || fail "k$i: create after the kill"
		else
			[ "$state" = ready ] || fail "k$i: state '$state' after kill -9"
			whole=$((whole + 1))
		fi
		[ "$want" = "$(tq "$L" "SELECT * FROM k$i ORDER BY 1, 2, 3")" ] || fail "k$i differs"
	done
	echo "    kill -9 during backfill: $none killed before the commit, $whole after"
	[ $none -ge 1 ] || fail "no kill landed inside a backfill"
	"$TARN" verify --lake "$L" >"$WORK/out" || fail "verify: $(cat "$WORK/out")"
}

# the event_id header of every message of the split's outputs that a
# read_committed reader sees, one per line
split_output_ids() {
	local t
	for t in events.click events.login events.logout events.purchase central.dlq; do
		kcat -C -b "$BS" -t "$t" -e -q -X isolation.level=read_committed -f '%h\n'
	done | grep -o 'event_id=[^,]*'
}

# tarn split --transactional-id on a real Kafka (tests/kafka/run.sh only):
# kill -9 at random points while the input arrives, then a read_committed
# reader sees every input message exactly once across the outputs, and the
# group's offsets are at the input's end (another run reads nothing)
t_split_exactly_once_kill9() {
	local n=${SPLIT_EOS_EVENTS:-200000} kills=${SPLIT_EOS_KILLS:-30} i p pp total distinct ru
	local X="-X session.timeout.ms=6000 -X group.instance.id=eos-a"
	[ "${TARN_BROKER:-embedded}" = kafka ] || skip "needs a real Kafka (tests/kafka/run.sh)"
	start_broker --partitions 4 --topic central --topic events.click --topic events.login \
		--topic events.logout --topic events.purchase --topic central.dlq
	# about 30 s of input, so that every kill lands while there is work
	"$TARN" produce -b "$BS" -t central --count "$n" --seed 11 --rate $((n / 30)) \
		>/dev/null 2>&1 &
	pp=$!
	for i in $(seq "$kills"); do
		"$TARN" split -b "$BS" -t central -G eos --transactional-id eos-1 $X \
			2>>"$WORK/eos.err" &
		p=$!
		sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.4 + r % 120 / 100 }')"
		kill -9 $p 2>/dev/null
		wait $p 2>/dev/null
	done
	wait $pp || fail "produce"
	"$TARN" split -b "$BS" -t central -G eos --transactional-id eos-1 $X -e \
		2>"$WORK/eos.last" || fail "the last split: $(cat "$WORK/eos.last")"
	split_output_ids >"$WORK/eos.ids"
	total=$(wc -l <"$WORK/eos.ids")
	distinct=$(sort -u "$WORK/eos.ids" | wc -l)
	ru=0
	for t in events.click events.login events.logout events.purchase central.dlq; do
		ru=$((ru + $(kcat -C -b "$BS" -t "$t" -e -q -X isolation.level=read_uncommitted \
			-f 'x\n' | wc -l)))
	done
	echo "    $kills kills: $total read_committed, $distinct distinct, of $n;" \
		"read_uncommitted sees $ru (aborted batches included)"
	[ "$total" = "$n" ] && [ "$distinct" = "$n" ] || fail "not exactly once"
	"$TARN" split -b "$BS" -t central -G eos --transactional-id eos-1 $X -e \
		2>"$WORK/eos.again" || fail "split again: $(cat "$WORK/eos.again")"
	grep -q "^tarn split: 0 read" "$WORK/eos.again" ||
		fail "the group's offsets are not at the end: $(cat "$WORK/eos.again")"
	stop_broker
}

# two splitters with one transactional id: the newer fences the older,
# which exits non-zero naming it; nothing is doubled
t_split_fenced() {
	local a b pp i total distinct
	[ "${TARN_BROKER:-embedded}" = kafka ] || skip "needs a real Kafka (tests/kafka/run.sh)"
	start_broker --partitions 4 --topic central --topic events.click --topic events.login \
		--topic events.logout --topic events.purchase --topic central.dlq
	"$TARN" produce -b "$BS" -t central --count 20000 --seed 12 >/dev/null 2>&1 || fail "produce"
	"$TARN" split -b "$BS" -t central -G fence --transactional-id same \
		-X session.timeout.ms=6000 2>"$WORK/fa.err" &
	a=$!
	for i in $(seq 150); do
		[ "$(split_output_ids | wc -l)" -gt 0 ] && break
		sleep 0.2
	done
	"$TARN" produce -b "$BS" -t central --count 20000 --seed 13 --rate 5000 >/dev/null 2>&1 &
	pp=$!
	"$TARN" split -b "$BS" -t central -G fence --transactional-id same \
		-X session.timeout.ms=6000 2>"$WORK/fb.err" &
	b=$!
	wait $a
	[ $? != 0 ] || fail "the older splitter was not fenced: $(cat "$WORK/fa.err")"
	grep -qi "fenc" "$WORK/fa.err" || fail "the older splitter does not say why: $(cat "$WORK/fa.err")"
	wait $pp || fail "produce"
	for i in $(seq 300); do
		[ "$(split_output_ids | wc -l)" -ge 40000 ] && break
		sleep 0.2
	done
	kill -TERM $b
	wait $b || fail "the newer splitter: $(cat "$WORK/fb.err")"
	split_output_ids >"$WORK/fence.ids"
	total=$(wc -l <"$WORK/fence.ids")
	distinct=$(sort -u "$WORK/fence.ids" | wc -l)
	[ "$total" = 40000 ] && [ "$distinct" = 40000 ] ||
		fail "fenced: $total read_committed, $distinct distinct, of 40000"
	stop_broker
}

# the real broker killed (SIGKILL) a little after $1 seconds, started again
# 8 s later, in the background; sets RESTART_PID
crash_broker_later() {
	(sleep "$1"; bash "$KAFKA_SH" crash "$WORK/kafka"; sleep 8
	 bash "$KAFKA_SH" restart "$WORK/kafka") >"$WORK/restart.log" 2>&1 &
	RESTART_PID=$!
}

# a topic the broker does not have: ingest and split stop at once with
# exit 1 naming it, rather than wait for ever in silence (a consumer does
# not create topics). Real Kafka only: the embedded broker creates a topic
# a consumer asks for.
t_missing_topic() {
	local L=$WORK/mt cmd
	[ "${TARN_BROKER:-embedded}" = kafka ] || skip "the embedded broker creates every topic asked for"
	start_broker --topic there
	for cmd in "ingest --lake $L" split; do
		# shellcheck disable=SC2086 # cmd is the command and its lake
		timeout 60 "$TARN" $cmd -b "$BS" -t nosuch -e 2>"$WORK/mt.err"
		[ $? = 1 ] && grep -q "topic nosuch does not exist on $BS" "$WORK/mt.err" ||
			fail "$cmd of a missing topic: $(cat "$WORK/mt.err")"
	done
	stop_broker
}

# ingest, replay and split across a broker crash and restart
# (tests/kafka/run.sh only): each waits with a message, resumes, loses and
# doubles nothing; with no broker for --broker-timeout, ingest gives up,
# exit 1, naming it
t_broker_restart() {
	local L=$WORK/brl n=20000 ip pp i got
	[ "${TARN_BROKER:-embedded}" = kafka ] || skip "needs a real Kafka (tests/kafka/run.sh)"
	start_broker --partitions 4 --topic ev --topic rep --topic central --topic events.click \
		--topic events.login --topic events.logout --topic events.purchase --topic central.dlq
	# ingest: events arrive at 5,000/s while the broker goes and comes back
	"$TARN" produce -b "$BS" -t ev --count $n --seed 21 --rate 5000 \
		-X message.timeout.ms=180000 >/dev/null 2>&1 &
	pp=$!
	"$TARN" ingest --lake "$L" -b "$BS" -t ev -G brl -X session.timeout.ms=6000 \
		2>"$WORK/brl.err" &
	ip=$!
	crash_broker_later 2
	wait $RESTART_PID || fail "restart: $(cat "$WORK/restart.log")"
	wait $pp || fail "produce"
	for i in $(seq 240); do
		got=$(tq "$L" "SELECT count(*) FROM events" 2>/dev/null)
		[ "$got" = $n ] && break
		sleep 0.5
	done
	kill -TERM $ip
	wait $ip || fail "ingest: $(cat "$WORK/brl.err")"
	[ "$got" = $n ] || fail "ingest stored $got of $n"
	grep -q "no Kafka broker answers ($BS" "$WORK/brl.err" &&
		grep -q "a Kafka broker answers again" "$WORK/brl.err" ||
		fail "ingest said nothing of the outage: $(cat "$WORK/brl.err")"
	# replay at 5,000/s across the same: every event there; the idempotent
	# producer of librdkafka 2.0.2 may send a few again after the broker's
	# restart (README, "When the broker goes away"): counted, and readers
	# dedup by event id as tarn ingest does
	"$TARN" replay --lake "$L" -b "$BS" -t rep --rate 5000 2>"$WORK/brr.err" &
	ip=$!
	crash_broker_later 2
	wait $RESTART_PID || fail "restart: $(cat "$WORK/restart.log")"
	wait $ip || fail "replay: $(cat "$WORK/brr.err")"
	kcat -C -b "$BS" -t rep -e -q -f '%h\n' | grep -o 'event_id=[^,]*' >"$WORK/brr.ids"
	[ "$(sort -u "$WORK/brr.ids" | wc -l)" = $n ] ||
		fail "replay read back $(wc -l <"$WORK/brr.ids") messages," \
			"$(sort -u "$WORK/brr.ids" | wc -l) distinct, of $n"
	echo "    replay across the restart: $(($(wc -l <"$WORK/brr.ids") - n)) of $n sent again"
	grep -q "no Kafka broker answers" "$WORK/brr.err" ||
		fail "replay said nothing of the outage: $(cat "$WORK/brr.err")"
	# split, exactly-once, across the same. librdkafka 2.0.2's transactional
	# producer can meet a fatal sequence error at the broker's restart:
	# split then exits 1 and is run again (as a supervisor would); either
	# way a read_committed reader must see each input message once
	"$TARN" produce -b "$BS" -t central --count $n --seed 22 --rate 5000 \
		-X message.timeout.ms=180000 >/dev/null 2>&1 &
	pp=$!
	"$TARN" split -b "$BS" -t central -G brs --transactional-id brs -X session.timeout.ms=6000 \
		2>"$WORK/brs.err" &
	ip=$!
	crash_broker_later 2
	wait $RESTART_PID || fail "restart: $(cat "$WORK/restart.log")"
	wait $pp || fail "produce to central"
	for i in $(seq 240); do
		got=$(split_output_ids | wc -l)
		[ "$got" -ge "$(kcat -C -b "$BS" -t central -e -q -f 'x\n' | wc -l)" ] && break
		if ! kill -0 $ip 2>/dev/null; then
			wait $ip
			echo "    split exited $? at the restart; run again"
			"$TARN" split -b "$BS" -t central -G brs --transactional-id brs \
				-X session.timeout.ms=6000 2>>"$WORK/brs.err" &
			ip=$!
		fi
		sleep 0.5
	done
	kill -TERM $ip 2>/dev/null
	wait $ip || fail "split: $(tail -3 "$WORK/brs.err")"
	# the producer may have sent some twice across the crash: each message
	# of the input, as many times as it is there, and nothing more
	kcat -C -b "$BS" -t central -e -q -X isolation.level=read_committed -f '%h\n' |
		grep -o 'event_id=[^,]*' | sort >"$WORK/brs.in"
	split_output_ids | sort >"$WORK/brs.ids"
	[ "$(sort -u "$WORK/brs.in" | wc -l)" = $n ] || fail "the input lost messages"
	cmp -s "$WORK/brs.in" "$WORK/brs.ids" ||
		fail "split: $(wc -l <"$WORK/brs.ids") read_committed of $(wc -l <"$WORK/brs.in")" \
			"input messages: $(tail -3 "$WORK/brs.err")"
	# no broker at all for longer than --broker-timeout: exit 1, naming it
	bash "$KAFKA_SH" crash "$WORK/kafka"
	timeout 60 "$TARN" ingest --lake "$L" -b "$BS" -t ev -G brl --broker-timeout 5 \
		2>"$WORK/brg.err"
	[ $? = 1 ] && grep -q "no Kafka broker answered for 5 s ($BS" "$WORK/brg.err" ||
		fail "ingest without a broker: $(cat "$WORK/brg.err")"
	"$TARN" verify --lake "$L" >/dev/null || fail "verify"
}

# payload->>PATH in tarn query is tarn's own (a stored payload's value read
# without SQLite's JSON parse where it can): its results must be SQLite's,
# row by row and inside aggregates, on payloads chosen to differ (escapes,
# repeated keys, big and odd numbers, containers, other path forms)
t_query_arrow_is_sqlites() {
	local L=$WORK/arrow
	python3 - >"$WORK/arrow.jsonl" <<'PY'
bodies = [
    '"s":"plain","n":42,"r":2.35,"b":true,"z":null,"o":{"k":1},"a":[1,2,3]',
    '"s":"with \\"quote\\" and \\u00e9","n":-7,"r":-0.0,"b":false,"o":{"k":{"x":"deep"}},"a":[]',
    '"s":"","n":0,"r":1e5,"e":{},"big":18446744073709551616,"neg":-9223372036854775808',
    '"s":"x","n":9223372036854775807,"r":0.1,"big":9223372036854775808,"neg":-0',
    '"q k":"spaced","dup":1,"dup":2,"esc":"a\\nb","u":"\\ud83d\\ude00"',
    '"s":5,"n":"5","r":"2.5","b":"true","d":{"d":[{"x":1}]}',
    '"\\u0073":"escaped key","s":"second"',
    '"o":[1,{"k":2}],"a":{"0":1},"n":1.0,"r":12345678901234567890',
    '"s" : "spaced colon" , "n" : 3 ',
    '"n":1E400,"r":-1e-400,"s":"\\/slash"',
    '"s":"dup first","s":"dup second","o":{"k":1,"k":{"x":2}}',
    '"n":-12,"n2":007',
]
for i, b in enumerate(bodies):
    print('{"event_id":"e%02d","timestamp":"2026-11-2%dT10:00:0%dZ","event_type":"click",%s}'
          % (i, i % 3, i % 10, b))
PY
	"$TARN" ingest --lake "$L" "$WORK/arrow.jsonl" 2>"$WORK/err" || fail "ingest: $(cat "$WORK/err")"
	[ "$(tq "$L" "SELECT count(*) FROM events")" = 11 ] || fail "not 11 stored (one line is not JSON)"
	python3 "$ROOT/tests/cli/arrow_oracle.py" "$TARN" "$L" <(grep -v '"n2":007' "$WORK/arrow.jsonl") \
		>"$WORK/arrow.out" || fail "tarn's ->> differs from SQLite's: $(cat "$WORK/arrow.out")"
}

# rows come in event_date order, so GROUP BY / ORDER BY event_date take no
# sort (the plan says so); the results must be those of a sorted grouping
t_query_date_order_consumed() {
	local L=$WORK/dord got want
	"$TARN" produce -o "$WORK/dord.jsonl" --count 4000 --days 5 --seed 3 --dup-rate 0.02 \
		2>/dev/null || fail "produce"
	# late arrivals: the first day's events again at the end, under new ids
	sed -n '1,300p' "$WORK/dord.jsonl" | sed 's/"event_id":"\(........\)/"event_id":"\1-late/' \
		>>"$WORK/dord.jsonl"
	"$TARN" ingest --lake "$L" "$WORK/dord.jsonl" 2>/dev/null || fail "ingest"
	got=$(tq "$L" "SELECT event_date, count(*), count(DISTINCT payload->>'\$.user_id')
		FROM events GROUP BY event_date")
	want=$(tq "$L" "SELECT event_date || '', count(*), count(DISTINCT payload->>'\$.user_id')
		FROM events GROUP BY event_date || '' ORDER BY 1")
	[ "$(echo "$got" | wc -l)" -ge 5 ] || fail "fewer than 5 days: $got"
	[ "$got" = "$want" ] || fail "GROUP BY event_date:
$got
--- sorted:
$want"
	got=$(tq "$L" "SELECT event_date FROM events GROUP BY event_date ORDER BY event_date DESC")
	want=$(tq "$L" "SELECT DISTINCT event_date FROM events ORDER BY event_date || '' DESC")
	[ "$got" = "$want" ] || fail "ORDER BY event_date DESC: $got / $want"
	tq "$L" "EXPLAIN QUERY PLAN SELECT event_date, count(*) FROM events GROUP BY 1" \
		>"$WORK/plan" || fail "plan"
	! grep -q "TEMP B-TREE" "$WORK/plan" || fail "GROUP BY event_date sorts: $(cat "$WORK/plan")"
}

# the scan reads the shard's next block on a thread of its own while SQLite
# works through the current one: every row still comes once, in order, and
# a damaged block read ahead is still an error that names it
t_query_reads_ahead() {
	local L=$WORK/ahead f got want
	"$TARN" produce -o "$WORK/ahead.jsonl" --count 20000 --days 1 --seed 8 2>/dev/null ||
		fail "produce"
	"$TARN" ingest --lake "$L" "$WORK/ahead.jsonl" 2>/dev/null || fail "ingest"
	f=$(ls "$L"/shards/*.db)
	[ "$(sqlite3 "file:$f?mode=ro" "SELECT count(*) FROM blocks")" -ge 4 ] || fail "fewer than 4 blocks"
	got=$("$TARN" query --lake "$L" --format csv "SELECT payload FROM events" | tail -n +2 |
		python3 -c 'import csv,sys; [print(r[0]) for r in csv.reader(sys.stdin)]' | sort | md5sum)
	want=$(sort -u "$WORK/ahead.jsonl" | md5sum)
	[ "$got" = "$want" ] || fail "the payloads read are not the input's"
	got=$(tq "$L" "SELECT count(*), count(DISTINCT event_id), sum(length(payload->>'\$.user_id'))
		FROM events")
	want=$(python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]
print("%d,%d,%d" % (len(r), len({e["event_id"] for e in r}), sum(len(e["user_id"]) for e in r)))' \
		"$WORK/ahead.jsonl")
	[ "$got" = "$want" ] || fail "counts: $got, want $want"
	# damage the third block's payloads: fields still read, payloads refused
	sqlite3 "$f" "UPDATE block_data SET payloads = randomblob(200) WHERE block_id = 3" ||
		fail "damage"
	[ "$(tq "$L" "SELECT count(*) FROM events")" = 20000 ] || fail "fields of a damaged block"
	"$TARN" query --lake "$L" "SELECT count(payload) FROM events" >/dev/null 2>"$WORK/err" &&
		fail "a damaged block read ahead went unnoticed"
	grep -q "block 3" "$WORK/err" || fail "the error does not name the block: $(cat "$WORK/err")"
}

# ONLY="t_a t_b" runs just those
ALL="t_file_ingest_dedup t_malformed_quarantined t_gold_equals_sql t_verify_and_rebuild \
	t_files_private t_query_read_only t_query_arrow_is_sqlites t_query_date_order_consumed t_query_reads_ahead t_usage_errors t_stats_json t_replay_file_byte_exact \
	t_kafka_kcat_roundtrip t_kafka_pretty_payload t_replay_unreachable t_kafka_debug_log \
	t_ingest_runs_until_sigterm t_crash_kill9_loop t_disk_full t_corrupt_and_foreign_files \
	t_concurrent_readers_and_writers t_replay_checkpoint t_hostile_inputs \
	t_identity_headers_only_resent_later t_identity_every_id_form_and_time_source \
	t_identity_redelivery_a_million_events_later t_crash_kill9_headers_only t_sqlite_extension \
	t_serve_dashboard t_serve_damaged_lake t_serve_aggregates t_progress_and_json t_progress_on_tty t_json_summaries \
	t_minute_tables t_prune_retention t_compaction t_broker_stops_on_signal \
	t_split_kill9_two_members t_ingest_dlq t_split_dlq_refused t_rebuild_past_a_damaged_shard \
	t_ingest_many_days t_ingest_remembers_field_mapping t_aggregate_declared t_aggregate_native_equals_sql t_aggregate_exact_sums \
	t_aggregate_create_while_ingesting t_aggregate_backfill_kill9 \
	t_aggregate_property t_aggregate_real_data \
	t_ingest_regex_topics_offsets t_ingest_regex_topics_cooperative \
	t_ingest_members_join_and_leave t_ingest_members_join_and_leave_cooperative \
	t_ingest_e_waits_for_the_group t_split_regex_topics_offsets"
skipped=0
for t in ${ONLY:-$ALL}; do
	rm -f "$WORK/skip.reason"
	rc=0
	($t) || rc=$?
	if [ $rc = 0 ]; then
		echo "PASS ${t#t_}"
		passed=$((passed + 1))
	elif [ $rc = $SKIP_STATUS ] && [ -f "$WORK/skip.reason" ]; then
		echo "SKIP ${t#t_}: $(cat "$WORK/skip.reason")"
		skipped=$((skipped + 1))
	else
		echo "FAIL ${t#t_}"
		failed=$((failed + 1))
	fi
	kill_leftover_broker
done
echo "${SUITE:-cli}: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
