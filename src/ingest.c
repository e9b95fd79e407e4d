/* Ingest: a source hands inputs to extraction, then to the lake; batches
 * are committed to the lake before any Kafka offset is stored. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <string.h>

#include "tarn/ingest.h"
#include "tarn/time.h"
#include "error_internal.h"
#include "block.h"	    /* tarn__buf */
#include "aggregate.h"	    /* tarn__aggregate_take_requests, tarn__aggpaths */
#include "lake_internal.h"  /* tarn__lake_prefetch */
#include "kafka_internal.h" /* tarn__offsets */

/* Add one extracted input to the lake's batch, or quarantine it when
 * extraction said why it cannot be stored (x_rc == TARN_EINVAL). */
/* *quarantined: the reason when the input went to the quarantine, else
 * TARN_REJECT_NONE. */
static int store_one(tarn_lake *lake, tarn_event *ev, int x_rc, tarn_reject why, const char *detail,
		     tarn_ingest_counts *c, tarn_reject *quarantined)
{
	tarn_add_result res;
	int rc;

	*quarantined = TARN_REJECT_NONE;
	c->read++;
	c->bytes += ev->payload_len;
	if (x_rc == TARN_EINVAL) {
		rc = tarn_lake_quarantine(lake, ev, why, detail);
		if (!rc) {
			c->quarantined++;
			*quarantined = why;
		}
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
	else if (res == TARN_ADD_CONFLICT) {
		c->conflicts++;
		c->quarantined++;
		*quarantined = TARN_REJECT_CONFLICTING_DUPLICATE;
	} else {
		c->quarantined++;
		*quarantined = TARN_REJECT_EXPIRED;
	}
	return TARN_OK;
}

/* Commit the lake batch; on failure the counts of the lost batch are
 * restored from the last committed snapshot so that they never claim
 * events that are not on disk. */
static int commit_batch(tarn_lake *lake, const tarn_ingest_options *opts, tarn_ingest_counts *c,
			tarn_ingest_counts *committed)
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

/* Ingest runs on two threads: a reader takes inputs from the source (lines
 * of a file, or messages of a consumer), extracts them (JSON parsing is
 * about a third of the work) and copies them into chunks; the calling
 * thread stores the chunks in order, commits batches and then, for Kafka,
 * the batches' offsets. Four chunks circulate, so memory is bounded (a
 * chunk is 256 events of 1.7 KB plus their bytes: 3 x 512 took 2.8 MB). A
 * third thread (the worker, below) encodes full blocks. */
#define CHUNK_EVENTS 256
#define N_CHUNKS     4
#define CHUNK_MAX_US 20000 /* a chunk waiting for input is handed on after 20 ms */
/* From Kafka, a batch ends after batch_ms (100 ms), so that an event is in
 * gold soon after it arrives. While a backlog is read, a batch's commit
 * (fsync, gold, the offset commit) bought nothing but time: on Kafka 4.4.0,
 * 524,866 messages took 2.4-3.1 s in 100 ms batches, 1.7-2.2 s in batches
 * of up to 1 s or 100,000 inputs. So a batch whose time is up while a
 * backlog is read grows, to at most BACKLOG_BATCHES x
 * batch_ms; one that keeps up still commits every batch_ms. A backlog:
 * the reader's last chunk filled up without waiting for input. */
#define BACKLOG_BATCHES 10

enum { SRC_EVENT, SRC_IDLE, SRC_END };

/* A source: next() fills ev (borrowed until the next call) and returns
 * SRC_EVENT, SRC_IDLE (nothing for now), SRC_END, or a negative TARN_E*. */
struct source {
	int (*next)(struct source *src, tarn_event *ev);
	const tarn_ingest_options *opts;
	/* file */
	FILE *in;
	const char *name;
	char *line;
	size_t cap;
	int64_t lineno;
	int regular;	 /* in is a regular file: a read never waits */
	size_t pos, len; /* regular: the unread bytes are line[pos, len) */
	int eof;	 /* regular: fread reached the end */
	int64_t now_us;	 /* the clock, read every line or (regular) every 32 */
	uint64_t size;	 /* regular: bytes left to read when ingest began */
	/* Kafka */
	tarn_consumer *consumer;
};

struct chunk {
	size_t n;
	tarn_event ev[CHUNK_EVENTS];
	size_t pay_off[CHUNK_EVENTS], key_off[CHUNK_EVENTS], hdr_off[CHUNK_EVENTS],
		topic_off[CHUNK_EVENTS];
	int x_rc[CHUNK_EVENTS];
	tarn_reject why[CHUNK_EVENTS];
	char detail[CHUNK_EVENTS][160];
	struct tarn__buf data; /* payloads, keys, headers and topics, copied */
	/* the declared aggregates' payload paths, and each event's values
	 * there, read here so that the storing thread does not parse the
	 * payload again (set by the storing thread while it holds the chunk) */
	tarn__aggpaths paths;
	tarn__aggpre pre[CHUNK_EVENTS];
	int last;   /* end of input, stop, or a source error (src_rc) */
	int waited; /* the source had no input for a moment (SRC_IDLE) */
	int src_rc;
	char src_msg[512]; /* its message: errors are per thread (tarn_error_last) */
};

/* Jobs the storing thread hands to a worker thread (struct tarn__exec:
 * encoding full blocks, a third of the storing thread's work). The worker
 * runs at nice 19, so that it takes the CPU time the storing and reader
 * threads leave rather than slowing the storing thread, which sets the
 * pace: at nice 0 the three threads shared two cores and the 1M bench
 * ingest gained nothing; at nice 19 it is ~10% faster. (SCHED_IDLE gained
 * as much but, with other processes keeping both cores busy, starved the
 * worker: +36% against +6% at nice 19.) */
#define JOBS_MAX 16
enum { JOB_FREE, JOB_QUEUED, JOB_RUNNING, JOB_DONE };
struct job {
	void (*fn)(void *);
	void *arg;
	int state;
};

struct worker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job jobs[JOBS_MAX]; /* under mu */
	int stop;		   /* under mu: no new jobs */
};

struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct chunk *chunks[N_CHUNKS];
	int ready[N_CHUNKS]; /* filled, waiting to be stored */
	int abort;	     /* the storing side stopped */
	int backlog;	     /* the source is read faster than it gets input: the
				last chunk filled up without a poll that found
				nothing (a consumer behind its topic's end) */
	struct source *src;
};

/* The next line of a regular file, newline included when there is one,
 * in *p (valid until the next call): lines are split in place in reads
 * of 0.5 to 1 MiB, without getline's copy of each line. Returns its
 * length, 0 at the end, or -1 on a read error (errno). */
#define READ_BYTES (1u << 20)
static ssize_t block_line(struct source *src, char **p)
{
	for (;;) {
		char *start = src->line + src->pos, *nl;
		size_t avail = src->len - src->pos, got;

		nl = avail ? memchr(start, '\n', avail) : NULL;
		if (nl || (src->eof && avail)) {
			size_t n = nl ? (size_t)(nl - start) + 1 : avail;
			src->pos += n;
			*p = start;
			return (ssize_t)n;
		}
		if (src->eof)
			return 0;
		/* keep the partial line, then read more after it */
		if (avail)
			memmove(src->line, start, avail);
		src->pos = 0;
		src->len = avail;
		if (src->cap - src->len < READ_BYTES / 2) {
			size_t cap = src->cap ? src->cap * 2 : READ_BYTES;
			char *b = realloc(src->line, cap);
			if (!b) {
				errno = ENOMEM;
				return -1;
			}
			src->line = b;
			src->cap = cap;
		}
		got = fread(src->line + src->len, 1, src->cap - src->len, src->in);
		src->len += got;
		if (got == 0) {
			if (ferror(src->in))
				return -1;
			src->eof = 1;
		}
	}
}

static int file_next(struct source *src, tarn_event *ev)
{
	char *line = NULL;
	ssize_t n;

	for (;;) {
		errno = 0;
		if (src->regular) {
			n = block_line(src, &line);
		} else {
			/* the only place the storing side may cancel the
			 * reader (it stopped with an error while we wait for
			 * input that may never come: a pipe or terminal) */
			pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
			n = getline(&src->line, &src->cap, src->in);
			pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
			line = src->line;
			if (n < 0 && !ferror(src->in))
				n = 0;
		}
		if (n < 0)
			return tarn__error_set(TARN_EIO, "read %s: %s", src->name,
					       strerror(errno ? errno : EIO));
		if (n == 0)
			return SRC_END;
		src->lineno++;
		if (line[n - 1] == '\n')
			n--;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n > 0)
			break;
	}
	tarn_event_init(ev);
	ev->payload = line;
	ev->payload_len = (size_t)n;
	ev->topic = src->name;
	ev->offset = src->lineno;
	/* from a regular file, 32 lines are read within microseconds */
	if (!src->regular || (src->lineno & 31) == 1 || src->now_us == 0)
		src->now_us = tarn_time_now_us();
	ev->ingest_us = src->now_us;
	return SRC_EVENT;
}

static int kafka_next(struct source *src, tarn_event *ev)
{
	int rc = tarn_consumer_poll(src->consumer, 50, ev);

	if (rc == TARN_OK)
		return SRC_EVENT;
	if (rc == TARN_ENOTFOUND)
		return SRC_END;
	if (rc == TARN_EINVAL)
		return SRC_IDLE; /* poll timeout or a transient error */
	return rc;
}

/* A flag of the pipe (abort, backlog), read under its lock. */
static int pipe_flag(struct pipe *p, const int *flag)
{
	int v;

	pthread_mutex_lock(&p->mu);
	v = *flag;
	pthread_mutex_unlock(&p->mu);
	return v;
}

/* Copy n bytes into the chunk; the offset, or SIZE_MAX for NULL. */
static int keep(struct chunk *ch, const void *b, size_t n, size_t *off)
{
	*off = SIZE_MAX;
	if (!b)
		return TARN_OK;
	if (tarn__buf_reserve(&ch->data, n + 1))
		return TARN_ENOMEM;
	*off = ch->data.len;
	memcpy(ch->data.p + ch->data.len, b, n);
	ch->data.p[ch->data.len + n] = '\0'; /* topics are C strings */
	ch->data.len += n + 1;
	return TARN_OK;
}

static void reader_fill(struct pipe *p, struct chunk *ch)
{
	const tarn_ingest_options *opts = p->src->opts;
	int64_t t0 = tarn_time_now_us();
	size_t i;

	ch->n = 0;
	ch->data.len = 0;
	ch->last = 0;
	ch->waited = 0;
	ch->src_rc = TARN_OK;
	while (ch->n < CHUNK_EVENTS) {
		tarn_event *ev = &ch->ev[ch->n];
		int rc;

		if (opts->stop && *opts->stop) {
			ch->last = 1;
			break;
		}
		rc = p->src->next(p->src, ev);
		if (rc == SRC_IDLE) {
			ch->waited = 1;
			/* the storing side may have stopped while we wait for
			 * input; reader_loop checks again between chunks */
			if (pipe_flag(p, &p->abort)) {
				ch->last = 1;
				break;
			}
			if (ch->n && tarn_time_now_us() - t0 >= CHUNK_MAX_US)
				break;
			continue;
		}
		if (rc != SRC_EVENT) {
			ch->src_rc = rc == SRC_END ? TARN_OK : rc;
			if (ch->src_rc)
				snprintf(ch->src_msg, sizeof(ch->src_msg), "%s", tarn_error_last());
			ch->last = 1;
			break;
		}
		/* extraction, and the aggregates' paths in the same parse */
		ch->x_rc[ch->n] = tarn__aggpaths_extract(&ch->paths, ev, &opts->extract,
							 &ch->why[ch->n], ch->detail[ch->n],
							 sizeof(ch->detail[0]), &ch->pre[ch->n]);
		if (keep(ch, ev->payload, ev->payload_len, &ch->pay_off[ch->n]) ||
		    keep(ch, ev->key, ev->key_len, &ch->key_off[ch->n]) ||
		    keep(ch, ev->headers, ev->headers_len, &ch->hdr_off[ch->n]) ||
		    keep(ch, ev->topic, ev->topic ? strlen(ev->topic) : 0, &ch->topic_off[ch->n])) {
			ch->src_rc = tarn__error_set(TARN_ENOMEM, "ingest buffers");
			snprintf(ch->src_msg, sizeof(ch->src_msg), "ingest buffers");
			ch->last = 1;
			break;
		}
		ch->n++;
		/* a file read blocks rather than trickles: ask the clock less */
		if ((p->src->consumer || (ch->n & 31) == 0) &&
		    tarn_time_now_us() - t0 >= CHUNK_MAX_US)
			break;
	}
	/* the buffer may have moved while it grew: point into it now */
	for (i = 0; i < ch->n; i++) {
		tarn_event *ev = &ch->ev[i];

		ev->payload = ch->data.p + ch->pay_off[i];
		ev->key = ch->key_off[i] == SIZE_MAX ? NULL : ch->data.p + ch->key_off[i];
		ev->headers = ch->hdr_off[i] == SIZE_MAX ? NULL : ch->data.p + ch->hdr_off[i];
		ev->topic = ch->topic_off[i] == SIZE_MAX
				    ? NULL
				    : (const char *)ch->data.p + ch->topic_off[i];
	}
}

/* The CLOCK_REALTIME instant us microseconds from now, for
 * pthread_cond_timedwait. */
static struct timespec deadline_after(int64_t us)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += (time_t)(us / 1000000);
	t.tv_nsec += (long)(us % 1000000) * 1000;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static int exec_submit(void *ctx, void (*fn)(void *), void *arg)
{
	struct worker *w = ctx;
	int i, rc = -1;

	pthread_mutex_lock(&w->mu);
	for (i = 0; !w->stop && i < JOBS_MAX; i++) {
		if (w->jobs[i].state == JOB_FREE) {
			w->jobs[i].fn = fn;
			w->jobs[i].arg = arg;
			w->jobs[i].state = JOB_QUEUED;
			pthread_cond_broadcast(&w->cv);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* A job not started yet is handed back (1). One running is waited for; if
 * that takes over WORKER_LATE_US (a block encodes in ~2 ms), other
 * processes keep the cores busy and the worker barely runs: it takes no
 * more jobs in this run. */
#define WORKER_LATE_US 20000
static int exec_settle(void *ctx, void *arg)
{
	struct worker *w = ctx;
	int i, rc = 0;

	pthread_mutex_lock(&w->mu);
	for (i = 0; i < JOBS_MAX; i++) {
		struct job *j = &w->jobs[i];
		if (j->state == JOB_FREE || j->arg != arg)
			continue;
		if (j->state == JOB_QUEUED)
			rc = 1;
		if (j->state == JOB_RUNNING) {
			struct timespec until = deadline_after(WORKER_LATE_US);
			while (j->state == JOB_RUNNING)
				if (pthread_cond_timedwait(&w->cv, &w->mu, &until) != 0)
					break;
			if (j->state == JOB_RUNNING)
				w->stop = 1; /* no new jobs; this one still ends */
			while (j->state == JOB_RUNNING)
				pthread_cond_wait(&w->cv, &w->mu);
		}
		j->state = JOB_FREE;
		break;
	}
	pthread_mutex_unlock(&w->mu);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	/* Linux's nice value is a thread's own (setpriority(2), NOTES); best
	 * effort: without it the worker competes as an equal */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct job *j = NULL;
		int i;

		for (i = 0; i < JOBS_MAX && !j; i++)
			if (w->jobs[i].state == JOB_QUEUED)
				j = &w->jobs[i];
		if (!j) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&w->mu);
		j->fn(j->arg);
		pthread_mutex_lock(&w->mu);
		j->state = JOB_DONE;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void reader_loop(struct pipe *p)
{
	int k = 0, last = 0;

	while (!last) {
		struct chunk *ch;

		pthread_mutex_lock(&p->mu);
		while (p->ready[k] && !p->abort)
			pthread_cond_wait(&p->cv, &p->mu);
		last = p->abort;
		pthread_mutex_unlock(&p->mu);
		if (last)
			break;
		ch = p->chunks[k];
		reader_fill(p, ch);
		last = ch->last;
		pthread_mutex_lock(&p->mu);
		p->ready[k] = 1;
		p->backlog = !ch->waited && ch->n == CHUNK_EVENTS;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		k = (k + 1) % N_CHUNKS;
	}
}

static void *reader_main(void *arg)
{
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	reader_loop(arg);
	return NULL;
}

static void pipe_free(struct pipe *p)
{
	int k;

	for (k = 0; k < N_CHUNKS; k++) {
		if (p->chunks[k]) {
			free(p->chunks[k]->data.p);
			tarn__aggpaths_free(&p->chunks[k]->paths);
		}
		free(p->chunks[k]);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

/* Wait up to wait_us for chunk k; 1 when it is ready. */
static int wait_chunk(struct pipe *p, int k, int64_t wait_us)
{
	struct timespec until = deadline_after(wait_us);
	int ready;

	pthread_mutex_lock(&p->mu);
	while (!p->ready[k]) {
		if (pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0)
			break;
	}
	ready = p->ready[k];
	pthread_mutex_unlock(&p->mu);
	return ready;
}

struct storer {
	unsigned char *dlq_hdr; /* dead-letter header scratch */
	size_t dlq_hdr_len, dlq_hdr_cap;
	uint64_t dlq_pending; /* dead-letter messages sent in this batch */
	tarn_lake *lake;
	const tarn_ingest_options *opts;
	tarn_consumer *consumer;   /* NULL for files */
	struct tarn__offsets offs; /* of the batch, per (topic, partition) */
	tarn_ingest_counts c, committed;
	size_t in_batch;
	int64_t batch_start;
	int expected; /* the lake was told how many to expect */
};

/* From a regular file, the first chunk's lines tell about how many the
 * whole file holds (bytes left / bytes a line): the lake sizes its id
 * filter for them once, instead of growing it 1.5x at a time. */
static void expect_lines(struct storer *st, const struct source *src, const struct chunk *ch)
{
	uint64_t bytes = 0;
	size_t i;

	st->expected = 1;
	if (!src->regular || !src->size)
		return;
	for (i = 0; i < ch->n; i++)
		bytes += ch->ev[i].payload_len + 1;
	if (bytes)
		tarn__lake_expect(st->lake,
				  (uint64_t)((double)src->size * (double)ch->n / (double)bytes));
}

/* The error of a dead-letter topic that cannot be written, at send (a real
 * broker refuses the topic in its metadata, and librdkafka then refuses
 * each message at once) or at the acknowledgements (the first messages). */
static int dlq_refused(const struct storer *st, int rc)
{
	char why[400];

	snprintf(why, sizeof(why), "%s", tarn_error_last());
	return tarn__error_set(rc,
			       "dead-letter topic %s cannot be written (%s); "
			       "the batch was not committed",
			       st->opts->dlq_topic, why);
}

/* Produce a quarantined input to the dead-letter topic. */
static int dlq_send(struct storer *st, const tarn_event *ev, const char *reason)
{
	int rc = tarn_dlq_headers(&st->dlq_hdr, &st->dlq_hdr_len, &st->dlq_hdr_cap, ev, reason);

	if (!rc)
		rc = tarn_producer_send_to(st->opts->dlq, st->opts->dlq_topic, ev->payload,
					   ev->payload_len, ev->key, ev->key_len, st->dlq_hdr,
					   st->dlq_hdr_len, ev->kafka_ts_us);
	if (rc)
		return dlq_refused(st, rc);
	st->dlq_pending++;
	tarn_producer_poll(st->opts->dlq);
	return TARN_OK;
}

/* Wait for the batch's dead-letter acknowledgements; any failure stops
 * ingest before the lake commit, so nothing of the batch is committed. */
static int dlq_flush(struct storer *st)
{
	int rc;

	if (!st->opts->dlq || !st->dlq_pending)
		return TARN_OK;
	rc = tarn_producer_flush(st->opts->dlq,
				 st->opts->dlq_timeout_ms > 0 ? st->opts->dlq_timeout_ms : 60000,
				 NULL, NULL);
	if (rc)
		return dlq_refused(st, rc);
	st->c.dead_lettered += st->dlq_pending;
	st->dlq_pending = 0;
	return TARN_OK;
}

/* Commit the lake batch (after its dead-letter messages were
 * acknowledged), then (Kafka) its offsets. */
static int store_commit(struct storer *st)
{
	int rc = dlq_flush(st);

	if (rc) {
		/* as a failed lake commit does: drop the batch and its counts */
		tarn_lake_rollback(st->lake);
		st->c = st->committed;
		return rc;
	}
	rc = commit_batch(st->lake, st->opts, &st->c, &st->committed);
	if (rc)
		return rc;
	if (st->consumer) {
		/* the events are durable now; a failed offset commit is retried
		 * with the next batch, and what never gets committed is read
		 * again later and absorbed by deduplication */
		tarn__offsets_commit(&st->offs, st->consumer, &st->c.offset_commit_errors);
		st->committed = st->c;
	}
	st->in_batch = 0;
	return TARN_OK;
}

/* Events ahead of the one being stored whose cache lines are asked for. */
#define PREFETCH_AHEAD 6

static int store_chunk(struct storer *st, struct chunk *ch)
{
	size_t i;
	int rc = TARN_OK;

	for (i = 0; i < PREFETCH_AHEAD && i < ch->n; i++)
		if (ch->x_rc[i] == TARN_OK)
			tarn__lake_prefetch(st->lake, &ch->ev[i]);
	for (i = 0; rc == TARN_OK && i < ch->n; i++) {
		tarn_reject q;

		if (i + PREFETCH_AHEAD < ch->n && ch->x_rc[i + PREFETCH_AHEAD] == TARN_OK)
			tarn__lake_prefetch(st->lake, &ch->ev[i + PREFETCH_AHEAD]);

		if (st->in_batch == 0)
			st->batch_start = tarn_time_now_us();
		tarn__lake_aggregate_hint(st->lake, &ch->pre[i]);
		rc = store_one(st->lake, &ch->ev[i], ch->x_rc[i], ch->why[i], ch->detail[i], &st->c,
			       &q);
		tarn__lake_aggregate_hint(st->lake, NULL);
		if (!rc && st->opts->dlq && q != TARN_REJECT_NONE)
			rc = dlq_send(st, &ch->ev[i], tarn_reject_name(q));
		if (!rc && st->consumer)
			rc = tarn__offsets_note(&st->offs, &ch->ev[i]);
		/* a batch ends at batch_events inputs, or earlier once its
		 * events fill every open shard (events spread over many days) */
		if (!rc &&
		    (++st->in_batch >= st->opts->batch_events || tarn__lake_shards_full(st->lake)))
			rc = store_commit(st);
	}
	return rc;
}

static int run_pipeline(tarn_lake *lake, struct source *src, tarn_ingest_counts *counts)
{
	const tarn_ingest_options *opts = src->opts;
	tarn_consumer *consumer = src->consumer; /* NULL for files */
	const int64_t batch_us = (int64_t)opts->batch_ms * 1000;
	struct storer st;
	struct pipe p;
	struct tarn__exec exec;
	struct worker wk;
	pthread_t reader, worker;
	int has_worker = 0;
	int rc = TARN_OK, k, last = 0, tries;

	if (opts->dlq && (!opts->dlq_topic || !*opts->dlq_topic))
		return tarn__error_set(TARN_EINVAL, "a dead-letter producer needs dlq_topic");
	memset(&st, 0, sizeof(st));
	st.lake = lake;
	st.opts = opts;
	st.consumer = consumer;
	if (counts)
		st.c = st.committed = *counts;
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	p.src = src;
	for (k = 0; k < N_CHUNKS; k++) {
		p.chunks[k] = calloc(1, sizeof(*p.chunks[k]));
		if (!p.chunks[k] || tarn__lake_aggpaths(lake, &p.chunks[k]->paths)) {
			pipe_free(&p);
			return tarn__error_set(TARN_ENOMEM, "ingest buffers");
		}
	}
	if (pthread_create(&reader, NULL, reader_main, &p) != 0) {
		pipe_free(&p);
		return tarn__error_set(TARN_ENOMEM, "ingest: cannot start the reader thread");
	}
	memset(&wk, 0, sizeof(wk));
	pthread_mutex_init(&wk.mu, NULL);
	pthread_cond_init(&wk.cv, NULL);
	exec.cctx = tarn__block_cctx();
	exec.cctx_here = tarn__block_cctx();
	if (exec.cctx && exec.cctx_here && pthread_create(&worker, NULL, worker_main, &wk) == 0) {
		has_worker = 1;
		exec.submit = exec_submit;
		exec.settle = exec_settle;
		exec.ctx = &wk;
		tarn__lake_set_exec(lake, &exec);
	}
	for (k = 0; !last && rc == TARN_OK;) {
		struct chunk *ch = p.chunks[k];
		int64_t wait_us = 1000000, limit_us = batch_us;

		if (consumer && st.in_batch) {
			/* while a backlog is read, a batch grows to
			 * BACKLOG_BATCHES x batch_ms */
			if (pipe_flag(&p, &p.backlog))
				limit_us = BACKLOG_BATCHES * batch_us;
			wait_us = st.batch_start + limit_us - tarn_time_now_us();
		}
		if (wait_us > 0 && !wait_chunk(&p, k, wait_us)) {
			/* idle: build what tarn aggregate create asked for */
			if (!st.in_batch)
				rc = tarn__aggregate_take_requests(lake);
			continue;
		}
		if (consumer && st.in_batch && tarn_time_now_us() - st.batch_start >= limit_us) {
			/* a batch that waited long enough, with or without more */
			rc = store_commit(&st);
			if (rc || !wait_chunk(&p, k, 0))
				continue;
		}
		last = ch->last;
		if (!st.expected)
			expect_lines(&st, src, ch);
		rc = store_chunk(&st, ch);
		if (!rc && ch->src_rc)
			rc = tarn__error_set(ch->src_rc, "%s", ch->src_msg);
		/* the paths of the set as it is now (a create may have
		 * changed it between batches) for the chunk's next events */
		if (!rc)
			rc = tarn__lake_aggpaths(lake, &ch->paths);
		pthread_mutex_lock(&p.mu);
		p.ready[k] = 0;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		k = (k + 1) % N_CHUNKS;
	}
	if (has_worker) {
		/* every block in flight written before the worker goes */
		int xrc = tarn__lake_set_exec(lake, NULL);
		if (!rc)
			rc = xrc;
		pthread_mutex_lock(&wk.mu);
		wk.stop = 1;
		pthread_cond_broadcast(&wk.cv);
		pthread_mutex_unlock(&wk.mu);
		pthread_join(worker, NULL);
	}
	pthread_mutex_destroy(&wk.mu);
	pthread_cond_destroy(&wk.cv);
	ZSTD_freeCCtx(exec.cctx);
	ZSTD_freeCCtx(exec.cctx_here);
	pthread_mutex_lock(&p.mu);
	p.abort = 1;
	pthread_cond_broadcast(&p.cv);
	pthread_mutex_unlock(&p.mu);
	if (rc && !consumer)
		pthread_cancel(reader);
	pthread_join(reader, NULL);
	pipe_free(&p);
	if (rc) {
		tarn_lake_rollback(lake);
		st.c = st.committed;
	} else if (st.in_batch || !consumer) {
		rc = store_commit(&st);
	}
	/* a few more tries for offsets whose commit failed during an outage */
	for (tries = 0; consumer && rc == TARN_OK && st.offs.pending && tries < 5; tries++)
		tarn__offsets_commit(&st.offs, consumer, &st.c.offset_commit_errors);
	tarn__offsets_free(&st.offs);
	free(st.dlq_hdr);
	if (counts)
		*counts = st.c;
	return rc;
}

/* The options with batch_events filled in: a stream commits every 100,000
 * inputs, as a bulk load into SQLite would (per-batch work, the partly
 * filled last block of each shard and the fsyncs, took ~10% of a 1M-line
 * file's ingest at 20,000); Kafka every 100,000 inputs or batch_ms (more
 * while a backlog is read: BACKLOG_BATCHES). */
static tarn_ingest_options with_batch(const tarn_ingest_options *opts, size_t batch)
{
	tarn_ingest_options o = TARN_INGEST_OPTIONS_INIT;

	if (opts)
		o = *opts;
	if (!o.batch_events)
		o.batch_events = batch;
	return o;
}

int tarn_ingest_stream(tarn_lake *lake, FILE *in, const char *source,
		       const tarn_ingest_options *opts, tarn_ingest_counts *counts)
{
	tarn_ingest_options o = with_batch(opts, 100000);
	struct source src;
	int rc = tarn_lake_fields(lake, &o.extract);

	if (rc)
		return rc;
	memset(&src, 0, sizeof(src));
	src.next = file_next;
	src.opts = &o;
	src.in = in;
	src.name = source;
	{
		struct stat st;
		off_t at = ftello(in);
		src.regular = fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode);
		if (src.regular && at >= 0 && st.st_size > at)
			src.size = (uint64_t)(st.st_size - at);
	}
	rc = run_pipeline(lake, &src, counts);
	free(src.line);
	return rc;
}

int tarn_ingest_kafka(tarn_lake *lake, tarn_consumer *consumer, const tarn_ingest_options *opts,
		      tarn_ingest_counts *counts)
{
	tarn_ingest_options o = with_batch(opts, 100000);
	struct source src;
	int rc = tarn_lake_fields(lake, &o.extract);

	if (rc)
		return rc;
	memset(&src, 0, sizeof(src));
	src.next = kafka_next;
	src.opts = &o;
	src.consumer = consumer;
	return run_pipeline(lake, &src, counts);
}
