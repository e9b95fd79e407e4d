/* tarn/ingest.h - move events from a source into the lake.
 *
 * Sources: a JSON-lines stream (one event per line, RFC 8259 JSON, "\n" or
 * "\r\n" line ends) or a Kafka consumer (tarn/kafka.h). For each input:
 * tarn_event_extract, then tarn_lake_add or tarn_lake_quarantine; batches
 * are committed with tarn_lake_commit, and only then are the Kafka offsets
 * of the batch stored and committed.
 *
 * Dead-letter topic (optional, opts->dlq): every input that goes to the
 * quarantine is also produced to the dead-letter topic with its value, key,
 * headers and timestamp plus the headers of tarn/split.h
 * (TARN_DLQ_REASON = the quarantine reason, e.g. "not_json" or
 * "conflicting_duplicate"; TARN_DLQ_SOURCE_TOPIC/_PARTITION/_OFFSET = where
 * it came from: for files the file name, -1 and the line number). A batch
 * is committed to the lake only after the broker acknowledged every
 * dead-letter message of the batch, and its Kafka offsets only after that:
 * a dead-letter topic that cannot be written stops ingest with
 * TARN_EDELIVERY and the batch rolled back, so a rerun delivers it again.
 * The lake itself knows nothing of Kafka: ingest does the producing.
 */
#ifndef TARN_INGEST_H
#define TARN_INGEST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tarn/event.h"
#include "tarn/kafka.h"
#include "tarn/lake.h"
#include "tarn/split.h" /* the dead-letter header names */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tarn_ingest_counts {
	uint64_t read;		       /* inputs read (lines or messages) */
	uint64_t stored;	       /* new events stored */
	uint64_t duplicates;	       /* re-deliveries absorbed */
	uint64_t conflicts;	       /* conflicting duplicates quarantined */
	uint64_t quarantined;	       /* inputs quarantined for any reason, conflicts included */
	uint64_t batches;	       /* lake commits */
	uint64_t bytes;		       /* payload bytes read */
	uint64_t offset_commit_errors; /* Kafka offset commits that failed and were
				  retried with the next batch (the events were
				  already stored; at worst they are re-delivered
				  and absorbed by deduplication) */
	uint64_t dead_lettered;	       /* quarantined inputs also acknowledged by the
					 dead-letter topic (0 without opts->dlq) */
} tarn_ingest_counts;

/* Progress report after each committed batch; counts are running totals. */
typedef void (*tarn_ingest_progress_cb)(void *ctx, const tarn_ingest_counts *c);

typedef struct tarn_ingest_options {
	tarn_extract_options extract;
	size_t batch_events;		  /* commit after this many inputs; 0: the default,
					     100000 (as a bulk load into SQLite; from
					     Kafka, batch_ms usually ends a batch first) */
	int batch_ms;			  /* Kafka: commit at least this often, ms; default
					     100; up to 10x that while a backlog is read
					     (the next input is already waiting) */
	tarn_ingest_progress_cb progress; /* may be NULL */
	void *progress_ctx;
	volatile sig_atomic_t *stop; /* when it becomes non-zero, commit and return; may be NULL */
	tarn_producer *dlq;	     /* producer for the dead-letter topic (borrowed);
					NULL: quarantine only */
	const char *dlq_topic;	     /* the dead-letter topic; required with dlq */
	int dlq_timeout_ms;	     /* wait this long for the dead-letter
					acknowledgements of a batch, ms; default 60000
					(above the producer's message.timeout.ms) */
} tarn_ingest_options;

#define TARN_INGEST_OPTIONS_INIT                                                                   \
	{                                                                                          \
		TARN_EXTRACT_OPTIONS_INIT, 0, 100, NULL, NULL, NULL, NULL, NULL, 60000             \
	}

/* Ingest a JSON-lines stream until end of file.
 *
 * in: an open stream, read with getline (lines of any length).
 * source: name recorded as the events' topic and in the quarantine
 *   (e.g. the file name, or "-" for stdin); offset = 1-based line number.
 * A final line without "\n" is an input; empty lines are skipped.
 * counts: receives running totals (may be NULL).
 * opts->extract is bound to the lake's field mapping (tarn_lake_fields)
 * before anything is read.
 * Returns TARN_OK, TARN_EIO (read error), TARN_EINVAL (dlq without
 * dlq_topic; a field path that differs from the lake's), TARN_EDELIVERY (the dead-letter topic did
 * not acknowledge), TARN_EKAFKA (the dead-letter producer refused a message), or the lake's error
 * (the batch in progress is rolled back; earlier batches stay). */
int tarn_ingest_stream(tarn_lake *lake, FILE *in, const char *source,
		       const tarn_ingest_options *opts, tarn_ingest_counts *counts);

/* Ingest from a subscribed consumer until it reports the end (exit_at_end)
 * or *opts->stop becomes non-zero; each batch is committed to the lake and
 * then its offsets are stored and committed to the group. A broker outage
 * is waited out: polling goes on, and an offset commit that fails is
 * counted and retried with the next batch (and once more at the end).
 * Returns TARN_OK, TARN_EKAFKA (a fatal consumer error), TARN_EDELIVERY
 * and TARN_EINVAL as tarn_ingest_stream, or the lake's error (no offset
 * beyond what is stored and dead-lettered is ever committed). */
int tarn_ingest_kafka(tarn_lake *lake, tarn_consumer *consumer, const tarn_ingest_options *opts,
		      tarn_ingest_counts *counts);

#ifdef __cplusplus
}
#endif
#endif
