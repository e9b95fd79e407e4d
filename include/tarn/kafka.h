/* tarn/kafka.h - the Kafka adapter: embedded broker, consumer, producer.
 *
 * Built on librdkafka (Kafka protocol). This module knows nothing of SQLite:
 * it hands messages out as tarn_event raw parts and takes them back for
 * sending. Configuration is given as "key=value" strings passed verbatim to
 * rd_kafka_conf_set, as kcat's -X does; values are never copied into error
 * messages (secrets such as sasl.password stay out of logs).
 */
#ifndef TARN_KAFKA_H
#define TARN_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "tarn/event.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- librdkafka's log lines ---- */

/* Receives one log line of librdkafka (its log_cb, rd_kafka_conf_set_log_cb),
 * from every client and embedded broker tarn opens.
 *
 * ctx: the pointer given to tarn_kafka_log_set.
 * level: the line's severity as a syslog level, 0 (emergency) to 7 (debug)
 *   (syslog(3) LOG_EMERG..LOG_DEBUG, the severities of RFC 5424 section
 *   6.2.1). librdkafka sends lines up to its log_level property (default 6,
 *   informational); debug lines (7) come only with its "debug" property,
 *   e.g. -X debug=broker.
 * fac: librdkafka's facility, a short tag such as "FAIL" or "CONNECT".
 * msg: the text, without a final newline.
 * fac and msg are NUL-terminated and borrowed for the call only: copy them
 * to keep them. Called from librdkafka's internal threads, and from any
 * thread inside a tarn Kafka function (opening or closing a client), but
 * never for two lines at once: tarn holds a mutex around each call. It
 * must not call tarn_kafka_log_set (that would wait for itself); anything
 * else it touches must be safe to use from another thread. */
typedef void (*tarn_kafka_log_cb)(void *ctx, int level, const char *fac, const char *msg);

/* Install the process-wide receiver of librdkafka's log lines.
 *
 * cb: the receiver, or NULL to discard every line (the default: the library
 *   never writes to stdout or stderr; librdkafka, left alone, would print
 *   its lines to stderr).
 * ctx: passed to cb as is; may be NULL; tarn never frees it.
 * Applies at once to clients already open. When it returns, no call of the
 * previous receiver is running or will start, so its ctx may be freed.
 * Thread-safe; must not be called from inside the receiver. The tarn
 * command installs one that prints "librdkafka LEVEL FAC: MSG" to stderr
 * when the environment variable TARN_KAFKA_DEBUG is set. */
void tarn_kafka_log_set(tarn_kafka_log_cb cb, void *ctx);

/* ---- embedded broker (librdkafka mock cluster, rdkafka_mock.h) ---- */

typedef struct tarn_broker tarn_broker;

/* Start an in-process Kafka-protocol broker listening on 127.0.0.1 on an
 * ephemeral port.
 *
 * out: receives the broker; stop it with tarn_broker_stop.
 * n_brokers: brokers in the cluster, >= 1 (usually 1).
 * default_partitions: partitions of topics created by tarn_broker_topic with
 *   partitions 0, and of topics auto-created on first use when possible
 *   (the mock cluster auto-creates with 4 partitions otherwise). Size
 *   them for the volume: librdkafka 2.0's mock cluster keeps only about
 *   5 MB / 100,000 messages a partition and drops older ones silently
 *   (README.md, "The embedded broker").
 * Returns TARN_OK, TARN_EINVAL (n_brokers < 1), or TARN_EKAFKA. */
int tarn_broker_start(tarn_broker **out, int n_brokers, int default_partitions);

/* The bootstrap address list, "127.0.0.1:PORT[,...]"; borrowed from the
 * broker, valid until tarn_broker_stop. */
const char *tarn_broker_bootstrap(const tarn_broker *b);

/* Create topic `name` with `partitions` partitions (0: the broker's
 * default_partitions), replication factor 1.
 * Returns TARN_OK, TARN_EINVAL (empty name), or TARN_EKAFKA (e.g. exists). */
int tarn_broker_topic(tarn_broker *b, const char *name, int partitions);

/* Make broker `broker_id` (1-based) unreachable (up = 0) or reachable again
 * (up = 1), for fault-injection tests (rd_kafka_mock_broker_set_down/up).
 * Returns TARN_OK or TARN_EKAFKA. */
int tarn_broker_set_up(tarn_broker *b, int broker_id, int up);

/* Make the broker answer the next `count` requests of Kafka API `api_key`
 * (Kafka protocol API keys: 0 Produce, 1 Fetch, 8 OffsetCommit, ...) with
 * error code `kafka_error` (Kafka protocol error codes, e.g. 29
 * TOPIC_AUTHORIZATION_FAILED), for fault-injection tests
 * (rd_kafka_mock_push_request_errors).
 * Returns TARN_OK, or TARN_EINVAL when count < 1 or count > 1000. */
int tarn_broker_inject_errors(tarn_broker *b, int api_key, int count, int kafka_error);

/* Make the broker refuse topic `name`: metadata requests for it answer with
 * Kafka protocol error `kafka_error` (e.g. 29 TOPIC_AUTHORIZATION_FAILED),
 * so producers fail every message to it (rd_kafka_mock_topic_set_error;
 * the topic is created when it does not exist). For fault-injection tests
 * of dead-letter topics; 0 lifts the refusal.
 * Returns TARN_OK, or TARN_EINVAL for an empty name. */
int tarn_broker_refuse_topic(tarn_broker *b, const char *name, int kafka_error);

/* Stop the broker and free it; NULL is allowed. Connected clients see the
 * connection close. */
void tarn_broker_stop(tarn_broker *b);

/* Told, for the command to show, when no broker answers any more and when
 * one answers again: msg is one line (borrowed for the call), naming the
 * bootstrap servers and the last error. Called on the thread that polls. */
typedef void (*tarn_kafka_wait_cb)(void *ctx, const char *msg);

/* How long a consumer or producer waits for a broker that went away before
 * it gives up, by default: 300 s. */
#define TARN_BROKER_TIMEOUT_MS 300000

/* ---- consumer (a member of a consumer group) ---- */

typedef struct tarn_consumer tarn_consumer;

typedef struct tarn_consumer_options {
	const char *brokers;	 /* bootstrap.servers, required */
	const char *topic;	 /* required: a topic name, or a regular expression
				    starting with '^' matched against every topic
				    (librdkafka's rd_kafka_subscribe rule), e.g.
				    "^events\\..*" */
	const char *group;	 /* group.id; default "tarn" */
	int exit_at_end;	 /* 1: poll returns TARN_ENOTFOUND once every assigned
				    partition has been read to its end (kcat -e) and
				    the group has committed the other members'
				    partitions to their end (see tarn_consumer_poll) */
	const char *const *conf; /* n_conf "key=value" strings for rd_kafka_conf_set, may be NULL */
	size_t n_conf;
	int broker_timeout_ms;	    /* no broker for this long: tarn_consumer_poll
				       fails (TARN_EKAFKA); <= 0: TARN_BROKER_TIMEOUT_MS */
	tarn_kafka_wait_cb on_wait; /* may be NULL */
	void *on_wait_ctx;
} tarn_consumer_options;

#define TARN_CONSUMER_OPTIONS_INIT                                                                 \
	{                                                                                          \
		NULL, NULL, "tarn", 0, NULL, 0, 0, NULL, NULL                                      \
	}

/* Open a consumer and subscribe to the topic (or the topics the regex
 * matches).
 *
 * Sets enable.auto.offset.store=false and enable.auto.commit=false and
 * auto.offset.reset=earliest (the caller's conf may override the last one):
 * offsets are stored and committed only by tarn_consumer_commit, after the
 * caller has made the events durable.
 * Rebalances follow the group's protocol: eager assignors (librdkafka's
 * default "range,roundrobin") hand the whole assignment out and back,
 * cooperative ones (partition.assignment.strategy=cooperative-sticky) only
 * the partitions that move (KIP-429; rd_kafka_incremental_assign and
 * _unassign). Before partitions are revoked, the offsets stored so far are
 * committed, synchronously; a partition's offset stored after it was
 * revoked is refused by librdkafka, so its next owner reads from what was
 * committed. The end marks of exit_at_end are kept per (topic,
 * partition), and reset for each partition assigned.
 * out: receives the consumer; close with tarn_consumer_close.
 * Returns TARN_OK, TARN_EINVAL (missing brokers/topic, a bad "key=value"
 * string: the message names the key, never the value), or TARN_EKAFKA. */
int tarn_consumer_open(tarn_consumer **out, const tarn_consumer_options *opts);

/* Wait up to timeout_ms milliseconds for the next message.
 * exit_at_end: when every assigned partition is at its end, the consumer
 * also looks (every 500 ms: metadata, OffsetFetch and ListOffsets
 * requests) at the subscribed partitions other members hold. While the
 * group's committed offset of one is below its high watermark (a member
 * that died keeps its partitions until session.timeout.ms passes), poll
 * keeps waiting for a rebalance to hand it over or for its owner to
 * commit, for up to twice session.timeout.ms plus 5 s; then it stops
 * anyway and tells on_wait which partitions it left and how many
 * messages each still has.
 * While no broker answers (librdkafka reports all brokers down), the
 * consumer keeps trying (librdkafka reconnects by itself), tells on_wait
 * once, checks each second whether a broker answers a metadata request
 * (then tells on_wait again), and after broker_timeout_ms fails with
 * TARN_EKAFKA naming the bootstrap servers.
 *
 * ev: receives the raw part of the event (tarn_event_init is applied
 *   first): payload, key, headers (as a header block), topic, partition,
 *   offset, kafka_ts_us/kafka_ts_is_create, ingest_us. The pointers stay
 *   valid until the next tarn_consumer_poll or tarn_consumer_close.
 * Returns TARN_OK with *ev filled; TARN_EINVAL with no message when the
 *   timeout passed (check tarn_consumer_at_end); TARN_ENOTFOUND when
 *   exit_at_end is set and every assigned partition is at its end; or
 *   TARN_EKAFKA for a fatal consumer error (message has the reason: a
 *   named topic the broker does not have, UNKNOWN_TOPIC_OR_PART; topic or
 *   group not authorised), or when no broker answered for
 *   broker_timeout_ms. Transient errors
 *   (broker down for less, rebalancing) are retried inside and are not
 *   returned. Not thread-safe for one consumer. */
int tarn_consumer_poll(tarn_consumer *c, int timeout_ms, tarn_event *ev);

/* Record that every message up to and including `offset` of
 * (topic, partition) is durable; the offset stored is offset + 1 (Kafka's
 * "next offset to read"). Nothing is sent to the broker until
 * tarn_consumer_commit. Returns TARN_OK or TARN_EKAFKA. */
int tarn_consumer_store(tarn_consumer *c, const char *topic, int32_t partition, int64_t offset);

/* Commit the stored offsets to the group coordinator, synchronously.
 * Returns TARN_OK (also when there was nothing to commit) or TARN_EKAFKA. */
int tarn_consumer_commit(tarn_consumer *c);

/* Leave the group and free the consumer; NULL is allowed. Does not commit:
 * call tarn_consumer_commit first. */
void tarn_consumer_close(tarn_consumer *c);

/* ---- producer ---- */

typedef struct tarn_producer tarn_producer;

typedef struct tarn_producer_options {
	const char *brokers;	 /* bootstrap.servers, required */
	const char *topic;	 /* the topic of tarn_producer_send; may be NULL
				    when only tarn_producer_send_to is used */
	int idempotent;		 /* 1: enable.idempotence=true (Kafka protocol's
				    idempotent producer: no duplicates on retry) */
	int unkeyed_spread;	 /* 1: sticky.partitioning.linger.ms=0 so unkeyed
				    messages spread evenly (librdkafka's sticky
				    partitioner fills partitions unevenly
				    otherwise: README.md, "The embedded broker") */
	const char *const *conf; /* n_conf "key=value" strings, may be NULL */
	size_t n_conf;
	const char *transactional_id; /* NULL: none; else transactional.id, and the
					 producer is transactional (Kafka's
					 transactions, KIP-98; idempotent too):
					 see tarn_split_run */
	int broker_timeout_ms;	      /* a message not acknowledged this long fails
					 (message.timeout.ms; librdkafka retries it
					 meanwhile, across a broker restart);
					 <= 0: 30,000 */
	tarn_kafka_wait_cb on_wait;   /* may be NULL: told when no broker answers */
	void *on_wait_ctx;
} tarn_producer_options;

#define TARN_PRODUCER_OPTIONS_INIT                                                                 \
	{                                                                                          \
		NULL, NULL, 1, 1, NULL, 0, NULL, 0, NULL, NULL                                     \
	}

/* Open a producer (for one topic, or for any with tarn_producer_send_to).
 * Returns TARN_OK, TARN_EINVAL (no brokers, or as for the consumer), or
 * TARN_EKAFKA. */
int tarn_producer_open(tarn_producer **out, const tarn_producer_options *opts);

/* Queue one message with rd_kafka_producev: value, key, headers (a header
 * block) and timestamp (ts_us / 1000 milliseconds; ts_us < 0 lets the
 * producer stamp the current time). Data is copied. Blocks, serving
 * delivery reports, while the local queue is full.
 * Returns TARN_OK or TARN_EKAFKA (message too large, unknown topic, ...). */
int tarn_producer_send(tarn_producer *p, const void *value, size_t value_len, const void *key,
		       size_t key_len, const void *headers, size_t headers_len, int64_t ts_us);

/* As tarn_producer_send, to topic `topic` (NUL-terminated; NULL: the
 * producer's own topic, which then must have been given). The topic is
 * created by the broker on first use when it allows that (the embedded
 * broker does, with 4 partitions). Delivery reports count as for
 * tarn_producer_send.
 * Returns TARN_OK, TARN_EINVAL (no topic at all), or TARN_EKAFKA. */
int tarn_producer_send_to(tarn_producer *p, const char *topic, const void *value, size_t value_len,
			  const void *key, size_t key_len, const void *headers, size_t headers_len,
			  int64_t ts_us);

/* Re-emit a stored event with tarn_producer_send: its payload, key and
 * header block as stored, and its Kafka timestamp, or its event time when
 * it came without one (from a JSON-lines file).
 * ev: an event as tarn_replay_scan hands it out (borrowed; data is copied).
 * Returns as tarn_producer_send. */
int tarn_producer_send_event(tarn_producer *p, const tarn_event *ev);

/* How many messages, counted from the first one sent since open and in
 * send order, were all acknowledged: the length of the acknowledged prefix
 * (delivery reports of different partitions arrive out of order). Serve
 * delivery reports first (tarn_producer_poll/flush). Not thread-safe. */
uint64_t tarn_producer_acked_prefix(const tarn_producer *p);

/* Messages sent since open (queued successfully by tarn_producer_send). */
uint64_t tarn_producer_sent(const tarn_producer *p);

/* Serve delivery reports without blocking; call now and then. */
void tarn_producer_poll(tarn_producer *p);

/* Wait up to timeout_ms for every queued message's delivery report.
 *
 * acked, failed: receive the totals since open (each may be NULL): messages
 * the broker acknowledged, and messages that failed or were still
 * unacknowledged at the timeout.
 * Returns TARN_OK when every message sent was acknowledged; TARN_EDELIVERY
 * otherwise, with the count and the first error's text in the message. */
int tarn_producer_flush(tarn_producer *p, int timeout_ms, uint64_t *acked, uint64_t *failed);

/* 1 when p was opened with a transactional_id, else 0. */
int tarn_producer_is_transactional(const tarn_producer *p);

/* Free the producer; NULL is allowed. Does not wait: flush first. */
void tarn_producer_close(tarn_producer *p);

#ifdef __cplusplus
}
#endif
#endif
