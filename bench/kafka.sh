#!/usr/bin/env bash
# make bench-kafka: tarn against kcat on a real Apache Kafka (one KRaft
# broker on 127.0.0.1, tests/kafka/broker.sh), each line measured side by
# side with its baseline in the same run and reported as a ratio:
#   1. Kafka -> lake: tarn ingest -e (consumer group, offsets committed after
#      each lake commit) vs kcat -C -e of the same topic to /dev/null
#   2. replay: tarn replay of the lake (key, headers, timestamps, idempotent
#      producer, every message acknowledged) vs kcat -P -l of the same events
#   3. split: tarn split -e (routes by name, keeps key, headers, timestamps)
#      vs kcat -C -e | kcat -P of the same topic (values only)
#   4. produce -> gold visible: events sent by tarn produce at RATE/s into a
#      running tarn ingest; event i counts as visible when the gold total
#      (read by another connection every 10 ms) passes i; p50 and p99 of
#      (visible - scheduled send time), goal p99 < 1 s
# usage: bench/kafka.sh TARN DIR [EVENTS] [RATE] [SECONDS]
# Ends with "bench-kafka: N of 4 goals met"; exits 1 only when a measurement
# could not be made (a goal missed is a figure, not a failure).
set -u
TARN=$1
DIR=$2
EVENTS=${3:-500000}
RATE=${4:-10000}
SECONDS_LAT=${5:-10}
PARTS=${TARN_KAFKA_PARTITIONS:-8}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KAFKA_SH=$ROOT/tests/kafka/broker.sh
TARN=$(cd "$(dirname "$TARN")" && pwd)/$(basename "$TARN")
die() {
	echo "bench-kafka: $*" >&2
	exit 1
}
command -v kcat >/dev/null || die "no kcat (bash scripts/deps.sh kafka installs it)"
rm -rf "$DIR" && mkdir -p "$DIR"
BS=$(TARN_KAFKA_PARTITIONS=$PARTS bash "$KAFKA_SH" start "$DIR/kafka" 2>"$DIR/broker.err") ||
	die "Kafka did not start: $(tail -5 "$DIR/broker.err")"
cleanup() {
	[ -n "${IPID:-}" ] && kill "$IPID" 2>/dev/null
	bash "$KAFKA_SH" stop "$DIR/kafka"
}
trap cleanup EXIT
for t in in rep kc central copy lat events.click events.login events.logout events.purchase \
	central.dlq; do
	TARN_KAFKA_PARTITIONS=$PARTS bash "$KAFKA_SH" topic "$DIR/kafka" "$t" 2>>"$DIR/broker.err" ||
		die "topic $t: $(tail -3 "$DIR/broker.err")"
done
version=${TARN_KAFKA_VERSION:-$(sed -n 's/^VERSION=${TARN_KAFKA_VERSION:-\(.*\)}$/\1/p' "$KAFKA_SH")}
now() { date +%s.%N; }
rows=()
met=0
# name, tarn rate, baseline rate, goal (minimum ratio)
row() {
	local r
	r=$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", a / b }')
	if awk -v r="$r" -v g="$4" 'BEGIN { exit !(r >= g) }'; then
		met=$((met + 1))
		rows+=("$(printf '| %-52s | %12.0f | %12.0f | %6sx | >= %sx met |' "$1" "$2" "$3" "$r" "$4")")
	else
		rows+=("$(printf '| %-52s | %12.0f | %12.0f | %6sx | >= %sx MISSED |' "$1" "$2" "$3" "$r" "$4")")
	fi
}

# the input: synthetic events with ~5% re-deliveries, as JSON lines
"$TARN" produce -o "$DIR/in.jsonl" --count "$EVENTS" --seed 9 --dup-rate 0.05 2>/dev/null ||
	die "produce"
lines=$(wc -l <"$DIR/in.jsonl")
kcat -b "$BS" -P -t in -X sticky.partitioning.linger.ms=0 -l "$DIR/in.jsonl" || die "kcat -P"

# A broker that has never seen a consumer group creates __consumer_offsets
# (50 partitions) at the first group's join: seconds that a running cluster
# paid long ago, and kcat -C (no group) never pays. One group joins first,
# untimed, on the empty topic lat; ingest's own join stays in its time.
"$TARN" ingest --lake "$DIR/warm" -b "$BS" -t lat -G warm -e 2>/dev/null || die "warm-up join"

# 1. Kafka -> lake
t0=$(now)
kcat -b "$BS" -C -t in -e -q -o beginning >/dev/null || die "kcat -C"
t1=$(now)
"$TARN" ingest --lake "$DIR/lake" -b "$BS" -t in -G bench -e 2>"$DIR/ingest.err" ||
	die "ingest: $(tail -3 "$DIR/ingest.err")"
t2=$(now)
read_n=$(sed -n 's/^tarn ingest: \([0-9]*\) read.*/\1/p' "$DIR/ingest.err" | tail -1)
[ "$read_n" = "$lines" ] || die "ingest read ${read_n:-nothing} of $lines"
row "Kafka -> lake: tarn ingest -e vs kcat -C -e (msg/s)" \
	"$(awk -v n="$lines" -v a="$t1" -v b="$t2" 'BEGIN { print n / (b - a) }')" \
	"$(awk -v n="$lines" -v a="$t0" -v b="$t1" 'BEGIN { print n / (b - a) }')" 0.5

# 2. replay vs kcat -P -l of the stored events (one JSON line each)
"$TARN" replay --lake "$DIR/lake" -o "$DIR/stored.jsonl" 2>/dev/null || die "replay to a file"
stored=$(wc -l <"$DIR/stored.jsonl")
t0=$(now)
kcat -b "$BS" -P -t kc -X sticky.partitioning.linger.ms=0 -l "$DIR/stored.jsonl" || die "kcat -P"
t1=$(now)
"$TARN" replay --lake "$DIR/lake" -b "$BS" -t rep 2>"$DIR/replay.err" ||
	die "replay: $(tail -3 "$DIR/replay.err")"
t2=$(now)
acked=$(sed -n 's/^tarn replay: [0-9]* events read, \([0-9]*\) acknowledged.*/\1/p' "$DIR/replay.err")
[ "$acked" = "$stored" ] || die "replay acknowledged ${acked:-nothing} of $stored"
row "replay: tarn replay vs kcat -P -l (msg/s)" \
	"$(awk -v n="$stored" -v a="$t1" -v b="$t2" 'BEGIN { print n / (b - a) }')" \
	"$(awk -v n="$stored" -v a="$t0" -v b="$t1" 'BEGIN { print n / (b - a) }')" 1.0

# 3. split vs kcat consume + produce (keyed, with headers, 4 names)
"$TARN" produce -b "$BS" -t central --count "$EVENTS" --seed 9 --unkeyed >/dev/null 2>&1 ||
	die "produce to central"
t0=$(now)
kcat -C -b "$BS" -t central -e -q | kcat -P -b "$BS" -t copy -X sticky.partitioning.linger.ms=0 ||
	die "kcat pipe"
t1=$(now)
"$TARN" split -b "$BS" -t central -G bench -e 2>"$DIR/split.err" ||
	die "split: $(tail -3 "$DIR/split.err")"
t2=$(now)
routed=$(sed -n 's/^tarn split: [0-9]* read, \([0-9]*\) routed, \([0-9]*\) dead.*/\1 \2/p' \
	"$DIR/split.err" | awk '{ print $1 + $2 }')
[ "$routed" = "$EVENTS" ] || die "split routed ${routed:-nothing} of $EVENTS"
row "split: tarn split -e vs kcat -C | kcat -P (msg/s)" \
	"$(awk -v n="$EVENTS" -v a="$t1" -v b="$t2" 'BEGIN { print n / (b - a) }')" \
	"$(awk -v n="$EVENTS" -v a="$t0" -v b="$t1" 'BEGIN { print n / (b - a) }')" 0.5

# 4. produce -> gold visible at RATE/s
n_lat=$((RATE * SECONDS_LAT))
"$TARN" ingest --lake "$DIR/lat" -b "$BS" -t lat -G lat 2>/dev/null &
IPID=$!
# warm up: the ingest has joined its group and stored one event
"$TARN" produce -b "$BS" -t lat --count 1 --seed 1 >/dev/null 2>&1 || die "warm-up produce"
for _ in $(seq 300); do
	[ -f "$DIR/lat/gold.db" ] &&
		[ "$(sqlite3 "file:$DIR/lat/gold.db?mode=ro" \
			'SELECT ifnull(sum(event_count), 0) FROM events_per_name_daily' 2>/dev/null)" = 1 ] &&
		break
	sleep 0.1
done
python3 - "$DIR/lat/gold.db" "$n_lat" "$RATE" "$TARN" "$BS" >"$DIR/latency.out" 2>"$DIR/latency.err" <<'PY'
import sqlite3, subprocess, sys, time
gold, n, rate, tarn, bs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
db = sqlite3.connect("file:%s?mode=ro" % gold, uri=True)
q = "SELECT ifnull(sum(event_count), 0) - 1 FROM events_per_name_daily"
t0 = time.time()
p = subprocess.Popen([tarn, "produce", "-b", bs, "-t", "lat", "--count", str(n), "--seed", "2",
                      "--rate", str(rate)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
seen, lat = 0, []
deadline = t0 + n / rate + 30
while seen < n and time.time() < deadline:
    v = min(db.execute(q).fetchone()[0], n)
    t = time.time()
    while seen < v:
        lat.append(t - (t0 + seen / rate))
        seen += 1
    time.sleep(0.01)
p.wait()
if seen < n:
    sys.exit("only %d of %d events became visible" % (seen, n))
lat.sort()
print("%.0f %.0f" % (lat[n // 2] * 1000, lat[int(n * 0.99)] * 1000))
PY
rc=$?
kill "$IPID" 2>/dev/null
wait "$IPID" 2>/dev/null
IPID=
[ $rc = 0 ] || die "latency: $(cat "$DIR/latency.err")"
read -r p50 p99 <"$DIR/latency.out"
if [ "$p99" -lt 1000 ]; then
	met=$((met + 1))
	verdict="< 1000 ms met"
else
	verdict="< 1000 ms MISSED"
fi
echo
echo "bench-kafka: Apache Kafka ${version:-?} (one KRaft node on 127.0.0.1, $PARTS partitions)," \
	"$lines input messages, $(nproc) cores"
printf '| %-52s | %12s | %12s | %7s | %-14s |\n' measure tarn baseline ratio goal
echo "|------------------------------------------------------|--------------|--------------|---------|----------------|"
for r in "${rows[@]}"; do echo "$r"; done
printf '| %-52s | %12s | %12s | %7s | %-14s |\n' \
	"produce -> gold visible at $RATE ev/s, p50 / p99 (ms)" "$p50 / $p99" "-" "-" "$verdict"
echo "bench-kafka: $met of 4 goals met"
