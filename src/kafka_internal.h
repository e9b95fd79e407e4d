/* Library-internal: what the Kafka adapter (kafka.c) offers ingest and
 * split beyond its public API: a table keyed by (topic, partition), and the
 * one way a batch's offsets are stored and committed to the group.
 *
 * A consumer subscribed to several topics (a list, or a regex such as
 * "^events\..*") hands out messages of partitions that share numbers
 * across topics, so offsets, and the end-of-partition marks of -e, are
 * kept per (topic, partition) (Kafka protocol: a committed offset belongs
 * to a group, a topic and a partition; see the OffsetCommit request). */
#ifndef TARN_KAFKA_INTERNAL_H
#define TARN_KAFKA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tarn/kafka.h"

/* One (topic, partition) and its value: -1 when none. */
struct tarn__tp {
	char *topic; /* owned, NUL-terminated */
	int32_t partition;
	int64_t value;
};

/* A small table of (topic, partition) -> value, searched in order, with the
 * last slot found tried first (a consumer hands out runs of one partition).
 * Zero-initialised it is empty; free with tarn__tp_free. Not thread-safe. */
struct tarn__tp_map {
	struct tarn__tp *e;
	size_t n, cap;
	size_t last;
};

/* The slot of (topic, partition), created with value -1 when new; topic
 * NULL counts as "". Returns NULL only when out of memory (error set:
 * TARN_ENOMEM). The pointer is valid until the next tarn__tp_slot. */
int64_t *tarn__tp_slot(struct tarn__tp_map *m, const char *topic, int32_t partition);

/* The value of (topic, partition), or -1 when it has no slot. */
int64_t tarn__tp_get(struct tarn__tp_map *m, const char *topic, int32_t partition);

/* Free the table's entries and empty it; it may be used again. */
void tarn__tp_free(struct tarn__tp_map *m);

/* The offsets of one batch: the highest offset read per (topic,
 * partition), and whether offsets stored in the client still wait for a
 * successful commit. Zero-initialised it is empty. */
struct tarn__offsets {
	struct tarn__tp_map max;
	int pending;
};

/* Note that the batch holds ev (its topic, partition and offset); events
 * without a partition (partition < 0: from a file) are ignored.
 * Returns TARN_OK or TARN_ENOMEM. */
int tarn__offsets_note(struct tarn__offsets *o, const tarn_event *ev);

/* After the batch is durable (lake commit, or every message acknowledged):
 * store each noted offset + 1 in the consumer (rd_kafka_offsets_store, all
 * in one list), forget them, and commit what is stored, synchronously.
 * Never fatal, as the batch is durable already: a partition revoked since
 * it was read (librdkafka refuses its offset with _STATE) is skipped, its
 * new owner reads it again from the group's offset; any other store error
 * and a failed commit (broker away, rebalance) add 1 to *errors each, and a
 * failed commit is retried by the next call (o->pending stays set). */
void tarn__offsets_commit(struct tarn__offsets *o, tarn_consumer *c, uint64_t *errors);

/* Free the table of o; o may be used again. */
void tarn__offsets_free(struct tarn__offsets *o);

/* Serve p's delivery reports until the first `upto` messages sent (in
 * send order, tarn_producer_sent) are all acknowledged. TARN_OK; or
 * TARN_EDELIVERY, as tarn_producer_flush says it, when a message failed
 * or timeout_ms passed first. */
int tarn__producer_wait_acked(tarn_producer *p, uint64_t upto, int timeout_ms);

/* ---- transactions (Kafka's consume-transform-produce: KIP-98, KIP-447) ---- */

/* Register p's transactional.id with its transaction coordinator
 * (rd_kafka_init_transactions): an older producer with the same id is
 * fenced, and its open transaction aborted. TARN_OK or TARN_EKAFKA. */
int tarn__txn_init(tarn_producer *p, int timeout_ms);
/* Begin a transaction unless one is open. TARN_OK or TARN_EKAFKA. */
int tarn__txn_begin(tarn_producer *p);
/* Commit the open transaction with the batch's offsets (each noted offset
 * + 1, sent with rd_kafka_send_offsets_to_transaction and the consumer's
 * group metadata, so that the broker takes them only with the messages, and
 * refuses them when the consumer's group generation is stale), then forget
 * the offsets. When the transaction cannot commit but can be aborted (a
 * rebalance took partitions, a message failed), it is aborted and c is
 * rewound to the group's committed offsets, so the batch is read again:
 * TARN_EDELIVERY. TARN_EKAFKA when the producer cannot go on (fenced by a
 * newer producer with the same transactional.id, or another fatal error;
 * the message says which). TARN_OK when committed. */
int tarn__txn_commit(tarn_producer *p, tarn_consumer *c, struct tarn__offsets *o, int timeout_ms);
/* Abort the open transaction, if any (at exit). */
void tarn__txn_abort(tarn_producer *p, int timeout_ms);

#endif
