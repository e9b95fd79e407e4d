/* tarn/split.h - the events splitter: route each message of a central
 * topic, unchanged, to a topic named from its event name.
 *
 * A consumer (tarn/kafka.h) reads the input; for each message the event
 * name is taken as ingest takes it (tarn_event_name: header `event_name`;
 * payload `event_name` or `event_type`, or a configured field) and put into
 * a topic name template ("events.{name}"). The message is produced to that
 * topic with its value, key, headers and timestamp unchanged. A message
 * without a usable name, or whose topic would not be a legal Kafka topic
 * name, goes to the dead-letter topic with four more headers (see
 * TARN_SPLIT_DLQ_HEADERS); nothing is dropped.
 *
 * Delivery, with a producer opened with a transactional_id: exactly-once
 * to readers in read_committed isolation (Kafka's consume-transform-produce:
 * KIP-98 transactions, KIP-447 fencing by the consumer group's metadata).
 * Each batch is one transaction holding its messages and the group's new
 * offsets (rd_kafka_send_offsets_to_transaction); a crash leaves the open
 * transaction to be aborted (by the coordinator's timeout, or at once by the
 * next producer with the same transactional id, which fences the old one),
 * and the group resumes from the last committed batch. A batch whose
 * transaction cannot commit (a rebalance took its partitions, a message
 * failed) is aborted and read again. Needs a real Kafka broker: the
 * embedded broker (librdkafka 2.0's mock cluster) accepts the requests but
 * writes no commit or abort markers and answers Fetch with no aborted
 * transactions, so readers would see aborted messages there.
 *
 * Otherwise at-least-once: messages are sent in batches by an idempotent
 * producer; a batch's offsets are stored and committed to the consumer
 * group only after the broker acknowledged every message of the batch. A
 * crash between the acknowledgement and the commit re-sends that batch (at
 * most batch_events messages per partition) when the group resumes
 * (README, "tarn split").
 */
#ifndef TARN_SPLIT_H
#define TARN_SPLIT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "tarn/event.h"
#include "tarn/kafka.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest legal Kafka topic name, bytes (Kafka's Topic.MAX_NAME_LENGTH). */
#define TARN_TOPIC_MAX 249

/* The header names added to a dead-lettered message, after its own
 * headers: the reason (a tarn_reject name such as "not_json", or "no_name",
 * or "bad_topic_name"), and where it came from (topic; partition and
 * offset as decimal text). Ingest (tarn/ingest.h) uses the same names. */
#define TARN_DLQ_REASON		  "tarn_reason"
#define TARN_DLQ_SOURCE_TOPIC	  "tarn_source_topic"
#define TARN_DLQ_SOURCE_PARTITION "tarn_source_partition"
#define TARN_DLQ_SOURCE_OFFSET	  "tarn_source_offset"

typedef struct tarn_split_counts {
	uint64_t read;		       /* messages read */
	uint64_t routed;	       /* produced to a named topic and acknowledged */
	uint64_t dead_lettered;	       /* produced to the dead-letter topic and acknowledged */
	uint64_t batches;	       /* batches acknowledged and committed */
	uint64_t aborted;	       /* transactions aborted and their batch read
				  again (transactional producer only) */
	uint64_t offset_commit_errors; /* offset commits that failed and were
				  retried with the next batch (at worst those
				  messages are sent again) */
} tarn_split_counts;

typedef void (*tarn_split_progress_cb)(void *ctx, const tarn_split_counts *c);

typedef struct tarn_split_options {
	const char *to;			 /* topic template; every "{name}" is replaced by
					    the event name; default "events.{name}" */
	const char *dlq;		 /* dead-letter topic, required */
	tarn_extract_options extract;	 /* only name_field is used */
	size_t batch_events;		 /* send at most this many per batch; default 10000 */
	int batch_ms;			 /* close a batch after this long, ms; default 100 */
	int flush_timeout_ms;		 /* wait this long for a batch's acknowledgements,
					    ms; default 60000 (above the producer's
					    message.timeout.ms, so every message is
					    either acknowledged or failed by then) */
	tarn_split_progress_cb progress; /* after each committed batch; may be NULL */
	void *progress_ctx;
	volatile sig_atomic_t *stop; /* non-zero: finish the batch and return; may be NULL */
} tarn_split_options;

#define TARN_SPLIT_OPTIONS_INIT                                                                    \
	{                                                                                          \
		"events.{name}", NULL, TARN_EXTRACT_OPTIONS_INIT, 10000, 100, 60000, NULL, NULL,   \
			NULL                                                                       \
	}

/* 1 when `name` (NUL-terminated) is a legal Kafka topic name: 1..249
 * bytes of [a-zA-Z0-9._-], and not "." or ".." (Kafka's
 * org.apache.kafka.common.internals.Topic.validate). Thread-safe. */
int tarn_split_topic_is_legal(const char *name);

/* Put `name` into `tmpl` in place of every "{name}".
 * out, out_len: the caller's buffer and its size in bytes.
 * Returns TARN_OK, or TARN_EINVAL when the result does not fit (then it is
 * not a legal topic name either). Thread-safe. */
int tarn_split_topic(const char *tmpl, const char *name, char *out, size_t out_len);

/* Route messages from consumer to producer until the consumer reports the
 * end (exit_at_end) or *opts->stop becomes non-zero.
 *
 * consumer: subscribed to the input topic (tarn_consumer_open).
 * producer: opened without a topic or with any (tarn_producer_send_to is
 *   used), idempotent; with a transactional_id for exactly-once (see
 *   above; then the consumer must read in read_committed isolation, which
 *   is librdkafka's default).
 * counts: receives running totals; may be NULL.
 * Returns TARN_OK; TARN_EINVAL (no dlq topic, or a template without
 * "{name}"); TARN_EDELIVERY when a message of a batch was not acknowledged
 * (the batch's offsets are not committed: a rerun sends it again);
 * TARN_EKAFKA for a fatal consumer or producer error (transactional: also
 * when fenced by a newer splitter with the same transactional id, or when
 * the broker does not support transactions). Not thread-safe for
 * one consumer/producer pair. */
int tarn_split_run(tarn_consumer *consumer, tarn_producer *producer, const tarn_split_options *opts,
		   tarn_split_counts *counts);

/* Build the header block of a dead-lettered message: the message's own
 * header block followed by TARN_DLQ_REASON = reason, TARN_DLQ_SOURCE_TOPIC
 * = topic ("" when NULL), TARN_DLQ_SOURCE_PARTITION and
 * TARN_DLQ_SOURCE_OFFSET as decimal text.
 * buf, len, cap: as tarn_headers_append (*len is reset to 0 first).
 * Returns TARN_OK, TARN_ENOMEM or TARN_EINVAL. Thread-safe. */
int tarn_dlq_headers(unsigned char **buf, size_t *len, size_t *cap, const tarn_event *ev,
		     const char *reason);

#ifdef __cplusplus
}
#endif
#endif
