/* The `events` virtual table: every event of a lake's shards as one row,
 * reading only the shards and blocks that a condition on event_date,
 * event_time or event_id can touch, and decompressing payloads only when
 * the payload column is read. One implementation serves `tarn query` (the
 * eponymous table `events` over one lake) and the loadable extension
 * libtarn_sqlite.so (`tarn_events(dir)`, `USING tarn(dir)`), for which this
 * file is compiled a second time with TARN_SQLITE_EXTENSION: calls on the
 * host's connection then go through the host's sqlite3_api routines, while
 * the shard files are read with tarn's own connections.
 * (SQLite: "The Virtual Table Mechanism", "Table-valued functions",
 * "Run-Time Loadable Extensions".) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef TARN_SQLITE_EXTENSION
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3
#else
#include <sqlite3.h>
#endif
#include <uuid/uuid.h>

#include "tarn/time.h"
#include "error_internal.h"
#include "event_scan.h"
#include "events.h"
#include "lake_internal.h"

enum {
	COL_ID,
	COL_TIME,
	COL_DATE,
	COL_NAME,
	COL_PAYLOAD,
	COL_KEY,
	COL_TOPIC,
	COL_PARTITION,
	COL_OFFSET,
	COL_LAKE /* hidden, tarn_events() only */
};

#define MAX_DATE_TERMS 16

/* payload->>'$.path' answered by tarn (ev_arrow), one per connection,
 * shared by its modules and its ->> function: the last payload a cursor
 * gave SQLite, and the last path compiled. */
struct ev_fast {
	int refs;		/* the function and each module holding it */
	const void *cursor;	/* whose payload p is, NULL: none */
	const unsigned char *p; /* borrowed from that cursor, valid while set */
	size_t len;
	char path[256]; /* the dotted path, "a.b" of '$.a.b' */
	tarn__jpath jp; /* compiled from path */
	sqlite3 *db;	/* SQLite's own ->> for what tarn does not answer */
	sqlite3_stmt *arrow;
};

typedef struct {
	sqlite3_vtab base;
	const char *dir; /* the lake; NULL: given per scan as tarn_events(dir) */
	char *own_dir;	 /* dir when it came from CREATE VIRTUAL TABLE ... USING tarn(dir) */
	struct ev_fast *fast;
} ev_vtab;

/* How a module finds its lake (the module's client data). */
struct ev_kind {
	const char *dir; /* fixed lake (tarn query's `events`), or NULL */
	int from_args;	 /* CREATE VIRTUAL TABLE t USING tarn('dir') */
	struct ev_fast *fast;
};

typedef struct {
	sqlite3_vtab_cursor base;
	const char *dir; /* the lake being read */
	char *arg_dir;	 /* dir when given as tarn_events(dir) */
	char (*dates)[11];
	size_t n_dates, next;
	const char *date;     /* the shard being read */
	int64_t lo_us, hi_us; /* [lo, hi) from event_time terms */
	char date_op[MAX_DATE_TERMS];
	char date_val[MAX_DATE_TERMS][11];
	int n_date_terms;
	int has_id;	 /* event_id = ? : rows of other ids are skipped */
	tarn_event want; /* its id */
	tarn__shard *shard;
	size_t span_ix;
	tarn__block blk; /* the block being read; blk.n == 0 when none */
	/* the shard's next wanted block, read and decoded on a thread of its
	 * own while SQLite works through blk: the scan uses both cores */
	int want_payloads; /* the statement reads payload (colUsed): decode them too */
	tarn__block ahead;
	int64_t ahead_id; /* its block id, -1: none */
	int ahead_running;
	pthread_t ahead_th;
	int ahead_rc;
	char ahead_err[256];
	uint32_t pos;
	struct tarn__buf scratch;
	int eof;
} ev_cursor;

static const char schema[] =
	"CREATE TABLE x(event_id TEXT, event_time INTEGER, event_date TEXT, event_name TEXT,"
	" payload TEXT, key BLOB, topic TEXT, partition INTEGER, \"offset\" INTEGER%s)";

/* 'dir', "dir" or dir as written in CREATE VIRTUAL TABLE's arguments */
static char *dequote(const char *arg)
{
	size_t n = strlen(arg), i, o = 0;
	char q = n >= 2 && (arg[0] == '\'' || arg[0] == '"') && arg[n - 1] == arg[0] ? arg[0] : 0;
	char *s = sqlite3_malloc64(n + 1);

	if (!s)
		return NULL;
	if (!q) {
		memcpy(s, arg, n + 1);
		return s;
	}
	for (i = 1; i + 1 < n; i++) {
		s[o++] = arg[i];
		if (arg[i] == q && arg[i + 1] == q)
			i++; /* a doubled quote stands for one */
	}
	s[o] = '\0';
	return s;
}

static int ev_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
		      char **err)
{
	const struct ev_kind *kind = aux;
	char *decl, *own_dir = NULL;
	ev_vtab *vt;
	int rc;

	if (kind->from_args) {
		if (argc != 4) {
			*err = sqlite3_mprintf(
				"usage: CREATE VIRTUAL TABLE name USING tarn('/path/to/lake')");
			return SQLITE_ERROR;
		}
		own_dir = dequote(argv[3]);
		if (!own_dir)
			return SQLITE_NOMEM;
	}
	decl = sqlite3_mprintf(schema, kind->dir || own_dir ? "" : ", lake HIDDEN");
	rc = decl ? sqlite3_declare_vtab(db, decl) : SQLITE_NOMEM;
	sqlite3_free(decl);
	vt = rc == SQLITE_OK ? sqlite3_malloc(sizeof(*vt)) : NULL;
	if (!vt) {
		sqlite3_free(own_dir);
		return rc == SQLITE_OK ? SQLITE_NOMEM : rc;
	}
	memset(vt, 0, sizeof(*vt));
	vt->own_dir = own_dir;
	vt->dir = own_dir ? own_dir : kind->dir;
	vt->fast = kind->fast;
	*out = &vt->base;
	return SQLITE_OK;
}

static int ev_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(((ev_vtab *)vt)->own_dir);
	sqlite3_free(vt);
	return SQLITE_OK;
}

static void fast_release(void *p)
{
	struct ev_fast *f = p;

	if (f && --f->refs == 0) {
		sqlite3_finalize(f->arrow);
		sqlite3_close(f->db);
		sqlite3_free(f);
	}
}

/* The cursor's payload bytes are about to change or go: forget them. */
static void fast_forget(sqlite3_vtab_cursor *cur)
{
	struct ev_fast *f = ((ev_vtab *)cur->pVtab)->fast;

	if (f && f->cursor == cur)
		f->cursor = NULL;
}

/* payload->>path by SQLite itself, on a connection of its own. */
static void arrow_by_sqlite(struct ev_fast *f, sqlite3_context *ctx, sqlite3_value **argv)
{
	if (!f->arrow) {
		if (!f->db &&
		    sqlite3_open_v2(":memory:", &f->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
			sqlite3_close(f->db);
			f->db = NULL;
			sqlite3_result_error_nomem(ctx);
			return;
		}
		if (sqlite3_prepare_v2(f->db, "SELECT ?1 ->> ?2", -1, &f->arrow, NULL) !=
		    SQLITE_OK) {
			sqlite3_result_error(ctx, sqlite3_errmsg(f->db), -1);
			return;
		}
	}
	sqlite3_bind_value(f->arrow, 1, argv[0]);
	sqlite3_bind_value(f->arrow, 2, argv[1]);
	if (sqlite3_step(f->arrow) == SQLITE_ROW)
		sqlite3_result_value(ctx, sqlite3_column_value(f->arrow, 0));
	else
		sqlite3_result_error(ctx, sqlite3_errmsg(f->db), -1);
	sqlite3_reset(f->arrow);
	sqlite3_clear_bindings(f->arrow);
}

/* '$.a.b' with keys of [A-Za-z0-9_] into f->path as "a.b" (compiled into
 * f->jp); 0 when the path is another kind (SQLite answers those). */
static int simple_path(struct ev_fast *f, const unsigned char *t, int n)
{
	int i, part = 0, parts = 1;

	if (n < 3 || n >= (int)sizeof(f->path) + 2 || t[0] != '$' || t[1] != '.')
		return 0;
	if ((size_t)(n - 2) == strlen(f->path) && !memcmp(f->path, t + 2, (size_t)(n - 2)))
		return 1; /* compiled already */
	for (i = 2; i < n; i++) {
		unsigned char ch = t[i];

		if (ch == '.') {
			if (!part || ++parts > TARN__JPATH_PARTS)
				return 0; /* an empty key, or more parts than the lookup takes */
			part = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || ch == '_') {
			part++;
		} else {
			return 0;
		}
	}
	if (!part)
		return 0;
	memcpy(f->path, t + 2, (size_t)(n - 2));
	f->path[n - 2] = '\0';
	tarn__jpath_compile(&f->jp, f->path);
	return 1;
}

/* payload->>'$.a.b' (SQLite's JSON operator, https://sqlite.org/json1.html),
 * registered on the connection in place of SQLite's own (an application's
 * function wins over a built-in of the same name and arity: "Application-
 * Defined SQL Functions"), so that it serves inside aggregates too, where
 * a virtual table's xFindFunction is not asked. Where the left side is
 * the payload an events cursor just gave (a stored event's: JSON, as
 * extraction accepted it) and the path is simple, tarn reads the value
 * itself with SQLite's lookup rules (tarn__json_lookup): strings without
 * escapes, integers, true, false and null. Everything else (another
 * value, another path, escapes, numbers with a fraction or past 64 bits,
 * objects and arrays) goes to SQLite's own ->>, so that the result is
 * always SQLite's. */
static void ev_arrow(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct ev_fast *f = sqlite3_user_data(ctx);
	const unsigned char *pay, *path;
	const tarn__jpath *jp[1];
	tarn__jvalue v;
	int n;

	if (argc != 2)
		return;
	if (!f->cursor || sqlite3_value_type(argv[0]) != SQLITE_TEXT ||
	    sqlite3_value_type(argv[1]) != SQLITE_TEXT)
		goto by_sqlite;
	path = sqlite3_value_text(argv[1]);
	if (!path || !simple_path(f, path, sqlite3_value_bytes(argv[1])))
		goto by_sqlite;
	pay = sqlite3_value_text(argv[0]);
	n = sqlite3_value_bytes(argv[0]);
	if (!pay || (size_t)n != f->len || memcmp(pay, f->p, f->len) != 0)
		goto by_sqlite;
	jp[0] = &f->jp;
	if (tarn__json_lookup(pay, (size_t)n, jp, 1, &v) != 0)
		goto by_sqlite;
	switch (v.type) {
	case TARN__J_NONE:
	case TARN__J_NULL: sqlite3_result_null(ctx); return;
	case TARN__J_TRUE: sqlite3_result_int(ctx, 1); return;
	case TARN__J_FALSE: sqlite3_result_int(ctx, 0); return;
	case TARN__J_INTEGER: {
		int64_t i;

		if (tarn__json_int(v.s, v.len, &i) != 0)
			break;
		sqlite3_result_int64(ctx, (sqlite3_int64)i);
		return;
	}
	case TARN__J_STRING:
		if (!v.in_payload)
			break; /* escapes: SQLite's to undo */
		sqlite3_result_text(ctx, v.s, (int)v.len, SQLITE_TRANSIENT);
		return;
	default: break;
	}
by_sqlite:
	arrow_by_sqlite(f, ctx, argv);
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
static int ev_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info)
{
	const ev_vtab *vt = (const ev_vtab *)vtab;
	char plan[2 * 32 + 1];
	int i, n = 0, has_lake = vt->dir != NULL;

	for (i = 0; i < info->nConstraint && n < 32; i++) {
		const struct sqlite3_index_constraint *c = &info->aConstraint[i];
		char op = op_code(c->op);

		if (!c->usable || !op)
			continue;
		if (c->iColumn == COL_LAKE && op == '=' && !vt->dir && !has_lake) {
			/* tarn_events(dir): the argument is an equality on the
			 * hidden column (SQLite: "Table-valued functions") */
			plan[2 * n] = 'L';
			has_lake = 1;
			info->aConstraintUsage[i].omit = 1;
		} else if (c->iColumn == COL_ID && op == '=')
			plan[2 * n] = 'i';
		else if (c->iColumn == COL_TIME || c->iColumn == COL_DATE)
			plan[2 * n] = c->iColumn == COL_TIME ? 't' : 'd';
		else
			continue;
		plan[2 * n + 1] = op;
		info->aConstraintUsage[i].argvIndex = ++n;
	}
	plan[2 * n] = '\0';
	/* the rows come in event_date order (the shards in date order, each
	 * shard one date): ORDER BY or GROUP BY event_date needs no sort */
	if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == COL_DATE && !info->aOrderBy[0].desc)
		info->orderByConsumed = 1;
	info->idxStr = sqlite3_mprintf("%s", plan);
	info->needToFreeIdxStr = 1;
	/* whether payloads are read: the block read ahead decodes them too */
	info->idxNum = (info->colUsed & ((sqlite3_uint64)1 << COL_PAYLOAD)) ? 1 : 0;
	info->estimatedCost = n ? 1e6 / (double)(10 * n) : 1e7;
	info->estimatedRows = n ? 10000 : 1000000;
	if (!has_lake)
		info->estimatedCost = 1e300; /* xFilter will say the lake is missing */
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
	tarn__block_init(&c->ahead);
	c->ahead_id = -1;
	c->eof = 1;
	*out = &c->base;
	return SQLITE_OK;
}

/* Wait for the block being read ahead, if one is. */
static void ahead_wait(ev_cursor *c)
{
	if (c->ahead_running) {
		pthread_join(c->ahead_th, NULL);
		c->ahead_running = 0;
	}
}

static void *ahead_run(void *arg)
{
	ev_cursor *c = arg;

	/* a lookup by event_id shows one row or none: its payload is read
	 * when asked for, not every block's ahead of it */
	c->ahead_rc = tarn__shard_read_block(c->shard, c->ahead_id, c->want_payloads && !c->has_id,
					     &c->ahead);
	if (c->ahead_rc) /* the message is this thread's */
		snprintf(c->ahead_err, sizeof(c->ahead_err), "%s", tarn_error_last());
	return NULL;
}

/* Start reading the next wanted block of the shard (from span span_ix on)
 * on a thread of its own. The shard handle is that thread's until
 * ahead_wait; a thread that cannot start leaves the block to be read
 * here, when its turn comes. */
static void ahead_start(ev_cursor *c)
{
	const struct tarn__span *spans;
	size_t n, k;

	c->ahead_id = -1;
	if (!c->shard)
		return;
	n = tarn__shard_spans(c->shard, &spans);
	for (k = c->span_ix; k < n; k++)
		if (spans[k].max_time >= c->lo_us && spans[k].min_time < c->hi_us)
			break;
	if (k == n)
		return;
	c->ahead_id = spans[k].block_id;
	if (pthread_create(&c->ahead_th, NULL, ahead_run, c) == 0)
		c->ahead_running = 1;
	else
		c->ahead_id = -1;
}

static void close_shard(ev_cursor *c)
{
	fast_forget(&c->base);
	ahead_wait(c);
	c->ahead_id = -1;
	tarn__shard_close(c->shard);
	c->shard = NULL;
	c->blk.n = 0;
}

static int ev_close(sqlite3_vtab_cursor *cur)
{
	ev_cursor *c = (ev_cursor *)cur;

	close_shard(c);
	free(c->dates);
	sqlite3_free(c->arg_dir);
	tarn__block_free(&c->blk);
	tarn__block_free(&c->ahead);
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
		case '=':
			if (cmp != 0)
				return 0;
			break;
		case '>':
			if (cmp <= 0)
				return 0;
			break;
		case 'g':
			if (cmp < 0)
				return 0;
			break;
		case '<':
			if (cmp >= 0)
				return 0;
			break;
		case 'l':
			if (cmp > 0)
				return 0;
			break;
		}
	}
	return 1;
}

static int cursor_error(ev_cursor *c, const char *path, const char *what)
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
				fast_forget(&c->base);
				ahead_wait(c);
				if (c->ahead_id == sp->block_id) {
					tarn__block t = c->blk;

					if (c->ahead_rc)
						return cursor_error(c, c->date, c->ahead_err);
					c->blk = c->ahead;
					c->ahead = t;
				} else if (tarn__shard_read_block(c->shard, sp->block_id, 0,
								  &c->blk)) {
					return cursor_error(c, c->date, tarn_error_last());
				}
				c->pos = tarn__block_lower_bound(&c->blk, c->lo_us);
				ahead_start(c);
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
		switch (tarn__shard_open(&c->shard, c->dir, c->date, 1, 0)) {
		case TARN_OK: break;
		/* pruned since the list was read, or being created: no events */
		case TARN_ENOTFOUND: c->shard = NULL; break;
		default: return cursor_error(c, c->date, tarn_error_last());
		}
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

/* tarn_events(dir): dir must be a lake (it has gold.db, as tarn_query_open
 * requires) so that a mistyped path is an error, not an empty table. */
static int set_lake(ev_cursor *c, sqlite3_value *v)
{
	const char *dir = (const char *)sqlite3_value_text(v);
	char *gold;
	int found;

	if (!dir || !*dir)
		return cursor_error(c, "tarn_events", "the lake folder must be a non-empty text");
	c->arg_dir = sqlite3_mprintf("%s", dir);
	gold = sqlite3_mprintf("%s/gold.db", dir);
	if (!c->arg_dir || !gold) {
		sqlite3_free(gold);
		return SQLITE_NOMEM;
	}
	found = access(gold, F_OK) == 0;
	sqlite3_free(gold);
	if (!found)
		return cursor_error(c, c->arg_dir, "no lake here (no gold.db)");
	c->dir = c->arg_dir;
	return SQLITE_OK;
}

static int ev_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
		     sqlite3_value **argv)
{
	ev_cursor *c = (ev_cursor *)cur;
	int i, rc;

	close_shard(c);
	c->want_payloads = idx_num & 1;
	free(c->dates);
	c->dates = NULL;
	c->n_dates = c->next = 0;
	c->lo_us = INT64_MIN;
	c->hi_us = INT64_MAX;
	c->n_date_terms = 0;
	c->has_id = 0;
	c->eof = 0;
	sqlite3_free(c->arg_dir);
	c->arg_dir = NULL;
	c->dir = ((ev_vtab *)cur->pVtab)->dir;
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
		} else if (col == 'L') {
			rc = set_lake(c, v);
			if (rc != SQLITE_OK)
				return rc;
		} else if (col == 'i' && sqlite3_value_type(v) == SQLITE_TEXT) {
			set_wanted_id(c, v);
		} else if (col == 'd' && sqlite3_value_type(v) == SQLITE_TEXT &&
			   c->n_date_terms < MAX_DATE_TERMS) {
			snprintf(c->date_val[c->n_date_terms], 11, "%s",
				 (const char *)sqlite3_value_text(v));
			c->date_op[c->n_date_terms++] = op;
		}
	}
	if (!c->dir)
		return cursor_error(c, "tarn_events",
				    "give the lake folder: tarn_events('/path/to/lake')");
	rc = tarn__shard_list(c->dir, &c->dates, &c->n_dates, NULL, NULL);
	if (rc)
		return cursor_error(c, "shards", tarn_error_last());
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
			sqlite3_result_text(
				ctx,
				(const char *)c->blk.arena.p + c->blk.names[r->name_ix - 1].off,
				(int)c->blk.names[r->name_ix - 1].len, SQLITE_TRANSIENT);
		break;
	case COL_PAYLOAD:
		/* decompressed only when asked for, once per block */
		fast_forget(cur);
		if (!c->blk.has_payloads) {
			ahead_wait(c); /* the shard handle is this thread's again */
			if (tarn__shard_read_payloads(c->shard, &c->blk) != TARN_OK)
				return cursor_error(c, c->date, tarn_error_last());
		}
		r = &c->blk.recs[c->pos];
		if (tarn__block_payload(&c->blk, c->pos, &c->scratch, &p, &len) != TARN_OK)
			return SQLITE_NOMEM;
		sqlite3_result_text(ctx, (const char *)p, (int)len, SQLITE_TRANSIENT);
		if (((ev_vtab *)cur->pVtab)->fast) {
			/* ev_arrow may read it as a stored payload */
			struct ev_fast *f = ((ev_vtab *)cur->pVtab)->fast;

			f->cursor = cur;
			f->p = p;
			f->len = len;
		}
		break;
	case COL_KEY:
		if (r->key_len != UINT32_MAX)
			sqlite3_result_blob(ctx, c->blk.arena.p + r->key_off, (int)r->key_len,
					    SQLITE_TRANSIENT);
		break;
	case COL_TOPIC:
		if (r->topic_ix)
			sqlite3_result_text(
				ctx,
				(const char *)c->blk.arena.p + c->blk.topics[r->topic_ix - 1].off,
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
	case COL_LAKE: sqlite3_result_text(ctx, c->dir, -1, SQLITE_TRANSIENT); break;
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

/* Eponymous-only (no xCreate): `events` and `tarn_events` exist without
 * CREATE VIRTUAL TABLE; the `tarn` module is created with its lake. */
#define EV_MODULE(create)                                                                          \
	{                                                                                          \
		.iVersion = 0, .xCreate = (create), .xConnect = ev_connect,                        \
		.xBestIndex = ev_best_index, .xDisconnect = ev_disconnect,                         \
		.xDestroy = ev_disconnect, .xOpen = ev_open, .xClose = ev_close,                   \
		.xFilter = ev_filter, .xNext = ev_next, .xEof = ev_eof, .xColumn = ev_column,      \
		.xRowid = ev_rowid,                                                                \
	}

static const sqlite3_module eponymous_module = EV_MODULE(NULL);
static const sqlite3_module created_module = EV_MODULE(ev_connect);

static void free_kind(void *kind)
{
	fast_release(((struct ev_kind *)kind)->fast);
	sqlite3_free(kind);
}

int tarn__events_fast(sqlite3 *db, struct ev_fast **out)
{
	struct ev_fast *f = sqlite3_malloc(sizeof(*f));
	int rc;

	*out = NULL;
	if (!f)
		return SQLITE_NOMEM;
	memset(f, 0, sizeof(*f));
	f->refs = 1; /* the function's; each module takes one more */
	rc = sqlite3_create_function_v2(db, "->>", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, f,
					ev_arrow, NULL, NULL, fast_release);
	if (rc != SQLITE_OK) {
		sqlite3_free(f);
		return rc;
	}
	*out = f;
	return SQLITE_OK;
}

static int register_module(sqlite3 *db, const char *name, const sqlite3_module *m, const char *dir,
			   int from_args, struct ev_fast *fast)
{
	struct ev_kind *kind = sqlite3_malloc(sizeof(*kind));

	if (!kind)
		return SQLITE_NOMEM;
	kind->dir = dir;
	kind->from_args = from_args;
	kind->fast = fast;
	if (fast)
		fast->refs++; /* released by free_kind, also when registering fails */
	return sqlite3_create_module_v2(db, name, m, kind, free_kind);
}

int tarn__events_register(sqlite3 *db, const char *name, const char *dir, struct ev_fast *fast)
{
	return register_module(db, name, &eponymous_module, dir, 0, fast);
}

int tarn__events_register_created(sqlite3 *db, const char *name, struct ev_fast *fast)
{
	return register_module(db, name, &created_module, NULL, 1, fast);
}
