/* tarn compact: rewrite the small blocks of a trickle into full ones
 * (tarn_lake_compact). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char help[] =
	"usage: tarn compact --lake DIR [YYYY-MM-DD]... [--format text|json] "
	"[--progress|--no-progress]\n"
	"Rewrites the small blocks of each shard (or of the dates given) into full\n"
	"ones: ingest at a trickle commits a block of a few events every 100 ms,\n"
	"which compresses poorly. Blocks of an older block format (before shaped\n"
	"payload frames, docs/FORMAT.md) are rewritten in the current one too.\n"
	"One SQLite transaction per shard, so a crash leaves\n"
	"it as before or as after; readers keep their snapshot; events, gold and\n"
	"deduplication are unchanged. tarn ingest also does it by itself for a shard\n"
	"it wrote once that shard has been quiet for --compact-after seconds\n"
	"(default 600). Takes the writer's lock, like ingest.\n";

int cmd_compact(int argc, char **argv)
{
	static const struct option opts[] = { { "lake", required_argument, NULL, 'L' },
					      { "format", required_argument, NULL, 'f' },
					      { "progress", no_argument, NULL, 'p' },
					      { "no-progress", no_argument, NULL, 'P' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	tarn_compact_result r, sum;
	const char *dir = NULL;
	tarn_lake *lake = NULL;
	int progress = -1;
	struct cli_progress prog;
	int opt, rc = TARN_OK, json = 0, i;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': dir = optarg; break;
		case 'f':
			if (cli_text_or_json("compact", optarg, &json))
				return EXIT_USAGE;
			break;
		case 'p': progress = 1; break;
		case 'P': progress = 0; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage("compact", "bad option");
		}
	}
	if (!dir)
		return cli_usage("compact", "--lake DIR is required");
	for (i = optind; i < argc; i++)
		if (tarn_time_parse_date(argv[i], NULL) != TARN_OK)
			return cli_usage("compact", "'%s' is not a date YYYY-MM-DD", argv[i]);
	rc = tarn_lake_open(&lake, dir, 0);
	if (rc)
		return cli_fail("compact", dir, rc);
	cli_progress_init(&prog, "compact", progress, 0);
	tarn_lake_set_progress(lake, cli_lake_progress, &prog);
	memset(&sum, 0, sizeof(sum));
	for (i = optind; rc == TARN_OK && i <= argc; i++) {
		if (i == argc && optind < argc)
			break;
		rc = tarn_lake_compact(lake, i < argc ? argv[i] : NULL, &r);
		sum.shards += r.shards;
		sum.old_blocks += r.old_blocks;
		sum.new_blocks += r.new_blocks;
		sum.events += r.events;
		sum.bytes_before += r.bytes_before;
		sum.bytes_after += r.bytes_after;
	}
	tarn_lake_close(lake);
	cli_progress_done(&prog);
	if (rc)
		return cli_fail("compact", dir, rc);
	if (json) {
		json_t *j =
			json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "shards", (json_int_t)sum.shards,
				  "old_blocks", (json_int_t)sum.old_blocks, "new_blocks",
				  (json_int_t)sum.new_blocks, "events", (json_int_t)sum.events,
				  "bytes_before", (json_int_t)sum.bytes_before, "bytes_after",
				  (json_int_t)sum.bytes_after, "ok", 1);
		cli_json_print(j);
	} else {
		fprintf(stderr,
			"tarn compact: %llu shards, %llu small blocks -> %llu (%llu events),"
			" %llu -> %llu bytes\n",
			(unsigned long long)sum.shards, (unsigned long long)sum.old_blocks,
			(unsigned long long)sum.new_blocks, (unsigned long long)sum.events,
			(unsigned long long)sum.bytes_before, (unsigned long long)sum.bytes_after);
	}
	return 0;
}
