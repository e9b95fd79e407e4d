/* Gold tables (DESIGN.md "Gold tables"), kept incrementally: every stored
 * event updates its day's rows in the same gold.db transaction; a day can
 * always be recomputed from its shard. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "lake_internal.h"

const char tarn__gold_schema[] =
	"CREATE TABLE IF NOT EXISTS daily_active_users(event_date TEXT PRIMARY KEY,"
	" dau_count INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS conversion_rate_daily(event_date TEXT PRIMARY KEY,"
	" dau_count INTEGER NOT NULL, purchasers INTEGER NOT NULL,"
	" total_purchases INTEGER NOT NULL, conversion_rate REAL NOT NULL);"
	"CREATE TABLE IF NOT EXISTS events_per_source_daily(event_date TEXT NOT NULL,"
	" source TEXT NOT NULL, event_count INTEGER NOT NULL,"
	" PRIMARY KEY(event_date, source));"
	"CREATE TABLE IF NOT EXISTS purchases_per_page_daily(event_date TEXT NOT NULL,"
	" page TEXT NOT NULL, purchase_count INTEGER NOT NULL,"
	" PRIMARY KEY(event_date, page));"
	"CREATE TABLE IF NOT EXISTS events_per_name_daily(event_date TEXT NOT NULL,"
	" event_name TEXT, event_count INTEGER NOT NULL, bytes INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS events_per_name_key ON"
	" events_per_name_daily(event_date, ifnull(event_name, x''));"
	"CREATE TABLE IF NOT EXISTS day_users(event_date TEXT NOT NULL,"
	" user_id TEXT NOT NULL, purchases INTEGER NOT NULL,"
	" PRIMARY KEY(event_date, user_id)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS watermarks(event_date TEXT PRIMARY KEY,"
	" shard_seq INTEGER NOT NULL);";

static const char *const gold_tables[] = {
	"daily_active_users", "conversion_rate_daily", "events_per_source_daily",
	"purchases_per_page_daily", "events_per_name_daily", NULL
};

const char *const *tarn_gold_tables(void)
{
	return gold_tables;
}

enum {
	ST_USER_GET, ST_USER_INS, ST_USER_BUY, ST_CONV, ST_SOURCE, ST_PAGE,
	ST_NAME_UPD, ST_NAME_INS, ST_WM_GET, ST_WM_SET, ST_COUNT
};

static const char *const gold_sql[ST_COUNT] = {
	[ST_USER_GET] = "SELECT purchases FROM day_users WHERE event_date=? AND user_id=?",
	[ST_USER_INS] = "INSERT INTO day_users(event_date, user_id, purchases) VALUES(?,?,?)",
	[ST_USER_BUY] = "UPDATE day_users SET purchases=purchases+1 WHERE event_date=? AND user_id=?",
	/* ?2 new users, ?3 new purchasers, ?4 purchases */
	[ST_CONV] = "INSERT INTO conversion_rate_daily VALUES(?1, ?2, ?3, ?4,"
		    " CASE WHEN ?2 > 0 THEN CAST(?3 AS REAL) / ?2 ELSE 0.0 END)"
		    " ON CONFLICT(event_date) DO UPDATE SET"
		    " dau_count=dau_count+?2, purchasers=purchasers+?3,"
		    " total_purchases=total_purchases+?4,"
		    " conversion_rate=CASE WHEN dau_count+?2 > 0 THEN"
		    " CAST(purchasers+?3 AS REAL) / (dau_count+?2) ELSE 0.0 END",
	[ST_SOURCE] = "INSERT INTO events_per_source_daily VALUES(?, ?, 1)"
		      " ON CONFLICT(event_date, source) DO UPDATE SET event_count=event_count+1",
	[ST_PAGE] = "INSERT INTO purchases_per_page_daily VALUES(?, ?, 1)"
		    " ON CONFLICT(event_date, page) DO UPDATE SET purchase_count=purchase_count+1",
	[ST_NAME_UPD] = "UPDATE events_per_name_daily SET event_count=event_count+1,"
			" bytes=bytes+?3 WHERE event_date=?1 AND event_name IS ?2",
	[ST_NAME_INS] = "INSERT INTO events_per_name_daily VALUES(?1, ?2, 1, ?3)",
	[ST_WM_GET] = "SELECT shard_seq FROM watermarks WHERE event_date=?",
	[ST_WM_SET] = "INSERT OR REPLACE INTO watermarks VALUES(?, ?)",
};

struct tarn__gold {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
};

int tarn__gold_attach(tarn__gold **out, sqlite3 *db, int create)
{
	tarn__gold *g;
	int i, rc = TARN_OK;

	*out = NULL;
	if (create) {
		rc = tarn__sql_exec(db, tarn__gold_schema, "gold.db: create tables");
		if (rc)
			return rc;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return tarn__error_set(TARN_ENOMEM, "gold");
	g->db = db;
	for (i = 0; i < ST_COUNT && rc == TARN_OK; i++)
		rc = tarn__sql_prepare(db, gold_sql[i], &g->st[i], "gold.db");
	if (rc) {
		tarn__gold_detach(g);
		return rc;
	}
	*out = g;
	return TARN_OK;
}

void tarn__gold_detach(tarn__gold *g)
{
	int i;

	if (!g)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(g->st[i]);
	free(g);
}

/* Step a statement to completion; returns its first column through *col0
 * when it yields a row and col0 is not NULL. */
static int run(tarn__gold *g, int which, int64_t *col0, int *had_row)
{
	sqlite3_stmt *st = g->st[which];
	int rc = sqlite3_step(st);

	if (had_row)
		*had_row = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW) {
		if (col0)
			*col0 = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(g->db, "gold.db: update");
	return TARN_OK;
}

static sqlite3_stmt *bind2(tarn__gold *g, int which, const char *date,
			   const char *text)
{
	sqlite3_stmt *st = g->st[which];

	sqlite3_bind_text(st, 1, date, -1, SQLITE_STATIC);
	if (text)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	return st;
}

/* Users and purchases of the day: returns whether the user is new today and
 * whether this event made them a purchaser. */
static int count_user(tarn__gold *g, const char *date, const tarn_event *ev,
		      int is_purchase, int *new_user, int *new_purchaser)
{
	int64_t purchases = 0;
	int found, rc;

	*new_user = *new_purchaser = 0;
	bind2(g, ST_USER_GET, date, ev->user_id);
	rc = run(g, ST_USER_GET, &purchases, &found);
	if (rc)
		return rc;
	if (!found) {
		sqlite3_bind_int(bind2(g, ST_USER_INS, date, ev->user_id), 3,
				 is_purchase);
		*new_user = 1;
		*new_purchaser = is_purchase;
		return run(g, ST_USER_INS, NULL, NULL);
	}
	if (!is_purchase)
		return TARN_OK;
	*new_purchaser = purchases == 0;
	bind2(g, ST_USER_BUY, date, ev->user_id);
	return run(g, ST_USER_BUY, NULL, NULL);
}

int tarn__gold_add(tarn__gold *g, const char *date, const tarn_event *ev)
{
	sqlite3_stmt *st;
	int is_purchase = ev->has_event_type && strcmp(ev->event_type, "purchase") == 0;
	int rc, changed;

	if (ev->has_user_id) {
		int new_user, new_purchaser;

		rc = count_user(g, date, ev, is_purchase, &new_user, &new_purchaser);
		if (rc)
			return rc;
		if (new_user || new_purchaser || is_purchase) {
			st = bind2(g, ST_CONV, date, NULL);
			sqlite3_bind_int(st, 2, new_user);
			sqlite3_bind_int(st, 3, new_purchaser);
			sqlite3_bind_int(st, 4, is_purchase);
			rc = run(g, ST_CONV, NULL, NULL);
			if (rc)
				return rc;
		}
	}
	if (ev->has_source) {
		bind2(g, ST_SOURCE, date, ev->source);
		rc = run(g, ST_SOURCE, NULL, NULL);
		if (rc)
			return rc;
	}
	if (is_purchase && ev->has_page) {
		bind2(g, ST_PAGE, date, ev->page);
		rc = run(g, ST_PAGE, NULL, NULL);
		if (rc)
			return rc;
	}
	st = bind2(g, ST_NAME_UPD, date, ev->has_name ? ev->name : NULL);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->payload_len);
	rc = run(g, ST_NAME_UPD, NULL, NULL);
	if (rc)
		return rc;
	changed = sqlite3_changes(g->db);
	if (changed)
		return TARN_OK;
	st = bind2(g, ST_NAME_INS, date, ev->has_name ? ev->name : NULL);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->payload_len);
	return run(g, ST_NAME_INS, NULL, NULL);
}

/* Run one statement whose only parameter is the event date. */
static int run_for_date(tarn__gold *g, const char *sql, const char *date)
{
	sqlite3_stmt *st;
	int rc = tarn__sql_prepare(g->db, sql, &st, "gold.db");

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, date, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(g->db, "gold.db: day %s", date);
	return TARN_OK;
}

int tarn__gold_clear_day(tarn__gold *g, const char *date)
{
	static const char *const tables[] = {
		"daily_active_users", "conversion_rate_daily", "events_per_source_daily",
		"purchases_per_page_daily", "events_per_name_daily", "day_users",
		"watermarks"
	};
	size_t i;
	int rc = TARN_OK;

	for (i = 0; rc == TARN_OK && i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[96];

		/* table names come from the list above, never from input */
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE event_date=?", tables[i]);
		rc = run_for_date(g, sql, date);
	}
	return rc;
}

/* daily_active_users mirrors conversion_rate_daily's dau_count; deriving it
 * in one statement keeps the two from ever disagreeing. */
static int sync_dau(tarn__gold *g, const char *date)
{
	return run_for_date(g, "INSERT OR REPLACE INTO daily_active_users"
			       " SELECT event_date, dau_count FROM conversion_rate_daily"
			       " WHERE event_date=?", date);
}

int tarn__gold_watermark_get(tarn__gold *g, const char *date, int64_t *seq)
{
	int found, rc;

	*seq = -1;
	bind2(g, ST_WM_GET, date, NULL);
	rc = run(g, ST_WM_GET, seq, &found);
	if (rc)
		return rc;
	return found ? TARN_OK : TARN_ENOTFOUND;
}

int tarn__gold_watermark_set(tarn__gold *g, const char *date, int64_t seq)
{
	int rc;

	sqlite3_bind_int64(bind2(g, ST_WM_SET, date, NULL), 2, seq);
	rc = run(g, ST_WM_SET, NULL, NULL);
	if (rc)
		return rc;
	return sync_dau(g, date);
}

struct recompute_ctx {
	tarn__gold *g;
	const char *date;
};

static int recompute_one(void *ctx, const tarn_event *stored)
{
	struct recompute_ctx *rc = ctx;
	tarn_event ev = *stored;

	tarn_event_dimensions(&ev, NULL);
	return tarn__gold_add(rc->g, rc->date, &ev);
}

int tarn__gold_recompute_day(tarn__gold *g, tarn__shard *s)
{
	struct recompute_ctx ctx = { g, tarn__shard_date(s) };
	int64_t seq;
	int rc;

	rc = tarn__gold_clear_day(g, ctx.date);
	if (!rc)
		rc = tarn__shard_seq(s, &seq);
	if (!rc)
		rc = tarn__shard_scan(s, INT64_MIN, INT64_MAX, 0, recompute_one, &ctx, NULL);
	if (!rc)
		rc = tarn__gold_watermark_set(g, ctx.date, seq);
	return rc;
}
