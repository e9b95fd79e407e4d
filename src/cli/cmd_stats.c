#include <getopt.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char help_stats[] =
	"usage: tarn stats --lake DIR [--format table|json]\n"
	"Per shard and in total: events stored, duplicates absorbed, raw payload\n"
	"bytes, compressed bytes, bytes on disk, compression ratio, disk bytes per\n"
	"event; and the quarantine count.\n";

static const char help_verify[] =
	"usage: tarn verify --lake DIR [--format table|json] [--progress|--no-progress]\n"
	"Runs PRAGMA integrity_check on every file, checks every shard's format,\n"
	"blocks and dates, that ids.db knows every stored event id, and that every\n"
	"gold table equals its recomputation from the raw events. Exit 0 when clean,\n"
	"1 naming each problem. Days whose shard was pruned keep their gold rows, which\n"
	"cannot be recomputed: verify names them (not a problem). Progress on stderr\n"
	"when it is a terminal. --format json: {\"ok\": bool, \"problems\": [{\"file\",\n"
	"\"problem\"}...], \"not_recomputed\": [\"YYYY-MM-DD\"...]} on stdout.\n";

static int stats_row(void *ctx, const tarn_shard_stats *s)
{
	tarn_value v[8];
	static const char *const names[] = { "shard",	   "events",
					     "duplicates", "raw_bytes",
					     "zstd_bytes", "disk_bytes",
					     "ratio",	   "disk_bytes_per_event" };

	memset(v, 0, sizeof(v));
	v[0].type = TARN_VALUE_TEXT;
	v[0].p = s->date;
	v[0].len = strlen(s->date);
	v[1].type = v[2].type = v[3].type = v[4].type = v[5].type = TARN_VALUE_INT;
	v[1].i = (int64_t)s->events;
	v[2].i = (int64_t)s->duplicates;
	v[3].i = (int64_t)s->raw_bytes;
	v[4].i = (int64_t)s->zstd_bytes;
	v[5].i = (int64_t)s->disk_bytes;
	v[6].type = v[7].type = TARN_VALUE_REAL;
	v[6].d = s->zstd_bytes
			 ? (double)(int64_t)(100.0 * (double)s->raw_bytes / (double)s->zstd_bytes) /
				   100.0
			 : 0;
	v[7].d = s->events ? (double)(int64_t)(10.0 * (double)s->disk_bytes / (double)s->events) /
				     10.0
			   : 0;
	return cli_out_row(ctx, 8, names, v);
}

int cmd_stats(int argc, char **argv)
{
	const char *dir = NULL;
	int format = OUT_TABLE, rc;
	tarn_lake_stats st;
	struct cli_out *o;
	tarn_lake *lake;

	rc = cli_lake_args(argc, argv, "stats", help_stats, &dir, &format, 0, NULL, NULL);
	if (!rc && optind < argc)
		rc = cli_usage("stats", "unexpected argument '%s'", argv[optind]);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = tarn_lake_open(&lake, dir, TARN_LAKE_READONLY);
	if (rc)
		return cli_fail("stats", dir, rc);
	o = cli_out_new(stdout, format);
	cli_out_begin(o, format == OUT_JSON ? "shards" : NULL);
	rc = tarn_lake_stats_get(lake, stats_row, o, &st);
	if (!rc)
		stats_row(o, &st.total);
	cli_out_end(o);
	if (!rc) {
		static const char *const names[] = { "quarantined", "conflicting_duplicates",
						     "lake_disk_bytes", "shards" };
		tarn_value v[4];
		memset(v, 0, sizeof(v));
		v[0].type = v[1].type = v[2].type = v[3].type = TARN_VALUE_INT;
		v[0].i = (int64_t)st.quarantined;
		v[1].i = (int64_t)st.conflicts;
		v[2].i = (int64_t)st.lake_disk_bytes;
		v[3].i = (int64_t)st.n_shards;
		cli_out_begin(o, "lake");
		cli_out_row(o, 4, names, v);
		cli_out_end(o);
	}
	cli_out_free(o);
	tarn_lake_close(lake);
	return rc ? cli_fail("stats", dir, rc) : 0;
}

static void print_problem(void *ctx, const char *file, const char *problem)
{
	json_t *list = ctx;

	if (list)
		json_array_append_new(list,
				      json_pack("{s:s,s:s}", "file", file, "problem", problem));
	else
		printf("%s: %s\n", file, problem);
}

/* The dates of gold without a shard: into a JSON array, or a line. */
struct days {
	json_t *list;
	char text[256];
	size_t n;
};

static int note_day(void *ctx, const char *date)
{
	struct days *d = ctx;
	size_t l = strlen(d->text);

	if (d->list)
		json_array_append_new(d->list, json_string(date));
	else if (d->n < 10)
		snprintf(d->text + l, sizeof(d->text) - l, "%s%s", d->n ? ", " : "", date);
	d->n++;
	return 0;
}

int cmd_verify(int argc, char **argv)
{
	const char *dir = NULL;
	uint64_t problems = 0;
	json_t *list = NULL;
	tarn_lake *lake;
	int rc, format = OUT_TABLE, progress = -1;
	struct cli_progress prog;
	struct days days;

	rc = cli_lake_args(argc, argv, "verify", help_verify, &dir, &format, 0, NULL, &progress);
	if (!rc && optind < argc)
		rc = cli_usage("verify", "unexpected argument '%s'", argv[optind]);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = tarn_lake_open(&lake, dir, TARN_LAKE_READONLY);
	if (rc)
		return cli_fail("verify", dir, rc);
	if (format == OUT_JSON)
		list = json_array();
	cli_progress_init(&prog, "verify", progress, 0);
	tarn_lake_set_progress(lake, cli_lake_progress, &prog);
	rc = tarn_lake_verify(lake, print_problem, list, &problems);
	memset(&days, 0, sizeof(days));
	days.list = list ? json_array() : NULL;
	if (rc == TARN_OK || rc == TARN_ECORRUPT) {
		int drc = tarn_lake_gold_only_days(lake, note_day, &days);
		if (drc) {
			rc = drc;
			json_decref(days.list);
			days.list = NULL;
		}
	}
	tarn_lake_close(lake);
	cli_progress_done(&prog);
	if (list && (rc == TARN_OK || rc == TARN_ECORRUPT)) {
		json_t *j = json_pack("{s:b,s:o,s:o}", "ok", rc == TARN_OK, "problems", list,
				      "not_recomputed", days.list);

		cli_json_print(j);
		return rc == TARN_OK ? 0 : 1;
	}
	json_decref(list);
	if (days.n)
		printf("not recomputed: gold kept for %zu day%s without a shard (pruned): %s%s\n",
		       days.n, days.n == 1 ? "" : "s", days.text, days.n > 10 ? ", ..." : "");
	if (rc == TARN_OK) {
		printf("ok: every file passes integrity_check and gold equals its recomputation\n");
		return 0;
	}
	if (rc == TARN_ECORRUPT) {
		printf("%llu problem%s\n", (unsigned long long)problems, problems == 1 ? "" : "s");
		return 1;
	}
	return cli_fail("verify", dir, rc);
}
