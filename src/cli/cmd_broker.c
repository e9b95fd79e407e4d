#include <getopt.h>
#include <signal.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char help[] =
	"usage: tarn broker [--partitions N] [--topic NAME]... [--refuse NAME]... [--format "
	"text|json]\n"
	"Runs librdkafka's mock cluster on 127.0.0.1 and prints its bootstrap\n"
	"address as the first line of stdout (with --format json, that line is\n"
	"{\"bootstrap\": ..., \"partitions\": N, \"topics\": [...]}); stops on\n"
	"SIGINT/SIGTERM.\n"
	"Each --topic is created with N partitions (default 4). The mock keeps\n"
	"about 5 MB / 100,000 messages per partition: use one partition per ~4 MB.\n"
	"--refuse NAME (fault injection, for tests): producers get\n"
	"TOPIC_AUTHORIZATION_FAILED for topic NAME, so every message to it fails.\n";

int cmd_broker(int argc, char **argv)
{
	static const struct option opts[] = { { "partitions", required_argument, NULL, 'p' },
					      { "topic", required_argument, NULL, 't' },
					      { "format", required_argument, NULL, 'f' },
					      { "refuse", required_argument, NULL, 'r' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *topics[64], *refused[64];
	size_t n_refused = 0;
	size_t n_topics = 0, i;
	uint64_t partitions = 4;
	tarn_broker *b;
	sigset_t set;
	int opt, sig, rc, json = 0;

	while ((opt = getopt_long(argc, argv, "p:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (cli_u64(optarg, 1, 10000, &partitions))
				return cli_usage("broker", "--partitions wants 1..10000");
			break;
		case 't':
			if (n_topics == 64)
				return cli_usage("broker", "at most 64 topics");
			topics[n_topics++] = optarg;
			break;
		case 'f':
			if (cli_text_or_json("broker", optarg, &json))
				return EXIT_USAGE;
			break;
		case 'r':
			if (n_refused == 64)
				return cli_usage("broker", "at most 64 refused topics");
			refused[n_refused++] = optarg;
			break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage("broker", "bad option");
		}
	}
	if (optind < argc)
		return cli_usage("broker", "unexpected argument '%s'", argv[optind]);
	/* block the signals before librdkafka starts threads, then wait */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	rc = tarn_broker_start(&b, 1, (int)partitions);
	if (rc)
		return cli_fail("broker", "start", rc);
	for (i = 0; i < n_topics; i++) {
		rc = tarn_broker_topic(b, topics[i], (int)partitions);
		if (rc) {
			tarn_broker_stop(b);
			return cli_fail("broker", "create topic", rc);
		}
	}
	for (i = 0; i < n_refused; i++) {
		rc = tarn_broker_refuse_topic(b, refused[i], 29 /* TOPIC_AUTHORIZATION_FAILED */);
		if (rc) {
			tarn_broker_stop(b);
			return cli_fail("broker", "refuse topic", rc);
		}
	}
	if (json) {
		json_t *names = json_array(), *j;
		for (i = 0; i < n_topics; i++)
			json_array_append_new(names, json_string(topics[i]));
		j = json_pack("{s:s,s:i,s:o}", "bootstrap", tarn_broker_bootstrap(b), "partitions",
			      (int)partitions, "topics", names);
		json_dumpf(j, stdout, JSON_PRESERVE_ORDER | JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(j);
	} else {
		printf("%s\n", tarn_broker_bootstrap(b));
	}
	fflush(stdout);
	sigwait(&set, &sig);
	tarn_broker_stop(b);
	return 0;
}
