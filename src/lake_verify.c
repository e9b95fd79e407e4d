/* Verification (tarn verify) and rebuild (tarn gold --rebuild): every
 * file's integrity, every shard's content, ids.db, and gold recomputed
 * from the raw events through the same code that maintains it. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "tarn/time.h"
#include "aggregate.h"
#include "error_internal.h"
#include "hash.h"
#include "lake.h"
#include "sqlutil.h"

struct verify {
	tarn_lake *lake;
	tarn_problem_cb cb;
	void *ctx;
	uint64_t problems;
};

static void problem(struct verify *v, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct verify *v, const char *file, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v->problems++;
	if (v->cb)
		v->cb(v->ctx, file, msg);
}

static void check_integrity(struct verify *v, sqlite3 *db, const char *file)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
		problem(v, file, "integrity_check failed: %s", sqlite3_errmsg(db));
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		if (t && strcmp(t, "ok") != 0)
			problem(v, file, "integrity_check: %s", t);
	}
	if (rc != SQLITE_DONE)
		problem(v, file, "integrity_check failed: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

/* Every block decompresses (its zstd checksums hold), its events are in
 * order, match its row in `blocks` and belong to the shard's date. */
static void check_shard_content(struct verify *v, tarn__shard *s, const char *file)
{
	const struct tarn__span *spans;
	size_t n = tarn__shard_spans(s, &spans), k;
	tarn__block b;
	int64_t day0;

	tarn_time_parse_date(tarn__shard_date(s), &day0);
	tarn__block_init(&b);
	for (k = 0; k < n; k++) {
		const struct tarn__span *sp = &spans[k];

		if (tarn__shard_read_block(s, sp->block_id, 1, &b) != TARN_OK) {
			problem(v, file, "%s", tarn_error_last());
			continue;
		}
		if (b.n != sp->n_events || b.min_time != sp->min_time || b.max_time != sp->max_time)
			problem(v, file, "block %lld: its events disagree with its row in blocks",
				(long long)sp->block_id);
		if (b.min_time < day0 || b.max_time >= day0 + TARN_US_PER_DAY)
			problem(v, file, "block %lld: events outside the shard's date",
				(long long)sp->block_id);
	}
	tarn__block_free(&b);
}

/* ids.db must know every stored id: those in its runs plus those of the
 * blocks after its covered mark (which a writer re-reads) are at least the
 * events the shards hold (more when a shard was deleted). */
struct id_check {
	sqlite3 *db;
	sqlite3_stmt *covered;
	uint64_t run_ids, uncovered, events;
};

static void id_check_open(struct verify *v, struct id_check *c)
{
	char *path = tarn__path_join(v->lake->dir, "ids.db");

	memset(c, 0, sizeof(*c));
	if (!path)
		return;
	if (access(path, F_OK) == 0) {
		if (tarn__sql_open(&c->db, path, 1, 0) != TARN_OK) {
			problem(v, "ids.db", "%s", tarn_error_last());
		} else {
			check_integrity(v, c->db, "ids.db");
			if (tarn__lake_query_u64(c->db, "SELECT ifnull(sum(n_ids), 0) FROM runs",
						 &c->run_ids, "ids.db") ||
			    tarn__sql_prepare(c->db, "SELECT block_id FROM covered WHERE day=?",
					      &c->covered, "ids.db"))
				problem(v, "ids.db", "%s", tarn_error_last());
		}
	}
	free(path);
}

static void id_check_shard(struct id_check *c, tarn__shard *s)
{
	const struct tarn__span *sp;
	size_t n = tarn__shard_spans(s, &sp), k;
	int64_t day0, covered = 0;

	tarn_time_parse_date(tarn__shard_date(s), &day0);
	if (c->covered) {
		sqlite3_reset(c->covered);
		sqlite3_bind_int64(c->covered, 1, tarn__lake_day_of(day0));
		if (sqlite3_step(c->covered) == SQLITE_ROW)
			covered = sqlite3_column_int64(c->covered, 0);
		sqlite3_reset(c->covered);
	}
	for (k = 0; k < n; k++) {
		c->events += sp[k].n_events;
		if (sp[k].block_id > covered)
			c->uncovered += sp[k].n_events;
	}
}

static void id_check_close(struct verify *v, struct id_check *c)
{
	if (c->events && c->run_ids + c->uncovered < c->events)
		problem(v, "ids.db",
			"knows %llu ids, the shards hold %llu events: re-deliveries of the"
			" others would be stored twice",
			(unsigned long long)(c->run_ids + c->uncovered),
			(unsigned long long)c->events);
	sqlite3_finalize(c->covered);
	sqlite3_close(c->db);
}

static void odd_name(void *ctx, const char *name)
{
	struct verify *v = ctx;
	char file[512];

	snprintf(file, sizeof(file), "shards/%s", name);
	problem(v, file, "not a shard name (YYYY-MM-DD.db); ignored");
}

/* Compare one stored gold table with its recomputation in main. */
static void compare_table(struct verify *v, sqlite3 *mem, const char *t)
{
	char sql[512];
	uint64_t missing = 0, extra = 0;

	/* t is a gold table's name or a declared aggregate's (an identifier
	 * checked when declared), never other input */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM (SELECT * FROM main.\"%s\" EXCEPT SELECT * FROM g.\"%s\")",
		 t, t);
	if (tarn__lake_query_u64(mem, sql, &missing, "verify gold")) {
		problem(v, "gold.db", "%s: %s", t, tarn_error_last());
		return;
	}
	/* days without a readable shard (retention, damage) cannot be
	 * recomputed; their gold rows are kept and not compared */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM (SELECT * FROM g.\"%s\" WHERE event_date IN"
		 " (SELECT event_date FROM temp.checked) EXCEPT SELECT * FROM main.\"%s\")",
		 t, t);
	if (tarn__lake_query_u64(mem, sql, &extra, "verify gold")) {
		problem(v, "gold.db", "%s: %s", t, tarn_error_last());
		return;
	}
	if (missing || extra)
		problem(v, "gold.db",
			"%s differs from its recomputation: %llu rows missing or wrong,"
			" %llu rows extra or wrong",
			t, (unsigned long long)missing, (unsigned long long)extra);
}

/* Compare stored gold (the built-in tables and the declared aggregates g
 * recomputed) with the recomputation held in an in-memory database. */
static void compare_gold(struct verify *v, sqlite3 *mem, const tarn__gold *g)
{
	const char *const *t;
	size_t i;

	for (t = tarn_gold_tables(); *t; t++)
		compare_table(v, mem, *t);
	for (i = 0; i < tarn__gold_n_aggregates(g); i++)
		compare_table(v, mem, tarn__gold_aggregate_name(g, i));
}

static int open_memory_gold(tarn_lake *lake, sqlite3 **mem, tarn__gold **g)
{
	char *path = tarn__path_join(lake->dir, "gold.db");
	sqlite3_stmt *st = NULL;
	int rc;

	*mem = NULL;
	*g = NULL;
	if (!path)
		return tarn__error_set(TARN_ENOMEM, "verify");
	if (sqlite3_open(":memory:", mem) != SQLITE_OK) {
		free(path);
		return tarn__error_sqlite(*mem, "verify: memory database");
	}
	rc = tarn__gold_attach(g, *mem, 1);
	if (!rc)
		rc = tarn__sql_prepare(*mem, "ATTACH ? AS g", &st, "verify: attach gold.db");
	if (!rc) {
		sqlite3_db_config(*mem, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
		sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tarn__error_sqlite(*mem, "verify: attach gold.db");
	}
	sqlite3_finalize(st);
	/* the declarations of gold.db, recomputed in main by the same engine */
	if (!rc)
		rc = tarn__gold_aggregates(*g, "g", 1);
	free(path);
	return rc;
}

static void note_checked(sqlite3 *mem, const char *date)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(mem, "INSERT INTO temp.checked VALUES(?)", -1, &st, NULL) !=
	    SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, date, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

int tarn_lake_verify(tarn_lake *lake, tarn_problem_cb cb, void *ctx, uint64_t *n_problems)
{
	struct verify v = { lake, cb, ctx, 0 };
	struct id_check idc;
	struct tarn__walk w;
	char(*dates)[11] = NULL;
	size_t n = 0, i;
	sqlite3 *mem = NULL;
	tarn__gold *g = NULL;
	int rc = tarn__lake_commit_pending(lake);

	if (rc)
		return rc;
	check_integrity(&v, lake->catalog, "lake.db");
	check_integrity(&v, lake->gold_db, "gold.db");
	check_integrity(&v, lake->quar_db, "quarantine.db");
	id_check_open(&v, &idc);
	rc = open_memory_gold(lake, &mem, &g);
	if (!rc)
		rc = tarn__sql_exec(mem,
				    "CREATE TEMP TABLE checked(event_date TEXT PRIMARY KEY);"
				    " BEGIN",
				    "verify");
	if (!rc)
		rc = tarn__shard_list(lake->dir, &dates, &n, odd_name, &v);
	if (!rc)
		tarn__lake_walk_begin(lake, &w, dates, n);
	for (i = 0; rc == TARN_OK && i < n; i++) {
		char file[32];
		tarn__shard *s;
		int64_t seq, mark;
		int src;

		snprintf(file, sizeof(file), "shards/%s.db", dates[i]);
		src = tarn__lake_open_shard(lake, dates[i], &s);
		if (src) {
			problem(&v, file, "%s", tarn_error_last());
			continue;
		}
		check_integrity(&v, tarn__shard_db(s), file);
		check_shard_content(&v, s, file);
		id_check_shard(&idc, s);
		tarn__lake_walk_step(lake, &w, s);
		if (tarn__gold_recompute_day(g, s, &lake->extract) != TARN_OK) {
			problem(&v, file, "cannot recompute gold: %s", tarn_error_last());
			continue;
		}
		note_checked(mem, dates[i]);
		if (tarn__shard_seq(s, &seq) == TARN_OK &&
		    tarn__gold_watermark_get(lake->gold, dates[i], &mark) == TARN_OK && mark != seq)
			problem(&v, "gold.db", "watermark of %s is %lld, shard is at %lld",
				dates[i], (long long)mark, (long long)seq);
	}
	free(dates);
	id_check_close(&v, &idc);
	if (!rc)
		rc = tarn__lake_prune_minutes(lake, mem);
	if (!rc)
		compare_gold(&v, mem, g);
	tarn__gold_detach(g);
	sqlite3_close(mem);
	if (n_problems)
		*n_problems = v.problems;
	if (rc)
		return rc;
	if (v.problems)
		return tarn__error_set(TARN_ECORRUPT, "%llu problems found",
				       (unsigned long long)v.problems);
	return TARN_OK;
}

/* Add the event dates of gold.db's table `table` to temp.tarn_gold_days. */
static int note_gold_days(sqlite3 *db, const char *table)
{
	char sql[200];

	snprintf(sql, sizeof(sql),
		 "INSERT OR IGNORE INTO temp.tarn_gold_days SELECT DISTINCT event_date FROM"
		 " main.\"%s\"",
		 table);
	return tarn__sql_exec(db, sql, "gold.db");
}

int tarn_lake_gold_only_days(tarn_lake *lake, tarn_date_cb cb, void *ctx)
{
	sqlite3 *db = lake->gold_db;
	char(*dates)[11] = NULL;
	const char *const *t;
	sqlite3_stmt *st = NULL;
	size_t n = 0, i;
	int rc, step;

	rc = tarn__sql_exec(db,
			    "CREATE TEMP TABLE IF NOT EXISTS tarn_gold_days(d TEXT PRIMARY KEY);"
			    " DELETE FROM temp.tarn_gold_days;",
			    "gold.db");
	if (!rc)
		rc = note_gold_days(db, "watermarks");
	for (t = tarn_gold_tables(); !rc && *t; t++)
		rc = note_gold_days(db, *t);
	/* the declared aggregates' tables, from the catalog (a read-only lake
	 * has not loaded them) */
	if (!rc)
		rc = tarn__sql_prepare(
			db,
			"SELECT name FROM main.sqlite_master WHERE type = 'table' AND"
			" name IN (SELECT name FROM main.aggregates WHERE state = 'ready')",
			&st, "gold.db");
	if (rc == TARN_ESQLITE && strstr(tarn_error_last(), "no such table"))
		rc = TARN_OK; /* a lake from before declared aggregates */
	while (!rc && st && sqlite3_step(st) == SQLITE_ROW)
		rc = note_gold_days(db, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	st = NULL;
	if (!rc)
		rc = tarn__shard_list(lake->dir, &dates, &n, NULL, NULL);
	if (!rc)
		rc = tarn__sql_prepare(db, "DELETE FROM temp.tarn_gold_days WHERE d = ?", &st,
				       "gold.db");
	for (i = 0; !rc && i < n; i++) {
		sqlite3_bind_text(st, 1, dates[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tarn__error_sqlite(db, "gold.db");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	st = NULL;
	free(dates);
	if (!rc)
		rc = tarn__sql_prepare(db, "SELECT d FROM temp.tarn_gold_days ORDER BY d", &st,
				       "gold.db");
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = cb(ctx, (const char *)sqlite3_column_text(st, 0));
	if (!rc && step != SQLITE_DONE)
		rc = tarn__error_sqlite(db, "gold.db");
	sqlite3_finalize(st);
	return rc;
}

/* The shards a rebuild could not read, for its error message. */
struct damaged {
	size_t n;
	char msg[1024];
};

static void note_damaged(struct damaged *d, const char *date)
{
	const char *why = tarn_error_last();
	char name[32];
	size_t l = strlen(d->msg);

	snprintf(name, sizeof(name), "shards/%s.db", date);
	if (d->n++)
		snprintf(d->msg + l, sizeof(d->msg) - l, "; ");
	l = strlen(d->msg);
	/* the detail names the file most of the time; never twice */
	if (strstr(why, name))
		snprintf(d->msg + l, sizeof(d->msg) - l, "%s", why);
	else
		snprintf(d->msg + l, sizeof(d->msg) - l, "%s: %s", name, why);
}

/* Recompute one day inside a savepoint of the open gold transaction. A shard
 * that cannot be read (open or scan) leaves its day's gold rows as they
 * were and is noted in *d; only running out of memory or disk, or gold.db
 * itself failing, stops the rebuild. */
static int rebuild_day(tarn_lake *lake, const char *date, struct damaged *d, tarn__shard **out)
{
	int rc = tarn__sql_exec(lake->gold_db, "SAVEPOINT day", "gold.db");

	*out = NULL;
	if (rc)
		return rc;
	rc = tarn__lake_open_shard(lake, date, out);
	if (!rc)
		rc = tarn__gold_recompute_day(lake->gold, *out, &lake->extract);
	if (rc == TARN_ENOMEM || rc == TARN_ENOSPC)
		return rc;
	if (rc) {
		note_damaged(d, date);
		*out = NULL;
		return tarn__sql_exec(lake->gold_db, "ROLLBACK TO day; RELEASE day", "gold.db");
	}
	return tarn__sql_exec(lake->gold_db, "RELEASE day", "gold.db");
}

int tarn_gold_rebuild(tarn_lake *lake)
{
	char(*dates)[11] = NULL;
	struct damaged dmg = { 0, "" };
	struct tarn__walk w;
	size_t n = 0, i;
	int rc;

	if (lake->readonly)
		return tarn__error_set(TARN_EINVAL, "%s: lake opened read-only", lake->dir);
	rc = tarn__lake_commit_pending(lake);
	if (!rc)
		rc = tarn__shard_list(lake->dir, &dates, &n, NULL, NULL);
	if (!rc)
		rc = tarn__lake_gold_begin(lake);
	if (!rc)
		tarn__lake_walk_begin(lake, &w, dates, n);
	/* Days whose shard is gone (retention) keep their gold rows: gold
	 * outlives raw data. */
	for (i = 0; rc == TARN_OK && i < n; i++) {
		tarn__shard *s;

		rc = rebuild_day(lake, dates[i], &dmg, &s);
		if (!rc)
			tarn__lake_walk_step(lake, &w, s);
	}
	free(dates);
	if (!rc)
		rc = tarn__lake_prune_minutes(lake, lake->gold_db);
	if (!rc) {
		rc = tarn__sql_exec(lake->gold_db, "COMMIT", "gold.db");
		lake->gold_txn = 0;
	}
	if (rc) {
		tarn_lake_rollback(lake);
		return rc;
	}
	if (dmg.n)
		return tarn__error_set(TARN_ECORRUPT,
				       "%zu shard%s cannot be read (the gold of %s is kept as it"
				       " was; every other day is rebuilt): %s",
				       dmg.n, dmg.n == 1 ? "" : "s",
				       dmg.n == 1 ? "its day" : "their days", dmg.msg);
	return TARN_OK;
}
