/* Ingest: a source hands inputs to extraction, then to the lake; batches
 * are committed to the lake before any Kafka offset is stored. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tarn/ingest.h"
#include "tarn/time.h"
#include "error_internal.h"
#include "block.h" /* tarn__buf */
#include "event_internal.h"

/* Add one extracted input to the lake's batch, or quarantine it when
 * extraction said why it cannot be stored (x_rc == TARN_EINVAL). */
static int store_one(tarn_lake *lake, tarn_event *ev, int x_rc, tarn_reject why,
		     const char *detail, tarn_ingest_counts *c)
{
	tarn_add_result res;
	int rc;

	c->read++;
	c->bytes += ev->payload_len;
	if (x_rc == TARN_EINVAL) {
		rc = tarn_lake_quarantine(lake, ev, why, detail);
		if (!rc)
			c->quarantined++;
		return rc;
	}
	if (x_rc)
		return x_rc;
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

/* Extract one input and add it to the lake's batch (or quarantine it). */
static int ingest_one(tarn_lake *lake, tarn_event *ev,
		      const tarn_extract_options *xopts, tarn_ingest_counts *c)
{
	tarn_reject why;
	char detail[256];
	int rc = tarn_event_extract(ev, xopts, &why, detail, sizeof(detail));

	return store_one(lake, ev, rc, why, detail, c);
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

/* File ingest runs on two threads: a reader reads lines and extracts
 * them (JSON parsing is about a third of the work) into chunks, and the
 * calling thread stores the chunks in order. Three chunks circulate, so
 * memory stays bounded whatever the file's size. */
#define CHUNK_EVENTS 1024
#define N_CHUNKS 3

struct chunk {
	size_t n;
	tarn_event ev[CHUNK_EVENTS];
	size_t pay_off[CHUNK_EVENTS];
	int x_rc[CHUNK_EVENTS];
	tarn_reject why[CHUNK_EVENTS];
	char detail[CHUNK_EVENTS][160];
	struct tarn__buf payloads;
	int last;           /* end of input (or a read error: read_rc) */
	int read_rc;
};

struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct chunk *chunks[N_CHUNKS];
	int ready[N_CHUNKS];   /* filled, waiting to be stored */
	int abort;             /* the storing side stopped */
	FILE *in;
	const char *source;
	const tarn_ingest_options *opts;
};

static void reader_fill(struct pipe *p, struct chunk *ch, int64_t *lineno, char **line,
			size_t *cap)
{
	size_t i;

	ch->n = 0;
	ch->payloads.len = 0;
	ch->last = 0;
	ch->read_rc = TARN_OK;
	while (ch->n < CHUNK_EVENTS) {
		tarn_event *ev = &ch->ev[ch->n];
		ssize_t n;

		if (p->opts->stop && *p->opts->stop) {
			ch->last = 1;
			break;
		}
		errno = 0;
		/* the only place the storing side may cancel us (it stopped
		 * with an error while we wait for input that may never come) */
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		n = getline(line, cap, p->in);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (n < 0) {
			if (ferror(p->in))
				ch->read_rc = tarn__error_set(TARN_EIO, "read %s: %s", p->source,
							      strerror(errno ? errno : EIO));
			ch->last = 1;
			break;
		}
		++*lineno;
		if (n > 0 && (*line)[n - 1] == '\n')
			n--;
		if (n > 0 && (*line)[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		tarn_event_init(ev);
		ev->payload = *line;
		ev->payload_len = (size_t)n;
		ev->topic = p->source;
		ev->offset = *lineno;
		ev->ingest_us = tarn_time_now_us();
		ch->x_rc[ch->n] = tarn_event_extract(ev, &p->opts->extract, &ch->why[ch->n],
						     ch->detail[ch->n], sizeof(ch->detail[0]));
		ch->pay_off[ch->n] = ch->payloads.len;
		if (tarn__buf_reserve(&ch->payloads, (size_t)n)) {
			ch->read_rc = TARN_ENOMEM;
			ch->last = 1;
			break;
		}
		memcpy(ch->payloads.p + ch->payloads.len, *line, (size_t)n);
		ch->payloads.len += (size_t)n;
		ch->n++;
	}
	/* the payload buffer may have moved while it grew */
	for (i = 0; i < ch->n; i++)
		ch->ev[i].payload = ch->payloads.p + ch->pay_off[i];
}

static void free_line(void *line)
{
	free(*(char **)line);
	tarn__event_thread_done();
}

static void reader_loop(struct pipe *p, char **line, size_t *cap)
{
	int64_t lineno = 0;
	int k = 0, last = 0;

	while (!last) {
		struct chunk *ch;

		pthread_mutex_lock(&p->mu);
		while (p->ready[k] && !p->abort)
			pthread_cond_wait(&p->cv, &p->mu);
		pthread_mutex_unlock(&p->mu);
		if (p->abort)
			break;
		ch = p->chunks[k];
		reader_fill(p, ch, &lineno, line, cap);
		last = ch->last;
		pthread_mutex_lock(&p->mu);
		p->ready[k] = 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		k = (k + 1) % N_CHUNKS;
	}
}

static void *reader_main(void *arg)
{
	char *line = NULL;
	size_t cap = 0;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_cleanup_push(free_line, &line);
	reader_loop(arg, &line, &cap);
	pthread_cleanup_pop(1);
	return NULL;
}

static void pipe_free(struct pipe *p)
{
	int k;

	for (k = 0; k < N_CHUNKS; k++) {
		if (p->chunks[k])
			free(p->chunks[k]->payloads.p);
		free(p->chunks[k]);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

int tarn_ingest_stream(tarn_lake *lake, FILE *in, const char *source,
		       const tarn_ingest_options *opts, tarn_ingest_counts *counts)
{
	tarn_ingest_options defaults = TARN_INGEST_OPTIONS_INIT;
	tarn_ingest_counts c = { 0 }, committed = { 0 };
	struct pipe p;
	pthread_t reader;
	size_t in_batch = 0, i;
	int rc = TARN_OK, k = 0, last = 0;

	if (!opts)
		opts = &defaults;
	if (counts)
		c = committed = *counts;
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	p.in = in;
	p.source = source;
	p.opts = opts;
	for (k = 0; k < N_CHUNKS; k++) {
		p.chunks[k] = calloc(1, sizeof(*p.chunks[k]));
		if (!p.chunks[k]) {
			pipe_free(&p);
			return tarn__error_set(TARN_ENOMEM, "ingest buffers");
		}
	}
	if (pthread_create(&reader, NULL, reader_main, &p) != 0) {
		pipe_free(&p);
		return tarn__error_set(TARN_ENOMEM, "ingest: cannot start the reader thread");
	}
	for (k = 0; !last && rc == TARN_OK; k = (k + 1) % N_CHUNKS) {
		struct chunk *ch = p.chunks[k];

		pthread_mutex_lock(&p.mu);
		while (!p.ready[k])
			pthread_cond_wait(&p.cv, &p.mu);
		pthread_mutex_unlock(&p.mu);
		last = ch->last;
		for (i = 0; rc == TARN_OK && i < ch->n; i++) {
			rc = store_one(lake, &ch->ev[i], ch->x_rc[i], ch->why[i], ch->detail[i], &c);
			if (!rc && ++in_batch >= opts->batch_events) {
				rc = commit_batch(lake, opts, &c, &committed);
				in_batch = 0;
			}
		}
		if (!rc && ch->read_rc)
			rc = ch->read_rc;
		pthread_mutex_lock(&p.mu);
		p.ready[k] = 0;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
	}
	pthread_mutex_lock(&p.mu);
	p.abort = 1;
	pthread_cond_broadcast(&p.cv);
	pthread_mutex_unlock(&p.mu);
	if (rc)
		pthread_cancel(reader);
	pthread_join(reader, NULL);
	pipe_free(&p);
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
