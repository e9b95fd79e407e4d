#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char help[] =
	"usage: tarn produce (-b BROKERS -t TOPIC | -o FILE|-) [--count N] [--rate N]\n"
	"                    [--seed S] [--start YYYY-MM-DD] [--days D] [--dup-rate F]\n"
	"                    [--unkeyed] [--headers-only] [--format text|json]\n"
	"                    [-X key=value]...\n"
	"Generates synthetic user events (deterministic for a seed). To Kafka: key =\n"
	"user_id, headers event_id and event_name, timestamp = event time. --rate is\n"
	"events per second (default: as fast as possible). --dup-rate F re-sends that\n"
	"fraction of events later, byte-identical. --count counts unique events.\n"
	"--unkeyed sends without a key, spread evenly over the partitions: a few\n"
	"active users make most events, and the embedded broker keeps only ~5 MB\n"
	"per partition, so a hot key overflows it beyond a few hundred thousand events.\n"
	"--headers-only leaves event_id and timestamp out of the payload: the id is\n"
	"only in the event_id header and the time is the Kafka timestamp the producer\n"
	"stamps when it sends (so a re-send carries a later time).\n"
	"--format json prints the summary as one JSON object on stdout.\n";

struct produce_args {
	const char *brokers, *topic, *out;
	struct cli_conf conf;
	tarn_gen_options gen;
	double rate;
	int unkeyed, json;
};

static int parse(int argc, char **argv, struct produce_args *a)
{
	static const struct option opts[] = { { "count", required_argument, NULL, 'c' },
					      { "rate", required_argument, NULL, 'r' },
					      { "seed", required_argument, NULL, 's' },
					      { "start", required_argument, NULL, 'S' },
					      { "days", required_argument, NULL, 'd' },
					      { "dup-rate", required_argument, NULL, 'D' },
					      { "unkeyed", no_argument, NULL, 'U' },
					      { "headers-only", no_argument, NULL, 'H' },
					      { "format", required_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	uint64_t v;
	int opt;

	while ((opt = getopt_long(argc, argv, "b:t:o:X:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b': a->brokers = optarg; break;
		case 't': a->topic = optarg; break;
		case 'o': a->out = optarg; break;
		case 'X':
			if (cli_conf_add(&a->conf, "produce", optarg))
				return EXIT_USAGE;
			break;
		case 'c':
			if (cli_u64(optarg, 1, UINT64_MAX / 2, &a->gen.count))
				return cli_usage("produce", "--count wants a positive number");
			break;
		case 'r':
			if (cli_double(optarg, 0.001, 1e9, &a->rate))
				return cli_usage("produce", "--rate wants events per second > 0");
			break;
		case 's':
			if (cli_u64(optarg, 0, UINT64_MAX, &a->gen.seed))
				return cli_usage("produce", "--seed wants a number");
			break;
		case 'S':
			if (tarn_time_parse_date(optarg, &a->gen.start_us))
				return cli_usage("produce", "--start wants YYYY-MM-DD");
			if (a->gen.start_us == 0)
				a->gen.start_us = 1; /* 0 means "default" to the generator */
			break;
		case 'd':
			if (cli_u64(optarg, 1, 3650, &v))
				return cli_usage("produce", "--days wants 1..3650");
			a->gen.days = (int)v;
			break;
		case 'D':
			if (cli_double(optarg, 0, 1, &a->gen.dup_rate))
				return cli_usage("produce", "--dup-rate wants 0..1");
			break;
		case 'U': a->unkeyed = 1; break;
		case 'H': a->gen.headers_only = 1; break;
		case 'f':
			if (cli_text_or_json("produce", optarg, &a->json))
				return EXIT_USAGE;
			break;
		case 'h': fputs(help, stdout); return -1;
		default: return cli_usage("produce", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage("produce", "unexpected argument '%s'", argv[optind]);
	if (!a->out == !(a->brokers || a->topic))
		return cli_usage("produce", "give either -b BROKERS -t TOPIC or -o FILE");
	if (!a->out && (!a->brokers || !a->topic))
		return cli_usage("produce", "Kafka output needs both -b and -t");
	return 0;
}

static int to_file(struct produce_args *a, tarn_gen *g, uint64_t *n, uint64_t *dups)
{
	FILE *f = strcmp(a->out, "-") == 0 ? stdout : fopen(a->out, "w");
	int64_t t0 = tarn_time_now_us();
	tarn_gen_event ev;

	if (!f) {
		fprintf(stderr, "tarn produce: %s: cannot open for writing\n", a->out);
		return 1;
	}
	while (!cli_stop && tarn_gen_next(g, &ev) == TARN_OK) {
		cli_pace(t0, *n, a->rate);
		fwrite(ev.payload, 1, ev.payload_len, f);
		fputc('\n', f);
		(*n)++;
		*dups += (uint64_t)ev.is_duplicate;
	}
	if ((f == stdout ? fflush(f) : fclose(f)) != 0) {
		fprintf(stderr, "tarn produce: %s: write failed\n", a->out);
		return 1;
	}
	return 0;
}

static int to_kafka(struct produce_args *a, tarn_gen *g, uint64_t *n, uint64_t *dups)
{
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	unsigned char *hdr = NULL;
	size_t hcap = 0;
	int64_t t0 = tarn_time_now_us();
	uint64_t acked = 0, failed = 0;
	tarn_producer *p;
	tarn_gen_event ev;
	int rc;

	po.brokers = a->brokers;
	po.topic = a->topic;
	po.conf = a->conf.kv;
	po.n_conf = a->conf.n;
	rc = tarn_producer_open(&p, &po);
	if (rc)
		return cli_fail("produce", "producer", rc);
	while (!cli_stop && tarn_gen_next(g, &ev) == TARN_OK) {
		cli_pace(t0, *n, a->rate);
		rc = cli_send_generated(p, &ev, !a->unkeyed, !a->gen.headers_only, &hdr, &hcap);
		if (rc)
			break;
		(*n)++;
		*dups += (uint64_t)ev.is_duplicate;
		if (*n % 1000 == 0)
			tarn_producer_poll(p);
	}
	free(hdr);
	if (rc) {
		cli_fail("produce", "send", rc);
		tarn_producer_close(p);
		return 1;
	}
	rc = tarn_producer_flush(p, 120000, &acked, &failed);
	tarn_producer_close(p);
	if (rc)
		return cli_fail("produce", "delivery", rc);
	return 0;
}

int cmd_produce(int argc, char **argv)
{
	struct produce_args a;
	tarn_gen_options defaults = TARN_GEN_OPTIONS_INIT;
	uint64_t n = 0, dups = 0;
	tarn_gen *g;
	int rc;

	memset(&a, 0, sizeof(a));
	a.gen = defaults;
	rc = parse(argc, argv, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (a.json && a.out && strcmp(a.out, "-") == 0)
		return cli_usage("produce",
				 "--format json needs stdout: write events with -o FILE");
	if (a.out && a.gen.headers_only)
		return cli_usage("produce", "--headers-only needs Kafka (-b, -t): a JSON line"
					    " has no headers to carry the id");
	rc = tarn_gen_new(&g, &a.gen);
	if (rc)
		return cli_fail("produce", "generator", rc);
	cli_catch_signals();
	rc = a.out ? to_file(&a, g, &n, &dups) : to_kafka(&a, g, &n, &dups);
	tarn_gen_free(g);
	if (rc == 0)
		fprintf(stderr, "tarn produce: %llu events (%llu re-sends) to %s\n",
			(unsigned long long)n, (unsigned long long)dups, a.out ? a.out : a.topic);
	if (a.json) {
		json_t *j =
			json_pack("{s:I,s:I,s:s,s:b}", "events", (json_int_t)n, "re_sends",
				  (json_int_t)dups, "to", a.out ? a.out : a.topic, "ok", rc == 0);
		cli_json_print(j);
	}
	return rc;
}
