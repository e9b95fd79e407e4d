/* Ingest from Kafka through faults: the broker goes down for several
 * seconds in the middle and comes back; nothing may be lost or doubled. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <sqlite3.h>

#include "tarn/tarn.h"

static const char *quick_rejoin[] = { "session.timeout.ms=6000", "heartbeat.interval.ms=1000" };

struct outage {
	tarn_broker *b;
	int down_after_ms, down_for_ms;
	int went_down;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void *outage_thread(void *arg)
{
	struct outage *o = arg;

	sleep_ms(o->down_for_ms);
	tarn_broker_set_up(o->b, 1, 1);
	return NULL;
}

static pthread_t outage_th;

/* Called after each lake commit and before its offsets are committed: the
 * 10th takes the broker down, so that offset commit meets the outage. */
static void progress(void *ctx, const tarn_ingest_counts *c)
{
	struct outage *o = ctx;

	if (c->batches == 10 && !o->went_down) {
		o->went_down = tarn_broker_set_up(o->b, 1, 0) == TARN_OK;
		pthread_create(&outage_th, NULL, outage_thread, o);
	}
	sleep_ms(10); /* spread the batches over time */
}

static uint64_t produce(tarn_broker *b, uint64_t count)
{
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	tarn_gen_options go = TARN_GEN_OPTIONS_INIT;
	tarn_producer *p;
	tarn_gen *g;
	tarn_gen_event ev;
	uint64_t n = 0;

	go.count = count;
	go.dup_rate = 0.05;
	go.start_us = 1795132800000000LL;
	po.brokers = tarn_broker_bootstrap(b);
	po.topic = "in";
	assert_int_equal(tarn_gen_new(&g, &go), TARN_OK);
	assert_int_equal(tarn_producer_open(&p, &po), TARN_OK);
	while (tarn_gen_next(g, &ev) == TARN_OK) {
		assert_int_equal(tarn_producer_send(p, ev.payload, ev.payload_len, ev.user_id,
						    strlen(ev.user_id), NULL, 0, ev.time_us),
				 TARN_OK);
		n++;
	}
	assert_int_equal(tarn_producer_flush(p, 30000, NULL, NULL), TARN_OK);
	tarn_producer_close(p);
	tarn_gen_free(g);
	return n;
}

static int64_t shard_total(const char *dir, const char *sql)
{
	char path[512];
	int64_t total = 0;
	int d;

	for (d = 19; d <= 24; d++) {
		sqlite3 *db;
		sqlite3_stmt *st;

		snprintf(path, sizeof(path), "file:%s/shards/2026-11-%02d.db?mode=ro", dir, d);
		if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) !=
		    SQLITE_OK) {
			sqlite3_close(db);
			continue;
		}
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			total += sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	return total;
}

static int count_cb(void *ctx, int n, const char *const *names, const tarn_value *v)
{
	(void)n;
	(void)names;
	*(int64_t *)ctx = v[0].i;
	return 0;
}

static int64_t distinct_ids(const char *dir)
{
	tarn_query *q;
	int64_t n = -1;

	assert_int_equal(tarn_query_open(&q, dir), TARN_OK);
	assert_int_equal(tarn_query_exec(q, "SELECT count(DISTINCT event_id) FROM events", count_cb,
					 &n, NULL),
			 TARN_OK);
	tarn_query_close(q);
	return n;
}

static void ingest__broker_outage_loses_nothing(void **state)
{
	enum { N = 30000 };
	tarn_consumer_options co = TARN_CONSUMER_OPTIONS_INIT;
	tarn_ingest_options io = TARN_INGEST_OPTIONS_INIT;
	tarn_ingest_counts c = { 0 };
	struct outage o = { NULL, 0, 4000, 0 };
	char dir[] = "/tmp/tarn-test-outage-XXXXXX", cmd[64];
	tarn_consumer *cons;
	tarn_lake *lake;
	uint64_t sent, problems = 1;
	int64_t t0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(tarn_broker_start(&o.b, 1, 8), TARN_OK);
	assert_int_equal(tarn_broker_topic(o.b, "in", 8), TARN_OK);
	sent = produce(o.b, N);
	assert_int_equal(tarn_lake_open(&lake, dir, 0), TARN_OK);
	co.brokers = tarn_broker_bootstrap(o.b);
	co.topic = "in";
	co.exit_at_end = 1;
	co.conf = quick_rejoin;
	co.n_conf = 2;
	io.batch_events = 500;
	io.progress = progress;
	io.progress_ctx = &o;
	assert_int_equal(tarn_consumer_open(&cons, &co), TARN_OK);
	t0 = tarn_time_now_us();
	assert_int_equal(tarn_ingest_kafka(lake, cons, &io, &c), TARN_OK);
	assert_true(o.went_down);
	pthread_join(outage_th, NULL);
	tarn_consumer_close(cons);
	/* the offset commit that met the outage waited it out (or failed and
	 * was retried); the run lasted through it and everything arrived once */
	assert_true(tarn_time_now_us() - t0 > 4000000);
	/* a batch whose offsets did not get committed is read again: at least
	 * once in, exactly once stored */
	assert_true(c.read >= sent);
	assert_int_equal(c.stored, N);
	assert_int_equal(c.duplicates, c.read - N);
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, &problems), TARN_OK);
	assert_int_equal(problems, 0);
	tarn_lake_close(lake);
	/* counted twice: from the shard files with plain SQLite, and per
	 * event id through the events view */
	assert_int_equal(shard_total(dir, "SELECT ifnull(sum(n_events), 0) FROM blocks"), N);
	assert_int_equal(distinct_ids(dir), N);
	tarn_broker_stop(o.b);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Quarantined rows in the lake, read with plain SQLite. */
static int quarantined_rows(const char *dir)
{
	char path[256];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	snprintf(path, sizeof(path), "file:%s/quarantine.db?mode=ro", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return 0; /* no file yet: nothing quarantined */
	}
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM quarantine", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	} else {
		n = 0; /* the table is created with the first commit */
	}
	sqlite3_close(db);
	return n;
}

/* Ingest len bytes of JSON lines as a file would be; its return code. */
static int ingest_bytes(tarn_lake *lake, const void *buf, size_t len, const tarn_ingest_options *io,
			tarn_ingest_counts *c)
{
	FILE *in = fmemopen((void *)buf, len, "r");
	int rc;

	assert_non_null(in);
	rc = tarn_ingest_stream(lake, in, "f", io, c);
	fclose(in);
	return rc;
}

/* For the dead-letter cases: a new lake in dir (a mkdtemp template), a
 * broker of `partitions` that refuses topic "refused", and producer
 * options for it with a 2 s message timeout. */
static void dlq_setup(char *dir, int partitions, tarn_broker **b, tarn_producer_options *po,
		      tarn_lake **lake)
{
	static const char *conf[] = { "message.timeout.ms=2000" };

	assert_non_null(mkdtemp(dir));
	assert_int_equal(tarn_broker_start(b, 1, partitions), TARN_OK);
	assert_int_equal(tarn_broker_refuse_topic(*b, "refused", 29), TARN_OK);
	po->brokers = tarn_broker_bootstrap(*b);
	po->conf = conf;
	po->n_conf = 1;
	assert_int_equal(tarn_lake_open(lake, dir, 0), TARN_OK);
}

/* Every quarantined input goes to the dead-letter topic too; a topic the
 * broker refuses stops ingest before the lake commit. */
static void ingest__dead_letter_topic(void **state)
{
	static const char lines[] = "{\"event_id\":\"a\",\"timestamp\":\"2026-11-20T00:00:00Z\"}\n"
				    "not json\n"
				    "[1,2]\n"
				    "{\"event_id\":\"b\",\"timestamp\":\"2026-11-20T00:00:01Z\"}\n"
				    "{\"timestamp\":\"2026-11-20T00:00:01Z\"}\n";
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	tarn_ingest_options io = TARN_INGEST_OPTIONS_INIT;
	tarn_ingest_counts c = { 0 };
	char dir[] = "/tmp/tarn-test-dlq-XXXXXX", cmd[64];
	tarn_broker *b;
	tarn_producer *p;
	tarn_lake *lake;

	(void)state;
	dlq_setup(dir, 2, &b, &po, &lake);
	assert_int_equal(tarn_broker_refuse_topic(b, "", 29), TARN_EINVAL);
	assert_int_equal(tarn_producer_open(&p, &po), TARN_OK);
	io.dlq = p;
	/* a producer without a topic name is a usage error */
	assert_int_equal(ingest_bytes(lake, lines, sizeof(lines) - 1, &io, &c), TARN_EINVAL);
	io.dlq_topic = "refused";
	assert_int_equal(ingest_bytes(lake, lines, sizeof(lines) - 1, &io, &c), TARN_EDELIVERY);
	assert_non_null(strstr(tarn_error_last(), "dead-letter topic refused"));
	assert_int_equal(c.stored, 0);
	assert_int_equal(c.dead_lettered, 0);
	assert_int_equal(quarantined_rows(dir), 0);
	tarn_producer_close(p);
	/* the same input again, to a topic that works */
	assert_int_equal(tarn_producer_open(&p, &po), TARN_OK);
	io.dlq = p;
	io.dlq_topic = "dead";
	memset(&c, 0, sizeof(c));
	assert_int_equal(ingest_bytes(lake, lines, sizeof(lines) - 1, &io, &c), TARN_OK);
	assert_int_equal(c.stored, 2);
	assert_int_equal(c.quarantined, 3);
	assert_int_equal(c.dead_lettered, 3);
	assert_int_equal(quarantined_rows(dir), 3);
	tarn_producer_close(p);
	tarn_lake_close(lake);
	tarn_broker_stop(b);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Full blocks are encoded on the worker thread while the next ones fill
 * (ingest.c, shard.c). A batch whose blocks are still being encoded when
 * its commit fails leaves nothing; the same input then stores every event
 * once across two days' shards, the re-deliveries of events in blocks
 * already handed over are absorbed, and gold equals its recomputation. */
#define OFF_EVENTS 12000
static size_t off_thread_input(char *buf, size_t cap, int *dups)
{
	size_t len = 0;
	int i;

	*dups = 0;
	for (i = 0; i < OFF_EVENTS; i++) {
		/* day 2 from event 6000 on, and one event in 50 is late (day 1) */
		int day = i >= OFF_EVENTS / 2 && i % 50 != 0 ? 21 : 20;
		int n = snprintf(
			buf + len, cap - len,
			"{\"event_id\":\"0000%04x-0000-4000-8000-%012d\",\"timestamp\":"
			"\"2026-11-%02dT%02d:%02d:%02dZ\",\"event_name\":\"n%d\",\"user_id\":"
			"\"u%d\",\"event_type\":\"%s\",\"source\":\"s%d\",\"page\":\"/p%d\","
			"\"pad\":\"%0*d\"}\n",
			i, i, day, i / 3600 % 24, i / 60 % 60, i % 60, i % 5, i % 300,
			i % 9 == 0 ? "purchase" : "view", i % 4, i % 7, 40 + i % 150, i);
		assert_true(n > 0 && (size_t)n < cap - len);
		/* a re-delivery, byte for byte, of an event 4,500 earlier: in a
		 * block handed to the worker by now */
		if (i >= 5000 && i % 97 == 0) {
			const char *p = buf, *end;
			int k;
			for (k = 0; k < i - 4500; k++)
				p = strchr(p, '\n') + 1;
			end = strchr(p, '\n') + 1;
			memcpy(buf + len + (size_t)n, p, (size_t)(end - p));
			n += (int)(end - p);
			(*dups)++;
		}
		len += (size_t)n;
	}
	len += (size_t)snprintf(buf + len, cap - len, "not json\n");
	return len;
}

static void ingest__blocks_encoded_off_thread(void **state)
{
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	tarn_ingest_options io = TARN_INGEST_OPTIONS_INIT;
	tarn_ingest_counts c = { 0 };
	char dir[] = "/tmp/tarn-test-off-XXXXXX", cmd[64];
	size_t cap = (size_t)OFF_EVENTS * 700, len;
	char *buf = malloc(cap);
	uint64_t problems = 99;
	tarn_broker *b;
	tarn_producer *p;
	tarn_lake *lake;
	int dups;

	(void)state;
	assert_non_null(buf);
	len = off_thread_input(buf, cap, &dups);
	assert_true(dups > 50);
	dlq_setup(dir, 1, &b, &po, &lake);
	assert_int_equal(tarn_producer_open(&p, &po), TARN_OK);
	/* one batch of 12,000 events: its full blocks go to the worker, then
	 * the dead-letter topic refuses "not json" and the batch rolls back */
	io.dlq = p;
	io.dlq_topic = "refused";
	assert_int_equal(ingest_bytes(lake, buf, len, &io, &c), TARN_EDELIVERY);
	assert_int_equal(c.stored, 0);
	assert_int_equal(shard_total(dir, "SELECT count(*) FROM blocks"), 0);
	/* again, to a topic that works (a new producer: the refused message
	 * stays in the old one's queue), in batches of 3,000 */
	tarn_producer_close(p);
	assert_int_equal(tarn_producer_open(&p, &po), TARN_OK);
	io.dlq = p;
	io.dlq_topic = "dead";
	io.batch_events = 3000;
	memset(&c, 0, sizeof(c));
	if (ingest_bytes(lake, buf, len, &io, &c) != TARN_OK)
		fail_msg("ingest: %s", tarn_error_last());
	assert_int_equal(c.stored, OFF_EVENTS);
	assert_int_equal(c.duplicates, dups);
	assert_int_equal(c.quarantined, 1);
	assert_int_equal(shard_total(dir, "SELECT sum(n_events) FROM blocks"), OFF_EVENTS);
	assert_int_equal(distinct_ids(dir), OFF_EVENTS);
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, &problems), TARN_OK);
	assert_int_equal(problems, 0);
	/* and once more: every event is a duplicate now */
	memset(&c, 0, sizeof(c));
	assert_int_equal(ingest_bytes(lake, buf, len, &io, &c), TARN_OK);
	assert_int_equal(c.stored, 0);
	assert_int_equal(c.duplicates, OFF_EVENTS + dups);
	assert_int_equal(distinct_ids(dir), OFF_EVENTS);
	tarn_lake_close(lake);
	tarn_producer_close(p);
	tarn_broker_stop(b);
	free(buf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* The group's committed offset of every partition of `topic` equals the
 * partition's end, read by a client of its own (librdkafka's committed()
 * and watermarks, not tarn's consumer). Returns the partitions checked. */
static int committed_at_end(const char *brokers, const char *group, const char *topic, int parts)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
	rd_kafka_t *rk;
	int i;

	assert_int_equal(
		rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)),
		RD_KAFKA_CONF_OK);
	assert_int_equal(rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)),
			 RD_KAFKA_CONF_OK);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	assert_non_null(rk);
	for (i = 0; i < parts; i++)
		rd_kafka_topic_partition_list_add(l, topic, i);
	assert_int_equal(rd_kafka_committed(rk, l, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	for (i = 0; i < parts; i++) {
		int64_t lo = -1, hi = -1;
		assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 10000),
				 RD_KAFKA_RESP_ERR_NO_ERROR);
		if (l->elems[i].offset != hi)
			fail_msg("%s [%d]: committed %lld, end %lld", topic, i,
				 (long long)l->elems[i].offset, (long long)hi);
	}
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
	return parts;
}

/* n events to topic, ids "<topic>-<i>", spread over its partitions. */
static void produce_ids(tarn_broker *b, const char *topic, int n)
{
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	tarn_producer *p;
	char line[128];
	int i;

	po.brokers = tarn_broker_bootstrap(b);
	po.topic = topic;
	assert_int_equal(tarn_producer_open(&p, &po), TARN_OK);
	for (i = 0; i < n; i++) {
		int len =
			snprintf(line, sizeof(line),
				 "{\"event_id\":\"%s-%d\",\"timestamp\":\"2026-11-20T00:00:00Z\"}",
				 topic, i);
		assert_int_equal(tarn_producer_send(p, line, (size_t)len, NULL, 0, NULL, 0, -1),
				 TARN_OK);
	}
	assert_int_equal(tarn_producer_flush(p, 30000, NULL, NULL), TARN_OK);
	tarn_producer_close(p);
}

/* A regex subscription reads two topics whose partitions share numbers:
 * each (topic, partition) is read to its own end (-e), every event is
 * stored once, and the group's offsets of both topics are committed at
 * their ends, not one topic's offsets under the other's name. */
static void ingest__regex_subscription_commits_each_topic(void **state)
{
	tarn_consumer_options co = TARN_CONSUMER_OPTIONS_INIT;
	tarn_ingest_options io = TARN_INGEST_OPTIONS_INIT;
	tarn_ingest_counts c = { 0 };
	char dir[] = "/tmp/tarn-test-regex-XXXXXX", cmd[64];
	tarn_consumer *cons;
	tarn_broker *b;
	tarn_lake *lake;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(tarn_broker_start(&b, 1, 3), TARN_OK);
	assert_int_equal(tarn_broker_topic(b, "events.a", 3), TARN_OK);
	assert_int_equal(tarn_broker_topic(b, "events.b", 3), TARN_OK);
	assert_int_equal(tarn_broker_topic(b, "other", 3), TARN_OK);
	/* different sizes, so that one topic's offsets cannot pass for the other's */
	produce_ids(b, "events.a", 300);
	produce_ids(b, "events.b", 900);
	produce_ids(b, "other", 50);
	assert_int_equal(tarn_lake_open(&lake, dir, 0), TARN_OK);
	co.brokers = tarn_broker_bootstrap(b);
	co.topic = "^events\\..*";
	co.group = "rx";
	co.exit_at_end = 1;
	co.conf = quick_rejoin;
	co.n_conf = 2;
	io.batch_events = 250; /* batches that hold both topics */
	assert_int_equal(tarn_consumer_open(&cons, &co), TARN_OK);
	if (tarn_ingest_kafka(lake, cons, &io, &c) != TARN_OK)
		fail_msg("ingest: %s", tarn_error_last());
	tarn_consumer_close(cons);
	assert_int_equal(c.read, 1200);
	assert_int_equal(c.stored, 1200);
	assert_int_equal(c.offset_commit_errors, 0);
	tarn_lake_close(lake);
	assert_int_equal(distinct_ids(dir), 1200);
	assert_int_equal(committed_at_end(co.brokers, "rx", "events.a", 3), 3);
	assert_int_equal(committed_at_end(co.brokers, "rx", "events.b", 3), 3);
	tarn_broker_stop(b);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ingest__broker_outage_loses_nothing),
		cmocka_unit_test(ingest__dead_letter_topic),
		cmocka_unit_test(ingest__blocks_encoded_off_thread),
		cmocka_unit_test(ingest__regex_subscription_commits_each_topic),
	};

	return cmocka_run_group_tests_name("ingest", tests, NULL, NULL);
}
