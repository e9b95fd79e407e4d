/* Unit tests of the shard store, gold, lake, ingest and replay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tarn/tarn.h"

#define FIXTURE_NAME "lake"
#include "lake_fixture.h"
#include "sqlutil.h" /* tarn__fs_hook */

static tarn_ingest_counts ingest_text(tarn_lake *lake, const char *text)
{
	tarn_ingest_options opts = TARN_INGEST_OPTIONS_INIT;
	tarn_ingest_counts c = { 0 };
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int rc;

	assert_non_null(f);
	opts.batch_events = 3; /* several batches even in small tests */
	rc = tarn_ingest_stream(lake, f, "test.jsonl", &opts, &c);
	if (rc)
		fail_msg("ingest: %s", tarn_error_last());
	fclose(f);
	return c;
}

/* One SQL value (integer) from a lake file, read with plain SQLite. */
static long long sql_int(const char *file, const char *sql)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	snprintf(path, sizeof(path), "%s/%s", lake_dir, file);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static double sql_real(const char *file, const char *sql)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *st;
	double v = -1;

	snprintf(path, sizeof(path), "%s/%s", lake_dir, file);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

#define EV(id, user, type, page, ts, src)                                                          \
	"{\"event_id\":\"" id "\",\"user_id\":\"" user "\",\"event_type\":\"" type                 \
	"\",\"page\":\"" page "\",\"timestamp\":\"" ts "\",\"source\":\"" src "\"}\n"

#define U(n) "00000000-0000-4000-8000-0000000000" n

static const char day_one[] = EV(U("01"), "a", "login", "/", "2026-11-20T10:00:00.000Z", "web")
	EV(U("02"), "a", "purchase", "/cart", "2026-11-20T10:01:00.000Z",
	   "web") EV(U("03"), "a", "purchase", "/cart", "2026-11-20T10:02:00.000Z",
		     "web") EV(U("04"), "b", "click", "/p", "2026-11-20T11:00:00.000Z", "mobile")
		EV(U("05"), "b", "purchase", "/p", "2026-11-20T11:01:00.000Z", "mobile")
			EV(U("06"), "c", "click", "/", "2026-11-20T12:00:00.000Z", "web")
				EV(U("07"), "d", "logout", "/", "2026-11-21T00:00:00.000Z", "web");

static void lake__gold_exact_values(void **state)
{
	tarn_lake *lake = open_lake();
	tarn_ingest_counts c;

	(void)state;
	c = ingest_text(lake, day_one);
	assert_int_equal(c.stored, 7);
	assert_int_equal(c.quarantined, 0);
	tarn_lake_close(lake);
	assert_int_equal(sql_int("gold.db", "SELECT dau_count FROM daily_active_users"
					    " WHERE event_date='2026-11-20'"),
			 3);
	assert_int_equal(sql_int("gold.db", "SELECT purchasers FROM conversion_rate_daily"
					    " WHERE event_date='2026-11-20'"),
			 2);
	assert_int_equal(sql_int("gold.db", "SELECT total_purchases FROM conversion_rate_daily"
					    " WHERE event_date='2026-11-20'"),
			 3);
	assert_float_equal(sql_real("gold.db", "SELECT conversion_rate FROM conversion_rate_daily"
					       " WHERE event_date='2026-11-20'"),
			   2.0 / 3.0, 1e-12);
	assert_int_equal(sql_int("gold.db", "SELECT event_count FROM events_per_source_daily"
					    " WHERE event_date='2026-11-20' AND source='web'"),
			 4);
	assert_int_equal(sql_int("gold.db", "SELECT purchase_count FROM purchases_per_page_daily"
					    " WHERE event_date='2026-11-20' AND page='/cart'"),
			 2);
	assert_int_equal(sql_int("gold.db",
				 "SELECT event_count FROM events_per_name_daily"
				 " WHERE event_date='2026-11-20' AND event_name='purchase'"),
			 3);
	assert_int_equal(sql_int("gold.db", "SELECT dau_count FROM daily_active_users"
					    " WHERE event_date='2026-11-21'"),
			 1);
	assert_int_equal(sql_int("gold.db", "SELECT purchasers FROM conversion_rate_daily"
					    " WHERE event_date='2026-11-21'"),
			 0);
	assert_int_equal(
		sql_int("shards/2026-11-20.db", "SELECT ifnull(sum(n_events), 0) FROM blocks"), 6);
	assert_int_equal(
		sql_int("shards/2026-11-21.db", "SELECT ifnull(sum(n_events), 0) FROM blocks"), 1);
}

static void lake__redelivery_stored_once(void **state)
{
	tarn_lake *lake = open_lake();
	tarn_ingest_counts c;
	uint64_t problems = 99;

	(void)state;
	c = ingest_text(lake, day_one);
	assert_int_equal(c.stored, 7);
	c = ingest_text(lake, day_one); /* everything again: at-least-once */
	assert_int_equal(c.stored, 0);
	assert_int_equal(c.duplicates, 7);
	/* duplicates inside one batch too */
	c = ingest_text(lake, EV(U("99"), "z", "click", "/", "2026-11-22T00:00:00Z", "web") EV(
				      U("99"), "z", "click", "/", "2026-11-22T00:00:00Z", "web"));
	assert_int_equal(c.stored, 1);
	assert_int_equal(c.duplicates, 1);
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, &problems), TARN_OK);
	assert_int_equal(problems, 0);
	tarn_lake_close(lake);
	assert_int_equal(
		sql_int("shards/2026-11-20.db", "SELECT ifnull(sum(n_events), 0) FROM blocks"), 6);
	assert_int_equal(
		sql_int("shards/2026-11-20.db", "SELECT value FROM meta WHERE key='duplicates'"),
		6);
	assert_int_equal(sql_int("gold.db", "SELECT dau_count FROM daily_active_users"
					    " WHERE event_date='2026-11-20'"),
			 3);
	assert_int_equal(sql_int("gold.db", "SELECT sum(event_count) FROM events_per_name_daily"),
			 8);
}

static void lake__conflicting_duplicate_quarantined(void **state)
{
	tarn_lake *lake = open_lake();
	tarn_ingest_counts c;

	(void)state;
	ingest_text(lake, EV(U("01"), "a", "login", "/", "2026-11-20T10:00:00.000Z", "web"));
	/* same length, different bytes: only a byte comparison can tell */
	c = ingest_text(lake, EV(U("01"), "a", "click", "/", "2026-11-20T10:00:00.000Z", "web"));
	assert_int_equal(c.stored, 0);
	assert_int_equal(c.conflicts, 1);
	tarn_lake_close(lake);
	assert_int_equal(
		sql_int("quarantine.db",
			"SELECT count(*) FROM quarantine"
			" WHERE reason='conflicting_duplicate' AND instr(payload, 'click') > 0"),
		1);
	/* first write wins */
	assert_int_equal(sql_int("gold.db", "SELECT event_count FROM events_per_name_daily"
					    " WHERE event_name='login'"),
			 1);
	assert_int_equal(sql_int("gold.db", "SELECT count(*) FROM events_per_name_daily"
					    " WHERE event_name='click'"),
			 0);
}

static void lake__malformed_quarantined_valid_stored(void **state)
{
	static const char text[] =
		EV(U("01"), "a", "login", "/", "2026-11-20T10:00:00.000Z",
		   "web") "this is not json\n"
			  "[1,2,3]\n"
			  "{\"user_id\":\"a\",\"timestamp\":\"2026-11-20T10:00:00Z\"}\n"
			  "{\"event_id\":\"x1\",\"timestamp\":\"2026-13-45T10:00:00Z\"}\n"
			  "{\"event_id\":\"x2\",\"timestamp\":\"2026-11-20T1\n" EV(
				  U("02"), "b", "click", "/", "2026-11-20T10:05:00.000Z", "web");
	tarn_lake *lake = open_lake();
	tarn_ingest_counts c;

	(void)state;
	c = ingest_text(lake, text);
	assert_int_equal(c.read, 7);
	assert_int_equal(c.stored, 2);
	assert_int_equal(c.quarantined, 5);
	/* the same file again does not double the quarantine */
	c = ingest_text(lake, text);
	tarn_lake_close(lake);
	assert_int_equal(sql_int("quarantine.db", "SELECT count(*) FROM quarantine"), 5);
	assert_int_equal(
		sql_int("quarantine.db", "SELECT count(*) FROM quarantine WHERE reason='not_json'"),
		2);
	assert_int_equal(sql_int("quarantine.db",
				 "SELECT count(*) FROM quarantine WHERE reason='not_object'"),
			 1);
	assert_int_equal(
		sql_int("quarantine.db", "SELECT count(*) FROM quarantine WHERE reason='no_id'"),
		1);
	assert_int_equal(
		sql_int("quarantine.db", "SELECT count(*) FROM quarantine WHERE reason='bad_time'"),
		1);
	assert_int_equal(sql_int("quarantine.db",
				 "SELECT kafka_offset FROM quarantine WHERE reason='not_object'"),
			 3);
	assert_int_equal(sql_int("quarantine.db",
				 "SELECT payload = CAST('[1,2,3]' AS BLOB) FROM quarantine"
				 " WHERE reason='not_object'"),
			 1);
}

struct collected {
	int n;
	int64_t times[64];
	char names[64][TARN_NAME_MAX + 1];
	size_t bytes;
};

static int collect(void *ctx, const tarn_event *ev)
{
	struct collected *c = ctx;

	if (c->n < 64) {
		c->times[c->n] = ev->time_us;
		snprintf(c->names[c->n], sizeof(c->names[0]), "%s", ev->has_name ? ev->name : "");
	}
	c->n++;
	c->bytes += ev->payload_len;
	return 0;
}

static void lake__replay_time_order_and_filters(void **state)
{
	/* arrival order differs from event-time order, across two days */
	static const char text[] = EV(U("05"), "a", "click", "/", "2026-11-21T09:00:00.000Z", "web")
		EV(U("01"), "a", "login", "/", "2026-11-20T10:00:00.000Z", "web")
			EV(U("03"), "b", "purchase", "/p", "2026-11-20T12:00:00.000Z", "web")
				EV(U("02"), "b", "login", "/", "2026-11-20T11:00:00.000Z", "web");
	tarn_replay_options o = TARN_REPLAY_OPTIONS_INIT;
	const char *names[] = { "login" };
	struct collected c = { 0 };
	tarn_lake *lake = open_lake();
	uint64_t n = 0;
	int i;

	(void)state;
	ingest_text(lake, text);
	assert_int_equal(tarn_replay_scan(lake, NULL, collect, &c, &n), TARN_OK);
	assert_int_equal(n, 4);
	assert_int_equal(c.n, 4);
	for (i = 1; i < 4; i++)
		assert_true(c.times[i - 1] < c.times[i]);
	memset(&c, 0, sizeof(c));
	assert_int_equal(tarn_time_parse_bound("2026-11-21", &o.since_us), TARN_OK);
	assert_int_equal(tarn_replay_scan(lake, &o, collect, &c, &n), TARN_OK);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.names[0], "click");
	memset(&c, 0, sizeof(c));
	o = (tarn_replay_options)TARN_REPLAY_OPTIONS_INIT;
	o.names = names;
	o.n_names = 1;
	assert_int_equal(tarn_replay_scan(lake, &o, collect, &c, &n), TARN_OK);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.names[0], "login");
	assert_string_equal(c.names[1], "login");
	tarn_lake_close(lake);
}

static int compare_payload(void *ctx, const tarn_event *ev)
{
	char **lines = ctx;
	char text[32] = "";
	int idx;

	/* ids are decimal text here: id_len bytes, not NUL-terminated */
	assert_true(ev->id_len < sizeof(text));
	memcpy(text, ev->id, ev->id_len);
	idx = (int)strtol(text, NULL, 10);

	assert_int_equal(strlen(lines[idx]), ev->payload_len);
	assert_memory_equal(lines[idx], ev->payload, ev->payload_len);
	return 0;
}

static void lake__many_blocks_byte_exact(void **state)
{
	enum { N = 3000 };
	char **lines = calloc(N, sizeof(*lines));
	size_t cap = 0, len = 0;
	char *text = NULL;
	tarn_lake *lake = open_lake();
	tarn_ingest_counts c;
	uint64_t n = 0, problems = 1;
	int i;

	(void)state;
	for (i = 0; i < N; i++) {
		char buf[512];
		int l = snprintf(
			buf, sizeof(buf),
			"{\"event_id\":\"%d\",\"timestamp\":\"2026-11-20T%02d:%02d:%02d.%03dZ\","
			"\"event_name\":\"e%d\",\"pad\":\"%*s\"}",
			i, i / 3600 % 24, i / 60 % 60, i % 60, i % 1000, i % 7, i % 300, "x");
		lines[i] = strdup(buf);
		if (len + (size_t)l + 2 > cap) {
			cap = (cap + (size_t)l + 2) * 2;
			text = realloc(text, cap);
		}
		memcpy(text + len, buf, (size_t)l);
		len += (size_t)l;
		text[len++] = '\n';
	}
	text[len] = '\0';
	c = ingest_text(lake, text);
	assert_int_equal(c.stored, N);
	assert_int_equal(tarn_replay_scan(lake, NULL, compare_payload, lines, &n), TARN_OK);
	assert_int_equal(n, N);
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, &problems), TARN_OK);
	assert_int_equal(problems, 0);
	tarn_lake_close(lake);
	assert_true(sql_int("shards/2026-11-20.db", "SELECT count(*) FROM blocks") >= 2);
	for (i = 0; i < N; i++)
		free(lines[i]);
	free(lines);
	free(text);
}

static void note_problem(void *ctx, const char *file, const char *problem)
{
	char *out = ctx;
	size_t l = strlen(out);

	snprintf(out + l, 4096 - l, "%s: %s\n", file, problem);
}

static void exec_sql(const char *file, const char *sql)
{
	char path[512];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/%s", lake_dir, file);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void lake__verify_finds_gold_drift_and_rebuild_fixes(void **state)
{
	char report[4096] = "";
	tarn_lake *lake = open_lake();
	uint64_t problems = 0;

	(void)state;
	ingest_text(lake, day_one);
	tarn_lake_close(lake);
	exec_sql("gold.db", "UPDATE daily_active_users SET dau_count = 999"
			    " WHERE event_date = '2026-11-20'");
	lake = open_lake();
	assert_int_equal(tarn_lake_verify(lake, note_problem, report, &problems), TARN_ECORRUPT);
	assert_int_equal(problems, 1);
	assert_non_null(strstr(report, "daily_active_users"));
	assert_int_equal(tarn_gold_rebuild(lake), TARN_OK);
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, &problems), TARN_OK);
	tarn_lake_close(lake);
	assert_int_equal(sql_int("gold.db", "SELECT dau_count FROM daily_active_users"
					    " WHERE event_date='2026-11-20'"),
			 3);
}

static void lake__lagging_watermark_repaired_on_open(void **state)
{
	tarn_lake *lake = open_lake();
	uint64_t problems = 1;

	(void)state;
	ingest_text(lake, day_one);
	tarn_lake_close(lake);
	/* what a crash between the shard commit and the gold commit leaves */
	exec_sql("gold.db",
		 "DELETE FROM events_per_name_daily WHERE event_date='2026-11-20';"
		 "UPDATE watermarks SET shard_seq = shard_seq - 1 WHERE event_date='2026-11-20'");
	lake = open_lake();
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, &problems), TARN_OK);
	assert_int_equal(problems, 0);
	tarn_lake_close(lake);
	assert_int_equal(sql_int("gold.db", "SELECT sum(event_count) FROM events_per_name_daily"
					    " WHERE event_date='2026-11-20'"),
			 6);
}

static void lake__one_writer_at_a_time(void **state)
{
	tarn_lake *a = open_lake(), *b = NULL, *r = NULL;

	(void)state;
	assert_int_equal(tarn_lake_open(&b, lake_dir, 0), TARN_EBUSY);
	assert_null(b);
	assert_non_null(strstr(tarn_error_last(), "another tarn process"));
	/* readers are welcome */
	assert_int_equal(tarn_lake_open(&r, lake_dir, TARN_LAKE_READONLY), TARN_OK);
	tarn_lake_close(r);
	tarn_lake_close(a);
	assert_int_equal(tarn_lake_open(&b, lake_dir, 0), TARN_OK);
	tarn_lake_close(b);
}

static void lake__readonly_needs_a_lake(void **state)
{
	tarn_lake *lake = NULL;
	char path[300];

	(void)state;
	snprintf(path, sizeof(path), "%s/nothing-here", lake_dir);
	assert_int_equal(tarn_lake_open(&lake, path, TARN_LAKE_READONLY), TARN_ENOTFOUND);
	assert_int_equal(access(path, F_OK), -1); /* a reader creates nothing */
}

static void lake__files_are_private(void **state)
{
	const char *files[] = { "lake.db", "gold.db", "quarantine.db", "shards/2026-11-20.db",
				"lake.lock" };
	tarn_lake *lake = open_lake();
	struct stat st;
	char path[512];
	size_t i;

	(void)state;
	ingest_text(lake, day_one);
	tarn_lake_close(lake);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", lake_dir, files[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
}

static void lake__rollback_stores_nothing(void **state)
{
	tarn_lake *lake = open_lake();
	tarn_event ev;
	tarn_reject why;
	static const char p[] = "{\"event_id\":\"r1\",\"timestamp\":\"2026-11-20T00:00:00Z\"}";

	(void)state;
	tarn_event_init(&ev);
	ev.payload = p;
	ev.payload_len = sizeof(p) - 1;
	assert_int_equal(tarn_event_extract(&ev, NULL, &why, NULL, 0), TARN_OK);
	assert_int_equal(tarn_lake_add(lake, &ev, NULL), TARN_OK);
	assert_int_equal(tarn_lake_pending(lake), 1);
	assert_int_equal(tarn_lake_rollback(lake), TARN_OK);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	tarn_lake_close(lake);
	assert_int_equal(
		sql_int("shards/2026-11-20.db", "SELECT ifnull(sum(n_events), 0) FROM blocks"), 0);
	assert_int_equal(sql_int("gold.db", "SELECT count(*) FROM events_per_name_daily"), 0);
}

static void lake__damaged_shard_named_other_days_work(void **state)
{
	char report[4096] = "", path[512];
	tarn_lake *lake = open_lake();
	tarn_ingest_counts c;
	uint64_t problems = 0;
	FILE *f;
	int i;

	(void)state;
	ingest_text(lake, day_one);
	tarn_lake_close(lake);
	snprintf(path, sizeof(path), "%s/shards/2026-01-01.db", lake_dir);
	f = fopen(path, "w");
	for (i = 0; i < 8192; i++)
		fputc((i * 7919) & 0xff, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/shards/notes.txt", lake_dir);
	f = fopen(path, "w");
	fputs("hello", f);
	fclose(f);
	lake = open_lake();
	c = ingest_text(lake, EV(U("50"), "q", "click", "/", "2026-11-22T08:00:00Z", "web"));
	assert_int_equal(c.stored, 1);
	assert_int_equal(tarn_lake_verify(lake, note_problem, report, &problems), TARN_ECORRUPT);
	assert_int_equal(problems, 2);
	assert_non_null(strstr(report, "shards/2026-01-01.db"));
	assert_non_null(strstr(report, "shards/notes.txt"));
	tarn_lake_close(lake);
	/* nothing was overwritten */
	snprintf(path, sizeof(path), "%s/shards/2026-01-01.db", lake_dir);
	f = fopen(path, "r");
	fseek(f, 0, SEEK_END);
	assert_int_equal(ftell(f), 8192);
	fclose(f);
}

static int count_stats(void *ctx, const tarn_shard_stats *s)
{
	int *n = ctx;

	assert_true(s->events > 0);
	assert_true(s->disk_bytes > 0);
	(*n)++;
	return 0;
}

static void lake__stats_add_up(void **state)
{
	tarn_lake *lake = open_lake();
	tarn_lake_stats st;
	int n = 0;

	(void)state;
	ingest_text(lake, day_one);
	ingest_text(lake, day_one);
	ingest_text(lake, "garbage\n");
	assert_int_equal(tarn_lake_stats_get(lake, count_stats, &n, &st), TARN_OK);
	assert_int_equal(n, 2);
	assert_int_equal(st.n_shards, 2);
	assert_int_equal(st.total.events, 7);
	assert_int_equal(st.total.duplicates, 7);
	assert_int_equal(st.quarantined, 1);
	assert_int_equal(st.total.raw_bytes, strlen(day_one) - 7);
	assert_true(st.lake_disk_bytes >= st.total.disk_bytes);
	tarn_lake_close(lake);
}

/* Gold deltas live in memory until the commit: a user seen in an earlier
 * batch is not counted again, a first purchase in a later batch makes a
 * purchaser, and a rolled-back batch leaves no trace. */
static void add_json_as(tarn_lake *lake, const char *json, tarn_add_result want)
{
	tarn_add_result res;
	tarn_reject why;
	tarn_event ev;

	tarn_event_init(&ev);
	ev.payload = json;
	ev.payload_len = strlen(json);
	assert_int_equal(tarn_event_extract(&ev, NULL, &why, NULL, 0), TARN_OK);
	assert_int_equal(tarn_lake_add(lake, &ev, &res), TARN_OK);
	assert_int_equal(res, want);
}

static void add_json(tarn_lake *lake, const char *json)
{
	add_json_as(lake, json, TARN_ADD_STORED);
}

#define GOLD_EV(n, user, type)                                                                     \
	"{\"event_id\":\"g-" #n "\",\"timestamp\":\"2026-11-20T10:00:0" #n "Z\","                  \
	"\"user_id\":\"" user "\",\"event_type\":\"" type                                          \
	"\",\"page\":\"/cart\",\"source\":\"web\"}"

static void lake__gold_across_batches_and_rollback(void **state)
{
	tarn_lake *lake = open_lake();
	uint64_t problems = 1;

	(void)state;
	add_json(lake, GOLD_EV(1, "u1", "click"));
	add_json(lake, GOLD_EV(2, "u2", "purchase"));
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	add_json(lake, GOLD_EV(3, "u9", "purchase"));
	assert_int_equal(tarn_lake_rollback(lake), TARN_OK);
	add_json(lake, GOLD_EV(4, "u1", "purchase"));
	add_json(lake, GOLD_EV(5, "u3", "click"));
	add_json(lake, GOLD_EV(6, "u2", "purchase"));
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, &problems), TARN_OK);
	assert_int_equal(problems, 0);
	tarn_lake_close(lake);
	assert_int_equal(sql_int("gold.db", "SELECT dau_count FROM daily_active_users"), 3);
	assert_int_equal(sql_int("gold.db", "SELECT purchasers FROM conversion_rate_daily"), 2);
	assert_int_equal(sql_int("gold.db", "SELECT total_purchases FROM conversion_rate_daily"),
			 3);
	assert_int_equal(sql_int("gold.db", "SELECT purchase_count FROM purchases_per_page_daily"),
			 3);
	assert_int_equal(sql_int("gold.db", "SELECT event_count FROM events_per_source_daily"), 5);
	assert_int_equal(sql_int("gold.db", "SELECT sum(event_count) FROM events_per_name_daily"),
			 5);
	assert_int_equal(sql_int("gold.db", "SELECT count(*) FROM day_users WHERE user_id='u9'"),
			 0);
}

/* The writer keeps each day's users between batches (gold.c): a user
 * first met, or first buying, in a rolled-back batch is not counted; more
 * users than the cache holds (32,768) across two days still give exact
 * counts; day_users.purchases is 1 for buyers, 0 for the others. */
static void lake__gold_user_cache_rollback_and_trim(void **state)
{
	tarn_lake *lake = open_lake();
	uint64_t problems = 1;
	char json[300];
	int i;

	(void)state;
	add_json(lake, GOLD_EV(1, "a", "click"));
	add_json(lake, GOLD_EV(2, "b", "click"));
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	add_json(lake, GOLD_EV(3, "a", "purchase")); /* a's first purchase... */
	add_json(lake, GOLD_EV(4, "c", "click"));    /* ...and c: both rolled back */
	assert_int_equal(tarn_lake_rollback(lake), TARN_OK);
	add_json(lake, GOLD_EV(5, "c", "click"));
	add_json(lake, GOLD_EV(6, "b", "purchase"));
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	/* 40,000 users a day on two days, in batches of 10,000 */
	for (i = 0; i < 80000; i++) {
		snprintf(json, sizeof(json),
			 "{\"event_id\":\"t-%d\",\"timestamp\":\"2026-11-2%dT11:%02d:00Z\","
			 "\"user_id\":\"user-%d\",\"event_type\":\"%s\"}",
			 i, 1 + i % 2, i % 60, i % 40000, i % 7 == 0 ? "purchase" : "click");
		add_json(lake, json);
		if (i % 10000 == 9999)
			assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	}
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, &problems), TARN_OK);
	assert_int_equal(problems, 0);
	tarn_lake_close(lake);
	assert_int_equal(sql_int("gold.db", "SELECT dau_count FROM daily_active_users"
					    " WHERE event_date='2026-11-20'"),
			 3);
	assert_int_equal(sql_int("gold.db", "SELECT purchasers FROM conversion_rate_daily"
					    " WHERE event_date='2026-11-20'"),
			 1);
	assert_int_equal(sql_int("gold.db", "SELECT sum(purchases) FROM day_users"
					    " WHERE event_date='2026-11-20'"),
			 1);
	assert_int_equal(sql_int("gold.db", "SELECT purchases FROM day_users WHERE user_id='b'"),
			 1);
	/* user-k is on day 21 when k is even, on day 22 when odd: 20,000 a day */
	assert_int_equal(sql_int("gold.db", "SELECT sum(dau_count) FROM daily_active_users"
					    " WHERE event_date > '2026-11-20'"),
			 40000);
	assert_int_equal(sql_int("gold.db", "SELECT max(purchases) FROM day_users"), 1);
}

/* A day first met with no day_users rows counts its users from memory
 * alone (gold.c, struct day.complete); a day met again by a new lake
 * handle, or after the cache forgot it, asks day_users: no user is
 * counted twice, none is lost. */
static void lake__gold_day_met_again_counts_users_once(void **state)
{
	tarn_lake *lake = open_lake();
	uint64_t problems = 1;
	char json[300];
	int i;

	(void)state;
	add_json(lake, GOLD_EV(1, "a", "click"));
	add_json(lake, GOLD_EV(2, "b", "purchase"));
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	tarn_lake_close(lake);
	lake = open_lake();
	add_json(lake, GOLD_EV(3, "a", "purchase"));
	add_json(lake, GOLD_EV(4, "c", "click"));
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	/* 40,000 users of another day push 2026-11-20 out of the cache */
	for (i = 0; i < 40000; i++) {
		snprintf(json, sizeof(json),
			 "{\"event_id\":\"m-%d\",\"timestamp\":\"2026-11-21T11:00:00Z\","
			 "\"user_id\":\"user-%d\",\"event_type\":\"click\"}",
			 i, i);
		add_json(lake, json);
	}
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	add_json(lake, GOLD_EV(5, "b", "click"));
	add_json(lake, GOLD_EV(6, "d", "purchase"));
	add_json(lake, GOLD_EV(7, "c", "purchase"));
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	assert_int_equal(tarn_lake_verify(lake, NULL, NULL, &problems), TARN_OK);
	assert_int_equal(problems, 0);
	tarn_lake_close(lake);
	assert_int_equal(sql_int("gold.db", "SELECT dau_count FROM daily_active_users"
					    " WHERE event_date='2026-11-20'"),
			 4);
	assert_int_equal(sql_int("gold.db", "SELECT purchasers FROM conversion_rate_daily"
					    " WHERE event_date='2026-11-20'"),
			 4);
	assert_int_equal(sql_int("gold.db", "SELECT total_purchases FROM conversion_rate_daily"
					    " WHERE event_date='2026-11-20'"),
			 4);
	assert_int_equal(sql_int("gold.db", "SELECT dau_count FROM daily_active_users"
					    " WHERE event_date='2026-11-21'"),
			 40000);
}

/* tarn_lake_pending counts each input of the batch once: a conflicting
 * duplicate and an expired event go to the quarantine, and are one input
 * each, as a stored event is. */
static void lake__pending_counts_each_input_once(void **state)
{
	static const char first[] = "{\"event_id\":\"p1\",\"timestamp\":\"2026-11-20T00:00:00Z\"}";
	static const char other[] = "{\"event_id\":\"p1\",\"timestamp\":\"2026-11-20T00:00:00Z\","
				    "\"x\":1}";
	static const char old[] = "{\"event_id\":\"p2\",\"timestamp\":\"2026-01-01T00:00:00Z\"}";
	tarn_prune_options po = TARN_PRUNE_OPTIONS_INIT;
	tarn_lake *lake = open_lake();

	(void)state;
	add_json(lake, first);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	po.before = "2026-06-01"; /* the retention horizon: older events expire */
	assert_int_equal(tarn_lake_prune(lake, &po, NULL), TARN_OK);
	add_json_as(lake, other, TARN_ADD_CONFLICT);
	assert_int_equal(tarn_lake_pending(lake), 1);
	add_json_as(lake, old, TARN_ADD_EXPIRED);
	assert_int_equal(tarn_lake_pending(lake), 2);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	assert_int_equal(tarn_lake_pending(lake), 0);
	tarn_lake_close(lake);
	assert_int_equal(sql_int("quarantine.db", "SELECT count(*) FROM quarantine"), 2);
}

/* What tarn reported to tarn__fs_hook, in order: "U path" (unlink) and
 * "S path" (folder fsynced), one a line. */
static char fs_log[8192];

static void log_fs(int op, const char *path)
{
	size_t n = strlen(fs_log);

	if (op == TARN__FS_UNLINK || op == TARN__FS_SYNC_DIR)
		snprintf(fs_log + n, sizeof(fs_log) - n, "%c %s\n",
			 op == TARN__FS_UNLINK ? 'U' : 'S', path);
}

/* prune fsyncs shards/ after deleting a shard: without it a power cut
 * brought a pruned day back (tests/powerloss, prune workload). */
static void lake__prune_fsyncs_the_shards_folder(void **state)
{
	tarn_prune_options po = TARN_PRUNE_OPTIONS_INIT;
	tarn_lake *lake = open_lake();
	char unlinked[400], synced[400];
	const char *u, *sy;

	(void)state;
	add_json(lake, "{\"event_id\":\"a\",\"timestamp\":\"2026-11-20T00:00:00Z\"}");
	add_json(lake, "{\"event_id\":\"b\",\"timestamp\":\"2026-11-21T00:00:00Z\"}");
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	fs_log[0] = 0;
	tarn__fs_hook = log_fs;
	po.before = "2026-11-21";
	assert_int_equal(tarn_lake_prune(lake, &po, NULL), TARN_OK);
	tarn__fs_hook = NULL;
	tarn_lake_close(lake);
	snprintf(unlinked, sizeof(unlinked), "U %s/shards/2026-11-20.db\n", lake_dir);
	snprintf(synced, sizeof(synced), "S %s/shards\n", lake_dir);
	u = strstr(fs_log, unlinked);
	sy = u ? strstr(u, synced) : NULL;
	if (!u || !sy)
		fail_msg("no fsync of shards/ after the unlink; reported:\n%s", fs_log);
}

/* tarn_lake_verify finds nothing wrong; else the problems are the message. */
static void assert_verify_clean(tarn_lake *lake)
{
	char report[4096] = "";
	uint64_t problems = 1;

	if (tarn_lake_verify(lake, note_problem, report, &problems) != TARN_OK || problems)
		fail_msg("verify: %s%s", tarn_error_last(), report);
}

/* A rebuild or a verify asked for in the middle of a batch first commits
 * the batch: gold then equals the recomputation, with the batch's events
 * counted once. */
static void lake__rebuild_and_verify_mid_batch(void **state)
{
	tarn_lake *lake = open_lake();

	(void)state;
	add_json(lake, GOLD_EV(1, "u1", "click"));
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	add_json(lake, GOLD_EV(2, "u2", "purchase"));
	assert_int_equal(tarn_gold_rebuild(lake), TARN_OK);
	assert_int_equal(tarn_lake_pending(lake), 0);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	assert_verify_clean(lake);
	add_json(lake, GOLD_EV(3, "u3", "purchase"));
	assert_verify_clean(lake);
	assert_int_equal(tarn_lake_commit(lake), TARN_OK);
	assert_verify_clean(lake);
	tarn_lake_close(lake);
	assert_int_equal(sql_int("gold.db", "SELECT dau_count FROM daily_active_users"), 3);
	assert_int_equal(sql_int("gold.db", "SELECT total_purchases FROM conversion_rate_daily"),
			 2);
	assert_int_equal(sql_int("gold.db", "SELECT sum(event_count) FROM events_per_name_daily"),
			 3);
	assert_int_equal(sql_int("shards/2026-11-20.db", "SELECT sum(n_events) FROM blocks"), 3);
}

/* Gold recomputed by verify and rebuild takes the dimensions from the
 * paths the lake was ingested with (tarn_lake_fields), not the defaults. */
static void lake__recompute_uses_the_lakes_field_mapping(void **state)
{
	static const char text[] =
		"{\"event_id\":\"f1\",\"timestamp\":\"2026-11-20T10:00:00Z\","
		"\"who\":\"a\",\"what\":\"purchase\",\"where\":{\"page\":\"/cart\"},"
		"\"via\":\"web\",\"user_id\":\"decoy\",\"event_type\":\"click\"}\n"
		"{\"event_id\":\"f2\",\"timestamp\":\"2026-11-20T10:01:00Z\","
		"\"who\":\"b\",\"what\":\"login\",\"via\":\"mobile\"}\n";
	tarn_ingest_options opts = TARN_INGEST_OPTIONS_INIT;
	tarn_ingest_counts c = { 0 };
	tarn_lake *lake = open_lake();
	FILE *f = fmemopen((void *)text, strlen(text), "r");

	(void)state;
	assert_non_null(f);
	opts.extract.user_field = "who";
	opts.extract.type_field = "what";
	opts.extract.page_field = "where.page";
	opts.extract.source_field = "via";
	assert_int_equal(tarn_ingest_stream(lake, f, "fields.jsonl", &opts, &c), TARN_OK);
	fclose(f);
	assert_int_equal(c.stored, 2);
	assert_verify_clean(lake);
	tarn_lake_close(lake);
	lake = open_lake();
	assert_int_equal(tarn_gold_rebuild(lake), TARN_OK);
	tarn_lake_close(lake);
	assert_int_equal(sql_int("gold.db", "SELECT dau_count FROM daily_active_users"), 2);
	assert_int_equal(sql_int("gold.db", "SELECT purchasers FROM conversion_rate_daily"), 1);
	assert_int_equal(sql_int("gold.db", "SELECT purchase_count FROM purchases_per_page_daily"
					    " WHERE page='/cart'"),
			 1);
	assert_int_equal(sql_int("gold.db", "SELECT event_count FROM events_per_source_daily"
					    " WHERE source='mobile'"),
			 1);
	assert_int_equal(sql_int("gold.db", "SELECT login_count FROM logins_per_source"), 1);
	assert_int_equal(sql_int("gold.db", "SELECT count(*) FROM day_users WHERE user_id='decoy'"),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(lake__gold_exact_values, setup, teardown),
		cmocka_unit_test_setup_teardown(lake__gold_day_met_again_counts_users_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lake__redelivery_stored_once, setup, teardown),
		cmocka_unit_test_setup_teardown(lake__conflicting_duplicate_quarantined, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lake__malformed_quarantined_valid_stored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lake__replay_time_order_and_filters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lake__many_blocks_byte_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(lake__verify_finds_gold_drift_and_rebuild_fixes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(lake__lagging_watermark_repaired_on_open, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lake__one_writer_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(lake__readonly_needs_a_lake, setup, teardown),
		cmocka_unit_test_setup_teardown(lake__files_are_private, setup, teardown),
		cmocka_unit_test_setup_teardown(lake__rollback_stores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(lake__damaged_shard_named_other_days_work, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lake__stats_add_up, setup, teardown),
		cmocka_unit_test_setup_teardown(lake__gold_across_batches_and_rollback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lake__gold_user_cache_rollback_and_trim, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lake__prune_fsyncs_the_shards_folder, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lake__pending_counts_each_input_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lake__rebuild_and_verify_mid_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lake__recompute_uses_the_lakes_field_mapping, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("lake", tests, NULL, NULL);
}
