#!/usr/bin/env bash
# kill -9 ingest at random instants, restart it, and check that every unique
# event is stored exactly once, gold equals its recomputation and verify is
# clean; then the same for `tarn gold --rebuild`.
#   crash.sh EVENTS KILLS [REBUILD_KILLS] [RATE]      (TARN=path/to/tarn)
# Events are produced at RATE per second while ingest (a consumer group,
# no -e) is killed and restarted, so kills land while batches are built,
# committed to SQLite, added to gold and their offsets committed.
# TARN_BROKER=kafka: against a real Apache Kafka (tests/kafka/broker.sh)
# instead of the embedded broker.
# Prints one line of figures: "crash: runs R kills K events N stored S lost L duplicated D".
set -u
EVENTS=${1:-50000}
KILLS=${2:-5}
REBUILD_KILLS=${3:-3}
RATE=${4:-2000}
TARN=${TARN:-bin/tarn}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/tarn-crash-XXXXXX)
L=$WORK/lake
BPID=
cleanup() {
	[ -n "$BPID" ] && kill "$BPID" 2>/dev/null
	[ -d "$WORK/kafka" ] && bash "$ROOT/tests/kafka/broker.sh" stop "$WORK/kafka"
	rm -rf "$WORK"
}
trap cleanup EXIT
die() {
	echo "crash: $*"
	exit 1
}

# unkeyed events spread evenly: ~12,500 a partition keeps each under the
# embedded broker's ~5 MB; more partitions make its fetches slow
parts=$((EVENTS / 12500 + 4))
if [ "${TARN_BROKER:-embedded}" = kafka ]; then
	BS=$(bash "$ROOT/tests/kafka/broker.sh" start "$WORK/kafka" 2>"$WORK/b.out") &&
		bash "$ROOT/tests/kafka/broker.sh" topic "$WORK/kafka" in "$parts" 2>>"$WORK/b.out" ||
		die "no Kafka: $(tail -3 "$WORK/b.out")"
else
	"$TARN" broker --partitions "$parts" --topic in >"$WORK/b.out" 2>&1 &
	BPID=$!
	for _ in $(seq 50); do
		BS=$(head -1 "$WORK/b.out" 2>/dev/null)
		[ -n "$BS" ] && break
		sleep 0.1
	done
fi
[ -n "$BS" ] || die "no broker"
# unkeyed: hot user keys would overflow the embedded broker's ~5 MB per
# partition at this volume, and it would drop events itself
# HEADERS_ONLY=1: ids only in headers, times stamped by the producer, so a
# re-send carries a later time than its original
"$TARN" produce -b "$BS" -t in --count "$EVENTS" --dup-rate 0.05 --days 2 --seed 11 \
	--rate "$RATE" --unkeyed ${HEADERS_ONLY:+--headers-only} 2>"$WORK/p.err" &
PPID_=$!

# the mock makes a re-joining group wait for the dead member's session
ingest() {
	exec "$TARN" ingest --lake "$L" -b "$BS" -t in -G crash \
		-X session.timeout.ms=6000 -X heartbeat.interval.ms=1000 "$@"
}
runs=0
kills=0
while [ "$kills" -lt "$KILLS" ]; do
	ingest 2>>"$WORK/ingest.err" &
	pid=$!
	runs=$((runs + 1))
	# a join takes ~3-7 s; kill somewhere in it or in the work after it
	sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 2 + (r % 700) / 100 }')"
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid"
		kills=$((kills + 1))
	fi
	wait "$pid" 2>/dev/null
done
wait "$PPID_" || die "produce: $(cat "$WORK/p.err")"
# "tarn produce: N events (M re-sends) to in"
sent=$(sed -n 's/^tarn produce: \([0-9]*\) events.*/\1/p' "$WORK/p.err")
(ingest -e) 2>>"$WORK/ingest.err" || die "final ingest failed: $(tail -3 "$WORK/ingest.err")"
runs=$((runs + 1))

rebuild_kills=0
while [ "$rebuild_kills" -lt "$REBUILD_KILLS" ]; do
	"$TARN" gold --lake "$L" --rebuild >/dev/null 2>&1 &
	pid=$!
	sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", (r % 100) / 100 }')"
	kill -9 "$pid" 2>/dev/null && rebuild_kills=$((rebuild_kills + 1))
	wait "$pid" 2>/dev/null
done

# stored: the blocks' event counts, read with the sqlite3 shell; distinct
# ids: through tarn's events view (the ids live inside compressed blocks)
stored=0
for f in "$L"/shards/*.db; do
	stored=$((stored + $(sqlite3 "file:$f?mode=ro" 'SELECT ifnull(sum(n_events), 0) FROM blocks')))
done
distinct=$("$TARN" query --lake "$L" --format csv 'SELECT count(DISTINCT event_id) FROM events' |
	tail -1 | tr -d '\r')
lost=$((EVENTS - distinct))
dup=$((stored - distinct))
"$TARN" verify --lake "$L" >"$WORK/verify.out" 2>&1
vrc=$?
echo "crash: runs $runs kills $kills rebuild-kills $rebuild_kills events $EVENTS messages $sent stored $stored lost $lost duplicated $dup verify $([ $vrc = 0 ] && echo clean || echo FAILED)"
[ "$vrc" = 0 ] || { cat "$WORK/verify.out"; exit 1; }
[ "$lost" = 0 ] && [ "$dup" = 0 ] && [ "$stored" = "$EVENTS" ] && exit 0
# where the lost events were: their partitions and offsets as kcat reads the
# topic (first copy of each id), and the ingest runs' last messages
if [ "$lost" != 0 ] && command -v kcat >/dev/null; then
	kcat -C -b "$BS" -t in -e -q -f '%p %o %s\n' 2>/dev/null |
		sed -n 's/^\([0-9]*\) \([0-9]*\) .*"event_id":"\([^"]*\)".*/\3 \1 \2/p' |
		sort -k1,1 -u >"$WORK/topic.ids"
	"$TARN" query --lake "$L" --format csv 'SELECT DISTINCT event_id FROM events' |
		tail -n +2 | tr -d '\r' | sort >"$WORK/lake.ids"
	join -v1 "$WORK/topic.ids" "$WORK/lake.ids" | sort -k2,2n -k3,3n |
		awk '$2 != p || $3 != o + 1 { if (NR > 1) print "  lost: partition " p " offsets " s "-" o; p = $2; s = $3 }
		     { o = $3 } END { if (NR) print "  lost: partition " p " offsets " s "-" o }' | head -20
	grep -v '^%' "$WORK/ingest.err" | tail -5 | sed 's/^/  ingest: /'
fi
exit 1
