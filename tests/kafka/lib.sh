# Sourced by tests/cli/run.sh when TARN_BROKER=kafka (tests/kafka/run.sh):
# start_broker and stop_broker run a real Apache Kafka (tests/kafka/broker.sh)
# instead of the embedded broker, so the cases keep their assertions and
# change only the broker under them. Each case gets a new broker in
# $WORK/kafka, stopped by stop_broker, by the runner after the case, and by
# cleanup at exit.
KAFKA_SH=$ROOT/tests/kafka/broker.sh

# the embedded broker's options: --partitions N, --topic NAME (made before
# the case starts, as tarn broker does), --refuse NAME (producers get
# TOPIC_AUTHORIZATION_FAILED from an ACL, as from tarn broker --refuse)
start_broker() {
	local parts=4 topics=() refused=() t
	while [ $# -gt 0 ]; do
		case $1 in
		--partitions) parts=$2 ;;
		--topic) topics+=("$2") ;;
		--refuse) refused+=("$2") ;;
		*) fail "start_broker: unknown option $1" ;;
		esac
		shift 2
	done
	BS=$(TARN_KAFKA_PARTITIONS=$parts bash "$KAFKA_SH" start "$WORK/kafka" 2>"$WORK/broker.err") ||
		fail "Kafka did not start: $(tail -5 "$WORK/broker.err")"
	for t in ${topics[@]+"${topics[@]}"}; do
		TARN_KAFKA_PARTITIONS=$parts bash "$KAFKA_SH" topic "$WORK/kafka" "$t" 2>>"$WORK/broker.err" ||
			fail "topic $t: $(tail -5 "$WORK/broker.err")"
	done
	for t in ${refused[@]+"${refused[@]}"}; do
		bash "$KAFKA_SH" refuse "$WORK/kafka" "$t" 2>>"$WORK/broker.err" ||
			fail "refuse $t: $(tail -5 "$WORK/broker.err")"
	done
}

stop_broker() {
	bash "$KAFKA_SH" stop "$WORK/kafka"
}

# The group's committed offsets as Kafka's own kafka-consumer-groups shows
# them: every partition of each topic given has one, equal to its end
# (lag 0). Called by group_at_end in tests/cli/run.sh on the real broker.
kafka_group_at_end() {
	local g=$1 t want got
	shift
	bash "$KAFKA_SH" group "$WORK/kafka" "$g" >"$WORK/group.describe" 2>>"$WORK/broker.err" ||
		fail "kafka-consumer-groups: $(tail -3 "$WORK/broker.err")"
	for t in "$@"; do
		want=$(kcat -L -b "$BS" -t "$t" 2>/dev/null | grep -c 'partition [0-9]*, leader')
		got=$(awk -v g="$g" -v t="$t" '$1 == g && $2 == t && $4 == $5 && $4 != "-"' \
			"$WORK/group.describe" | wc -l)
		[ "$want" -gt 0 ] && [ "$got" = "$want" ] ||
			fail "group $g, topic $t: $got of $want partitions committed at their end:" \
				"$(grep " $t " "$WORK/group.describe" | tr '\n' ';')"
	done
}

kill_leftover_broker() {
	[ -d "$WORK/kafka" ] && bash "$KAFKA_SH" stop "$WORK/kafka"
	return 0
}
SUITE=kafka

# kill -9 during ingest from a real broker (tests/torture/crash.sh starts
# its own, as TARN_BROKER says): nothing lost, nothing doubled, verify clean
t_kafka_crash_kill9_loop() {
	TARN="$TARN" bash "$ROOT/tests/torture/crash.sh" "${KAFKA_CRASH_EVENTS:-60000}" \
		"${KAFKA_KILLS:-50}" 3 "${KAFKA_CRASH_RATE:-250}" | tee "$WORK/crash.out"
	grep -q "lost 0 duplicated 0 verify clean" "$WORK/crash.out" || fail "crash loop"
}

# the unit cases that can take a real broker (test_kafka's kafka__revoke_*:
# a revoke hands partitions over at exactly the offsets stored, eager and
# cooperative-sticky), on a new broker; the unit binary beside $TARN's
# build (build-san/tests for build-san/tarn), else build/tests
t_kafka_unit_revoke() {
	local unit
	unit=$(dirname "$TARN")/tests/test_kafka
	[ -x "$unit" ] || unit=$ROOT/build/tests/test_kafka
	[ -x "$unit" ] || skip "no test_kafka binary (make unit-bins)"
	start_broker
	TARN_TEST_KAFKA_BROKERS=$BS timeout 300 "$unit" >"$WORK/unit.out" 2>&1 ||
		fail "$(grep -E 'ERROR|FAILED' "$WORK/unit.out" | head -3 | tr '\n' ' ')"
	grep -q "^\[  PASSED  \] 1 test(s)" "$WORK/unit.out" || fail "$(tail -5 "$WORK/unit.out")"
	stop_broker
}
