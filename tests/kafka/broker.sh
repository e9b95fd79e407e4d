#!/usr/bin/env bash
# One Apache Kafka broker for tests: a combined KRaft broker and controller
# on 127.0.0.1, from Maven Central's jars (no Kafka tarball, no JVM for
# tarn itself).
#
#     tests/kafka/broker.sh start DIR     prints the bootstrap address
#     tests/kafka/broker.sh stop DIR      stops it and removes DIR
#     tests/kafka/broker.sh crash DIR     SIGKILLs it, keeping DIR
#     tests/kafka/broker.sh restart DIR   starts a crashed one again (same port)
#     tests/kafka/broker.sh fetch         only gets the jars
#     tests/kafka/broker.sh topic DIR NAME [PARTITIONS]
#     tests/kafka/broker.sh refuse DIR NAME   producers to NAME are refused
#     tests/kafka/broker.sh group DIR GROUP   the group's committed offsets
#
# DIR holds server.properties, the log dirs, broker.log, broker.pid and
# bootstrap. The jars and their dependencies are fetched once with mvn into
# $TARN_KAFKA_CACHE (default ~/.cache/tarn-kafka/VERSION) and kept between
# runs. The broker stops by itself after $TARN_KAFKA_TIME_LIMIT seconds
# (default 1800), so a caller killed before its trap ran leaves nothing
# listening for long. Callers still stop it in their EXIT trap.
#
# The version: 4.x is what Apache Kafka releases now; Kafka 4.0 removed
# the protocol versions older clients used (KIP-896), and librdkafka 2.0.2
# (Debian 12) asks for versions that 4.x still serves. README.md ("Against
# a real Apache Kafka") gives the evidence; TARN_KAFKA_VERSION overrides
# the pinned one, for trying another.
set -euo pipefail
VERSION=${TARN_KAFKA_VERSION:-4.4.0}
CACHE=${TARN_KAFKA_CACHE:-$HOME/.cache/tarn-kafka/$VERSION}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PARTITIONS=${TARN_KAFKA_PARTITIONS:-4}
TIME_LIMIT=${TARN_KAFKA_TIME_LIMIT:-1800}

die() {
	echo "broker.sh: $*" >&2
	exit 1
}

need_tools() {
	if ! command -v java >/dev/null || ! command -v mvn >/dev/null ||
		! command -v kcat >/dev/null || ! command -v python3 >/dev/null; then
		bash "$ROOT/scripts/deps.sh" kafka >&2
	fi
}

# The broker (kafka_2.13: kafka.Kafka and kafka.tools.StorageTool) with its
# runtime dependencies, copied into $CACHE/jars; mvn's own repository
# (~/.m2) keeps the downloads too.
fetch() {
	local pom
	need_tools
	mkdir -p "$CACHE"
	pom=$(cat <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.tarn.tests</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$VERSION</version>
    </dependency>
    <!-- TopicCommand and AclCommand; their own dependencies (Connect's
         REST server among them) are not needed for those two -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$VERSION</version>
      <exclusions>
        <exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion>
      </exclusions>
    </dependency>
  </dependencies>
</project>
POM
)
	# the jars of an earlier list are fetched again
	[ -f "$CACHE/jars/.complete" ] && [ "$pom" = "$(cat "$CACHE/pom.xml")" ] && return 0
	echo "$pom" >"$CACHE/pom.xml"
	rm -rf "$CACHE/jars"
	echo "broker.sh: fetching org.apache.kafka:kafka_2.13:$VERSION with mvn" >&2
	(cd "$CACHE" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory="$CACHE/jars") >"$CACHE/mvn.log" 2>&1 ||
		die "mvn could not fetch Kafka $VERSION: $(tail -5 "$CACHE/mvn.log")"
	[ -f "$CACHE/jars/kafka_2.13-$VERSION.jar" ] || die "mvn gave no kafka_2.13-$VERSION.jar"
	touch "$CACHE/jars/.complete"
}

# two free TCP ports on 127.0.0.1, held together so they differ
free_ports() {
	python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))'
}

# a Kafka cluster id: 16 random bytes, URL-safe base64 without padding,
# not starting with '-' (the storage tool would read it as an option: 1 start
# in 64 failed so, as Kafka's own Uuid.randomUuid avoids)
cluster_id() {
	python3 -c '
import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break'
}

start() {
	local dir=$1 port cport pid i
	fetch
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ ! -f "$dir/broker.pid" ] || die "$dir already has a broker (broker.pid)"
	read -r port cport < <(free_ports)
	cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=$PARTITIONS
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# ACLs only where a test sets one (refuse): everything else is allowed
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=true
PROPS
	java -Xmx256m -cp "$CACHE/jars/*" kafka.tools.StorageTool format \
		-t "$(cluster_id)" -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
		die "formatting the log dirs failed: $(tail -5 "$dir/format.log")"
	# timeout forwards its TERM to java; the pid file names timeout
	timeout "$TIME_LIMIT" java -Xms256m -Xmx512m -XX:+UseSerialGC -cp "$CACHE/jars/*" \
		kafka.Kafka "$dir/server.properties" >"$dir/broker.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/broker.pid"
	for i in $(seq 120); do
		kill -0 "$pid" 2>/dev/null ||
			die "the broker exited: $(tail -20 "$dir/broker.log")"
		if kcat -L -b "127.0.0.1:$port" -m 2 >/dev/null 2>&1; then
			echo "127.0.0.1:$port" >"$dir/bootstrap"
			echo "127.0.0.1:$port"
			return 0
		fi
		sleep 0.5
	done
	stop "$dir"
	die "the broker did not answer on 127.0.0.1:$port within 60 s"
}

# the broker's java dies at once (SIGKILL: a crash or a power cut of the
# broker, not a shutdown); DIR keeps its data and settings for restart
crash() {
	local dir=$1 pid jpid i
	[ -f "$dir/broker.pid" ] || die "$dir has no broker"
	pid=$(cat "$dir/broker.pid")
	jpid=$(pgrep -P "$pid" || true)
	kill -KILL $jpid "$pid" 2>/dev/null || true
	for i in $(seq 100); do
		kill -0 $jpid "$pid" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$dir/broker.pid"
}

# start the broker of DIR again, on the same ports and data
restart() {
	local dir=$1 pid i port
	dir=$(cd "$dir" && pwd)
	[ ! -f "$dir/broker.pid" ] || die "$dir has a running broker"
	port=$(sed -n 's/^advertised.listeners=PLAINTEXT:\/\/127.0.0.1:\([0-9]*\)$/\1/p' \
		"$dir/server.properties")
	timeout "$TIME_LIMIT" java -Xms256m -Xmx512m -XX:+UseSerialGC -cp "$CACHE/jars/*" \
		kafka.Kafka "$dir/server.properties" >>"$dir/broker.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/broker.pid"
	for i in $(seq 120); do
		kill -0 "$pid" 2>/dev/null || die "the broker exited: $(tail -20 "$dir/broker.log")"
		kcat -L -b "127.0.0.1:$port" -m 2 >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	die "the restarted broker did not answer on 127.0.0.1:$port within 60 s"
}

stop() {
	local dir=$1 pid i
	[ -d "$dir" ] || return 0
	if [ -f "$dir/broker.pid" ]; then
		pid=$(cat "$dir/broker.pid")
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		# a broker that did not shut down in 30 s: its java, then timeout
		pkill -KILL -P "$pid" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$dir/broker.pid"
	fi
	rm -rf "$dir"
}

# one of Kafka's own command-line tools against the broker in DIR
tool() {
	local dir=$1 class=$2
	shift 2
	# slf4j finds no binding in these jars and says so; nothing else is lost
	java -Xmx256m -cp "$CACHE/jars/*" "org.apache.kafka.tools.$class" \
		--bootstrap-server "$(cat "$dir/bootstrap")" "$@" 2> >(grep -v '^SLF4J' >&2)
}

case ${1:-} in
start) start "${2:?start DIR}" ;;
stop) stop "${2:?stop DIR}" ;;
crash) crash "${2:?crash DIR}" ;;
restart) restart "${2:?restart DIR}" ;;
fetch) fetch ;;
# a topic with N partitions (default TARN_KAFKA_PARTITIONS)
topic)
	tool "${2:?topic DIR NAME [N]}" TopicCommand --create --if-not-exists \
		--topic "${3:?topic DIR NAME [N]}" --partitions "${4:-$PARTITIONS}" \
		--replication-factor 1 >/dev/null
	;;
# producers are refused NAME: TOPIC_AUTHORIZATION_FAILED, as tarn broker --refuse
refuse)
	tool "${2:?refuse DIR NAME}" AclCommand --add --deny-principal User:ANONYMOUS \
		--operation Write --topic "${3:?refuse DIR NAME}" >/dev/null
	;;
# the committed offsets of group GROUP, by Kafka's own kafka-consumer-groups:
# "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ..." lines
group)
	tool "${2:?group DIR GROUP}" consumer.group.ConsumerGroupCommand --describe \
		--group "${3:?group DIR GROUP}"
	;;
*)
	echo "usage: broker.sh start DIR | stop DIR | fetch | topic DIR NAME [N] |" \
		"refuse DIR NAME | group DIR GROUP" >&2
	exit 2
	;;
esac
