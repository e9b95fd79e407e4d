/* Unit tests of read-only SQL over a lake: the events view, shard pruning,
 * any number of shards, and what the authorizer refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tarn/tarn.h"

static char dir[128];

/* 16 days, 3 events a day; day 2026-11-05 is then overwritten with junk */
static int setup(void **state)
{
	tarn_lake *lake;
	char path[256], line[256];
	FILE *f;
	int d, i;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/tarn-test-query-XXXXXX");
	if (!mkdtemp(dir) || tarn_lake_open(&lake, dir, 0))
		return -1;
	f = tmpfile();
	for (d = 1; d <= 16; d++)
		for (i = 0; i < 3; i++) {
			snprintf(line, sizeof(line),
				 "{\"event_id\":\"e-%02d-%d\",\"timestamp\":\"2026-11-%02dT0%d:00:"
				 "00Z\","
				 "\"event_type\":\"%s\",\"user_id\":\"u%d\"}\n",
				 d, i, d, i, i == 2 ? "purchase" : "click", i);
			fputs(line, f);
		}
	fputs("not json\n", f);
	rewind(f);
	if (tarn_ingest_stream(lake, f, "q.jsonl", NULL, NULL))
		return -1;
	fclose(f);
	tarn_lake_close(lake);
	snprintf(path, sizeof(path), "%s/shards/2026-11-05.db", dir);
	f = fopen(path, "w");
	for (i = 0; i < 4096; i++)
		fputc(i * 31 % 251, f);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	char cmd[200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

struct rows {
	int n;
	char first[256];
	int64_t sum;
};

static int collect(void *ctx, int n, const char *const *names, const tarn_value *v)
{
	struct rows *r = ctx;

	(void)names;
	if (r->n++ == 0 && n > 0 && v[0].type == TARN_VALUE_TEXT)
		snprintf(r->first, sizeof(r->first), "%.*s", (int)v[0].len, (const char *)v[0].p);
	if (n > 1 && v[1].type == TARN_VALUE_INT)
		r->sum += v[1].i;
	return 0;
}

static int run(const char *sql, struct rows *r)
{
	tarn_query *q;
	int rc;

	memset(r, 0, sizeof(*r));
	assert_int_equal(tarn_query_open(&q, dir), TARN_OK);
	rc = tarn_query_exec(q, sql, collect, r, NULL);
	tarn_query_close(q);
	return rc;
}

static void query__pruned_queries_skip_the_damaged_shard(void **state)
{
	struct rows r;

	(void)state;
	assert_int_equal(
		run("SELECT payload, event_time FROM events WHERE event_date = '2026-11-12'"
		    " ORDER BY event_time",
		    &r),
		TARN_OK);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.first,
			    "{\"event_id\":\"e-12-0\",\"timestamp\":\"2026-11-12T00:00:00Z\","
			    "\"event_type\":\"click\",\"user_id\":\"u0\"}");
	assert_int_equal(run("SELECT event_id FROM events WHERE event_date >= '2026-11-14'", &r),
			 TARN_OK);
	assert_int_equal(r.n, 9);
	/* 2026-11-10T00:00Z .. 2026-11-11T00:00Z by event_time */
	assert_int_equal(run("SELECT event_id FROM events WHERE event_time >= 1794268800000000"
			     " AND event_time < 1794355200000000",
			     &r),
			 TARN_OK);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.first, "e-10-0");
	/* a query that must read every day reaches the junk file and says so */
	assert_int_equal(run("SELECT count(*) FROM events", &r), TARN_ECORRUPT);
	assert_non_null(strstr(tarn_error_last(), "2026-11-05.db"));
}

/* A shard file whose schema a writer has not committed yet (an empty
 * SQLite file, as a writer creating a new day leaves it for a moment)
 * holds no events for a reader: the events view and replay skip it, where
 * they failed with "not a tarn shard". */
static void query__a_shard_being_created_reads_as_empty(void **state)
{
	char path[256];
	struct rows r;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/shards/2026-11-05.db", dir);
	f = fopen(path, "w"); /* the junk day becomes a new, empty file */
	assert_non_null(f);
	fclose(f);
	assert_int_equal(run("SELECT count(*) FROM events", &r), TARN_OK);
	assert_int_equal(r.n, 1);
	assert_int_equal(run("SELECT event_id FROM events", &r), TARN_OK);
	assert_int_equal(r.n, 45);
}

static void query__more_shards_than_attach_allows(void **state)
{
	struct rows r;

	(void)state;
	assert_int_equal(
		run("SELECT event_date, count(*) FROM events WHERE event_date <> '2026-11-05'"
		    " GROUP BY 1 ORDER BY 1",
		    &r),
		TARN_ECORRUPT);
	/* the != term cannot prune; an OR of ranges runs one pruned scan per
	 * range (SQLite's OR optimization) and never opens the damaged day */
	assert_int_equal(
		run("SELECT event_date, count(*) FROM events WHERE event_date < '2026-11-05'"
		    " OR event_date > '2026-11-05' GROUP BY 1 ORDER BY 1",
		    &r),
		TARN_OK);
	assert_int_equal(r.n, 15);
	assert_int_equal(r.sum, 45);
	assert_int_equal(
		run("SELECT event_date, count(*) FROM events WHERE event_date > '2026-11-05'"
		    " GROUP BY 1 ORDER BY 1",
		    &r),
		TARN_OK);
	assert_int_equal(r.n, 11);
	assert_int_equal(r.sum, 33);
	assert_string_equal(r.first, "2026-11-06");
}

static void query__gold_tables_by_name(void **state)
{
	struct rows r;

	(void)state;
	assert_int_equal(
		run("SELECT event_date, purchasers FROM conversion_rate_daily ORDER BY 1", &r),
		TARN_OK);
	assert_int_equal(r.n, 16);
	assert_int_equal(r.sum, 16);
}

static void query__refuses_writes_attach_and_extensions(void **state)
{
	static const char *const refused[] = { "DELETE FROM daily_active_users",
					       "UPDATE daily_active_users SET dau_count = 0",
					       "INSERT INTO watermarks VALUES('x', 1)",
					       "DROP TABLE daily_active_users",
					       "CREATE TABLE t(x)",
					       "CREATE TEMP TABLE t(x)",
					       "ATTACH '/tmp/tarn-attack.db' AS a",
					       "SELECT load_extension('/tmp/nothing.so')",
					       "PRAGMA writable_schema = 1",
					       "PRAGMA journal_mode = DELETE",
					       "VACUUM",
					       NULL };
	const char *const *s;
	struct rows r;

	(void)state;
	for (s = refused; *s; s++) {
		if (run(*s, &r) != TARN_EINVAL)
			fail_msg("not refused: %s", *s);
	}
	assert_int_equal(run("SELECT count(*) FROM daily_active_users", &r), TARN_OK);
	assert_int_equal(run("SELEC 1", &r), TARN_EINVAL);
	assert_non_null(strstr(tarn_error_last(), "syntax error"));
	assert_int_equal(run("PRAGMA table_info(daily_active_users)", &r), TARN_OK);
	assert_int_equal(r.n, 2);
}

static void query__quarantine_by_reason_read_only(void **state)
{
	struct rows r;

	(void)state;
	assert_int_equal(run("SELECT reason, count(*) FROM quarantine.quarantine GROUP BY 1", &r),
			 TARN_OK);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.first, "not_json");
	assert_int_equal(r.sum, 1);
	assert_int_equal(run("DELETE FROM quarantine.quarantine", &r), TARN_EINVAL);
	assert_int_equal(run("DETACH quarantine", &r), TARN_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(query__pruned_queries_skip_the_damaged_shard),
		cmocka_unit_test(query__more_shards_than_attach_allows),
		cmocka_unit_test(query__gold_tables_by_name),
		cmocka_unit_test(query__refuses_writes_attach_and_extensions),
		cmocka_unit_test(query__quarantine_by_reason_read_only),
		/* last: it replaces the junk day with an empty file */
		cmocka_unit_test(query__a_shard_being_created_reads_as_empty),
	};

	return cmocka_run_group_tests_name("query", tests, setup, teardown);
}
