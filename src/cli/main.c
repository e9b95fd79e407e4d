/* tarn: an event lake in a folder. One binary, kcat-style subcommands. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	cli_cmd_fn fn;
	const char *summary;
} commands[] = {
	{ "broker", cmd_broker, "run an embedded Kafka-protocol broker on 127.0.0.1" },
	{ "produce", cmd_produce, "generate synthetic user events to Kafka or JSON lines" },
	{ "ingest", cmd_ingest, "store events from Kafka or JSON lines in a lake" },
	{ "split", cmd_split,
	  "route each message of a topic to a topic named from its event name" },
	{ "replay", cmd_replay, "re-emit stored events to Kafka or JSON lines" },
	{ "gold", cmd_gold, "show (or --rebuild) the daily gold tables" },
	{ "aggregate", cmd_aggregate,
	  "declare (create), list or drop your own gold tables over any event shape" },
	{ "query", cmd_query, "run read-only SQL over gold tables and the events view" },
	{ "stats", cmd_stats, "events, duplicates, quarantine and bytes per shard" },
	{ "verify", cmd_verify, "check every file and that gold equals its recomputation" },
	{ "prune", cmd_prune, "retention: delete whole old shard files (gold stays)" },
	{ "compact", cmd_compact, "rewrite the small blocks of a trickle into full ones" },
	{ "serve", cmd_serve, "a read-only live dashboard, JSON tables and /metrics over HTTP" },
	{ "demo", cmd_demo, "the whole flow on an embedded broker, with numbers" },
};

/* librdkafka's lines, when asked for: the library hands them over and
 * never prints them itself. fprintf locks stderr, and the library calls
 * this for one line at a time. */
static void print_kafka_log(void *ctx, int level, const char *fac, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "librdkafka %d %s: %s\n", level, fac, msg);
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: tarn <command> [options]   (tarn <command> --help)\n\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nExit status: 0 success, 1 runtime failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	/* Blocks of 1 MiB and more (block buffers, a flush's sort array, the
	 * ids in memory) are mapped, and unmapped when freed. glibc otherwise
	 * raises its mmap threshold to the size of each such block freed (up
	 * to 32 MiB, mallopt(3), M_MMAP_THRESHOLD), after which they come
	 * from the heap, which kept ~10 MB of freed memory resident in a
	 * 10M-event ingest (peak RSS 62.8 MB; with this, 60.5). */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	if (getenv("TARN_KAFKA_DEBUG"))
		tarn_kafka_log_set(print_kafka_log, NULL);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("tarn %s\n", TARN_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "tarn: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
