#!/usr/bin/env bash
# The Kafka-facing end-to-end cases of tests/cli/run.sh, against a real
# Apache Kafka (tests/kafka/broker.sh: one KRaft node on 127.0.0.1, a new
# one for each case) instead of the embedded broker, with the same
# assertions; then kill -9 during ingest, many times. Ends with
# "kafka: N passed, N failed, N skipped".
#     TARN=bin/tarn bash tests/kafka/run.sh       (ONLY="t_a t_b" runs those)
# KAFKA_KILLS (default 50) sets the kill -9 loop's kills.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# fetch the jars (and install a JRE and Maven) once, before any case
bash "$ROOT/tests/kafka/broker.sh" fetch || {
	echo "kafka: 0 passed, 1 failed, 0 skipped"
	exit 1
}
CASES="t_kafka_kcat_roundtrip t_kafka_pretty_payload t_ingest_runs_until_sigterm \
	t_replay_checkpoint t_ingest_dlq t_split_dlq_refused t_split_kill9_two_members \
	t_ingest_regex_topics_offsets t_ingest_regex_topics_cooperative \
	t_ingest_members_join_and_leave t_ingest_members_join_and_leave_cooperative \
	t_ingest_e_waits_for_the_group t_split_regex_topics_offsets t_kafka_unit_revoke \
	t_split_exactly_once_kill9 t_split_fenced t_missing_topic t_broker_restart t_kafka_crash_kill9_loop"
export TARN_BROKER=kafka
ONLY=${ONLY:-$CASES} exec bash "$ROOT/tests/cli/run.sh"
