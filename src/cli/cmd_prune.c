/* tarn prune: retention by whole shard files (tarn_lake_prune). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char help[] =
	"usage: tarn prune --lake DIR (--keep-days N | --before YYYY-MM-DD | --max-bytes B)...\n"
	"                  [--quarantine-days N] [--format text|json] [--progress|--no-progress]\n"
	"Deletes whole shard files, oldest first, never part of one: those before\n"
	"today - N + 1 (UTC), those before DATE, then the oldest while all shard files\n"
	"exceed B bytes. Gold rows stay (gold outlives raw data); --quarantine-days N\n"
	"also deletes quarantine rows ingested more than N days ago. The first date\n"
	"kept becomes the lake's retention horizon: an event dated before it that\n"
	"arrives later is quarantined as 'expired', since its shard, and the record of\n"
	"its id, are gone. Takes the writer's lock: with a tarn ingest running on the\n"
	"lake it refuses (use tarn ingest --keep-days N, which prunes as it goes).\n"
	"Readers (query, replay, serve, the SQLite extension) may run meanwhile.\n";

int cmd_prune(int argc, char **argv)
{
	static const struct option opts[] = { { "lake", required_argument, NULL, 'L' },
					      { "keep-days", required_argument, NULL, 'k' },
					      { "before", required_argument, NULL, 'B' },
					      { "max-bytes", required_argument, NULL, 'm' },
					      { "quarantine-days", required_argument, NULL, 'q' },
					      { "format", required_argument, NULL, 'f' },
					      { "progress", no_argument, NULL, 'p' },
					      { "no-progress", no_argument, NULL, 'P' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	tarn_prune_options o = TARN_PRUNE_OPTIONS_INIT;
	tarn_prune_result r;
	const char *dir = NULL;
	tarn_lake *lake = NULL;
	uint64_t v;
	int progress = -1;
	struct cli_progress prog;
	int opt, rc, json = 0;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': dir = optarg; break;
		case 'k':
			if (cli_u64(optarg, 1, 1000000, &v))
				return cli_usage("prune", "--keep-days wants 1..1000000");
			o.keep_days = (int)v;
			break;
		case 'B':
			if (tarn_time_parse_date(optarg, NULL) != TARN_OK)
				return cli_usage("prune", "--before wants a date YYYY-MM-DD");
			o.before = optarg;
			break;
		case 'm':
			if (cli_u64(optarg, 1, UINT64_MAX / 2, &o.max_bytes))
				return cli_usage("prune",
						 "--max-bytes wants a positive number of bytes");
			break;
		case 'q':
			if (cli_u64(optarg, 1, 1000000, &v))
				return cli_usage("prune", "--quarantine-days wants 1..1000000");
			o.quarantine_days = (int)v;
			break;
		case 'f':
			if (cli_text_or_json("prune", optarg, &json))
				return EXIT_USAGE;
			break;
		case 'p': progress = 1; break;
		case 'P': progress = 0; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage("prune", "bad option");
		}
	}
	if (!dir)
		return cli_usage("prune", "--lake DIR is required");
	if (optind < argc)
		return cli_usage("prune", "unexpected argument '%s'", argv[optind]);
	if (!o.keep_days && !o.before && !o.max_bytes && !o.quarantine_days)
		return cli_usage("prune",
				 "give --keep-days, --before, --max-bytes or --quarantine-days");
	rc = tarn_lake_open(&lake, dir, 0);
	if (rc)
		return cli_fail("prune", dir, rc);
	cli_progress_init(&prog, "prune", progress, 0);
	tarn_lake_set_progress(lake, cli_lake_progress, &prog);
	rc = tarn_lake_prune(lake, &o, &r);
	tarn_lake_close(lake);
	cli_progress_done(&prog);
	if (rc)
		return cli_fail("prune", dir, rc);
	if (json) {
		json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:s,s:b}", "shards", (json_int_t)r.shards,
				      "events", (json_int_t)r.events, "bytes", (json_int_t)r.bytes,
				      "quarantine_rows", (json_int_t)r.quarantine_rows, "horizon",
				      r.horizon, "ok", 1);
		cli_json_print(j);
	} else {
		fprintf(stderr,
			"tarn prune: %llu shards deleted (%llu events, %llu bytes), %llu quarantine"
			" rows; first date kept: %s\n",
			(unsigned long long)r.shards, (unsigned long long)r.events,
			(unsigned long long)r.bytes, (unsigned long long)r.quarantine_rows,
			r.horizon[0] ? r.horizon : "(all)");
	}
	return 0;
}
