#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char help[] =
	"usage: tarn split -b BROKERS -t TOPIC [-G GROUP] [-e] [--to TEMPLATE] [--dlq TOPIC]\n"
	"                  [--transactional-id ID] [--name-field P] [--format text|json]\n"
	"                  [--broker-timeout S] [-X key=value]...\n"
	"Routes each message of TOPIC, unchanged (value, key, headers, timestamp), to\n"
	"the topic TEMPLATE names with the message's event name in place of {name}\n"
	"(default 'events.{name}'). The name is taken as ingest takes it: header\n"
	"event_name; payload event_name or event_type (--name-field P). A message\n"
	"without a usable name, or whose topic would not be a legal Kafka topic name\n"
	"([a-zA-Z0-9._-], 1..249 bytes, not . or ..), goes to the dead-letter topic\n"
	"(default TOPIC.dlq) with headers tarn_reason, tarn_source_topic,\n"
	"tarn_source_partition, tarn_source_offset. Consumer group GROUP (default\n"
	"tarn-split): several splitters in one group share the partitions.\n"
	"--transactional-id ID: exactly-once for read_committed readers, on a real\n"
	"Kafka broker: each batch's messages and the group's offsets are one Kafka\n"
	"transaction; a splitter killed mid-batch leaves it aborted, and a second\n"
	"splitter with the same ID fences the first. The embedded broker (tarn broker)\n"
	"cannot do this (it writes no transaction markers): there, and without the\n"
	"flag, split is at-least-once: a batch's offsets are committed only after the\n"
	"broker acknowledged every message of it (idempotent producer). -e stops at the\n"
	"end of every assigned partition once the group's other members have committed\n"
	"theirs to the end (see tarn ingest --help); otherwise split runs until\n"
	"SIGINT/SIGTERM.\n"
	"-X settings go to both the consumer and the producer. --format json prints\n"
	"the summary as one JSON object on stdout.\n"
	"--broker-timeout S: while no Kafka broker answers, wait (saying so on stderr)\n"
	"and retry for up to S seconds (default 300), then exit 1 naming the brokers.\n";

int cmd_split(int argc, char **argv)
{
	static const struct option opts[] = { { "to", required_argument, NULL, 'o' },
					      { "dlq", required_argument, NULL, 'D' },
					      { "name-field", required_argument, NULL, 'N' },
					      { "transactional-id", required_argument, NULL, 'T' },
					      { "broker-timeout", required_argument, NULL, 'W' },
					      { "format", required_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	tarn_consumer_options co = TARN_CONSUMER_OPTIONS_INIT;
	tarn_producer_options po = TARN_PRODUCER_OPTIONS_INIT;
	tarn_split_options so = TARN_SPLIT_OPTIONS_INIT;
	tarn_split_counts k = { 0 };
	struct cli_conf conf = { { 0 }, 0 };
	char dlq[TARN_TOPIC_MAX + 8];
	tarn_consumer *cons = NULL;
	tarn_producer *prod = NULL;
	int opt, rc, json = 0, broker_ms = 0;

	co.group = "tarn-split";
	while ((opt = getopt_long(argc, argv, "b:t:G:eX:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b': co.brokers = optarg; break;
		case 't': co.topic = optarg; break;
		case 'G': co.group = optarg; break;
		case 'e': co.exit_at_end = 1; break;
		case 'o': so.to = optarg; break;
		case 'D': so.dlq = optarg; break;
		case 'N': so.extract.name_field = optarg; break;
		case 'T':
			if (!*optarg)
				return cli_usage("split",
						 "--transactional-id wants a non-empty ID");
			po.transactional_id = optarg;
			break;
		case 'f':
			if (cli_text_or_json("split", optarg, &json))
				return EXIT_USAGE;
			break;
		case 'W':
			if (cli_broker_timeout("split", optarg, &broker_ms))
				return EXIT_USAGE;
			break;
		case 'X':
			if (cli_conf_add(&conf, "split", optarg))
				return EXIT_USAGE;
			break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage("split", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage("split", "unexpected argument '%s'", argv[optind]);
	if (!co.brokers || !co.topic)
		return cli_usage("split", "-b BROKERS and -t TOPIC are required");
	if (!strstr(so.to, "{name}"))
		return cli_usage("split", "--to must contain {name}");
	if (!so.dlq) {
		snprintf(dlq, sizeof(dlq), "%s.dlq", co.topic);
		so.dlq = dlq;
	}
	if (!tarn_split_topic_is_legal(so.dlq))
		return cli_usage("split", "'%s' is not a legal topic name for --dlq", so.dlq);
	co.conf = po.conf = conf.kv;
	co.n_conf = po.n_conf = conf.n;
	po.brokers = co.brokers;
	po.topic = NULL;
	co.broker_timeout_ms = broker_ms;
	co.on_wait = po.on_wait = cli_kafka_wait;
	co.on_wait_ctx = po.on_wait_ctx = (void *)"split";
	po.broker_timeout_ms = broker_ms ? broker_ms : TARN_BROKER_TIMEOUT_MS;
	so.flush_timeout_ms = po.broker_timeout_ms + 10000;
	rc = tarn_producer_open(&prod, &po);
	if (rc)
		return cli_fail("split", "producer", rc);
	rc = tarn_consumer_open(&cons, &co);
	if (rc) {
		tarn_producer_close(prod);
		return cli_fail("split", "consumer", rc);
	}
	cli_catch_signals();
	so.stop = &cli_stop;
	rc = tarn_split_run(cons, prod, &so, &k);
	if (rc)
		rc = cli_fail("split", co.topic, rc);
	tarn_consumer_close(cons);
	tarn_producer_close(prod);
	if (json)
		cli_json_print(json_pack(
			"{s:I,s:I,s:I,s:s,s:I,s:I,s:I,s:b}", "read", (json_int_t)k.read, "routed",
			(json_int_t)k.routed, "dead_lettered", (json_int_t)k.dead_lettered, "dlq",
			so.dlq, "batches", (json_int_t)k.batches, "aborted", (json_int_t)k.aborted,
			"offset_commit_errors", (json_int_t)k.offset_commit_errors, "ok", rc == 0));
	fprintf(stderr, "tarn split: %llu read, %llu routed, %llu dead-lettered to %s%s\n",
		(unsigned long long)k.read, (unsigned long long)k.routed,
		(unsigned long long)k.dead_lettered, so.dlq,
		rc ? " (acknowledged and committed before the failure)" : "");
	if (k.offset_commit_errors)
		fprintf(stderr,
			"tarn split: %llu offset commits failed and were retried;"
			" messages not committed will be sent again\n",
			(unsigned long long)k.offset_commit_errors);
	return rc;
}
