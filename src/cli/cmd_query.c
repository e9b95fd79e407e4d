#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char help_query[] =
	"usage: tarn query --lake DIR 'SQL' [--format table|csv|json]\n"
	"Read-only SQL over the gold tables and the view\n"
	"  events(event_id, event_time, event_date, event_name, payload, key, topic,\n"
	"         partition, \"offset\")\n"
	"which opens only the shards that a condition on event_date or event_time can\n"
	"touch. Writes, ATTACH and load_extension are refused.\n";

static const char help_gold[] =
	"usage: tarn gold --lake DIR [--rebuild] [TABLE] [--format table|csv|json]\n"
	"                 [--progress|--no-progress]\n"
	"Shows the daily gold tables (all, or TABLE). --rebuild first recomputes them\n"
	"from the raw events in the shards, showing progress on stderr when it is a\n"
	"terminal (or with --progress).\n";

/* Run sql and print its rows under an optional title. */
static int print_sql(tarn_query *q, struct cli_out *o, const char *title, const char *sql)
{
	int rc;

	cli_out_begin(o, title);
	rc = tarn_query_exec(q, sql, cli_out_row, o, NULL);
	cli_out_end(o);
	return rc;
}

int cmd_query(int argc, char **argv)
{
	const char *dir = NULL;
	int format = OUT_TABLE, rc;
	struct cli_out *o;
	tarn_query *q;

	rc = cli_lake_args(argc, argv, "query", help_query, &dir, &format, 1, NULL, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (argc - optind != 1)
		return cli_usage("query", "give exactly one SQL argument");
	rc = tarn_query_open(&q, dir);
	if (rc)
		return cli_fail("query", dir, rc);
	o = cli_out_new(stdout, format);
	rc = print_sql(q, o, NULL, argv[optind]);
	cli_out_free(o);
	tarn_query_close(q);
	return rc ? cli_fail("query", "SQL", rc) : 0;
}

static int is_gold_table(const char *name)
{
	const char *const *t;

	for (t = tarn_gold_tables(); *t; t++)
		if (strcmp(*t, name) == 0)
			return 1;
	return 0;
}

int cmd_gold(int argc, char **argv)
{
	const char *dir = NULL, *table = NULL;
	const char *const *t;
	int format = OUT_TABLE, rebuild = 0, progress = -1, rc;
	struct cli_progress prog;
	struct cli_out *o;
	tarn_query *q;

	rc = cli_lake_args(argc, argv, "gold", help_gold, &dir, &format, 1, &rebuild, &progress);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (argc - optind > 1)
		return cli_usage("gold", "at most one TABLE");
	if (optind < argc) {
		table = argv[optind];
		if (!is_gold_table(table))
			return cli_usage("gold", "'%s' is not a gold table", table);
	}
	if (rebuild) {
		tarn_lake *lake = NULL;
		cli_progress_init(&prog, "gold", progress, 0);
		rc = tarn_lake_open(&lake, dir, 0);
		if (!rc) {
			tarn_lake_set_progress(lake, cli_lake_progress, &prog);
			rc = tarn_gold_rebuild(lake);
		}
		tarn_lake_close(lake);
		cli_progress_done(&prog);
		if (rc)
			return cli_fail("gold", "rebuild", rc);
		fprintf(stderr, "tarn gold: rebuilt from the shards\n");
	}
	rc = tarn_query_open(&q, dir);
	if (rc)
		return cli_fail("gold", dir, rc);
	o = cli_out_new(stdout, format);
	for (t = tarn_gold_tables(); *t && rc == TARN_OK; t++) {
		char sql[320], title[96];

		if (table && strcmp(table, *t) != 0)
			continue;
		cli_gold_sql(sql, sizeof(sql), *t, !table && format != OUT_JSON ? 10 : 0);
		snprintf(title, sizeof(title), "%s%s", *t,
			 !table && format != OUT_JSON && cli_is_minute_table(*t)
				 ? " (the last 10 minutes; tarn gold TABLE for all)"
				 : "");
		rc = print_sql(q, o, table ? NULL : title, sql);
	}
	cli_out_free(o);
	tarn_query_close(q);
	return rc ? cli_fail("gold", "read", rc) : 0;
}
