/* Ingest: a source hands inputs to extraction, then to the lake; batches
 * are committed to the lake before any Kafka offset is stored. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tarn/ingest.h"
#include "tarn/time.h"
#include "error_internal.h"

/* Extract one input and add it to the lake's batch (or quarantine it). */
static int ingest_one(tarn_lake *lake, tarn_event *ev,
		      const tarn_extract_options *xopts, tarn_ingest_counts *c)
{
	tarn_add_result res;
	tarn_reject why;
	char detail[256];
	int rc;

	c->read++;
	c->bytes += ev->payload_len;
	rc = tarn_event_extract(ev, xopts, &why, detail, sizeof(detail));
	if (rc == TARN_EINVAL) {
		rc = tarn_lake_quarantine(lake, ev, why, detail);
		if (!rc)
			c->quarantined++;
		return rc;
	}
	if (rc)
		return rc;
	rc = tarn_lake_add(lake, ev, &res);
	if (rc)
		return rc;
	if (res == TARN_ADD_STORED)
		c->stored++;
	else if (res == TARN_ADD_DUPLICATE)
		c->duplicates++;
	else {
		c->conflicts++;
		c->quarantined++;
	}
	return TARN_OK;
}

/* Commit the lake batch; on failure the counts of the lost batch are
 * restored from the last committed snapshot so that they never claim
 * events that are not on disk. */
static int commit_batch(tarn_lake *lake, const tarn_ingest_options *opts,
			tarn_ingest_counts *c, tarn_ingest_counts *committed)
{
	int rc;

	if (tarn_lake_pending(lake) == 0) {
		*committed = *c;
		return TARN_OK;
	}
	rc = tarn_lake_commit(lake);
	if (rc) {
		*c = *committed;
		return rc;
	}
	c->batches++;
	*committed = *c;
	if (opts->progress)
		opts->progress(opts->progress_ctx, c);
	return TARN_OK;
}

int tarn_ingest_stream(tarn_lake *lake, FILE *in, const char *source,
		       const tarn_ingest_options *opts, tarn_ingest_counts *counts)
{
	tarn_ingest_options defaults = TARN_INGEST_OPTIONS_INIT;
	tarn_ingest_counts c = { 0 }, committed = { 0 };
	char *line = NULL;
	size_t cap = 0, in_batch = 0;
	int64_t lineno = 0;
	ssize_t n;
	int rc = TARN_OK;

	if (!opts)
		opts = &defaults;
	if (counts)
		c = committed = *counts;
	for (;;) {
		tarn_event ev;

		if (opts->stop && *opts->stop)
			break;
		errno = 0;
		n = getline(&line, &cap, in);
		if (n < 0) {
			if (ferror(in))
				rc = tarn__error_set(TARN_EIO, "read %s: %s", source,
						     strerror(errno ? errno : EIO));
			break;
		}
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		tarn_event_init(&ev);
		ev.payload = line;
		ev.payload_len = (size_t)n;
		ev.topic = source;
		ev.offset = lineno;
		ev.ingest_us = tarn_time_now_us();
		rc = ingest_one(lake, &ev, &opts->extract, &c);
		if (rc)
			break;
		if (++in_batch >= opts->batch_events) {
			rc = commit_batch(lake, opts, &c, &committed);
			if (rc)
				break;
			in_batch = 0;
		}
	}
	free(line);
	if (rc) {
		tarn_lake_rollback(lake);
		c = committed;
	} else {
		rc = commit_batch(lake, opts, &c, &committed);
	}
	if (counts)
		*counts = c;
	return rc;
}

/* Highest offset seen per partition in the current batch. */
struct batch_offsets {
	char *topic;
	int64_t *max;      /* indexed by partition, -1 when none */
	size_t n;
};

static int note_offset(struct batch_offsets *b, const tarn_event *ev)
{
	if (ev->partition < 0)
		return TARN_OK;
	if (!b->topic && ev->topic) {
		b->topic = strdup(ev->topic);
		if (!b->topic)
			return tarn__error_set(TARN_ENOMEM, "offsets");
	}
	if ((size_t)ev->partition >= b->n) {
		size_t n = (size_t)ev->partition + 1, i;
		int64_t *m = realloc(b->max, n * sizeof(*m));
		if (!m)
			return tarn__error_set(TARN_ENOMEM, "offsets");
		for (i = b->n; i < n; i++)
			m[i] = -1;
		b->max = m;
		b->n = n;
	}
	if (ev->offset > b->max[ev->partition])
		b->max[ev->partition] = ev->offset;
	return TARN_OK;
}

/* After the lake commit: store and commit the batch's offsets. The events
 * are durable already, so a failure here (broker down, partition revoked
 * by a rebalance) is not fatal: offsets stay stored in the client and the
 * commit is retried with the next batch; what is never committed is
 * re-delivered later and absorbed by deduplication. */
static void commit_offsets(tarn_consumer *consumer, struct batch_offsets *b,
			   tarn_ingest_counts *c, int *pending)
{
	size_t p;

	for (p = 0; p < b->n; p++) {
		if (b->max[p] < 0)
			continue;
		if (tarn_consumer_store(consumer, b->topic, (int32_t)p, b->max[p]) == TARN_OK)
			*pending = 1;
		else
			c->offset_commit_errors++;
		b->max[p] = -1;
	}
	if (!*pending)
		return;
	if (tarn_consumer_commit(consumer) == TARN_OK)
		*pending = 0;
	else
		c->offset_commit_errors++;
}

int tarn_ingest_kafka(tarn_lake *lake, tarn_consumer *consumer,
		      const tarn_ingest_options *opts, tarn_ingest_counts *counts)
{
	tarn_ingest_options defaults = TARN_INGEST_OPTIONS_INIT;
	tarn_ingest_counts c = { 0 }, committed = { 0 };
	struct batch_offsets offs = { NULL, NULL, 0 };
	int64_t batch_start = 0;
	size_t in_batch = 0;
	int rc = TARN_OK, at_end = 0, commit_pending = 0, tries;

	if (!opts)
		opts = &defaults;
	if (counts)
		c = committed = *counts;
	for (;;) {
		tarn_event ev;
		int64_t now;

		if (opts->stop && *opts->stop)
			break;
		rc = tarn_consumer_poll(consumer, 50, &ev);
		if (rc == TARN_OK) {
			if (in_batch == 0)
				batch_start = tarn_time_now_us();
			rc = ingest_one(lake, &ev, &opts->extract, &c);
			if (!rc)
				rc = note_offset(&offs, &ev);
			if (rc)
				break;
			in_batch++;
		} else if (rc == TARN_ENOTFOUND) {
			at_end = 1;
			rc = TARN_OK;
		} else if (rc == TARN_EINVAL) {
			rc = TARN_OK; /* poll timeout */
		} else {
			break;
		}
		now = tarn_time_now_us();
		if (in_batch && (at_end || in_batch >= opts->batch_events ||
				 now - batch_start >= (int64_t)opts->batch_ms * 1000)) {
			rc = commit_batch(lake, opts, &c, &committed);
			if (rc)
				break;
			commit_offsets(consumer, &offs, &c, &commit_pending);
			committed = c;
			in_batch = 0;
		}
		if (at_end)
			break;
	}
	if (rc) {
		tarn_lake_rollback(lake);
		c = committed;
	} else if (in_batch) {
		rc = commit_batch(lake, opts, &c, &committed);
		if (!rc)
			commit_offsets(consumer, &offs, &c, &commit_pending);
	}
	/* a few more tries for offsets whose commit failed during an outage */
	for (tries = 0; rc == TARN_OK && commit_pending && tries < 5; tries++)
		commit_offsets(consumer, &offs, &c, &commit_pending);
	free(offs.topic);
	free(offs.max);
	if (counts)
		*counts = c;
	return rc;
}
