/* Read-only SQL over a lake: gold.db as the main schema and the eponymous
 * virtual table `events` over every shard (events.c).
 * (SQLite: "The Virtual Table Mechanism", "Compile-Time Authorization
 * Callbacks".) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tarn/query.h"
#include "error_internal.h"
#include "events.h"
#include "lake_internal.h"

struct tarn_query {
	sqlite3 *db;
	char *dir;
};

static const char *const allowed_pragmas[] = { "table_info",  "table_xinfo",   "table_list",
					       "index_list",  "index_info",    "function_list",
					       "module_list", "database_list", "collation_list",
					       NULL };

/* Reads only: no writes, schema changes, ATTACH, extension loading, or
 * pragmas other than the read-only ones above (every other pragma is
 * refused, with or without a value). */
static int authorize(void *ctx, int action, const char *a, const char *b, const char *db,
		     const char *trigger)
{
	const char *const *p;

	(void)ctx;
	(void)db;
	(void)trigger;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_RECURSIVE:
	case SQLITE_TRANSACTION: return SQLITE_OK;
	case SQLITE_FUNCTION:
		return b && sqlite3_stricmp(b, "load_extension") == 0 ? SQLITE_DENY : SQLITE_OK;
	case SQLITE_PRAGMA:
		/* the listed pragmas only read, whatever their argument */
		for (p = allowed_pragmas; *p; p++)
			if (a && sqlite3_stricmp(a, *p) == 0)
				return SQLITE_OK;
		return SQLITE_DENY;
	default: return SQLITE_DENY;
	}
}

/* LAKE/quarantine.db as the read-only schema `quarantine` (it inherits the
 * main connection's SQLITE_OPEN_READONLY), before ATTACH is closed to SQL. */
static int attach_quarantine(sqlite3 *db, const char *dir)
{
	char *path = tarn__path_join(dir, "quarantine.db"), *sql;
	int rc;

	if (!path)
		return tarn__error_set(TARN_ENOMEM, "query");
	if (access(path, F_OK) != 0) {
		free(path);
		return TARN_OK; /* no writer has opened the lake yet */
	}
	sql = sqlite3_mprintf("ATTACH %Q AS quarantine", path);
	free(path);
	if (!sql)
		return tarn__error_set(TARN_ENOMEM, "query");
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK)
		return tarn__error_sqlite(db, "%s/quarantine.db", dir);
	return TARN_OK;
}

int tarn_query_open(tarn_query **out, const char *dir)
{
	tarn_query *q;
	char *path;
	struct ev_fast *fast = NULL;
	int rc;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q || !(q->dir = strdup(dir))) {
		free(q);
		return tarn__error_set(TARN_ENOMEM, "query");
	}
	path = tarn__path_join(dir, "gold.db");
	if (!path || access(path, F_OK) != 0) {
		free(path);
		tarn_query_close(q);
		return tarn__error_set(TARN_ENOTFOUND, "%s: no lake here (no gold.db)", dir);
	}
	rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READONLY, NULL);
	free(path);
	if (rc != SQLITE_OK) {
		rc = tarn__error_sqlite(q->db, "%s/gold.db", dir);
		tarn_query_close(q);
		return rc;
	}
	sqlite3_busy_timeout(q->db, 5000);
	rc = attach_quarantine(q->db, dir);
	if (rc) {
		tarn_query_close(q);
		return rc;
	}
	sqlite3_limit(q->db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_db_config(q->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(q->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	if (sqlite3_exec(q->db, "PRAGMA query_only=1", NULL, NULL, NULL) != SQLITE_OK ||
	    tarn__events_fast(q->db, &fast) != SQLITE_OK ||
	    tarn__events_register(q->db, "events", q->dir, fast) != SQLITE_OK) {
		rc = tarn__error_sqlite(q->db, "%s: set up query", dir);
		tarn_query_close(q);
		return rc;
	}
	/* connect the eponymous table now: its constructor's declaration
	 * would not pass the authorizer installed next */
	if (sqlite3_exec(q->db, "SELECT 1 FROM events WHERE 0", NULL, NULL, NULL) != SQLITE_OK) {
		rc = tarn__error_sqlite(q->db, "%s: set up events view", dir);
		tarn_query_close(q);
		return rc;
	}
	sqlite3_set_authorizer(q->db, authorize, NULL);
	*out = q;
	return TARN_OK;
}

static void to_value(sqlite3_stmt *st, int i, tarn_value *v)
{
	memset(v, 0, sizeof(*v));
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		v->type = TARN_VALUE_INT;
		v->i = sqlite3_column_int64(st, i);
		break;
	case SQLITE_FLOAT:
		v->type = TARN_VALUE_REAL;
		v->d = sqlite3_column_double(st, i);
		break;
	case SQLITE_TEXT:
		v->type = TARN_VALUE_TEXT;
		v->p = sqlite3_column_text(st, i);
		v->len = (size_t)sqlite3_column_bytes(st, i);
		break;
	case SQLITE_BLOB:
		v->type = TARN_VALUE_BLOB;
		v->p = sqlite3_column_blob(st, i);
		v->len = (size_t)sqlite3_column_bytes(st, i);
		break;
	default: v->type = TARN_VALUE_NULL;
	}
}

static int sql_error(sqlite3 *db)
{
	int code = sqlite3_errcode(db);

	if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
		return tarn__error_set(TARN_ECORRUPT, "%s", sqlite3_errmsg(db));
	if (code == SQLITE_NOMEM)
		return tarn__error_set(TARN_ENOMEM, "%s", sqlite3_errmsg(db));
	return tarn__error_set(TARN_EINVAL, "%s", sqlite3_errmsg(db));
}

static int run_one(tarn_query *q, sqlite3_stmt *st, tarn_row_cb cb, void *ctx, uint64_t *rows)
{
	int n = sqlite3_column_count(st), i, rc;
	const char **names = calloc((size_t)n + 1, sizeof(*names));
	tarn_value *vals = calloc((size_t)n + 1, sizeof(*vals));

	if (!names || !vals) {
		free(names);
		free(vals);
		return tarn__error_set(TARN_ENOMEM, "query");
	}
	for (i = 0; i < n; i++)
		names[i] = sqlite3_column_name(st, i);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (i = 0; i < n; i++)
			to_value(st, i, &vals[i]);
		(*rows)++;
		if (cb) {
			rc = cb(ctx, n, names, vals);
			if (rc)
				break;
		}
	}
	free(names);
	free(vals);
	if (rc == SQLITE_DONE)
		return TARN_OK;
	if (rc == SQLITE_ROW)
		return TARN_OK;
	if (rc > 0)
		return sql_error(q->db);
	return rc; /* the callback's value */
}

int tarn_query_exec(tarn_query *q, const char *sql, tarn_row_cb cb, void *ctx, uint64_t *n_rows)
{
	const char *tail = sql;
	uint64_t rows = 0;
	int rc = TARN_OK;

	while (rc == TARN_OK && tail && *tail) {
		sqlite3_stmt *st = NULL;

		if (sqlite3_prepare_v2(q->db, tail, -1, &st, &tail) != SQLITE_OK) {
			rc = sql_error(q->db);
			break;
		}
		if (!st)
			break; /* only white space or comments were left */
		rc = run_one(q, st, cb, ctx, &rows);
		sqlite3_finalize(st);
	}
	if (n_rows)
		*n_rows = rows;
	return rc;
}

void tarn_query_close(tarn_query *q)
{
	if (!q)
		return;
	sqlite3_close(q->db);
	free(q->dir);
	free(q);
}
