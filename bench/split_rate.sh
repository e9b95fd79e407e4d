#!/usr/bin/env bash
# The splitter's rate against kcat piping the same topic (run by make bench):
# EVENTS synthetic events (keyed, headers event_id/event_name, 4 names) on
# an embedded broker, PARTITIONS partitions; then, each timed to the end of
# the input:
#   baseline: kcat -C -e -q | kcat -P   (values only, one output topic,
#             no keys, headers or timestamps, no group, no offset commits)
#   tarn:     tarn split -e  (routes by name, keeps key, headers and
#             timestamp, idempotent producer, offsets committed per batch
#             after acknowledgement)
# Prints messages/s of each and the ratio tarn / baseline; exits 1 if the
# outputs do not hold EVENTS messages. tarn split is a consumer-group member
# and kcat -C is not: joining a group on the embedded broker takes about
# 3 s (the mock's initial rebalance delay), measured here as a split -e of
# an empty topic and shown as a second line without it.
# usage: bench/split_rate.sh TARN DIR [EVENTS] [PARTITIONS]
set -u
TARN=$1
DIR=$2
EVENTS=${3:-500000}
PARTS=${4:-32}
command -v kcat >/dev/null || { echo "split_rate: no kcat (scripts/deps.sh installs it)"; exit 1; }
rm -rf "$DIR" && mkdir -p "$DIR"
"$TARN" broker --partitions "$PARTS" --topic central --topic copy --topic empty \
	--topic events.click --topic events.login --topic events.logout --topic events.purchase >"$DIR/broker.out" 2>"$DIR/broker.err" &
bpid=$!
trap 'kill $bpid 2>/dev/null; wait $bpid 2>/dev/null' EXIT
for _ in $(seq 50); do
	BS=$(head -1 "$DIR/broker.out" 2>/dev/null)
	[ -n "$BS" ] && break
	sleep 0.1
done
[ -n "$BS" ] || { echo "split_rate: broker did not start"; exit 1; }
"$TARN" produce -b "$BS" -t central --count "$EVENTS" --seed 9 --unkeyed 2>/dev/null ||
	{ echo "split_rate: produce failed"; exit 1; }
now() { date +%s.%N; }
t0=$(now)
kcat -C -b "$BS" -t central -e -q -X fetch.wait.max.ms=10 | kcat -P -b "$BS" -t copy -X linger.ms=5 \
	-X sticky.partitioning.linger.ms=0
t1=$(now)
"$TARN" split -b "$BS" -t central -G bench -e -X fetch.wait.max.ms=10 2>"$DIR/split.err" ||
	{ echo "split_rate: split failed: $(cat "$DIR/split.err")"; exit 1; }
t2=$(now)
"$TARN" split -b "$BS" -t empty -G bench-empty -e -X fetch.wait.max.ms=10 2>/dev/null ||
	{ echo "split_rate: split of an empty topic failed"; exit 1; }
t3=$(now)
copied=$(kcat -C -b "$BS" -t copy -e -q -f 'x\n' | wc -l)
routed=$(sed -n 's/^tarn split: [0-9]* read, \([0-9]*\) routed, \([0-9]*\) dead.*/\1 \2/p' "$DIR/split.err" |
	awk '{ print $1 + $2 }')
echo
echo "tarn split vs kcat -C | kcat -P: $EVENTS messages, $PARTS partitions, embedded broker, $(nproc) cores"
awk -v n="$EVENTS" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v copied="$copied" \
	-v routed="$routed" 'BEGIN {
	k = n / (b - a); s = n / (c - b); j = d - c; sj = n / (c - b - j)
	printf "| %-44s | %12s |\n", "measure", "messages/s"
	printf "|----------------------------------------------|-------------:|\n"
	printf "| %-44s | %12.0f |\n", "kcat -C -e | kcat -P (" copied " copied)", k
	printf "| %-44s | %12.0f |\n", "tarn split -e (" routed " routed)", s
	printf "| %-44s | %12.0f |\n", "tarn split -e without the group join (" sprintf("%.1f", j) " s)", sj
	printf "| %-44s | %11.2fx |\n", "ratio tarn / kcat", s / k
	printf "| %-44s | %11.2fx |\n", "ratio tarn / kcat without the group join", sj / k
}'
[ "$copied" = "$EVENTS" ] && [ "$routed" = "$EVENTS" ] ||
	{ echo "split_rate: expected $EVENTS messages each side"; exit 1; }
