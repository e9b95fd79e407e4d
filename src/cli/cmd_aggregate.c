/* tarn aggregate create|list|drop: declared gold (tarn/aggregate.h). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

#define MAX_COLS 32

static const char help[] =
	"usage: tarn aggregate create --lake DIR NAME --every day|hour|minute\n"
	"           [--where EXPR] [--by COL=EXPR]... --measure COL=AGG [--measure COL=AGG]...\n"
	"       tarn aggregate list --lake DIR [--format text|json]\n"
	"       tarn aggregate drop --lake DIR NAME\n"
	"Declares a gold table NAME in gold.db that always equals\n"
	"  SELECT event_date, [window_start,] <by...>, <measures...> FROM events\n"
	"  WHERE EXPR GROUP BY event_date, [window_start,] <by...>\n"
	"over every stored event: backfilled from every shard at create, then updated\n"
	"in the same transaction as each ingest batch. EXPR: a deterministic SQLite\n"
	"scalar expression over event_id, event_time, event_date, event_name, payload,\n"
	"key, topic, partition, \"offset\" (e.g. payload->>'$.properties.net').\n"
	"AGG: count(*), count(E), sum(E), avg(E), min(E), max(E), count(DISTINCT E),\n"
	"each optionally followed by FILTER (WHERE E). Sums are exact (README.md,\n"
	"\"Declare your own gold\").\n"
	"create on a lake that a tarn ingest is writing asks that ingest to build it\n"
	"between two batches (no event missed or counted twice) and waits for it;\n"
	"Ctrl-C stops waiting and leaves the request to the writer. drop takes the\n"
	"lake's writer lock. --progress / --no-progress: the backfill's progress on\n"
	"stderr (default: when stderr is a terminal).\n";

/* "COL=EXPR" into c (pointers into arg, which is modified). */
static int split_col(const char *opt, char *arg, tarn_aggregate_column *c)
{
	char *eq = strchr(arg, '=');

	if (!eq || eq == arg || !eq[1])
		return cli_usage("aggregate", "%s wants COL=EXPR, got '%s'", opt, arg);
	*eq = 0;
	c->col = arg;
	c->expr = eq + 1;
	return 0;
}

static int open_writer(const char *dir, tarn_lake **lake)
{
	int rc = tarn_lake_open(lake, dir, 0);

	if (rc == TARN_EBUSY) {
		fprintf(stderr,
			"tarn aggregate: a tarn ingest is writing to this lake (%s/lake.lock is"
			" held); stop it, run this again, then restart the ingest\n",
			dir);
		return 1;
	}
	if (rc)
		return cli_fail("aggregate", dir, rc);
	return 0;
}

static json_t *pairs_json(const tarn_aggregate_column *c, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a,
				      json_pack("{s:s,s:s}", "col", c[i].col, "expr", c[i].expr));
	return a;
}

json_t *cli_aggregate_json(const tarn_aggregate_info *info)
{
	const tarn_aggregate_def *d = &info->def;
	json_t *o = json_pack("{s:s,s:s,s:o,s:o,s:I,s:s,s:s}", "name", d->name, "window",
			      tarn_window_name(d->every), "by", pairs_json(d->by, d->n_by),
			      "measures", pairs_json(d->measure, d->n_measures), "rows",
			      (json_int_t)info->rows, "state", info->state, "path", info->path);

	json_object_set_new(o, "where", d->where ? json_string(d->where) : json_null());
	return o;
}

struct list_ctx {
	int json;
	json_t *arr;
};

static int list_row(void *ctx, const tarn_aggregate_info *info)
{
	struct list_ctx *c = ctx;
	const tarn_aggregate_def *d = &info->def;
	size_t i;

	if (c->json) {
		json_array_append_new(c->arr, cli_aggregate_json(info));
		return 0;
	}
	printf("%s  every %s  %llu rows  %s  (%s path)\n", d->name, tarn_window_name(d->every),
	       (unsigned long long)info->rows, info->state, info->path);
	if (d->where)
		printf("  --where %s\n", d->where);
	for (i = 0; i < d->n_by; i++)
		printf("  --by %s=%s\n", d->by[i].col, d->by[i].expr);
	for (i = 0; i < d->n_measures; i++)
		printf("  --measure %s=%s\n", d->measure[i].col, d->measure[i].expr);
	return 0;
}

static int do_list(const char *dir, int json)
{
	struct list_ctx c = { json, json ? json_array() : NULL };
	tarn_lake *lake;
	int rc = tarn_lake_open(&lake, dir, TARN_LAKE_READONLY);

	if (rc)
		return cli_fail("aggregate", dir, rc);
	rc = tarn_aggregate_list(lake, list_row, &c);
	tarn_lake_close(lake);
	if (rc) {
		json_decref(c.arr);
		return cli_fail("aggregate", "list", rc);
	}
	if (json) {
		char *s = json_dumps(c.arr, JSON_COMPACT);
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(c.arr);
	}
	return 0;
}

/* The state of aggregate name in the catalog, copied into out ("" when
 * there is no such aggregate). */
struct find_ctx {
	const char *name;
	char *out;
	size_t len;
};

static int find_state(void *ctx, const tarn_aggregate_info *info)
{
	struct find_ctx *f = ctx;

	if (strcmp(info->def.name, f->name) == 0)
		snprintf(f->out, f->len, "%s", info->state);
	return 0;
}

static int state_of(const char *dir, const char *name, char *out, size_t len)
{
	struct find_ctx f = { name, out, len };
	tarn_lake *lake;
	int rc = tarn_lake_open(&lake, dir, TARN_LAKE_READONLY);

	out[0] = 0;
	if (!rc)
		rc = tarn_aggregate_list(lake, find_state, &f);
	tarn_lake_close(lake);
	return rc;
}

/* The lake is held by a writer (a tarn ingest): leave the declaration in
 * the catalog for it to build between two batches, and wait until it is
 * ready or failed. When the writer goes away first, opening the lake as a
 * writer builds it (tarn_lake_open takes requests). */
static int create_by_writer(const char *dir, const tarn_aggregate_def *d)
{
	char state[300];
	int rc = tarn_aggregate_request(dir, d), said = 0;

	if (rc == TARN_EINVAL)
		return cli_usage("aggregate", "%s", tarn_error_last());
	if (rc)
		return cli_fail("aggregate", d->name, rc);
	fprintf(stderr,
		"tarn aggregate: a tarn ingest is writing to this lake; it builds '%s' after"
		" its next commit. Waiting (Ctrl-C stops waiting; the request stays).\n",
		d->name);
	cli_catch_signals();
	while (!cli_stop) {
		tarn_lake *lake;

		rc = state_of(dir, d->name, state, sizeof(state));
		if (rc)
			return cli_fail("aggregate", d->name, rc);
		if (strcmp(state, "ready") == 0)
			return 0;
		if (strncmp(state, "failed: ", 8) == 0) {
			fprintf(stderr, "tarn aggregate: %s: %s\n", d->name, state + 8);
			tarn_aggregate_withdraw(dir, d->name);
			return 1;
		}
		if (!state[0]) {
			fprintf(stderr, "tarn aggregate: %s: the request was withdrawn\n", d->name);
			return 1;
		}
		if (tarn_lake_open(&lake, dir, 0) == TARN_OK) {
			/* the writer is gone: this open built it (or marked it failed) */
			tarn_lake_close(lake);
			continue;
		}
		if (!said++ && isatty(2))
			fprintf(stderr, "tarn aggregate: waiting for the writer...\n");
		usleep(200 * 1000);
	}
	fprintf(stderr,
		"tarn aggregate: stopped waiting; '%s' is still requested: the writer"
		" builds it, `tarn aggregate list` shows its state\n",
		d->name);
	return 1;
}

int cmd_aggregate(int argc, char **argv)
{
	static const struct option opts[] = { { "lake", required_argument, NULL, 'L' },
					      { "every", required_argument, NULL, 'e' },
					      { "where", required_argument, NULL, 'w' },
					      { "by", required_argument, NULL, 'b' },
					      { "measure", required_argument, NULL, 'm' },
					      { "format", required_argument, NULL, 'f' },
					      { "progress", no_argument, NULL, 'p' },
					      { "no-progress", no_argument, NULL, 'P' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	tarn_aggregate_column by[MAX_COLS], measure[MAX_COLS];
	tarn_aggregate_def d;
	const char *dir = NULL, *every = NULL, *verb;
	tarn_lake *lake = NULL;
	int opt, rc, json = 0, progress = -1;
	struct cli_progress prog;

	memset(&d, 0, sizeof(d));
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(help, stdout);
		return 0;
	}
	if (argc < 2)
		return cli_usage("aggregate", "create, list or drop is required");
	verb = argv[1];
	if (strcmp(verb, "create") && strcmp(verb, "list") && strcmp(verb, "drop"))
		return cli_usage("aggregate", "'%s' is not create, list or drop", verb);
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': dir = optarg; break;
		case 'e': every = optarg; break;
		case 'w': d.where = optarg; break;
		case 'b':
			if (d.n_by == MAX_COLS)
				return cli_usage("aggregate", "at most %d --by", MAX_COLS);
			if (split_col("--by", optarg, &by[d.n_by]))
				return EXIT_USAGE;
			d.n_by++;
			break;
		case 'm':
			if (d.n_measures == MAX_COLS)
				return cli_usage("aggregate", "at most %d --measure", MAX_COLS);
			if (split_col("--measure", optarg, &measure[d.n_measures]))
				return EXIT_USAGE;
			d.n_measures++;
			break;
		case 'f':
			if (cli_text_or_json("aggregate", optarg, &json))
				return EXIT_USAGE;
			break;
		case 'p': progress = 1; break;
		case 'P': progress = 0; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage("aggregate", "bad option");
		}
	}
	if (!dir)
		return cli_usage("aggregate", "--lake DIR is required");
	if (strcmp(verb, "list") == 0) {
		if (optind < argc || every || d.where || d.n_by || d.n_measures)
			return cli_usage("aggregate", "list takes only --lake and --format");
		return do_list(dir, json);
	}
	if (optind + 1 != argc)
		return cli_usage("aggregate", "%s takes one NAME", verb);
	d.name = argv[optind];
	d.by = by;
	d.measure = measure;
	if (strcmp(verb, "drop") == 0) {
		if (every || d.where || d.n_by || d.n_measures)
			return cli_usage("aggregate", "drop takes only --lake and NAME");
		rc = open_writer(dir, &lake);
		if (rc)
			return rc;
		rc = tarn_aggregate_drop(lake, d.name);
		tarn_lake_close(lake);
		if (rc == TARN_ENOTFOUND)
			return cli_usage("aggregate", "%s", tarn_error_last());
		return rc ? cli_fail("aggregate", d.name, rc) : 0;
	}
	if (!every)
		return cli_usage("aggregate", "--every day|hour|minute is required");
	if (tarn_window_parse(every, &d.every))
		return cli_usage("aggregate", "%s", tarn_error_last());
	if (!d.n_measures)
		return cli_usage("aggregate", "at least one --measure COL=AGG is required");
	if (tarn_aggregate_check(&d))
		return cli_usage("aggregate", "%s", tarn_error_last());
	rc = tarn_lake_open(&lake, dir, 0);
	if (rc == TARN_EBUSY)
		return create_by_writer(dir, &d);
	if (rc)
		return cli_fail("aggregate", dir, rc);
	cli_progress_init(&prog, "aggregate", progress, 0);
	tarn_lake_set_progress(lake, cli_lake_progress, &prog);
	rc = tarn_aggregate_create(lake, &d);
	cli_progress_done(&prog);
	tarn_lake_close(lake);
	if (rc == TARN_EINVAL)
		return cli_usage("aggregate", "%s", tarn_error_last());
	if (rc)
		return cli_fail("aggregate", d.name, rc);
	return 0;
}
