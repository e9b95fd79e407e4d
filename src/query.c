/* Read-only SQL over a lake: gold.db as the main schema and the eponymous
 * virtual table `events` over every shard, with shard pruning.
 * (SQLite: "The Virtual Table Mechanism", "Compile-Time Authorization
 * Callbacks".) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uuid/uuid.h>

#include "tarn/query.h"
#include "tarn/time.h"
#include "error_internal.h"
#include "lake_internal.h"

struct tarn_query {
	sqlite3 *db;
	char *dir;
};

enum { COL_ID, COL_TIME, COL_DATE, COL_NAME, COL_PAYLOAD, COL_KEY, COL_TOPIC,
       COL_PARTITION, COL_OFFSET };

#define MAX_DATE_TERMS 16

typedef struct {
	sqlite3_vtab base;
	const char *dir;  /* owned by the tarn_query */
} ev_vtab;

typedef struct {
	sqlite3_vtab_cursor base;
	char (*dates)[11];
	size_t n_dates, next;
	const char *date;          /* the shard being read */
	int64_t lo_us, hi_us;      /* [lo, hi) from event_time terms */
	char date_op[MAX_DATE_TERMS];
	char date_val[MAX_DATE_TERMS][11];
	int n_date_terms;
	int has_id;                /* event_id = ? : rows of other ids are skipped */
	tarn_event want;           /* its id */
	tarn__shard *shard;
	size_t span_ix;
	tarn__block blk;           /* the block being read; blk.n == 0 when none */
	uint32_t pos;
	struct tarn__buf scratch;
	int eof;
} ev_cursor;

static int ev_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
		      sqlite3_vtab **out, char **err)
{
	ev_vtab *vt;
	int rc;

	(void)argc;
	(void)argv;
	(void)err;
	rc = sqlite3_declare_vtab(db, "CREATE TABLE x(event_id TEXT, event_time INTEGER,"
				      " event_date TEXT, event_name TEXT, payload TEXT, key BLOB,"
				      " topic TEXT, partition INTEGER, \"offset\" INTEGER)");
	if (rc != SQLITE_OK)
		return rc;
	vt = sqlite3_malloc(sizeof(*vt));
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof(*vt));
	vt->dir = aux;
	*out = &vt->base;
	return SQLITE_OK;
}

static int ev_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

static char op_code(unsigned char op)
{
	switch (op) {
	case SQLITE_INDEX_CONSTRAINT_EQ: return '=';
	case SQLITE_INDEX_CONSTRAINT_GT: return '>';
	case SQLITE_INDEX_CONSTRAINT_GE: return 'g';
	case SQLITE_INDEX_CONSTRAINT_LT: return '<';
	case SQLITE_INDEX_CONSTRAINT_LE: return 'l';
	default: return 0;
	}
}

/* Pass every usable range term on event_time/event_date to xFilter; they
 * only narrow the shards and rows read, and SQLite re-checks them. */
static int ev_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	char plan[2 * 32 + 1];
	int i, n = 0;

	(void)vt;
	for (i = 0; i < info->nConstraint && n < 32; i++) {
		const struct sqlite3_index_constraint *c = &info->aConstraint[i];
		char op = op_code(c->op);

		if (!c->usable || !op)
			continue;
		if (c->iColumn == COL_ID && op == '=')
			plan[2 * n] = 'i';
		else if (c->iColumn == COL_TIME || c->iColumn == COL_DATE)
			plan[2 * n] = c->iColumn == COL_TIME ? 't' : 'd';
		else
			continue;
		plan[2 * n + 1] = op;
		info->aConstraintUsage[i].argvIndex = ++n;
	}
	plan[2 * n] = '\0';
	info->idxStr = sqlite3_mprintf("%s", plan);
	info->needToFreeIdxStr = 1;
	info->estimatedCost = n ? 1e6 / (double)(10 * n) : 1e7;
	info->estimatedRows = n ? 10000 : 1000000;
	return SQLITE_OK;
}

static int ev_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	ev_cursor *c = sqlite3_malloc(sizeof(*c));

	(void)vt;
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	tarn__block_init(&c->blk);
	c->eof = 1;
	*out = &c->base;
	return SQLITE_OK;
}

static void close_shard(ev_cursor *c)
{
	tarn__shard_close(c->shard);
	c->shard = NULL;
	c->blk.n = 0;
}

static int ev_close(sqlite3_vtab_cursor *cur)
{
	ev_cursor *c = (ev_cursor *)cur;

	close_shard(c);
	free(c->dates);
	tarn__block_free(&c->blk);
	free(c->scratch.p);
	sqlite3_free(c);
	return SQLITE_OK;
}

static int date_wanted(ev_cursor *c, const char *date)
{
	int64_t d0;
	int i;

	tarn_time_parse_date(date, &d0);
	if (d0 + TARN_US_PER_DAY <= c->lo_us || d0 >= c->hi_us)
		return 0;
	for (i = 0; i < c->n_date_terms; i++) {
		int cmp = strcmp(date, c->date_val[i]);
		switch (c->date_op[i]) {
		case '=': if (cmp != 0) return 0; break;
		case '>': if (cmp <= 0) return 0; break;
		case 'g': if (cmp < 0) return 0; break;
		case '<': if (cmp >= 0) return 0; break;
		case 'l': if (cmp > 0) return 0; break;
		}
	}
	return 1;
}

static int shard_error(ev_cursor *c, const char *path, const char *what)
{
	sqlite3_free(c->base.pVtab->zErrMsg);
	c->base.pVtab->zErrMsg = sqlite3_mprintf("%s: %s", path, what);
	return SQLITE_CORRUPT;
}

static int row_wanted(const ev_cursor *c, const struct tarn__rec *r)
{
	if (!c->has_id)
		return 1;
	return r->id_len == c->want.id_len && !r->is_uuid == !c->want.id_is_uuid &&
	       memcmp(c->blk.arena.p + r->id_off, c->want.id, r->id_len) == 0;
}

/* Move to the next row to show, from (block, pos) on: through the rest of
 * the block, the shard's later blocks whose time span is wanted, then the
 * next wanted shard; eof when none is left. Blocks are decoded without
 * their payloads, which ev_column fetches only when asked for. */
static int seek_row(ev_cursor *c)
{
	const char *dir = ((ev_vtab *)c->base.pVtab)->dir;

	for (;;) {
		const struct tarn__span *spans;
		size_t n_spans;

		for (; c->pos < c->blk.n; c->pos++) {
			if (c->blk.recs[c->pos].time_us >= c->hi_us) {
				c->pos = c->blk.n;
				break;
			}
			if (row_wanted(c, &c->blk.recs[c->pos]))
				return SQLITE_OK;
		}
		c->blk.n = 0;
		if (c->shard) {
			n_spans = tarn__shard_spans(c->shard, &spans);
			while (c->span_ix < n_spans) {
				const struct tarn__span *sp = &spans[c->span_ix++];

				if (sp->max_time < c->lo_us || sp->min_time >= c->hi_us)
					continue;
				if (tarn__shard_read_block(c->shard, sp->block_id, 0, &c->blk))
					return shard_error(c, c->date, tarn_error_last());
				c->pos = tarn__block_lower_bound(&c->blk, c->lo_us);
				break;
			}
			if (c->blk.n)
				continue;
			close_shard(c);
		}
		while (c->next < c->n_dates && !date_wanted(c, c->dates[c->next]))
			c->next++;
		if (c->next == c->n_dates) {
			c->eof = 1;
			return SQLITE_OK;
		}
		c->date = c->dates[c->next++];
		c->span_ix = 0;
		if (tarn__shard_open(&c->shard, dir, c->date, 1, 0) != TARN_OK)
			return shard_error(c, c->date, tarn_error_last());
	}
}

static void set_wanted_id(ev_cursor *c, sqlite3_value *v)
{
	const char *text = (const char *)sqlite3_value_text(v);
	int len = sqlite3_value_bytes(v);

	if (!text || len <= 0 || len > TARN_ID_MAX)
		return;
	c->has_id = 1;
	c->want.id_is_uuid = len == 36 && uuid_parse(text, c->want.id) == 0;
	if (c->want.id_is_uuid) {
		c->want.id_len = 16;
		return;
	}
	memcpy(c->want.id, text, (size_t)len);
	c->want.id_len = (size_t)len;
}

static int ev_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str,
		     int argc, sqlite3_value **argv)
{
	ev_cursor *c = (ev_cursor *)cur;
	int i, rc;

	(void)idx_num;
	close_shard(c);
	free(c->dates);
	c->dates = NULL;
	c->n_dates = c->next = 0;
	c->lo_us = INT64_MIN;
	c->hi_us = INT64_MAX;
	c->n_date_terms = 0;
	c->has_id = 0;
	c->eof = 0;
	for (i = 0; i < argc && idx_str && idx_str[2 * i]; i++) {
		char col = idx_str[2 * i], op = idx_str[2 * i + 1];
		sqlite3_value *v = argv[i];

		if (col == 't' && sqlite3_value_type(v) == SQLITE_INTEGER) {
			int64_t t = sqlite3_value_int64(v);
			if ((op == '=' || op == 'g') && t > c->lo_us)
				c->lo_us = t;
			if (op == '>' && t != INT64_MAX && t + 1 > c->lo_us)
				c->lo_us = t + 1;
			if ((op == '=' || op == 'l') && t != INT64_MAX && t + 1 < c->hi_us)
				c->hi_us = t + 1;
			if (op == '<' && t < c->hi_us)
				c->hi_us = t;
		} else if (col == 'i' && sqlite3_value_type(v) == SQLITE_TEXT) {
			set_wanted_id(c, v);
		} else if (col == 'd' && sqlite3_value_type(v) == SQLITE_TEXT &&
			   c->n_date_terms < MAX_DATE_TERMS) {
			snprintf(c->date_val[c->n_date_terms], 11, "%s",
				 (const char *)sqlite3_value_text(v));
			c->date_op[c->n_date_terms++] = op;
		}
	}
	rc = tarn__shard_list(((ev_vtab *)cur->pVtab)->dir, &c->dates, &c->n_dates, NULL, NULL);
	if (rc)
		return shard_error(c, "shards", tarn_error_last());
	return seek_row(c);
}

static int ev_next(sqlite3_vtab_cursor *cur)
{
	ev_cursor *c = (ev_cursor *)cur;

	c->pos++;
	return seek_row(c);
}

static int ev_eof(sqlite3_vtab_cursor *cur)
{
	return ((ev_cursor *)cur)->eof;
}

static int ev_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	ev_cursor *c = (ev_cursor *)cur;
	const struct tarn__rec *r = &c->blk.recs[c->pos];
	const unsigned char *p;
	size_t len;

	switch (col) {
	case COL_ID:
		if (r->is_uuid) {
			char text[37];
			uuid_unparse_lower(c->blk.arena.p + r->id_off, text);
			sqlite3_result_text(ctx, text, 36, SQLITE_TRANSIENT);
		} else {
			sqlite3_result_text(ctx, (const char *)c->blk.arena.p + r->id_off,
					    r->id_len, SQLITE_TRANSIENT);
		}
		break;
	case COL_TIME: sqlite3_result_int64(ctx, r->time_us); break;
	case COL_DATE: sqlite3_result_text(ctx, c->date, 10, SQLITE_TRANSIENT); break;
	case COL_NAME:
		if (r->name_ix)
			sqlite3_result_text(ctx, (const char *)c->blk.arena.p +
					    c->blk.names[r->name_ix - 1].off,
					    (int)c->blk.names[r->name_ix - 1].len, SQLITE_TRANSIENT);
		break;
	case COL_PAYLOAD:
		/* decompressed only when asked for, once per block */
		if (!c->blk.has_payloads &&
		    tarn__shard_read_block(c->shard, c->blk.id, 1, &c->blk) != TARN_OK)
			return shard_error(c, c->date, tarn_error_last());
		r = &c->blk.recs[c->pos];
		if (tarn__block_payload(&c->blk, c->pos, &c->scratch, &p, &len) != TARN_OK)
			return SQLITE_NOMEM;
		sqlite3_result_text(ctx, (const char *)p, (int)len, SQLITE_TRANSIENT);
		break;
	case COL_KEY:
		if (r->key_len != UINT32_MAX)
			sqlite3_result_blob(ctx, c->blk.arena.p + r->key_off, (int)r->key_len,
					    SQLITE_TRANSIENT);
		break;
	case COL_TOPIC:
		if (r->topic_ix)
			sqlite3_result_text(ctx, (const char *)c->blk.arena.p +
					    c->blk.topics[r->topic_ix - 1].off,
					    (int)c->blk.topics[r->topic_ix - 1].len, SQLITE_TRANSIENT);
		break;
	case COL_PARTITION:
		if (r->partition >= 0)
			sqlite3_result_int(ctx, r->partition);
		break;
	case COL_OFFSET:
		if (r->offset >= 0)
			sqlite3_result_int64(ctx, r->offset);
		break;
	}
	return SQLITE_OK;
}

/* Unique across shards and scans (SQLite's OR optimization merges scans
 * by rowid): the shard's day number in the high bits, then the block and
 * the event's place in it. */
static int ev_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	ev_cursor *c = (ev_cursor *)cur;
	int64_t day0 = 0;

	tarn_time_parse_date(c->date, &day0);
	*rowid = (day0 / TARN_US_PER_DAY) * ((sqlite3_int64)1 << 40) +
		 ((c->blk.id << 12 | c->pos) & (((sqlite3_int64)1 << 40) - 1));
	return SQLITE_OK;
}

static const sqlite3_module events_module = {
	.iVersion = 0,
	.xCreate = NULL, /* eponymous-only: `events` exists without CREATE */
	.xConnect = ev_connect,
	.xBestIndex = ev_best_index,
	.xDisconnect = ev_disconnect,
	.xDestroy = ev_disconnect,
	.xOpen = ev_open,
	.xClose = ev_close,
	.xFilter = ev_filter,
	.xNext = ev_next,
	.xEof = ev_eof,
	.xColumn = ev_column,
	.xRowid = ev_rowid,
};

static const char *const allowed_pragmas[] = {
	"table_info", "table_xinfo", "table_list", "index_list", "index_info",
	"function_list", "module_list", "database_list", "collation_list", NULL
};

/* Reads only: no writes, schema changes, ATTACH, extension loading, or
 * pragmas other than the read-only ones above (every other pragma is
 * refused, with or without a value). */
static int authorize(void *ctx, int action, const char *a, const char *b,
		     const char *db, const char *trigger)
{
	const char *const *p;

	(void)ctx;
	(void)db;
	(void)trigger;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_RECURSIVE:
	case SQLITE_TRANSACTION:
		return SQLITE_OK;
	case SQLITE_FUNCTION:
		return b && sqlite3_stricmp(b, "load_extension") == 0 ? SQLITE_DENY : SQLITE_OK;
	case SQLITE_PRAGMA:
		/* the listed pragmas only read, whatever their argument */
		for (p = allowed_pragmas; *p; p++)
			if (a && sqlite3_stricmp(a, *p) == 0)
				return SQLITE_OK;
		return SQLITE_DENY;
	default:
		return SQLITE_DENY;
	}
}

int tarn_query_open(tarn_query **out, const char *dir)
{
	tarn_query *q;
	char *path;
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
	sqlite3_limit(q->db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_db_config(q->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(q->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	if (sqlite3_exec(q->db, "PRAGMA query_only=1", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_module_v2(q->db, "events", &events_module, q->dir, NULL) != SQLITE_OK) {
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
	default:
		v->type = TARN_VALUE_NULL;
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

int tarn_query_exec(tarn_query *q, const char *sql, tarn_row_cb cb, void *ctx,
		    uint64_t *n_rows)
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
