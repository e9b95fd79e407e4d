#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

static const char help[] =
	"usage: tarn ingest --lake DIR (-b BROKERS -t TOPIC [-G GROUP] [-e] | FILE... | -)\n"
	"                   [--id-field P] [--time-field P] [--name-field P] [--group-readable]\n"
	"                   [--dlq TOPIC [-b BROKERS]]\n"
	"                   [-X key=value]... [--progress|--no-progress] [--format text|json]\n"
	"                   [--minute-days N] [--keep-days N] [--compact-after S]\n"
	"                   [--broker-timeout S]\n"
	"Stores events in the lake: deduplicated by event id across the lake, payloads\n"
	"zstd-compressed, gold tables updated in the same batch; inputs that cannot be\n"
	"stored go to the quarantine with a reason. From Kafka, offsets are committed\n"
	"to the consumer group (default \"tarn\") only after the lake commit. -e stops\n"
	"at the end of every assigned partition once the group's other members have\n"
	"committed theirs to the end (a dead member's partitions are read after the\n"
	"rebalance; waits up to 2 x session.timeout.ms + 5 s); otherwise ingest runs until\n"
	"SIGINT/SIGTERM, commits what it stored and exits 0. New lake files are 0600\n"
	"(folders 0700); --group-readable makes them 0640 (0750).\n"
	"--id-field/--time-field/--name-field P take the id, time or name from payload\n"
	"path P (dotted: meta.id). The lake remembers the mapping of its first ingest:\n"
	"later ingests use it when these flags are left out, and other paths are\n"
	"refused (exit 2).\n"
	"--dlq TOPIC also produces every quarantined input to TOPIC (on -b BROKERS,\n"
	"also with FILE input) with its value, key, headers and timestamp, plus\n"
	"headers tarn_reason, tarn_source_topic, tarn_source_partition and\n"
	"tarn_source_offset; a batch (and its offsets) is committed only after TOPIC\n"
	"acknowledged it. A TOPIC that cannot be written stops ingest with exit 1;\n"
	"nothing is lost: run the same command again.\n"
	"Progress (events, events/s, bytes, ETA for files) goes to stderr when it is a\n"
	"terminal; --progress / --no-progress force it. --format json prints the\n"
	"summary as a JSON object on stdout instead of the line on stderr.\n"
	"--minute-days N keeps the per-minute gold tables for the last N UTC dates\n"
	"only (0: as long as the shards; remembered by the lake). --keep-days N\n"
	"deletes shards older than the last N UTC dates as it goes (tarn prune;\n"
	"remembered by the lake; 0 turns it off). --compact-after S rewrites the small\n"
	"blocks of a shard it wrote once that shard has had no commit for S seconds\n"
	"(default 600; 0: never; see tarn compact).\n"
	"--broker-timeout S: while no Kafka broker answers, wait (saying so on stderr)\n"
	"and retry for up to S seconds (default 300), then exit 1 naming the brokers.\n";

static void progress(void *ctx, const tarn_ingest_counts *c)
{
	cli_progress_update(ctx, c->read, c->bytes);
}

/* The size of the input files, for an ETA; 0 (unknown) with stdin. */
static uint64_t input_bytes(int argc, char **argv)
{
	uint64_t total = 0;
	struct stat st;
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-") == 0 || stat(argv[i], &st) != 0 || !S_ISREG(st.st_mode))
			return 0;
		total += (uint64_t)st.st_size;
	}
	return total;
}

static void summary_json(const tarn_ingest_counts *c, int64_t t0, int rc)
{
	json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:b}", "read",
			      (json_int_t)c->read, "stored", (json_int_t)c->stored, "duplicates",
			      (json_int_t)c->duplicates, "quarantined", (json_int_t)c->quarantined,
			      "conflicting_duplicates", (json_int_t)c->conflicts, "batches",
			      (json_int_t)c->batches, "bytes", (json_int_t)c->bytes,
			      "offset_commit_errors", (json_int_t)c->offset_commit_errors,
			      "dead_lettered", (json_int_t)c->dead_lettered, "seconds",
			      (double)(tarn_time_now_us() - t0) / 1e6, "ok", rc == 0);

	if (j) {
		cli_json_print(j);
	}
}

static int from_files(tarn_lake *lake, int argc, char **argv, tarn_ingest_options *o,
		      tarn_ingest_counts *c)
{
	int i, rc = TARN_OK;

	for (i = 0; i < argc && rc == TARN_OK && !cli_stop; i++) {
		int is_stdin = strcmp(argv[i], "-") == 0;
		FILE *f = is_stdin ? stdin : fopen(argv[i], "r");

		if (!f) {
			fprintf(stderr, "tarn ingest: %s: cannot open\n", argv[i]);
			return 1;
		}
		rc = tarn_ingest_stream(lake, f, argv[i], o, c);
		if (!is_stdin)
			fclose(f);
		if (rc)
			return cli_fail("ingest", argv[i], rc);
	}
	return 0;
}

static int from_kafka(tarn_lake *lake, tarn_consumer_options *co, tarn_ingest_options *o,
		      tarn_ingest_counts *c)
{
	tarn_consumer *cons;
	int rc = tarn_consumer_open(&cons, co);

	if (rc)
		return cli_fail("ingest", "consumer", rc);
	rc = tarn_ingest_kafka(lake, cons, o, c);
	tarn_consumer_close(cons);
	if (rc)
		return cli_fail("ingest", co->topic, rc);
	return 0;
}

int cmd_ingest(int argc, char **argv)
{
	static const struct option opts[] = { { "lake", required_argument, NULL, 'L' },
					      { "id-field", required_argument, NULL, 'I' },
					      { "time-field", required_argument, NULL, 'T' },
					      { "name-field", required_argument, NULL, 'N' },
					      { "group-readable", no_argument, NULL, 'g' },
					      { "progress", no_argument, NULL, 'p' },
					      { "no-progress", no_argument, NULL, 'P' },
					      { "format", required_argument, NULL, 'f' },
					      { "minute-days", required_argument, NULL, 'm' },
					      { "keep-days", required_argument, NULL, 'K' },
					      { "compact-after", required_argument, NULL, 'C' },
					      { "dlq", required_argument, NULL, 'D' },
					      { "broker-timeout", required_argument, NULL, 'W' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	tarn_consumer_options co = TARN_CONSUMER_OPTIONS_INIT;
	tarn_ingest_options o = TARN_INGEST_OPTIONS_INIT;
	tarn_ingest_counts c = { 0 };
	struct cli_conf conf = { { 0 }, 0 };
	const char *dir = NULL, *dlq = NULL;
	tarn_producer *dlq_prod = NULL;
	int64_t t0 = tarn_time_now_us();
	struct cli_progress prog;
	int progress_mode = -1, json = 0;
	tarn_lake *lake;
	int opt, rc;
	unsigned lake_flags = 0;
	uint64_t minute_days = 0, keep_days = 0, compact_after = 600;
	int set_minute_days = 0, set_keep_days = 0, broker_ms = 0;

	while ((opt = getopt_long(argc, argv, "b:t:G:eX:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': dir = optarg; break;
		case 'b': co.brokers = optarg; break;
		case 't': co.topic = optarg; break;
		case 'G': co.group = optarg; break;
		case 'e': co.exit_at_end = 1; break;
		case 'I': o.extract.id_field = optarg; break;
		case 'T': o.extract.time_field = optarg; break;
		case 'N': o.extract.name_field = optarg; break;
		case 'D': dlq = optarg; break;
		case 'g': lake_flags |= TARN_LAKE_GROUP_READABLE; break;
		case 'm':
			if (cli_u64(optarg, 0, 100000, &minute_days))
				return cli_usage("ingest", "--minute-days wants 0..100000");
			set_minute_days = 1;
			break;
		case 'C':
			if (cli_u64(optarg, 0, 100000000, &compact_after))
				return cli_usage("ingest", "--compact-after wants seconds >= 0");
			break;
		case 'K':
			if (cli_u64(optarg, 0, 1000000, &keep_days))
				return cli_usage("ingest", "--keep-days wants 0..1000000");
			set_keep_days = 1;
			break;
		case 'p': progress_mode = 1; break;
		case 'P': progress_mode = 0; break;
		case 'f':
			if (cli_text_or_json("ingest", optarg, &json))
				return EXIT_USAGE;
			break;
		case 'W':
			if (cli_broker_timeout("ingest", optarg, &broker_ms))
				return EXIT_USAGE;
			break;
		case 'X':
			if (cli_conf_add(&conf, "ingest", optarg))
				return EXIT_USAGE;
			break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage("ingest", "bad option");
		}
	}
	if (!dir)
		return cli_usage("ingest", "--lake DIR is required");
	if (co.topic && optind < argc)
		return cli_usage("ingest", "give either -b/-t or files, not both");
	if (co.topic && !co.brokers)
		return cli_usage("ingest", "Kafka input needs both -b and -t");
	if (co.brokers && !co.topic && !dlq)
		return cli_usage("ingest", "Kafka input needs both -b and -t");
	if (!co.topic && optind == argc)
		return cli_usage("ingest", "give -b BROKERS -t TOPIC, FILE..., or - for stdin");
	if (dlq && !co.brokers)
		return cli_usage("ingest", "--dlq needs -b BROKERS");
	if (dlq && !tarn_split_topic_is_legal(dlq))
		return cli_usage("ingest", "'%s' is not a legal topic name for --dlq", dlq);
	co.conf = conf.kv;
	co.n_conf = conf.n;
	co.broker_timeout_ms = broker_ms;
	co.on_wait = cli_kafka_wait;
	co.on_wait_ctx = (void *)"ingest";
	if (dlq) {
		tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;

		po.brokers = co.brokers;
		po.topic = dlq;
		po.conf = conf.kv;
		po.n_conf = conf.n;
		po.broker_timeout_ms = broker_ms;
		po.on_wait = cli_kafka_wait;
		po.on_wait_ctx = (void *)"ingest";
		rc = tarn_producer_open(&dlq_prod, &po);
		if (rc)
			return cli_fail("ingest", "dead-letter producer", rc);
		o.dlq = dlq_prod;
		o.dlq_topic = dlq;
	}
	rc = tarn_lake_open(&lake, dir, lake_flags);
	if (rc) {
		tarn_producer_close(dlq_prod);
		return cli_fail("ingest", dir, rc);
	}
	/* the flags contradict what this lake is: the command line is wrong,
	 * nothing failed, and the same command can never succeed (exit 2) */
	rc = tarn_lake_fields(lake, &o.extract);
	if (rc) {
		if (rc == TARN_EINVAL)
			rc = cli_usage("ingest",
				       "%s; give the lake's --id-field/--time-field/--name-field"
				       " or none (then the lake's are used), or ingest into"
				       " another lake",
				       tarn_error_last());
		else
			rc = cli_fail("ingest", "field mapping", rc);
		tarn_lake_close(lake);
		tarn_producer_close(dlq_prod);
		return rc;
	}
	tarn_lake_set_compact_after(lake, (int)compact_after);
	if (set_keep_days) {
		rc = tarn_lake_set_keep_days(lake, (int)keep_days);
		if (rc) {
			tarn_lake_close(lake);
			tarn_producer_close(dlq_prod);
			return cli_fail("ingest", "--keep-days", rc);
		}
	}
	if (set_minute_days) {
		rc = tarn_lake_set_minute_days(lake, (int)minute_days);
		if (rc) {
			tarn_lake_close(lake);
			tarn_producer_close(dlq_prod);
			return cli_fail("ingest", "--minute-days", rc);
		}
	}
	cli_catch_signals();
	o.stop = &cli_stop;
	cli_progress_init(&prog, "ingest", progress_mode,
			  co.topic ? 0 : input_bytes(argc - optind, argv + optind));
	if (prog.on) {
		o.progress = progress;
		o.progress_ctx = &prog;
	}
	rc = co.topic ? from_kafka(lake, &co, &o, &c)
		      : from_files(lake, argc - optind, argv + optind, &o, &c);
	tarn_lake_close(lake);
	tarn_producer_close(dlq_prod);
	cli_progress_done(&prog);
	if (json) {
		summary_json(&c, t0, rc);
		return rc;
	}
	fprintf(stderr,
		"tarn ingest: %llu read, %llu stored, %llu duplicates absorbed, "
		"%llu quarantined (%llu conflicting duplicates)%s\n",
		(unsigned long long)c.read, (unsigned long long)c.stored,
		(unsigned long long)c.duplicates, (unsigned long long)c.quarantined,
		(unsigned long long)c.conflicts, rc ? " committed before the failure" : "");
	if (dlq)
		fprintf(stderr, "tarn ingest: %llu dead-lettered to %s\n",
			(unsigned long long)c.dead_lettered, dlq);
	if (c.offset_commit_errors)
		fprintf(stderr,
			"tarn ingest: %llu Kafka offset commits failed and were retried;"
			" events not committed will be re-delivered and absorbed\n",
			(unsigned long long)c.offset_commit_errors);
	return rc;
}
