/* The whole flow on a bare machine: embedded broker, produce with
 * re-deliveries, ingest with a consumer group, gold, replay one day, and
 * count what came back. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char help[] =
	"usage: tarn demo [--lake DIR] [--count N] [--format text|json]\n"
	"Starts an embedded broker, produces N events (default 100000) over 3 days\n"
	"with 5% re-deliveries, ingests them with a consumer group, splits the topic\n"
	"by event name (tarn split), prints the gold tables (daily, and the last\n"
	"minutes of the per-minute ones), replays the last day to another topic and\n"
	"counts what came back.\n"
	"--format json: the steps go to stderr and stdout gets one JSON object of\n"
	"the counts.\n";

static double secs(int64_t t0)
{
	return (double)(tarn_time_now_us() - t0) / 1e6;
}

static int produce(const char *brokers, uint64_t count, int64_t start_us, uint64_t *sent,
		   uint64_t *dups)
{
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	tarn_gen_options go = TARN_GEN_OPTIONS_INIT;
	unsigned char *hdr = NULL;
	size_t hcap = 0;
	tarn_producer *p;
	tarn_gen *g;
	tarn_gen_event ev;
	int rc;

	go.count = count;
	go.days = 3;
	go.dup_rate = 0.05;
	go.seed = 7;
	go.start_us = start_us;
	po.brokers = brokers;
	po.topic = "events";
	rc = tarn_gen_new(&g, &go);
	if (rc)
		return rc;
	rc = tarn_producer_open(&p, &po);
	if (rc) {
		tarn_gen_free(g);
		return rc;
	}
	while (rc == TARN_OK && tarn_gen_next(g, &ev) == TARN_OK) {
		rc = cli_send_generated(p, &ev, 1, 1, &hdr, &hcap);
		(*sent)++;
		*dups += (uint64_t)ev.is_duplicate;
		if (*sent % 1000 == 0)
			tarn_producer_poll(p);
	}
	free(hdr);
	if (!rc)
		rc = tarn_producer_flush(p, 120000, NULL, NULL);
	tarn_producer_close(p);
	tarn_gen_free(g);
	return rc;
}

static int ingest(const char *brokers, const char *topic, const char *group, tarn_lake *lake,
		  tarn_ingest_counts *c)
{
	tarn_consumer_options co = TARN_CONSUMER_OPTIONS_INIT;
	tarn_consumer *cons;
	int rc;

	co.brokers = brokers;
	co.topic = topic;
	co.group = group;
	co.exit_at_end = 1;
	rc = tarn_consumer_open(&cons, &co);
	if (rc)
		return rc;
	rc = tarn_ingest_kafka(lake, cons, NULL, c);
	tarn_consumer_close(cons);
	return rc;
}

/* The events splitter: events -> events.{name} (tarn split), with its own
 * consumer group. */
static int split(const char *brokers, tarn_split_counts *k)
{
	tarn_consumer_options co = TARN_CONSUMER_OPTIONS_INIT;
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	tarn_split_options so = TARN_SPLIT_OPTIONS_INIT;
	tarn_consumer *cons = NULL;
	tarn_producer *prod = NULL;
	int rc;

	co.brokers = po.brokers = brokers;
	co.topic = "events";
	co.group = "tarn-demo-split";
	co.exit_at_end = 1;
	so.dlq = "events.dlq";
	rc = tarn_producer_open(&prod, &po);
	if (!rc)
		rc = tarn_consumer_open(&cons, &co);
	if (!rc)
		rc = tarn_split_run(cons, prod, &so, k);
	tarn_consumer_close(cons);
	tarn_producer_close(prod);
	return rc;
}

struct replay_ctx {
	tarn_producer *p;
	uint64_t n;
};

static int to_kafka(void *ctx, const tarn_event *ev)
{
	struct replay_ctx *r = ctx;

	r->n++;
	return tarn_producer_send_event(r->p, ev);
}

static int replay_day(const char *brokers, tarn_lake *lake, int64_t day_us, uint64_t *sent,
		      uint64_t *acked)
{
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	tarn_replay_options ro = TARN_REPLAY_OPTIONS_INIT;
	struct replay_ctx r = { NULL, 0 };
	int rc;

	po.brokers = brokers;
	po.topic = "replay";
	ro.since_us = day_us;
	ro.until_us = day_us + TARN_US_PER_DAY;
	rc = tarn_producer_open(&r.p, &po);
	if (rc)
		return rc;
	rc = tarn_replay_scan(lake, &ro, to_kafka, &r, NULL);
	if (!rc)
		rc = tarn_producer_flush(r.p, 120000, acked, NULL);
	tarn_producer_close(r.p);
	*sent = r.n;
	return rc;
}

/* Count the messages on a topic with a fresh consumer group. */
static int count_topic(const char *brokers, const char *topic, uint64_t *n)
{
	tarn_consumer_options co = TARN_CONSUMER_OPTIONS_INIT;
	tarn_consumer *cons;
	tarn_event ev;
	int rc;

	co.brokers = brokers;
	co.topic = topic;
	co.group = "tarn-demo-check";
	co.exit_at_end = 1;
	rc = tarn_consumer_open(&cons, &co);
	if (rc)
		return rc;
	*n = 0;
	while ((rc = tarn_consumer_poll(cons, 100, &ev)) != TARN_ENOTFOUND) {
		if (rc == TARN_OK)
			(*n)++;
		else if (rc != TARN_EINVAL)
			break;
	}
	tarn_consumer_close(cons);
	return rc == TARN_ENOTFOUND ? TARN_OK : rc;
}

static int show_gold(const char *dir, FILE *f)
{
	struct cli_out *o;
	tarn_query *q;
	const char *const *t;
	int rc = tarn_query_open(&q, dir);

	if (rc)
		return rc;
	o = cli_out_new(f, OUT_TABLE);
	for (t = tarn_gold_tables(); *t && rc == TARN_OK; t++) {
		char sql[320];
		char title[96];
		cli_gold_sql(sql, sizeof(sql), *t, 5);
		snprintf(title, sizeof(title), "%s%s", *t,
			 cli_is_minute_table(*t) ? " (the last 5 minutes)" : "");
		cli_out_begin(o, title);
		rc = tarn_query_exec(q, sql, cli_out_row, o, NULL);
		cli_out_end(o);
	}
	cli_out_free(o);
	tarn_query_close(q);
	return rc;
}

struct day_count {
	const char *date;
	uint64_t n;
};

static int find_day(void *ctx, const tarn_shard_stats *s)
{
	struct day_count *d = ctx;

	if (strcmp(s->date, d->date) == 0)
		d->n = s->events;
	return 0;
}

int cmd_demo(int argc, char **argv)
{
	static const struct option opts[] = { { "lake", required_argument, NULL, 'L' },
					      { "count", required_argument, NULL, 'c' },
					      { "format", required_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	char dir_buf[64] = "/tmp/tarn-demo-XXXXXX", last_day[11];
	const char *dir = NULL;
	uint64_t count = 100000, sent = 0, dups = 0, rsent = 0, racked = 0, back = 0, problems;
	tarn_ingest_counts c = { 0 };
	tarn_split_counts k = { 0 };
	struct day_count dc;
	int64_t start_us, t0;
	tarn_broker *b = NULL;
	tarn_lake *lake = NULL;
	int opt, rc, parts, json = 0;
	const char *bs;
	FILE *say = stdout; /* the steps; on stderr when stdout gets JSON */

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': dir = optarg; break;
		case 'c':
			if (cli_u64(optarg, 1, 100000000, &count))
				return cli_usage("demo", "--count wants 1..100000000");
			break;
		case 'f':
			if (cli_text_or_json("demo", optarg, &json))
				return EXIT_USAGE;
			break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage("demo", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage("demo", "unexpected argument '%s'", argv[optind]);
	if (!dir) {
		if (!mkdtemp(dir_buf)) {
			fprintf(stderr, "tarn demo: cannot create a folder in /tmp\n");
			return 1;
		}
		dir = dir_buf;
	}
	start_us = tarn_time_now_us();
	start_us -= start_us % TARN_US_PER_DAY + 3 * TARN_US_PER_DAY;
	tarn_time_date(start_us + 2 * TARN_US_PER_DAY, last_day);
	/* The mock broker keeps only ~5 MB per partition and drops older
	 * messages silently; events are keyed by user and a few active users
	 * make most of them, so partitions fill unevenly: give one partition
	 * per 5,000 events (measured: 6 partitions for 105,000 lost 3%). */
	parts = (int)(count / 5000) + 4;

	if (json)
		say = stderr;
	fprintf(say, "tarn demo: lake %s\n", dir);
	t0 = tarn_time_now_us();
	rc = tarn_broker_start(&b, 1, parts);
	if (!rc)
		rc = tarn_broker_topic(b, "events", parts);
	if (!rc)
		rc = tarn_broker_topic(b, "replay", parts);
	/* the splitter's outputs, as many partitions (the mock keeps ~5 MB each) */
	{
		static const char *const outs[] = { "events.login", "events.click",
						    "events.purchase", "events.logout",
						    "events.dlq" };
		size_t i;
		for (i = 0; !rc && i < sizeof(outs) / sizeof(outs[0]); i++)
			rc = tarn_broker_topic(b, outs[i], parts);
	}
	if (rc)
		return cli_fail("demo", "embedded broker", rc);
	bs = tarn_broker_bootstrap(b);
	fprintf(say,
		"1. embedded Kafka broker at %s, topics 'events' and 'replay' with %d partitions\n",
		bs, parts);

	t0 = tarn_time_now_us();
	rc = produce(bs, count, start_us, &sent, &dups);
	if (rc)
		goto fail_step;
	fprintf(say,
		"2. produced %llu events (%llu unique + %llu re-deliveries) over 3 days in %.1fs\n",
		(unsigned long long)sent, (unsigned long long)count, (unsigned long long)dups,
		secs(t0));

	t0 = tarn_time_now_us();
	rc = tarn_lake_open(&lake, dir, 0);
	if (!rc)
		rc = ingest(bs, "events", "tarn-demo", lake, &c);
	if (rc)
		goto fail_step;
	fprintf(say,
		"3. ingested with consumer group 'tarn-demo' in %.1fs: %llu read, %llu stored,"
		" %llu duplicates absorbed, %llu quarantined\n",
		secs(t0), (unsigned long long)c.read, (unsigned long long)c.stored,
		(unsigned long long)c.duplicates, (unsigned long long)c.quarantined);
	if (c.stored != count || c.duplicates != dups) {
		fprintf(stderr, "tarn demo: expected %llu stored and %llu duplicates\n",
			(unsigned long long)count, (unsigned long long)dups);
		rc = TARN_EINVAL;
		goto fail_step;
	}
	tarn_lake_close(lake);
	lake = NULL;

	t0 = tarn_time_now_us();
	rc = split(bs, &k);
	if (rc)
		goto fail_step;
	fprintf(say,
		"3b. split 'events' by event name with tarn split (group 'tarn-demo-split')"
		" in %.1fs: %llu read, %llu routed to events.{login,click,purchase,logout},"
		" %llu dead-lettered\n",
		secs(t0), (unsigned long long)k.read, (unsigned long long)k.routed,
		(unsigned long long)k.dead_lettered);
	if (k.read != sent || k.routed + k.dead_lettered != k.read) {
		fprintf(stderr, "tarn demo: the splitter did not route every message\n");
		rc = TARN_EINVAL;
		goto fail_step;
	}

	fprintf(say, "4. gold tables:\n\n");
	rc = show_gold(dir, say);
	if (rc)
		goto fail_step;

	t0 = tarn_time_now_us();
	rc = tarn_lake_open(&lake, dir, TARN_LAKE_READONLY);
	if (!rc)
		rc = tarn_lake_verify(lake, NULL, NULL, &problems);
	if (rc)
		goto fail_step;
	fprintf(say,
		"\n5. verify: every file passes integrity_check, gold equals its recomputation"
		" (%.1fs)\n",
		secs(t0));

	t0 = tarn_time_now_us();
	rc = replay_day(bs, lake, start_us + 2 * TARN_US_PER_DAY, &rsent, &racked);
	if (!rc)
		rc = count_topic(bs, "replay", &back);
	dc.date = last_day;
	dc.n = 0;
	if (!rc)
		rc = tarn_lake_stats_get(lake, find_day, &dc, NULL);
	if (rc)
		goto fail_step;
	fprintf(say,
		"6. replayed %s to topic 'replay': %llu sent, %llu acknowledged, %llu read back"
		" (%llu stored that day) in %.1fs\n",
		last_day, (unsigned long long)rsent, (unsigned long long)racked,
		(unsigned long long)back, (unsigned long long)dc.n, secs(t0));
	tarn_lake_close(lake);
	tarn_broker_stop(b);
	if (back != dc.n || racked != dc.n) {
		fprintf(stderr, "tarn demo: replay count does not match the day's events\n");
		return 1;
	}
	fprintf(say,
		"\ndemo ok. Look around: tarn stats --lake %s; tarn query --lake %s"
		" \"SELECT event_name, count(*) FROM events GROUP BY 1\"\n",
		dir, dir);
	if (json) {
		json_t *j = json_pack(
			"{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:s,s:I,s:I,s:I,s:I,s:b}", "lake",
			dir, "produced", (json_int_t)sent, "unique", (json_int_t)count, "re_sends",
			(json_int_t)dups, "read", (json_int_t)c.read, "stored",
			(json_int_t)c.stored, "duplicates", (json_int_t)c.duplicates, "quarantined",
			(json_int_t)c.quarantined, "verify_ok", 1, "replayed_day", last_day,
			"replay_sent", (json_int_t)rsent, "replay_acknowledged", (json_int_t)racked,
			"replay_read_back", (json_int_t)back, "split_routed", (json_int_t)k.routed,
			"ok", 1);
		cli_json_print(j);
	}
	return 0;
fail_step:
	cli_fail("demo", "step failed", rc);
	tarn_lake_close(lake);
	tarn_broker_stop(b);
	return 1;
}
