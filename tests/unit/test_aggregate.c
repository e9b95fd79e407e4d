/* Unit tests of declared aggregates (tarn/aggregate.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tarn/tarn.h"

#define FIXTURE_NAME "agg"
#include "lake_fixture.h"

/* Ingest JSON lines in batches of 3 events; the ingest's return code. */
static int ingest(tarn_lake *lake, const char *text)
{
	tarn_ingest_options opts = TARN_INGEST_OPTIONS_INIT;
	tarn_ingest_counts c = { 0 };
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int rc;

	assert_non_null(f);
	opts.batch_events = 3;
	rc = tarn_ingest_stream(lake, f, "test.jsonl", &opts, &c);
	fclose(f);
	return rc;
}

/* One value of gold.db, as text ("NULL" for NULL), through SQLite itself. */
static void gold_value(const char *sql, char *out, size_t len)
{
	char path[300];
	sqlite3 *db;
	sqlite3_stmt *st;

	snprintf(path, sizeof(path), "%s/gold.db", lake_dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
	else
		snprintf(out, len, "NULL");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void assert_gold(const char *sql, const char *want)
{
	char got[256];

	gold_value(sql, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("%s: got %s, want %s", sql, got, want);
}

static tarn_aggregate_def def_of(const char *name, tarn_window w, const char *where,
				 const tarn_aggregate_column *by, size_t n_by,
				 const tarn_aggregate_column *m, size_t n_m)
{
	tarn_aggregate_def d;

	memset(&d, 0, sizeof(d));
	d.name = name;
	d.every = w;
	d.where = where;
	d.by = by;
	d.n_by = n_by;
	d.measure = m;
	d.n_measures = n_m;
	return d;
}

static void refused(const char *by_expr, const char *agg, const char *where, const char *needle)
{
	tarn_aggregate_column by = { "x", by_expr }, m = { "n", agg };
	tarn_aggregate_def d = def_of("a", TARN_WINDOW_DAY, where, &by, by_expr ? 1 : 0, &m, 1);

	assert_int_equal(tarn_aggregate_check(&d), TARN_EINVAL);
	if (!strstr(tarn_error_last(), needle))
		fail_msg("'%s' not named in: %s", needle, tarn_error_last());
}

static void aggregate__check_refuses_and_names(void **state)
{
	(void)state;
	refused("random()", "count(*)", NULL, "random() is not deterministic");
	refused("(SELECT 1)", "count(*)", NULL, "subqueries prohibited");
	refused("date('now')", "count(*)", NULL, "date()");
	refused("sum(event_time)", "count(*)", NULL, "sum() is an aggregate");
	refused("count(*) OVER ()", "count(*)", NULL, "count() is an aggregate");
	refused("other.col", "count(*)", NULL, "no such column: other.col");
	refused("1); DROP TABLE x; --", "count(*)", NULL, "is not one expression");
	refused(NULL, "median(event_time)", NULL, "is not one of count(*)");
	refused(NULL, "sum(DISTINCT event_time)", NULL, "is not one of");
	refused(NULL, "count(*) FILTER (event_time > 0)", NULL, "is not one of");
	refused(NULL, "sum(random())", NULL, "--measure n: 'random()' refused");
	refused(NULL, "count(*) FILTER (WHERE random() > 0)", NULL, "random()");
	refused(NULL, "count(*)", "event_time > (SELECT 1)", "--where");
	refused("n", "count(*)", NULL, "no such column: n");
}

static void aggregate__check_accepts_forms_and_names(void **state)
{
	tarn_aggregate_column m[] = { { "a", "COUNT(*)" },
				      { "b", "count( DISTINCT event_name ) filter (where 1)" },
				      { "c",
					"Sum(payload->>'$.v') FILTER (WHERE event_name = ')')" },
				      { "d", "min(event_time, 0)" } };
	tarn_aggregate_column by = { "n", "lower(event_name)" }, twice = { "a", "topic" };
	tarn_aggregate_def d =
		def_of("ok_1", TARN_WINDOW_MINUTE, "partition IS NULL", &by, 1, m, 3);

	(void)state;
	assert_int_equal(tarn_aggregate_check(&d), TARN_OK);
	d.n_measures = 4; /* min(E, F) is the scalar min(): not an AGG */
	assert_int_equal(tarn_aggregate_check(&d), TARN_EINVAL);
	d.n_measures = 3;
	d.by = &twice;
	assert_int_equal(tarn_aggregate_check(&d), TARN_EINVAL);
	assert_non_null(strstr(tarn_error_last(), "'a' is given twice"));
	d.by = &by;
	d.name = "a__b";
	assert_int_equal(tarn_aggregate_check(&d), TARN_EINVAL);
	d.name = "events";
	assert_int_equal(tarn_aggregate_check(&d), TARN_EINVAL);
	d.name = "1x";
	assert_int_equal(tarn_aggregate_check(&d), TARN_EINVAL);
}

static const char tenths[] =
	"{\"event_id\":\"a\",\"timestamp\":\"2026-11-20T13:05:07Z\",\"v\":0.1}\n"
	"{\"event_id\":\"b\",\"timestamp\":\"2026-11-20T13:05:59Z\",\"v\":0.2}\n"
	"{\"event_id\":\"c\",\"timestamp\":\"2026-11-20T13:06:00Z\",\"v\":0.3}\n";
static const char tenths_down[] =
	"{\"event_id\":\"c\",\"timestamp\":\"2026-11-20T13:06:00Z\",\"v\":0.3}\n"
	"{\"event_id\":\"b\",\"timestamp\":\"2026-11-20T13:05:59Z\",\"v\":0.2}\n"
	"{\"event_id\":\"a\",\"timestamp\":\"2026-11-20T13:05:07Z\",\"v\":0.1}\n";

static void create_sums(tarn_lake *lake, tarn_window w)
{
	tarn_aggregate_column m[] = { { "t", "sum(payload->>'$.v')" },
				      { "a", "avg(payload->>'$.v')" },
				      { "n", "count(*)" } };
	tarn_aggregate_def d = def_of("s", w, NULL, NULL, 0, m, 3);

	if (tarn_aggregate_create(lake, &d))
		fail_msg("create: %s", tarn_error_last());
}

/* 0.1 + 0.2 + 0.3 is 0.6000000000000001 in doubles one way, 0.6 the
 * other; the exact sum is 0.6 both ways, declared before or after. */
static void aggregate__decimal_sums_exact_in_any_order(void **state)
{
	tarn_lake *lake = open_lake();

	(void)state;
	assert_int_equal(ingest(lake, tenths), TARN_OK);
	create_sums(lake, TARN_WINDOW_DAY);
	assert_gold("SELECT t = 0.6 AND a = 0.2 AND n = 3 AND typeof(t) = 'real' FROM s", "1");
	assert_gold("SELECT a0 FROM s__state", "d6e-1");
	assert_int_equal(tarn_aggregate_drop(lake, "s"), TARN_OK);
	tarn_lake_close(lake);
	teardown(NULL);
	setup(NULL);
	lake = open_lake();
	create_sums(lake, TARN_WINDOW_DAY); /* empty lake: maintained from the start */
	assert_int_equal(ingest(lake, tenths_down), TARN_OK);
	assert_gold("SELECT t = 0.6 AND a = 0.2 AND n = 3 FROM s", "1");
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, NULL), TARN_OK);
	tarn_lake_close(lake);
}

/* Minute windows are RFC 3339 UTC; late events and re-deliveries. */
static void aggregate__minute_windows_late_events_redeliveries(void **state)
{
	tarn_lake *lake = open_lake();

	(void)state;
	create_sums(lake, TARN_WINDOW_MINUTE);
	assert_int_equal(ingest(lake, tenths), TARN_OK);
	assert_gold("SELECT group_concat(window_start || '=' || n, ' ') FROM"
		    " (SELECT * FROM s ORDER BY window_start)",
		    "2026-11-20T13:05:00Z=2 2026-11-20T13:06:00Z=1");
	assert_int_equal(
		ingest(lake,
		       "{\"event_id\":\"a\",\"timestamp\":\"2026-11-20T13:05:07Z\",\"v\":0.1}\n"
		       "{\"event_id\":\"d\",\"timestamp\":\"2026-11-19T23:59:00Z\",\"v\":7}\n"
		       "{\"event_id\":\"e\",\"timestamp\":\"2026-11-20T13:05:01Z\",\"v\":1}\n"),
		TARN_OK);
	assert_gold(
		"SELECT group_concat(window_start || '=' || n || '/' || t, ' ') FROM"
		" (SELECT * FROM s ORDER BY window_start)",
		"2026-11-19T23:59:00Z=1/7 2026-11-20T13:05:00Z=3/1.3 2026-11-20T13:06:00Z=1/0.3");
	assert_gold("SELECT event_date FROM s ORDER BY 1 LIMIT 1", "2026-11-19");
	assert_int_equal(tarn_gold_rebuild(lake), TARN_OK);
	assert_gold("SELECT count(*) FROM s", "3");
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, NULL), TARN_OK);
	tarn_lake_close(lake);
}

/* Non-numbers in sum() follow SQLite: compare with SQLite's own sum(). */
static void aggregate__sum_follows_sqlite_for_text(void **state)
{
	static const char *const cases[][3] = {
		{ "5", "\"7\"", "12|integer" },	   /* a text that is an integer is one */
		{ "5", "\"abc\"", "5.0|real" },	   /* a non-number counts as 0 */
		{ "1", "\"12abc\"", "13.0|real" }, /* its numeric prefix, as written */
		{ "null", "null", "NULL" },	   /* no value: NULL */
		{ "2", "3.5", "5.5|real" },
	};
	tarn_aggregate_column m[] = { { "t", "sum(payload->>'$.v')" } };
	tarn_aggregate_def d = def_of("s", TARN_WINDOW_DAY, NULL, NULL, 0, m, 1);
	char sqlite_says[64], text[512], path[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tarn_lake *lake = open_lake();
		sqlite3 *mem;
		sqlite3_stmt *st;

		snprintf(text, sizeof(text),
			 "{\"event_id\":\"x\",\"timestamp\":\"2026-11-20T00:00:00Z\",\"v\":%s}\n"
			 "{\"event_id\":\"y\",\"timestamp\":\"2026-11-20T00:00:01Z\",\"v\":%s}\n",
			 cases[i][0], cases[i][1]);
		assert_int_equal(ingest(lake, text), TARN_OK);
		assert_int_equal(tarn_aggregate_create(lake, &d), TARN_OK);
		assert_gold("SELECT coalesce(t || '|' || typeof(t), 'NULL') FROM s", cases[i][2]);
		/* SQLite agrees */
		assert_int_equal(sqlite3_open(":memory:", &mem), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(mem,
						    "SELECT coalesce(sum(value) || '|' ||"
						    " typeof(sum(value)), 'NULL') FROM"
						    " (SELECT json(?1)->>'$' AS value UNION ALL"
						    " SELECT json(?2)->>'$')",
						    -1, &st, NULL),
				 SQLITE_OK);
		sqlite3_bind_text(st, 1, cases[i][0], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, cases[i][1], -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		snprintf(sqlite_says, sizeof(sqlite_says), "%s", sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		sqlite3_close(mem);
		assert_string_equal(sqlite_says, cases[i][2]);
		tarn_lake_close(lake);
		snprintf(path, sizeof(path), "rm -rf '%s'/*", lake_dir);
		assert_int_equal(system(path), 0);
	}
}

/* An integer sum out of range is an error, not a wrap: the batch that
 * would overflow is refused and the lake stays as it was. */
static void aggregate__integer_overflow_is_an_error(void **state)
{
	tarn_aggregate_column m[] = { { "t", "sum(payload->>'$.v')" } };
	tarn_aggregate_def d = def_of("s", TARN_WINDOW_DAY, NULL, NULL, 0, m, 1);
	tarn_lake *lake = open_lake();

	(void)state;
	assert_int_equal(ingest(lake, "{\"event_id\":\"x\",\"timestamp\":\"2026-11-20T00:00:00Z\","
				      "\"v\":9223372036854775807}\n"),
			 TARN_OK);
	assert_int_equal(tarn_aggregate_create(lake, &d), TARN_OK);
	assert_int_equal(ingest(lake, "{\"event_id\":\"y\",\"timestamp\":\"2026-11-20T00:00:00Z\","
				      "\"v\":1}\n"),
			 TARN_ESQLITE);
	assert_non_null(strstr(tarn_error_last(), "integer overflow"));
	assert_gold("SELECT t FROM s", "9223372036854775807");
	/* a negative one brings it back in range */
	assert_int_equal(ingest(lake, "{\"event_id\":\"z\",\"timestamp\":\"2026-11-20T00:00:00Z\","
				      "\"v\":-7}\n"),
			 TARN_OK);
	assert_gold("SELECT t FROM s", "9223372036854775800");
	tarn_lake_close(lake);
}

struct seen {
	int n;
	char name[64], state[256];
	uint64_t rows;
	size_t n_by, n_measures;
};

static int list_cb(void *ctx, const tarn_aggregate_info *info)
{
	struct seen *s = ctx;

	s->n++;
	snprintf(s->name, sizeof(s->name), "%s", info->def.name);
	snprintf(s->state, sizeof(s->state), "%s", info->state);
	s->rows = info->rows;
	s->n_by = info->def.n_by;
	s->n_measures = info->def.n_measures;
	return 0;
}

/* count(DISTINCT) keeps its values on disk; list and drop. */
static void aggregate__distinct_list_drop(void **state)
{
	tarn_aggregate_column by = { "name", "event_name" };
	tarn_aggregate_column m[] = { { "users", "count(DISTINCT payload->>'$.u')" },
				      { "big", "count(DISTINCT payload->>'$.u') FILTER (WHERE"
					       " payload->>'$.v' > 1)" },
				      { "hi", "max(payload->>'$.u')" } };
	tarn_aggregate_def d = def_of("u", TARN_WINDOW_DAY, "event_name IS NOT NULL", &by, 1, m, 3);
	tarn_lake *lake = open_lake();
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(tarn_aggregate_create(lake, &d), TARN_OK);
	assert_int_equal(
		ingest(lake,
		       "{\"event_id\":\"1\",\"timestamp\":\"2026-11-20T00:00:00Z\",\"event_name\":"
		       "\"k\",\"u\":\"x\",\"v\":1}\n"
		       "{\"event_id\":\"2\",\"timestamp\":\"2026-11-20T00:00:00Z\",\"event_name\":"
		       "\"k\",\"u\":\"y\",\"v\":2}\n"
		       "{\"event_id\":\"3\",\"timestamp\":\"2026-11-20T00:00:00Z\",\"event_name\":"
		       "\"k\",\"u\":\"x\",\"v\":3}\n"
		       "{\"event_id\":\"4\",\"timestamp\":\"2026-11-20T00:00:00Z\",\"event_name\":"
		       "\"k\",\"u\":\"z\",\"v\":0}\n"
		       "{\"event_id\":\"5\",\"timestamp\":\"2026-11-20T00:00:00Z\",\"u\":\"w\"}\n"),
		TARN_OK);
	assert_gold("SELECT name || ':' || users || ':' || big || ':' || hi FROM u", "k:3:2:z");
	assert_gold("SELECT count(*) FROM u__distinct", "5");
	assert_int_equal(tarn_aggregate_list(lake, list_cb, &s), TARN_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.name, "u");
	assert_string_equal(s.state, "ready");
	assert_int_equal(s.rows, 1);
	assert_int_equal(s.n_by, 1);
	assert_int_equal(s.n_measures, 3);
	assert_int_equal(tarn_aggregate_create(lake, &d), TARN_EINVAL); /* taken */
	assert_int_equal(tarn_aggregate_drop(lake, "u"), TARN_OK);
	assert_int_equal(tarn_aggregate_drop(lake, "u"), TARN_ENOTFOUND);
	assert_gold("SELECT count(*) FROM sqlite_master WHERE name LIKE 'u%'", "0");
	/* the lake keeps working without it */
	assert_int_equal(
		ingest(lake, "{\"event_id\":\"6\",\"timestamp\":\"2026-11-20T00:00:00Z\"}\n"),
		TARN_OK);
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, NULL), TARN_OK);
	tarn_lake_close(lake);
}

/* tarn_aggregate_request beside a writer: the writer builds it after its
 * next commit, from every shard, and maintains it from the next batch on:
 * events before, in the committing batch and after are each counted once. */
static void aggregate__request_built_by_the_writer_between_batches(void **state)
{
	tarn_aggregate_column m[] = { { "n", "count(*)" }, { "t", "sum(payload->>'$.v')" } };
	tarn_aggregate_def d = def_of("s", TARN_WINDOW_DAY, NULL, NULL, 0, m, 2);
	tarn_lake *lake = open_lake();
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(ingest(lake, tenths), TARN_OK);
	assert_int_equal(tarn_aggregate_request(lake_dir, &d), TARN_OK);
	assert_int_equal(tarn_aggregate_request(lake_dir, &d), TARN_EINVAL); /* taken */
	assert_int_equal(tarn_aggregate_list(lake, list_cb, &s), TARN_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.state, "requested");
	assert_int_equal(s.rows, 0);
	assert_gold("SELECT count(*) FROM sqlite_master WHERE name = 's'", "0");
	/* this batch commits, then the request is built over all five */
	assert_int_equal(
		ingest(lake,
		       "{\"event_id\":\"d\",\"timestamp\":\"2026-11-19T23:59:00Z\",\"v\":7}\n"
		       "{\"event_id\":\"e\",\"timestamp\":\"2026-11-20T13:05:01Z\",\"v\":1}\n"),
		TARN_OK);
	assert_gold("SELECT sum(n) || '/' || sum(t) FROM s", "5/8.6");
	/* then maintained: a new event and a re-delivery of an old one */
	assert_int_equal(
		ingest(lake,
		       "{\"event_id\":\"f\",\"timestamp\":\"2026-11-20T13:05:01Z\",\"v\":2}\n"
		       "{\"event_id\":\"a\",\"timestamp\":\"2026-11-20T13:05:07Z\",\"v\":0.1}\n"),
		TARN_OK);
	assert_gold("SELECT sum(n) || '/' || sum(t) FROM s", "6/10.6");
	memset(&s, 0, sizeof(s));
	assert_int_equal(tarn_aggregate_list(lake, list_cb, &s), TARN_OK);
	assert_string_equal(s.state, "ready");
	assert_int_equal(s.rows, 2);
	assert_int_equal(tarn_aggregate_withdraw(lake_dir, "s"), TARN_ENOTFOUND); /* ready */
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, NULL), TARN_OK);
	tarn_lake_close(lake);
	assert_int_equal(tarn_aggregate_request("/nonexistent/tarn-lake", &d), TARN_ENOTFOUND);
}

/* A request the writer cannot build becomes "failed: <reason>" (the
 * writer goes on); one left when the writer closes is built by the next
 * writer's open. */
static void aggregate__request_failed_or_left_for_the_next_writer(void **state)
{
	tarn_aggregate_column m[] = { { "t", "sum(payload->>'$.v')" } };
	tarn_aggregate_def bad = def_of("s", TARN_WINDOW_DAY, NULL, NULL, 0, m, 1);
	tarn_aggregate_column c = { "n", "count(*)" };
	tarn_aggregate_def later = def_of("k", TARN_WINDOW_HOUR, NULL, NULL, 0, &c, 1);
	tarn_lake *lake = open_lake();
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(ingest(lake, "{\"event_id\":\"x\",\"timestamp\":\"2026-11-20T00:00:00Z\","
				      "\"v\":9223372036854775807}\n"
				      "{\"event_id\":\"y\",\"timestamp\":\"2026-11-20T00:00:00Z\","
				      "\"v\":1}\n"),
			 TARN_OK);
	assert_int_equal(tarn_aggregate_request(lake_dir, &bad), TARN_OK);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK); /* the writer goes on */
	assert_int_equal(ingest(lake, "{\"event_id\":\"z\",\"timestamp\":\"2026-11-21T00:00:00Z\","
				      "\"v\":2}\n"),
			 TARN_OK);
	assert_int_equal(tarn_aggregate_list(lake, list_cb, &s), TARN_OK);
	assert_int_equal(strncmp(s.state, "failed: ", 8), 0);
	assert_non_null(strstr(s.state, "integer overflow"));
	assert_gold("SELECT count(*) FROM sqlite_master WHERE name IN ('s', 's__state')", "0");
	assert_int_equal(tarn_aggregate_withdraw(lake_dir, "s"), TARN_OK);
	assert_int_equal(tarn_aggregate_withdraw(lake_dir, "s"), TARN_ENOTFOUND);
	/* no writer takes it before this one closes: the next open does */
	assert_int_equal(tarn_aggregate_request(lake_dir, &later), TARN_OK);
	tarn_lake_close(lake);
	lake = open_lake();
	memset(&s, 0, sizeof(s));
	assert_int_equal(tarn_aggregate_list(lake, list_cb, &s), TARN_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.state, "ready");
	assert_gold("SELECT group_concat(window_start || '=' || n, ' ') FROM"
		    " (SELECT * FROM k ORDER BY window_start)",
		    "2026-11-20T00:00:00Z=2 2026-11-21T00:00:00Z=1");
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, NULL), TARN_OK);
	tarn_lake_close(lake);
}

/* Paths are read once per event into the batch; the expressions where
 * that could change the meaning are left to SQLite. Each value is what
 * SQLite itself gives for the same expressions over the same payloads. */
static void aggregate__paths_read_once_mean_the_same(void **state)
{
	tarn_aggregate_column m[] = {
		{ "a", "sum(-payload->>'$.v')" }, /* unary minus binds tighter */
		{ "b", "count(*) FILTER (WHERE payload->>'$.s' COLLATE NOCASE = 'ab')" },
		{ "c", "sum(\"payload\"->>'$.v')" },
		{ "d", "max(payload ->> 'o')" }, /* a label, an object's text */
		{ "e", "count(*) FILTER (WHERE 'payload->>''$.v''' = 'payload->>''$.v''')" },
		{ "f", "sum(payload->>'$.o'->>'$.k' = 'y')" }, /* ->> of ->> */
		{ "g", "sum(1 - payload->>'$.v')" },
		{ "h", "count(DISTINCT PAYLOAD->>'$.s')" },
	};
	tarn_aggregate_def d = def_of("p", TARN_WINDOW_DAY, "payload->>'$.v' > 1", NULL, 0, m, 8);
	tarn_lake *lake = open_lake();

	(void)state;
	assert_int_equal(tarn_aggregate_create(lake, &d), TARN_OK);
	assert_int_equal(
		ingest(lake,
		       "{\"event_id\":\"1\",\"timestamp\":\"2026-11-20T00:00:00Z\",\"v\":2,\"s\":"
		       "\"Ab\","
		       "\"o\":{\"k\":\"x\"}}\n"
		       "{\"event_id\":\"2\",\"timestamp\":\"2026-11-20T00:00:00Z\",\"v\":3,\"s\":"
		       "\"ab\","
		       "\"o\":{\"k\":\"y\"}}\n"
		       "{\"event_id\":\"3\",\"timestamp\":\"2026-11-20T00:00:00Z\",\"v\":1}\n"),
		TARN_OK);
	assert_gold("SELECT quote(a) || '|' || b || '|' || c || '|' || d || '|' || e || '|' || f"
		    " || '|' || g || '|' || h FROM p",
		    "NULL|2|5|{\"k\":\"y\"}|2|1|-3|2");
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, NULL), TARN_OK);
	tarn_lake_close(lake);
}

/* updated_us of the aggregates "all" ([0]) and "big" ([1]) */
static int updated_cb(void *ctx, const tarn_aggregate_info *info)
{
	int64_t *t = ctx;

	t[strcmp(info->def.name, "all") == 0 ? 0 : 1] = info->updated_us;
	return 0;
}

/* updated_us: the creation (whole seconds) until a commit changes a
 * group; then the time of that commit; re-deliveries and events outside
 * the --where change nothing. */
static void aggregate__updated_us_moves_with_changes(void **state)
{
	tarn_aggregate_column m = { "n", "count(*)" };
	tarn_aggregate_def all = def_of("all", TARN_WINDOW_DAY, NULL, NULL, 0, &m, 1);
	tarn_aggregate_def big =
		def_of("big", TARN_WINDOW_DAY, "payload->>'$.v' > 5", NULL, 0, &m, 1);
	tarn_lake *lake = open_lake();
	int64_t t0 = tarn_time_now_us(), t1, t2, created[2], after[2], again[2];

	(void)state;
	assert_int_equal(tarn_aggregate_create(lake, &all), TARN_OK);
	assert_int_equal(tarn_aggregate_create(lake, &big), TARN_OK);
	assert_int_equal(tarn_aggregate_list(lake, updated_cb, created), TARN_OK);
	assert_true(created[0] % 1000000 == 0 && created[0] >= t0 - t0 % 1000000);
	assert_true(created[0] <= tarn_time_now_us());
	assert_true(created[1] % 1000000 == 0 && created[1] >= t0 - t0 % 1000000);
	t1 = tarn_time_now_us();
	assert_int_equal(ingest(lake, tenths), TARN_OK);
	t2 = tarn_time_now_us();
	assert_int_equal(tarn_aggregate_list(lake, updated_cb, after), TARN_OK);
	assert_true(after[0] >= t1 && after[0] <= t2);
	assert_true(after[1] == created[1]);		      /* no event has v > 5 */
	assert_int_equal(ingest(lake, tenths_down), TARN_OK); /* re-deliveries */
	assert_int_equal(tarn_aggregate_list(lake, updated_cb, again), TARN_OK);
	assert_true(again[0] == after[0] && again[1] == created[1]);
	assert_int_equal(tarn_aggregate_drop(lake, "all"), TARN_OK);
	assert_gold("SELECT count(*) FROM aggregate_updates WHERE name = 'all'", "0");
	tarn_lake_close(lake);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(aggregate__check_refuses_and_names),
		cmocka_unit_test(aggregate__check_accepts_forms_and_names),
		cmocka_unit_test_setup_teardown(aggregate__decimal_sums_exact_in_any_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(aggregate__minute_windows_late_events_redeliveries,
						setup, teardown),
		cmocka_unit_test_setup_teardown(aggregate__sum_follows_sqlite_for_text, setup,
						teardown),
		cmocka_unit_test_setup_teardown(aggregate__integer_overflow_is_an_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(aggregate__distinct_list_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(
			aggregate__request_built_by_the_writer_between_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(
			aggregate__request_failed_or_left_for_the_next_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(aggregate__paths_read_once_mean_the_same, setup,
						teardown),
		cmocka_unit_test_setup_teardown(aggregate__updated_us_moves_with_changes, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("aggregate", tests, NULL, NULL);
}
