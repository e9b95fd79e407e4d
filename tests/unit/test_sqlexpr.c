/* Unit tests: sqlexpr (the native subset of SQLite expressions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tarn/tarn.h"
#include "sqlexpr.h"

/* Paths are slots in order of first use; the test's rows give "$.a" and
 * "$.s" (any other path reads NULL). */
struct slots {
	char path[8][32];
	int n;
};

static int slot_of(void *ctx, const char *path, size_t len)
{
	struct slots *s = ctx;
	int i;

	for (i = 0; i < s->n; i++)
		if (strlen(s->path[i]) == len && memcmp(s->path[i], path, len) == 0)
			return i;
	if (s->n == 8 || len >= sizeof(s->path[0]))
		return -1;
	memcpy(s->path[s->n], path, len);
	s->path[s->n][len] = '\0';
	return s->n++;
}

static sqlite3 *db_open(void)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	/* the events view's columns, with their affinities */
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE ev(event_id TEXT, event_time INTEGER,"
				      " event_date TEXT, event_name TEXT, payload TEXT, key BLOB,"
				      " topic TEXT, partition INTEGER, \"offset\" INTEGER)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	return db;
}

static int in_subset(sqlite3 *db, const char *sql)
{
	struct slots s = { .n = 0 };
	tarn__sqlexpr *e = NULL;
	int yes;

	assert_int_equal(tarn__sqlexpr_compile(db, sql, slot_of, &s, &e), TARN_OK);
	yes = e != NULL;
	tarn__sqlexpr_free(e);
	return yes;
}

/* What the subset takes, and what it leaves to SQLite. */
static void sqlexpr__subset(void **state)
{
	static const char *const in[] = {
		"payload->>'$.a'",
		"\"payload\" ->> '$.a.b.c'",
		"event_name = 'x'",
		"event_time > 5",
		"\"offset\" >= 3 AND partition = 0",
		"-5 < payload->>'$.n'",
		"payload->>'$.n' = 1.5e3",
		"NOT (payload->>'$.a' IS NULL) OR payload->>'$.s' ISNULL",
		"payload->>'$.a' IS NOT NULL AND topic <> 'x'",
		"event_name == event_id",
		"(payload->>'$.a' = 'it''s')",
	};
	static const char *const out[] = {
		"event_name = 5",	   /* TEXT affinity would convert 5 */
		"event_time > '5'",	   /* numeric affinity would convert '5' */
		"event_time = event_name", /* the same, between columns */
		"offset > 3",		   /* the keyword, not the column */
		"payload->>'$.a[0]'",
		"payload->>'a'",
		"payload->'$.a'",
		"payload",
		"NOT payload->>'$.a'", /* the truth of a bare value */
		"payload->>'$.a' AND 1",
		"payload->>'$.a' = 'x' COLLATE NOCASE",
		"lower(event_name) = 'x'",
		"event_time + 1 > 5",
		"true",
		"event_name IN ('a', 'b')",
		"payload->>'$.a' LIKE 'x%'",
		"key = 'x'",
		"payload->>'$.a' = NULL",
		"event_name = 'x' = 1 trailing",
	};
	sqlite3 *db = db_open();
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		if (!in_subset(db, in[i]))
			fail_msg("'%s' should be in the subset", in[i]);
	for (i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		if (in_subset(db, out[i]))
			fail_msg("'%s' should be left to SQLite", out[i]);
	sqlite3_close(db);
}

/* One row: its columns for the native side, and the same row in ev. */
struct row {
	const char *name; /* NULL: no event name */
	int64_t time;
	const char *a; /* $.a: a string, or NULL (absent) */
	long long n;   /* $.n: an integer */
	int has_n;
};

static void quote_native(const tarn__xval *v, char *out, size_t len)
{
	switch (v->type) {
	case SQLITE_NULL: snprintf(out, len, "NULL"); break;
	case SQLITE_INTEGER: snprintf(out, len, "%lld", (long long)v->i); break;
	case SQLITE_FLOAT: snprintf(out, len, "%.15g", v->r); break;
	default: snprintf(out, len, "'%.*s'", (int)v->n, v->s); break;
	}
}

/* Every expression over every row: the native value equals SQLite's,
 * comparisons, IS NULL and three-valued AND, OR, NOT included. */
static void sqlexpr__values_equal_sqlites(void **state)
{
	static const char *const exprs[] = {
		"payload->>'$.a' = 'x'",
		"payload->>'$.a' > 'a' AND payload->>'$.n' < 10",
		"payload->>'$.a' = 'x' OR payload->>'$.n' >= 5",
		"NOT (payload->>'$.n' > 3)",
		"NOT (payload->>'$.a' = 'y') AND NOT (payload->>'$.n' != 7)",
		"payload->>'$.n' = 7.0",
		"payload->>'$.n' < 7.5",
		"payload->>'$.a' < payload->>'$.n'",
		"payload->>'$.n' IS NULL OR event_name IS NULL",
		"event_name = 'k' AND event_time > 1000",
		"payload->>'$.a' IS NOT NULL",
		"payload->>'$.n'",
		"payload->>'$.a'",
		"(payload->>'$.a' = 'x') = (payload->>'$.n' = 7)",
		"payload->>'$.a' <> 'x' OR payload->>'$.a' IS NULL AND payload->>'$.n' = 7",
	};
	static const struct row rows[] = {
		{ "k", 2000, "x", 7, 1 },  { NULL, 500, "y", 3, 1 }, { "k", 1, NULL, 9, 1 },
		{ "z", 5000, "ab", 0, 0 }, { "k", 3000, "", -4, 1 }, { NULL, 0, NULL, 0, 0 },
		{ "k", 3000, "x", 10, 1 },
	};
	sqlite3 *db = db_open();
	size_t i, r;

	(void)state;
	for (i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		struct slots s = { .n = 0 };
		tarn__sqlexpr *e = NULL;
		char sql[512];
		sqlite3_stmt *st;

		assert_int_equal(tarn__sqlexpr_compile(db, exprs[i], slot_of, &s, &e), TARN_OK);
		if (!e)
			fail_msg("'%s' is outside the subset", exprs[i]);
		snprintf(sql, sizeof(sql), "SELECT quote(%s) FROM ev", exprs[i]);
		for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
			const struct row *w = &rows[r];
			tarn__xval cols[TARN__XCOL_COUNT], paths[8], v;
			char payload[128] = "{", mine[128];
			int k;

			for (k = 0; k < TARN__XCOL_COUNT; k++)
				cols[k] = (tarn__xval){ .type = SQLITE_NULL };
			cols[TARN__XCOL_EVENT_TIME] =
				(tarn__xval){ .type = SQLITE_INTEGER, .i = w->time };
			if (w->name)
				cols[TARN__XCOL_EVENT_NAME] = (tarn__xval){ .type = SQLITE_TEXT,
									    .s = w->name,
									    .n = strlen(w->name) };
			if (w->a)
				snprintf(payload + strlen(payload), 64, "\"a\":\"%s\"%s", w->a,
					 w->has_n ? "," : "");
			if (w->has_n)
				snprintf(payload + strlen(payload), 64, "\"n\":%lld", w->n);
			strcat(payload, "}");
			for (k = 0; k < s.n; k++) {
				paths[k] = (tarn__xval){ .type = SQLITE_NULL };
				if (strcmp(s.path[k], "$.a") == 0 && w->a)
					paths[k] = (tarn__xval){ .type = SQLITE_TEXT,
								 .s = w->a,
								 .n = strlen(w->a) };
				if (strcmp(s.path[k], "$.n") == 0 && w->has_n)
					paths[k] =
						(tarn__xval){ .type = SQLITE_INTEGER, .i = w->n };
			}
			tarn__sqlexpr_eval(e, cols, paths, &v);
			quote_native(&v, mine, sizeof(mine));
			assert_int_equal(sqlite3_exec(db, "DELETE FROM ev", NULL, NULL, NULL),
					 SQLITE_OK);
			assert_int_equal(sqlite3_prepare_v2(db,
							    "INSERT INTO ev(event_time, event_name,"
							    " payload) VALUES(?1, ?2, ?3)",
							    -1, &st, NULL),
					 SQLITE_OK);
			sqlite3_bind_int64(st, 1, w->time);
			if (w->name)
				sqlite3_bind_text(st, 2, w->name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, payload, -1, SQLITE_STATIC);
			assert_int_equal(sqlite3_step(st), SQLITE_DONE);
			sqlite3_finalize(st);
			assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
			assert_int_equal(sqlite3_step(st), SQLITE_ROW);
			if (strcmp(mine, (const char *)sqlite3_column_text(st, 0)) != 0)
				fail_msg("'%s' on %s: native %s, SQLite %s", exprs[i], payload,
					 mine, sqlite3_column_text(st, 0));
			sqlite3_finalize(st);
		}
		tarn__sqlexpr_free(e);
	}
	sqlite3_close(db);
}

/* SQLite's order of values: NULL, numbers (an INTEGER and a REAL by
 * value, exactly, also past 2^53), text by bytes then length. */
static void sqlexpr__order(void **state)
{
	tarn__xval null = { .type = SQLITE_NULL }, i5 = { .type = SQLITE_INTEGER, .i = 5 },
		   r5 = { .type = SQLITE_FLOAT, .r = 5.0 },
		   r55 = { .type = SQLITE_FLOAT, .r = 5.5 },
		   big = { .type = SQLITE_INTEGER, .i = 9007199254740993LL },
		   rbig = { .type = SQLITE_FLOAT, .r = 9007199254740992.0 },
		   ta = { .type = SQLITE_TEXT, .s = "a", .n = 1 },
		   tab = { .type = SQLITE_TEXT, .s = "ab", .n = 2 };

	(void)state;
	assert_true(tarn__xval_cmp(&null, &i5) < 0);
	assert_int_equal(tarn__xval_cmp(&i5, &r5), 0);
	assert_true(tarn__xval_cmp(&i5, &r55) < 0);
	assert_true(tarn__xval_cmp(&r55, &i5) > 0);
	assert_true(tarn__xval_cmp(&big, &rbig) > 0); /* not equal as doubles would say */
	assert_true(tarn__xval_cmp(&r55, &ta) < 0);
	assert_true(tarn__xval_cmp(&ta, &tab) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sqlexpr__subset),
		cmocka_unit_test(sqlexpr__values_equal_sqlites),
		cmocka_unit_test(sqlexpr__order),
	};

	return cmocka_run_group_tests_name("sqlexpr", tests, NULL, NULL);
}
