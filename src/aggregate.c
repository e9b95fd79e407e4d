/* Declared aggregates (tarn/aggregate.h): checking a declaration, the
 * catalog, compiling it to SQL over a batch of events, exact decimal sums,
 * and create / drop / list on a lake. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmp.h>
#include <uuid/uuid.h>

#include "tarn/aggregate.h"
#include "tarn/time.h"
#include "aggregate.h"
#include "error_internal.h"
#include "lake_internal.h"
#include "sqlutil.h"
#include "event_scan.h"
#include "hash.h"
#include "sqlexpr.h"

#define MAX_COLS  32
#define MAX_IDENT 64

const char tarn__aggregate_schema[] =
	"CREATE TABLE IF NOT EXISTS aggregates(name TEXT PRIMARY KEY, every TEXT NOT NULL,"
	" where_expr TEXT, by_cols TEXT NOT NULL, measures TEXT NOT NULL,"
	" state TEXT NOT NULL, created_at TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS aggregate_updates(name TEXT PRIMARY KEY,"
	" updated_us INTEGER NOT NULL) WITHOUT ROWID;";

/* The events view's columns (events.c), as the batch and the probe have them. */
#define EVENT_COLUMNS                                                                              \
	"event_id TEXT, event_time INTEGER, event_date TEXT, event_name TEXT,"                     \
	" payload TEXT, key BLOB, topic TEXT, partition INTEGER, \"offset\" INTEGER"

enum kind { K_COUNT_STAR, K_COUNT, K_SUM, K_AVG, K_MIN, K_MAX, K_DISTINCT };

struct measure {
	char *col, *text;	    /* as declared */
	enum kind kind;		    /* parsed from text */
	char *arg, *filter;	    /* E and FILTER's E; NULL when none */
	char *arg_sql, *filter_sql; /* the same over the batch (see rewrite) */
	sqlite3_stmt *distinct;
	tarn__sqlexpr *x_arg, *x_filter; /* the native path's */
	sqlite3_stmt *bump;		 /* native: n<i> += new distinct values */
};

struct group;
struct dent;

/* A chained hash table of the native path's groups or distinct values. */
struct hent {
	struct hent *next;
	uint64_t h;
	size_t klen;
	const unsigned char *key;
};

struct htab {
	struct hent **b;
	size_t nb, n;
};

struct agg {
	char *name;
	tarn_window every;
	char *where;
	size_t n_by, n_m;
	char *by_col[MAX_COLS], *by_expr[MAX_COLS];
	struct measure m[MAX_COLS];
	/* the expressions as they read the set's batch table (see rewrite) */
	char *where_sql, *by_sql[MAX_COLS];
	const char *batch; /* the set's batch table (borrowed) */
	sqlite3_stmt *upsert, *recount, *refresh, *untouch, *clear[3];
	/* the native path (see "the native path"): every expression compiled */
	int native;
	tarn__sqlexpr *x_where, *x_by[MAX_COLS];
	/* a group of the batch: its state row's id (find), then the merge
	 * into it or, when none, the insert of a new one (no upsert: its
	 * RETURNING made each a trigger program with a statement journal) */
	sqlite3_stmt *find_group, *merge_group, *put_group, *put_distinct;
	struct htab groups, dset;
	struct group *glist; /* every group of the batch, newest first */
	char wtext[24];	     /* the last window_start computed, of wstart (µs) */
	int64_t wstart;
};

struct tarn__aggset {
	sqlite3 *db;
	char batch[48]; /* its TEMP batch table: one per set, so that sets on one
			   connection (create's beside the lake's) never share */
	char **path;	/* the JSON paths read from the payload once per event */
	size_t n_path;
	int raw_payload; /* an expression reads payload itself: the batch keeps it */
	sqlite3_stmt *ins, *drop_day, *drop_all;
	sqlite3_stmt *stamp; /* aggregate_updates; NULL when db has none */
	struct agg **a;
	size_t n, cap;
	int buffered; /* events in tarn_batch */
	/* the native path */
	size_t n_native;		  /* of the n aggregates */
	tarn__jpath jp[TARN__JPATHS_MAX]; /* payload paths read by native expressions */
	char *jdot[TARN__JPATHS_MAX];	  /* each as "a.b.c" (jp's text) */
	char *jsql[TARN__JPATHS_MAX];	  /* and as "$.a.b.c" */
	int n_jp;
	uint64_t paths_id;	    /* names this list of paths (tarn__aggpaths) */
	const tarn__aggpre *hint;   /* the next event's values, read ahead */
	char *fb[TARN__JPATHS_MAX]; /* this event's values that SQLite read */
	struct chunk *arena;	    /* the batch's groups and values */
	size_t arena_bytes;	    /* held by arena */
	unsigned char *kb;	    /* a key being built */
	size_t kcap;
	size_t open_groups; /* groups not yet flushed */
	sqlite3_stmt *to_real, *extract, *as_value;
};

/* ---- small string helpers ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n + 1) * 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int is_ident(const char *s)
{
	size_t i;

	if (!s || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (i = 0; s[i]; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_') || i >= MAX_IDENT)
			return 0;
	return 1;
}

const char *tarn_window_name(tarn_window w)
{
	switch (w) {
	case TARN_WINDOW_DAY: return "day";
	case TARN_WINDOW_HOUR: return "hour";
	case TARN_WINDOW_MINUTE: return "minute";
	}
	return NULL;
}

int tarn_window_parse(const char *s, tarn_window *out)
{
	tarn_window w;

	for (w = TARN_WINDOW_DAY; w <= TARN_WINDOW_MINUTE; w++)
		if (s && strcmp(s, tarn_window_name(w)) == 0) {
			*out = w;
			return TARN_OK;
		}
	return tarn__error_set(TARN_EINVAL, "window '%s' is not day, hour or minute", s ? s : "");
}

/* ---- checking expressions ---- */

/* Parentheses balance, and no ';' or comment, outside quotes: the text is
 * one expression when pasted between parentheses. */
static int one_expression(const char *s)
{
	int depth = 0;
	char q = 0;

	for (; *s; s++) {
		if (q) {
			if (*s == q)
				q = 0;
			continue;
		}
		switch (*s) {
		case '\'':
		case '"':
		case '`': q = *s; break;
		case '[': q = ']'; break;
		case '(': depth++; break;
		case ')':
			if (--depth < 0)
				return 0;
			break;
		case ';': return 0;
		case '-':
			if (s[1] == '-')
				return 0;
			break;
		case '/':
			if (s[1] == '*')
				return 0;
			break;
		}
	}
	return depth == 0 && !q;
}

struct probe {
	sqlite3 *db;
	char **nondet; /* names of SQLite's functions without a deterministic
			* scalar form, */
	int *is_agg;   /* ...and whether each is an aggregate or window one */
	size_t n_nondet;
	char why[160]; /* what the authorizer refused */
};

static int probe_auth(void *ctx, int code, const char *a1, const char *a2, const char *a3,
		      const char *a4)
{
	struct probe *p = ctx;
	size_t i;

	(void)a1;
	(void)a3;
	(void)a4;
	if (code != SQLITE_FUNCTION || !a2)
		return SQLITE_OK;
	for (i = 0; i < p->n_nondet; i++)
		if (sqlite3_stricmp(p->nondet[i], a2) == 0) {
			snprintf(p->why, sizeof(p->why), "%s() %s", a2,
				 p->is_agg[i] ? "is an aggregate or window function, not a"
						" scalar one"
					      : "is not deterministic");
			return SQLITE_DENY;
		}
	return SQLITE_OK;
}

static void probe_close(struct probe *p)
{
	size_t i;

	for (i = 0; i < p->n_nondet; i++)
		free(p->nondet[i]);
	free(p->nondet);
	free(p->is_agg);
	sqlite3_close(p->db);
	memset(p, 0, sizeof(*p));
}

static int probe_open(struct probe *p)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	if (sqlite3_open(":memory:", &p->db) != SQLITE_OK)
		return tarn__error_set(TARN_ENOMEM, "aggregate check: memory database");
	/* the functions without a deterministic scalar form: SQLITE_DETERMINISTIC
	 * is 0x800 (sqlite3.h); pragma_function_list ("PRAGMA function_list")
	 * reports it in flags, and type 's' scalar, 'a' aggregate, 'w' window */
	rc = tarn__sql_prepare(p->db,
			       "SELECT name, max(type IN ('a', 'w')) FROM pragma_function_list"
			       " GROUP BY name HAVING max(type = 's' AND (flags & 2048) != 0) = 0",
			       &st, "aggregate check");
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		char **n = realloc(p->nondet, (p->n_nondet + 1) * sizeof(*n));
		int *ia = n ? realloc(p->is_agg, (p->n_nondet + 1) * sizeof(*ia)) : NULL;
		if (n)
			p->nondet = n;
		if (ia)
			p->is_agg = ia;
		if (!n || !ia) {
			rc = tarn__error_set(TARN_ENOMEM, "aggregate check");
			break;
		}
		p->is_agg[p->n_nondet] = sqlite3_column_int(st, 1);
		p->nondet[p->n_nondet] = strdup((const char *)sqlite3_column_text(st, 0));
		if (!p->nondet[p->n_nondet])
			rc = tarn__error_set(TARN_ENOMEM, "aggregate check");
		else
			p->n_nondet++;
	}
	sqlite3_finalize(st);
	if (!rc)
		sqlite3_set_authorizer(p->db, probe_auth, p);
	if (rc)
		probe_close(p);
	return rc;
}

/* SQLite's message without "in generated columns": the probe's means. */
static void plain_message(char *out, size_t len, const char *msg)
{
	static const char *const tails[] = { " in generated columns", " in a generated column" };
	size_t i;
	char *cut;

	snprintf(out, len, "%s", msg);
	for (i = 0; i < 2; i++) {
		cut = strstr(out, tails[i]);
		if (cut)
			memmove(cut, cut + strlen(tails[i]), strlen(cut + strlen(tails[i])) + 1);
	}
}

/* One scalar expression: a STORED generated column of a table with the
 * events view's columns (SQLite allows only deterministic scalar
 * expressions over the table's own columns there), and a row inserted
 * (date('now') and the like are refused when they run). */
static int check_expr(struct probe *p, const char *what, const char *expr)
{
	struct sbuf sql = { 0 };
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	char msg[256];
	int rc = TARN_OK, src;

	if (!expr || !*expr)
		return tarn__error_set(TARN_EINVAL, "%s: empty expression", what);
	if (!one_expression(expr))
		return tarn__error_set(TARN_EINVAL,
				       "%s: '%s' is not one expression (unbalanced parentheses,"
				       " quotes, ';' or a comment)",
				       what, expr);
	sb_add(&sql, "CREATE TEMP TABLE tarn_probe(" EVENT_COLUMNS ", tarn_x AS (%s) STORED)",
	       expr);
	if (sql.oom)
		return tarn__error_set(TARN_ENOMEM, "aggregate check");
	p->why[0] = 0;
	src = sqlite3_prepare_v2(p->db, sql.p, -1, &st, &tail);
	if (src == SQLITE_OK && tail && *tail)
		src = SQLITE_ERROR;
	if (src == SQLITE_OK) {
		src = sqlite3_step(st);
		src = src == SQLITE_DONE ? SQLITE_OK : src;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (src == SQLITE_OK) {
		src = sqlite3_prepare_v2(p->db, "INSERT INTO tarn_probe DEFAULT VALUES", -1, &st,
					 NULL);
		if (src == SQLITE_OK)
			src = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_finalize(st);
	}
	if (src != SQLITE_OK) {
		plain_message(msg, sizeof(msg), p->why[0] ? p->why : sqlite3_errmsg(p->db));
		rc = tarn__error_set(TARN_EINVAL, "%s: '%s' refused: %s", what, expr, msg);
	}
	sqlite3_exec(p->db, "DROP TABLE IF EXISTS temp.tarn_probe", NULL, NULL, NULL);
	free(sql.p);
	return rc;
}

/* ---- parsing AGG ---- */

static const char *skip_ws(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

/* s starts with keyword kw (any case) followed by a non-identifier byte. */
static const char *keyword(const char *s, const char *kw)
{
	size_t n = strlen(kw);

	if (sqlite3_strnicmp(s, kw, (int)n) != 0 || isalnum((unsigned char)s[n]) || s[n] == '_')
		return NULL;
	return s + n;
}

/* The ')' that closes the '(' at s, outside quotes; NULL when none. */
static const char *closing(const char *s)
{
	int depth = 0;
	char q = 0;

	for (; *s; s++) {
		if (q) {
			if (*s == q)
				q = 0;
			continue;
		}
		if (*s == '\'' || *s == '"' || *s == '`')
			q = *s;
		else if (*s == '[')
			q = ']';
		else if (*s == '(')
			depth++;
		else if (*s == ')' && --depth == 0)
			return s;
	}
	return NULL;
}

static char *trimmed(const char *s, const char *end)
{
	char *r;

	s = skip_ws(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	r = malloc((size_t)(end - s) + 1);
	if (r) {
		memcpy(r, s, (size_t)(end - s));
		r[end - s] = 0;
	}
	return r;
}

/* Parse "FUNC(ARG) [FILTER (WHERE E)]" into m (kind, arg, filter). */
static int parse_agg(struct measure *m, const char *what)
{
	static const struct {
		const char *fn;
		enum kind kind;
	} fns[] = { { "count", K_COUNT },
		    { "sum", K_SUM },
		    { "avg", K_AVG },
		    { "min", K_MIN },
		    { "max", K_MAX } };
	const char *s = skip_ws(m->text), *open, *close, *rest, *arg;
	size_t i;

	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		open = keyword(s, fns[i].fn);
		if (open && *skip_ws(open) == '(')
			break;
	}
	if (i == sizeof(fns) / sizeof(fns[0]))
		goto bad;
	m->kind = fns[i].kind;
	open = skip_ws(open);
	close = closing(open);
	if (!close)
		goto bad;
	arg = skip_ws(open + 1);
	if (m->kind == K_COUNT && *arg == '*' && skip_ws(arg + 1) == close) {
		m->kind = K_COUNT_STAR;
	} else {
		const char *d = keyword(arg, "DISTINCT");
		if (d) {
			if (m->kind != K_COUNT)
				goto bad;
			m->kind = K_DISTINCT;
			arg = d;
		}
		m->arg = trimmed(arg, close);
		if (!m->arg)
			return tarn__error_set(TARN_ENOMEM, "aggregate");
		if (!*m->arg)
			goto bad;
	}
	rest = skip_ws(close + 1);
	if (*rest) {
		const char *f = keyword(rest, "FILTER"), *w, *fc;
		f = f ? skip_ws(f) : NULL;
		if (!f || *f != '(')
			goto bad;
		fc = closing(f);
		w = keyword(skip_ws(f + 1), "WHERE");
		if (!fc || !w || *skip_ws(fc + 1))
			goto bad;
		m->filter = trimmed(w, fc);
		if (!m->filter)
			return tarn__error_set(TARN_ENOMEM, "aggregate");
		if (!*m->filter)
			goto bad;
	}
	return TARN_OK;
bad:
	return tarn__error_set(TARN_EINVAL,
			       "%s: '%s' is not one of count(*), count(E), sum(E), avg(E), min(E),"
			       " max(E), count(DISTINCT E), each optionally followed by"
			       " FILTER (WHERE E)",
			       what, m->text);
}

static void native_free(struct agg *g);
static void htab_clear(struct htab *t);

static void agg_free(struct agg *g)
{
	size_t i;

	if (!g)
		return;
	free(g->name);
	free(g->where);
	free(g->where_sql);
	for (i = 0; i < g->n_by; i++) {
		free(g->by_col[i]);
		free(g->by_expr[i]);
		free(g->by_sql[i]);
	}
	for (i = 0; i < g->n_m; i++) {
		free(g->m[i].col);
		free(g->m[i].text);
		free(g->m[i].arg);
		free(g->m[i].filter);
		free(g->m[i].arg_sql);
		free(g->m[i].filter_sql);
		sqlite3_finalize(g->m[i].distinct);
	}
	native_free(g);
	for (i = 0; i < g->n_m; i++)
		sqlite3_finalize(g->m[i].bump);
	sqlite3_finalize(g->find_group);
	sqlite3_finalize(g->merge_group);
	sqlite3_finalize(g->put_group);
	sqlite3_finalize(g->put_distinct);
	htab_clear(&g->groups);
	htab_clear(&g->dset);
	sqlite3_finalize(g->upsert);
	sqlite3_finalize(g->recount);
	sqlite3_finalize(g->refresh);
	sqlite3_finalize(g->untouch);
	for (i = 0; i < 3; i++)
		sqlite3_finalize(g->clear[i]);
	free(g);
}

static int column_name_ok(struct agg *g, const char *col, const char *what)
{
	size_t i;

	if (!is_ident(col))
		return tarn__error_set(TARN_EINVAL,
				       "%s: column name '%s' is not a plain identifier"
				       " ([A-Za-z_][A-Za-z0-9_]*, at most %d bytes)",
				       what, col ? col : "", MAX_IDENT);
	if (sqlite3_stricmp(col, "event_date") == 0 ||
	    (g->every != TARN_WINDOW_DAY && sqlite3_stricmp(col, "window_start") == 0))
		return tarn__error_set(TARN_EINVAL, "%s: column name '%s' is taken by the window",
				       what, col);
	for (i = 0; i < g->n_by; i++)
		if (sqlite3_stricmp(g->by_col[i], col) == 0)
			goto twice;
	for (i = 0; i < g->n_m; i++)
		if (sqlite3_stricmp(g->m[i].col, col) == 0)
			goto twice;
	return TARN_OK;
twice:
	return tarn__error_set(TARN_EINVAL, "%s: column name '%s' is given twice", what, col);
}

/* Copy, parse and check a declaration into a new struct agg. */
static int agg_compile(const tarn_aggregate_def *d, struct agg **out)
{
	struct agg *g;
	struct probe p;
	char what[96];
	size_t i;
	int rc;

	*out = NULL;
	if (!is_ident(d->name) || strstr(d->name, "__") ||
	    sqlite3_strnicmp(d->name, "sqlite", 6) == 0 ||
	    sqlite3_strnicmp(d->name, "tarn", 4) == 0 || sqlite3_stricmp(d->name, "events") == 0)
		return tarn__error_set(TARN_EINVAL,
				       "aggregate name '%s' must be a plain identifier"
				       " ([A-Za-z_][A-Za-z0-9_]*, at most %d bytes) without '__',"
				       " not starting with 'sqlite' or 'tarn', not 'events'",
				       d->name ? d->name : "", MAX_IDENT);
	if (!tarn_window_name(d->every))
		return tarn__error_set(TARN_EINVAL, "aggregate %s: bad window", d->name);
	if (d->n_by > MAX_COLS || d->n_measures < 1 || d->n_measures > MAX_COLS)
		return tarn__error_set(TARN_EINVAL,
				       "aggregate %s: 0..%d --by and 1..%d --measure columns",
				       d->name, MAX_COLS, MAX_COLS);
	g = calloc(1, sizeof(*g));
	if (!g)
		return tarn__error_set(TARN_ENOMEM, "aggregate");
	g->every = d->every;
	g->name = strdup(d->name);
	g->where = dup_or_null(d->where);
	rc = !g->name || (d->where && !g->where) ? tarn__error_set(TARN_ENOMEM, "aggregate") : 0;
	for (i = 0; !rc && i < d->n_by; i++) {
		snprintf(what, sizeof(what), "--by %.64s", d->by[i].col ? d->by[i].col : "");
		rc = column_name_ok(g, d->by[i].col, what);
		if (rc)
			break;
		g->by_col[i] = strdup(d->by[i].col);
		g->by_expr[i] = dup_or_null(d->by[i].expr);
		g->n_by++;
		if (!g->by_col[i] || !g->by_expr[i])
			rc = d->by[i].expr
				     ? tarn__error_set(TARN_ENOMEM, "aggregate")
				     : tarn__error_set(TARN_EINVAL, "%s: no expression", what);
	}
	for (i = 0; !rc && i < d->n_measures; i++) {
		struct measure *m = &g->m[i];
		snprintf(what, sizeof(what), "--measure %.64s",
			 d->measure[i].col ? d->measure[i].col : "");
		rc = column_name_ok(g, d->measure[i].col, what);
		if (rc)
			break;
		m->col = strdup(d->measure[i].col);
		m->text = dup_or_null(d->measure[i].expr);
		g->n_m++;
		if (!m->col || !m->text)
			rc = d->measure[i].expr ? tarn__error_set(TARN_ENOMEM, "aggregate")
						: tarn__error_set(TARN_EINVAL, "%s: no AGG", what);
		if (!rc)
			rc = parse_agg(m, what);
	}
	if (!rc)
		rc = probe_open(&p);
	if (rc) {
		agg_free(g);
		return rc;
	}
	if (g->where)
		rc = check_expr(&p, "--where", g->where);
	for (i = 0; !rc && i < g->n_by; i++) {
		snprintf(what, sizeof(what), "--by %s", g->by_col[i]);
		rc = check_expr(&p, what, g->by_expr[i]);
	}
	for (i = 0; !rc && i < g->n_m; i++) {
		snprintf(what, sizeof(what), "--measure %s", g->m[i].col);
		if (g->m[i].arg)
			rc = check_expr(&p, what, g->m[i].arg);
		if (!rc && g->m[i].filter)
			rc = check_expr(&p, what, g->m[i].filter);
	}
	probe_close(&p);
	if (rc) {
		agg_free(g);
		return rc;
	}
	*out = g;
	return TARN_OK;
}

int tarn_aggregate_check(const tarn_aggregate_def *def)
{
	struct agg *g;
	int rc = agg_compile(def, &g);

	agg_free(g);
	return rc;
}

/* ---- exact decimals: m * 10^e, m a GMP integer ---- */

#define EXP_LIMIT 100000 /* |exponent| of an input beyond this is refused */

/* The numeric prefix of s (after leading white space, as SQLite's text to
 * number conversion reads it): no digits at all is 0. -1 when the exponent
 * is out of range. */
static int dec_parse(const char *s, size_t len, mpz_t m, long *e)
{
	const char *end = s + len;
	char *digits = malloc(len + 2);
	size_t nd = 0;
	long frac = 0, x = 0;
	int neg = 0;

	if (!digits)
		return -2;
	while (s < end && isspace((unsigned char)*s))
		s++;
	if (s < end && (*s == '-' || *s == '+'))
		neg = *s++ == '-';
	while (s < end && isdigit((unsigned char)*s))
		digits[nd++] = *s++;
	if (s < end && *s == '.') {
		s++;
		while (s < end && isdigit((unsigned char)*s)) {
			digits[nd++] = *s++;
			frac++;
		}
	}
	if (nd && s < end && (*s == 'e' || *s == 'E')) {
		const char *t = s + 1;
		int xneg = 0;
		if (t < end && (*t == '-' || *t == '+'))
			xneg = *t++ == '-';
		if (t < end && isdigit((unsigned char)*t)) {
			while (t < end && isdigit((unsigned char)*t)) {
				if (x <= EXP_LIMIT)
					x = x * 10 + (*t - '0');
				t++;
			}
			if (x > EXP_LIMIT) {
				free(digits);
				return -1;
			}
			x = xneg ? -x : x;
		}
	}
	digits[nd] = 0;
	if (nd == 0)
		mpz_set_ui(m, 0);
	else
		mpz_set_str(m, digits, 10);
	if (neg)
		mpz_neg(m, m);
	*e = x - frac;
	free(digits);
	return 0;
}

/* Strip trailing zeros of m into e (0 is 0e0). */
static void dec_normal(mpz_t m, long *e)
{
	if (mpz_sgn(m) == 0) {
		*e = 0;
		return;
	}
	while (mpz_divisible_ui_p(m, 10)) {
		mpz_divexact_ui(m, m, 10);
		(*e)++;
	}
}

/* a += b, aligning to the smaller exponent. */
static void dec_add(mpz_t am, long *ae, const mpz_t bm, long be)
{
	mpz_t t;

	mpz_init(t);
	if (be >= *ae) {
		mpz_ui_pow_ui(t, 10, (unsigned long)(be - *ae));
		mpz_addmul(am, bm, t);
	} else {
		mpz_ui_pow_ui(t, 10, (unsigned long)(*ae - be));
		mpz_mul(am, am, t);
		mpz_add(am, am, bm);
		*ae = be;
	}
	mpz_clear(t);
}

/* State text: "i<integer>" when every input was an integer, else
 * "d<m>e<e>" (normalized). malloc'd. */
static char *dec_text(int is_int, mpz_t m, long e)
{
	char *digits, *out;
	size_t n;

	if (is_int) {
		if (e > 0) {
			mpz_t t;
			mpz_init(t);
			mpz_ui_pow_ui(t, 10, (unsigned long)e);
			mpz_mul(m, m, t);
			mpz_clear(t);
		}
		e = 0;
	} else {
		dec_normal(m, &e);
	}
	digits = mpz_get_str(NULL, 10, m);
	if (!digits)
		return NULL;
	n = strlen(digits) + 32;
	out = malloc(n);
	if (out) {
		if (is_int)
			snprintf(out, n, "i%s", digits);
		else
			snprintf(out, n, "d%se%ld", digits, e);
	}
	free(digits);
	return out;
}

/* Parse a state text; -1 when it is not one. */
static int dec_state(const char *s, int *is_int, mpz_t m, long *e)
{
	if (!s || (s[0] != 'i' && s[0] != 'd'))
		return -1;
	*is_int = s[0] == 'i';
	return dec_parse(s + 1, strlen(s + 1), m, e) == 0 ? 0 : -1;
}

/* The shortest decimal text that reads back as d. */
static void shortest(double d, char *out, size_t len)
{
	int p;

	for (p = 1; p <= 17; p++) {
		snprintf(out, len, "%.*g", p, d);
		if (strtod(out, NULL) == d)
			return;
	}
}

struct decsum {
	mpz_t m;
	long e;
	int init, is_int, err;
};

/* The exact decimal m * 10^e of one value as sum() reads it; *is_int
 * cleared unless it is an integer. A text that is an integer is one;
 * any other text is its numeric prefix, as written; a REAL is its
 * shortest text. Returns 0, -1 (infinite, or an exponent beyond
 * EXP_LIMIT), -2 (no memory). */
static int dec_of_value(sqlite3_value *v, mpz_t m, long *e, int *is_int)
{
	int type = sqlite3_value_type(v), rc = 0;

	*e = 0;
	if (type == SQLITE_TEXT || type == SQLITE_BLOB) {
		const char *t = (const char *)sqlite3_value_text(v);
		size_t n = (size_t)sqlite3_value_bytes(v);
		char *copy = malloc(n + 1);
		if (!copy)
			return -2;
		memcpy(copy, t ? t : "", n);
		copy[n] = 0;
		if (sqlite3_value_numeric_type(v) == SQLITE_INTEGER) {
			mpz_set_si(m, (long)sqlite3_value_int64(v));
		} else {
			rc = dec_parse(copy, n, m, e);
			*is_int = 0;
		}
		free(copy);
	} else if (type == SQLITE_INTEGER) {
		mpz_set_si(m, (long)sqlite3_value_int64(v));
	} else {
		double d = sqlite3_value_double(v);
		char text[40];
		if (!isfinite(d)) {
			rc = -1;
		} else {
			shortest(d, text, sizeof(text));
			rc = dec_parse(text, strlen(text), m, e);
		}
		*is_int = 0;
	}
	return rc;
}

#define SUM_RANGE_ERROR "sum: a number out of exact range (infinite or exponent beyond 100000)"

static void decsum_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct decsum *s = sqlite3_aggregate_context(ctx, sizeof(*s));
	sqlite3_value *v = argv[0];
	int rc;
	mpz_t m;
	long e = 0;

	(void)argc;
	if (!s || sqlite3_value_type(v) == SQLITE_NULL || s->err)
		return;
	if (!s->init) {
		mpz_init(s->m);
		s->init = 1;
		s->is_int = 1;
	}
	mpz_init(m);
	rc = dec_of_value(v, m, &e, &s->is_int);
	if (rc == -2) {
		sqlite3_result_error_nomem(ctx);
		s->err = 1;
	} else if (rc) {
		sqlite3_result_error(ctx, SUM_RANGE_ERROR, -1);
		s->err = 1;
	} else {
		dec_add(s->m, &s->e, m, e);
	}
	mpz_clear(m);
}

static void decsum_final(sqlite3_context *ctx)
{
	struct decsum *s = sqlite3_aggregate_context(ctx, 0);
	char *t;

	if (!s || !s->init)
		return; /* no value: NULL, as sum() gives */
	if (!s->err) {
		t = dec_text(s->is_int, s->m, s->e);
		if (t)
			sqlite3_result_text(ctx, t, -1, free);
		else
			sqlite3_result_error_nomem(ctx);
	}
	mpz_clear(s->m);
}

/* tarn_decadd(a, b): the sum of two state texts; NULL is no value. */
static void decadd(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *a = (const char *)sqlite3_value_text(argv[0]);
	const char *b = (const char *)sqlite3_value_text(argv[1]);
	int ai, bi;
	mpz_t am, bm;
	long ae, be;
	char *t;

	(void)argc;
	if (!a || !b) {
		if (a || b)
			sqlite3_result_value(ctx, a ? argv[0] : argv[1]);
		return;
	}
	mpz_init(am);
	mpz_init(bm);
	if (dec_state(a, &ai, am, &ae) || dec_state(b, &bi, bm, &be)) {
		sqlite3_result_error(ctx, "tarn_decadd: not a decimal state", -1);
	} else {
		dec_add(am, &ae, bm, be);
		t = dec_text(ai && bi, am, ae);
		if (t)
			sqlite3_result_text(ctx, t, -1, free);
		else
			sqlite3_result_error_nomem(ctx);
	}
	mpz_clear(am);
	mpz_clear(bm);
}

/* tarn_decvalue(s): the visible sum: an INTEGER when every input was one
 * (out of 64-bit range: "integer overflow", as SQLite's sum()), else the
 * REAL nearest to the exact sum (strtod rounds correctly). */
static void decvalue(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *s = (const char *)sqlite3_value_text(argv[0]);
	int is_int;
	mpz_t m;
	long e;

	(void)argc;
	if (!s)
		return;
	mpz_init(m);
	if (dec_state(s, &is_int, m, &e)) {
		sqlite3_result_error(ctx, "tarn_decvalue: not a decimal state", -1);
	} else if (is_int) {
		if (e == 0 && mpz_fits_slong_p(m))
			sqlite3_result_int64(ctx, (sqlite3_int64)mpz_get_si(m));
		else
			sqlite3_result_error(ctx, "integer overflow", -1);
	} else {
		sqlite3_result_double(ctx, strtod(s + 1, NULL));
	}
	mpz_clear(m);
}

/* tarn_decavg(s, n): the REAL nearest to the exact sum / n. The quotient
 * is taken to at least 40 significant digits, and one more non-zero digit
 * when it does not end there, so that strtod rounds it as the exact
 * quotient. */
static void decavg(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *s = (const char *)sqlite3_value_text(argv[0]);
	sqlite3_int64 n = sqlite3_value_int64(argv[1]);
	int is_int;
	mpz_t m, q, r, t;
	long e, k;
	char *digits, *text;

	(void)argc;
	if (!s || n <= 0)
		return;
	mpz_init(m);
	if (dec_state(s, &is_int, m, &e)) {
		mpz_clear(m);
		sqlite3_result_error(ctx, "tarn_decavg: not a decimal state", -1);
		return;
	}
	mpz_inits(q, r, t, NULL);
	k = 60; /* |m| * 10^60 / n has at least 41 digits: n < 2^63 */
	mpz_ui_pow_ui(t, 10, (unsigned long)k);
	mpz_mul(m, m, t);
	mpz_tdiv_qr_ui(q, r, m, (unsigned long)n);
	mpz_mul_ui(q, q, 10);
	/* the sticky digit, away from zero: the quotient does not end here */
	if (mpz_sgn(r) != 0 && mpz_sgn(m) < 0)
		mpz_sub_ui(q, q, 1);
	else if (mpz_sgn(r) != 0)
		mpz_add_ui(q, q, 1);
	k++;
	digits = mpz_get_str(NULL, 10, q);
	text = digits ? malloc(strlen(digits) + 32) : NULL;
	if (text) {
		sprintf(text, "%se%ld", digits, e - k);
		sqlite3_result_double(ctx, strtod(text, NULL));
	} else {
		sqlite3_result_error_nomem(ctx);
	}
	free(text);
	free(digits);
	mpz_clears(m, q, r, t, NULL);
}

static int is_text(const tarn__xval *v)
{
	return v->type == SQLITE_TEXT || v->type == SQLITE_BLOB;
}

/* Whether v is a REAL that GROUP BY and DISTINCT take as the INTEGER *x
 * (integral and in the 64-bit range). */
static int real_is_int(const tarn__xval *v, int64_t *x)
{
	if (v->type != SQLITE_FLOAT || v->r != floor(v->r) || v->r < -9223372036854775808.0 ||
	    v->r >= 9223372036854775808.0)
		return 0;
	*x = (int64_t)v->r;
	return 1;
}

/* Append v to a group key: equal keys exactly when GROUP BY puts the
 * values in one group (an integral REAL is the INTEGER). The stored
 * state's gkey column holds these keys: never change the format. */
static void key_text(struct sbuf *b, const tarn__xval *v)
{
	int64_t x;

	switch (v->type) {
	case SQLITE_INTEGER:
		x = v->i;
	integer:
		sb_add(b, "i%lld;", (long long)x);
		break;
	case SQLITE_FLOAT:
		if (real_is_int(v, &x))
			goto integer;
		sb_add(b, "r%a;", v->r);
		break;
	case SQLITE_TEXT:
	case SQLITE_BLOB:
		sb_add(b, "%c%zu:", v->type == SQLITE_TEXT ? 't' : 'b', v->n);
		if (!b->oom && v->n > 0) {
			size_t old = b->len;
			sb_add(b, "%*s", (int)v->n, "");
			if (!b->oom)
				memcpy(b->p + old, v->s, v->n);
		}
		break;
	default: sb_add(b, "n;"); break;
	}
}

/* A SQL value as the native path holds it (text borrowed from v). */
static void xval_of(sqlite3_value *v, tarn__xval *x)
{
	memset(x, 0, sizeof(*x));
	x->type = sqlite3_value_type(v);
	switch (x->type) {
	case SQLITE_INTEGER: x->i = sqlite3_value_int64(v); break;
	case SQLITE_FLOAT: x->r = sqlite3_value_double(v); break;
	case SQLITE_TEXT:
		x->s = (const char *)sqlite3_value_text(v);
		x->n = (size_t)sqlite3_value_bytes(v);
		break;
	case SQLITE_BLOB:
		x->s = sqlite3_value_blob(v);
		x->n = (size_t)sqlite3_value_bytes(v);
		break;
	default: break;
	}
}

/* tarn_key(v...): one BLOB that is equal for two lists of values exactly
 * when GROUP BY puts them in one group (key_text). */
static void groupkey(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct sbuf b = { 0 };
	tarn__xval x;
	int i;

	for (i = 0; i < argc; i++) {
		xval_of(argv[i], &x);
		key_text(&b, &x);
	}
	if (b.oom) {
		free(b.p);
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (b.p)
		sqlite3_result_blob(ctx, b.p, (int)b.len, free);
	else
		sqlite3_result_blob(ctx, "", 0, SQLITE_STATIC);
}

static int register_functions(sqlite3 *db)
{
	const int f = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
	int rc = sqlite3_create_function_v2(db, "tarn_decsum", 1, f, NULL, NULL, decsum_step,
					    decsum_final, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "tarn_decadd", 2, f, NULL, decadd, NULL, NULL,
						NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "tarn_decvalue", 1, f, NULL, decvalue, NULL,
						NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "tarn_decavg", 2, f, NULL, decavg, NULL, NULL,
						NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "tarn_key", -1, f, NULL, groupkey, NULL, NULL,
						NULL);
	return rc == SQLITE_OK ? TARN_OK : tarn__error_sqlite(db, "aggregate functions");
}

/* ---- compiling an aggregate to SQL ---- */

/* The window_start of event_time (µs), floored to the window (event times
 * before 1970 are negative: floor, not truncation). */
static void window_sql(struct sbuf *b, tarn_window w)
{
	if (w == TARN_WINDOW_DAY)
		sb_add(b, "NULL");
	else
		sb_add(b,
		       "strftime('%s', (event_time - (event_time %% %lld + %lld) %% %lld)"
		       " / 1000000, 'unixepoch')",
		       w == TARN_WINDOW_HOUR ? "%Y-%m-%dT%H:00:00Z" : "%Y-%m-%dT%H:%M:00Z",
		       w == TARN_WINDOW_HOUR ? 3600000000LL : 60000000LL,
		       w == TARN_WINDOW_HOUR ? 3600000000LL : 60000000LL,
		       w == TARN_WINDOW_HOUR ? 3600000000LL : 60000000LL);
}

/* The batch's rows of date ?1 that pass WHERE, as tarn_w, tarn_b<i>,
 * tarn_x<i>, tarn_f<i> (measure arguments and filters). */
static void source_sql(struct sbuf *b, const struct agg *g)
{
	size_t i;

	sb_add(b, "(SELECT event_date, ");
	window_sql(b, g->every);
	sb_add(b, " AS tarn_w");
	for (i = 0; i < g->n_by; i++)
		sb_add(b, ", (%s) AS tarn_b%zu", g->by_sql[i], i);
	for (i = 0; i < g->n_m; i++) {
		if (g->m[i].arg)
			sb_add(b, ", (%s) AS tarn_x%zu", g->m[i].arg_sql, i);
		if (g->m[i].filter)
			sb_add(b, ", (%s) AS tarn_f%zu", g->m[i].filter_sql, i);
	}
	sb_add(b, " FROM temp.\"%s\" WHERE event_date = ?1", g->batch);
	if (g->where)
		sb_add(b, " AND (%s)", g->where_sql);
	sb_add(b, ")");
}

static void key_sql(struct sbuf *b, const struct agg *g)
{
	size_t i;

	sb_add(b, "tarn_key(tarn_w");
	for (i = 0; i < g->n_by; i++)
		sb_add(b, ", tarn_b%zu", i);
	sb_add(b, ")");
}

static void filter_sql(struct sbuf *b, const struct measure *m, size_t i)
{
	if (m->filter)
		sb_add(b, " FILTER (WHERE tarn_f%zu)", i);
}

/* The visible table's columns after event_date, in their order:
 * window_start (hour and minute windows, declared with window_type), the
 * --by columns, the measures. */
static void visible_cols(struct sbuf *b, const struct agg *g, const char *window_type)
{
	size_t i;

	if (g->every != TARN_WINDOW_DAY)
		sb_add(b, ", window_start%s", window_type);
	for (i = 0; i < g->n_by; i++)
		sb_add(b, ", \"%s\"", g->by_col[i]);
	for (i = 0; i < g->n_m; i++)
		sb_add(b, ", \"%s\"", g->m[i].col);
}

/* State columns: a<i> (sum state text, min/max value) and n<i> (count). */
static void create_sql(struct sbuf *b, const struct agg *g)
{
	size_t i;

	sb_add(b, "CREATE TABLE IF NOT EXISTS main.\"%s\"(event_date TEXT NOT NULL", g->name);
	visible_cols(b, g, " TEXT NOT NULL");
	sb_add(b,
	       ");CREATE TABLE IF NOT EXISTS main.\"%s__state\"(id INTEGER PRIMARY KEY,"
	       " event_date TEXT NOT NULL, gkey BLOB NOT NULL, touched INTEGER NOT NULL,"
	       " w",
	       g->name);
	for (i = 0; i < g->n_by; i++)
		sb_add(b, ", b%zu", i);
	for (i = 0; i < g->n_m; i++)
		sb_add(b, ", a%zu, n%zu INTEGER", i, i);
	sb_add(b,
	       ", UNIQUE(event_date, gkey));"
	       "CREATE INDEX IF NOT EXISTS main.\"%s__touched\" ON \"%s__state\"(id) WHERE touched;"
	       "CREATE TABLE IF NOT EXISTS main.\"%s__distinct\"(sid INTEGER NOT NULL,"
	       " m INTEGER NOT NULL, v, PRIMARY KEY(sid, m, v)) WITHOUT ROWID;",
	       g->name, g->name, g->name);
}

static void conflict_sql(struct sbuf *b, const struct agg *g);

static void upsert_sql(struct sbuf *b, const struct agg *g)
{
	size_t i;

	sb_add(b, "INSERT INTO \"%s__state\"(event_date, gkey, touched, w", g->name);
	for (i = 0; i < g->n_by; i++)
		sb_add(b, ", b%zu", i);
	for (i = 0; i < g->n_m; i++)
		sb_add(b, ", a%zu, n%zu", i, i);
	sb_add(b, ") SELECT event_date, ");
	key_sql(b, g);
	sb_add(b, ", 1, tarn_w");
	for (i = 0; i < g->n_by; i++)
		sb_add(b, ", tarn_b%zu", i);
	for (i = 0; i < g->n_m; i++) {
		const struct measure *m = &g->m[i];
		switch (m->kind) {
		case K_COUNT_STAR: sb_add(b, ", NULL, count(*)"); break;
		case K_COUNT: sb_add(b, ", NULL, count(tarn_x%zu)", i); break;
		case K_SUM:
		case K_AVG:
			sb_add(b, ", tarn_decsum(tarn_x%zu)", i);
			filter_sql(b, m, i);
			/* avg's denominator: the same rows as its sum */
			sb_add(b, ", count(tarn_x%zu)", i);
			filter_sql(b, m, i);
			break;
		case K_MIN:
		case K_MAX:
			sb_add(b, ", %s(tarn_x%zu)", m->kind == K_MIN ? "min" : "max", i);
			filter_sql(b, m, i);
			sb_add(b, ", NULL");
			break;
		case K_DISTINCT: sb_add(b, ", NULL, 0"); break;
		}
		if (m->kind == K_COUNT_STAR || m->kind == K_COUNT)
			filter_sql(b, m, i);
	}
	sb_add(b, " FROM ");
	source_sql(b, g);
	sb_add(b, " WHERE true GROUP BY event_date, tarn_w");
	for (i = 0; i < g->n_by; i++)
		sb_add(b, ", tarn_b%zu", i);
	conflict_sql(b, g);
}

/* The assignments that join a group's new partial state to the stored
 * one: the new values are excluded.a<i> and excluded.n<i> (the SQL path's
 * upsert), or, when params, the native path's parameters ?<4 + n_by + 2i>
 * and ?<5 + n_by + 2i> (its insert's numbering). */
static void merge_sql(struct sbuf *b, const struct agg *g, int params)
{
	size_t i;

	for (i = 0; i < g->n_m; i++) {
		char xa[32], xn[32];
		if (params) {
			snprintf(xa, sizeof(xa), "?%zu", 4 + g->n_by + 2 * i);
			snprintf(xn, sizeof(xn), "?%zu", 5 + g->n_by + 2 * i);
		} else {
			snprintf(xa, sizeof(xa), "excluded.a%zu", i);
			snprintf(xn, sizeof(xn), "excluded.n%zu", i);
		}
		switch (g->m[i].kind) {
		case K_COUNT_STAR:
		case K_COUNT: sb_add(b, ", n%zu = n%zu + %s", i, i, xn); break;
		case K_SUM:
		case K_AVG:
			sb_add(b, ", a%zu = tarn_decadd(a%zu, %s)", i, i, xa);
			sb_add(b, ", n%zu = n%zu + %s", i, i, xn);
			break;
		case K_MIN:
		case K_MAX:
			/* SQLite's scalar min()/max() are NULL when an argument
			 * is; the aggregates skip NULLs */
			sb_add(b,
			       ", a%zu = CASE WHEN a%zu IS NULL THEN %s"
			       " WHEN %s IS NULL THEN a%zu ELSE %s(a%zu, %s) END",
			       i, i, xa, xa, i, g->m[i].kind == K_MIN ? "min" : "max", i, xa);
			break;
		case K_DISTINCT: break;
		}
	}
}

/* How the SQL path's upsert joins a group's new partial state (excluded)
 * to the stored one, marking the row for its refresh. */
static void conflict_sql(struct sbuf *b, const struct agg *g)
{
	sb_add(b, " ON CONFLICT(event_date, gkey) DO UPDATE SET touched = 1");
	merge_sql(b, g, 0);
}

static void distinct_sql(struct sbuf *b, const struct agg *g, size_t i)
{
	sb_add(b,
	       "INSERT OR IGNORE INTO \"%s__distinct\"(sid, m, v) SELECT s.id, %zu, d.tarn_x%zu"
	       " FROM ",
	       g->name, i, i);
	source_sql(b, g);
	sb_add(b, " d JOIN \"%s__state\" s ON s.event_date = d.event_date AND s.gkey = ", g->name);
	key_sql(b, g);
	sb_add(b, " WHERE d.tarn_x%zu IS NOT NULL", i);
	if (g->m[i].filter)
		sb_add(b, " AND d.tarn_f%zu", i);
}

static void recount_sql(struct sbuf *b, const struct agg *g)
{
	size_t i;
	const char *sep = "";

	sb_add(b, "UPDATE \"%s__state\" SET ", g->name);
	for (i = 0; i < g->n_m; i++) {
		if (g->m[i].kind != K_DISTINCT)
			continue;
		sb_add(b,
		       "%sn%zu = (SELECT count(*) FROM \"%s__distinct\" WHERE sid = id AND m = "
		       "%zu)",
		       sep, i, g->name, i);
		sep = ", ";
	}
	sb_add(b, " WHERE touched");
}

/* The visible rows of g from its state rows that match where ("touched",
 * or "id = ?1"). */
static void refresh_sql(struct sbuf *b, const struct agg *g, const char *where)
{
	size_t i;

	sb_add(b, "INSERT OR REPLACE INTO \"%s\"(rowid, event_date", g->name);
	visible_cols(b, g, "");
	sb_add(b, ") SELECT id, event_date");
	if (g->every != TARN_WINDOW_DAY)
		sb_add(b, ", w");
	for (i = 0; i < g->n_by; i++)
		sb_add(b, ", b%zu", i);
	for (i = 0; i < g->n_m; i++) {
		switch (g->m[i].kind) {
		case K_SUM: sb_add(b, ", tarn_decvalue(a%zu)", i); break;
		case K_AVG: sb_add(b, ", tarn_decavg(a%zu, n%zu)", i, i); break;
		case K_MIN:
		case K_MAX: sb_add(b, ", a%zu", i); break;
		default: sb_add(b, ", n%zu", i); break;
		}
	}
	sb_add(b, " FROM \"%s__state\" WHERE %s", g->name, where);
}

static int prepare(sqlite3 *db, struct sbuf *b, sqlite3_stmt **st, const char *name)
{
	int rc;

	if (b->oom) {
		free(b->p);
		return tarn__error_set(TARN_ENOMEM, "aggregate %s", name);
	}
	rc = sqlite3_prepare_v2(db, b->p, -1, st, NULL);
	if (rc != SQLITE_OK)
		rc = tarn__error_sqlite(db, "aggregate %s: compile", name);
	free(b->p);
	memset(b, 0, sizeof(*b));
	return rc;
}

static int native_prepare(sqlite3 *db, struct agg *g);

/* Create g's tables (create_tables) and prepare its statements on db. */
static int agg_prepare(sqlite3 *db, struct agg *g, int create_tables)
{
	struct sbuf b = { 0 };
	size_t i;
	int rc = TARN_OK, has_distinct = 0;

	if (create_tables) {
		create_sql(&b, g);
		if (b.oom)
			rc = tarn__error_set(TARN_ENOMEM, "aggregate %s", g->name);
		if (!rc)
			rc = tarn__sql_exec(db, b.p, g->name);
		free(b.p);
		memset(&b, 0, sizeof(b));
		if (rc)
			return rc;
	}
	if (g->native) {
		rc = native_prepare(db, g);
	} else {
		upsert_sql(&b, g);
		rc = prepare(db, &b, &g->upsert, g->name);
	}
	for (i = 0; !rc && !g->native && i < g->n_m; i++) {
		if (g->m[i].kind != K_DISTINCT)
			continue;
		has_distinct = 1;
		distinct_sql(&b, g, i);
		rc = prepare(db, &b, &g->m[i].distinct, g->name);
	}
	if (!rc && has_distinct) {
		recount_sql(&b, g);
		rc = prepare(db, &b, &g->recount, g->name);
	}
	if (!rc) {
		refresh_sql(&b, g, g->native ? "id = ?1" : "touched");
		rc = prepare(db, &b, &g->refresh, g->name);
	}
	if (!rc && !g->native) { /* the native path marks no row */
		sb_add(&b, "UPDATE \"%s__state\" SET touched = 0 WHERE touched", g->name);
		rc = prepare(db, &b, &g->untouch, g->name);
	}
	if (!rc) {
		sb_add(&b,
		       "DELETE FROM \"%s\" WHERE rowid IN (SELECT id FROM \"%s__state\""
		       " WHERE event_date = ?1)",
		       g->name, g->name);
		rc = prepare(db, &b, &g->clear[0], g->name);
	}
	if (!rc) {
		sb_add(&b,
		       "DELETE FROM \"%s__distinct\" WHERE sid IN (SELECT id FROM \"%s__state\""
		       " WHERE event_date = ?1)",
		       g->name, g->name);
		rc = prepare(db, &b, &g->clear[1], g->name);
	}
	if (!rc) {
		sb_add(&b, "DELETE FROM \"%s__state\" WHERE event_date = ?1", g->name);
		rc = prepare(db, &b, &g->clear[2], g->name);
	}
	return rc;
}

/* ---- when each aggregate last changed ----
 *
 * aggregate_updates holds, per aggregate, the time of the last commit whose
 * batch changed one of its groups (create's backfill included). It is only
 * written beside the maintenance (after a day's batch is applied), never
 * read by it. A connection without the table (verify's in-memory
 * recomputation) keeps no times. */

/* Does schema.table exist? */
static int has_table(sqlite3 *db, const char *schema, const char *table, int *yes)
{
	char sql[160];
	sqlite3_stmt *st;
	int rc;

	snprintf(sql, sizeof(sql),
		 "SELECT 1 FROM \"%s\".sqlite_master WHERE type = 'table' AND name = ?", schema);
	rc = tarn__sql_prepare(db, sql, &st, "aggregates catalog");
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	*yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return TARN_OK;
}

static int stamp_prepare(tarn__aggset *a)
{
	int yes = 0, rc = has_table(a->db, "main", "aggregate_updates", &yes);

	if (rc || !yes)
		return rc;
	return tarn__sql_prepare(
		a->db,
		"INSERT INTO aggregate_updates VALUES(?1, ?2)"
		" ON CONFLICT(name) DO UPDATE SET updated_us = excluded.updated_us",
		&a->stamp, "gold.db: aggregate_updates");
}

/* Record that g changed now (changed: whether it did). */
static int stamp_if_changed(tarn__aggset *a, const struct agg *g, int changed)
{
	int rc;

	if (!a->stamp || !changed)
		return TARN_OK;
	sqlite3_bind_text(a->stamp, 1, g->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(a->stamp, 2, tarn_time_now_us());
	rc = sqlite3_step(a->stamp);
	sqlite3_reset(a->stamp);
	return rc == SQLITE_DONE ? TARN_OK
				 : tarn__error_sqlite(a->db, "gold.db: aggregate_updates");
}

/* The last change of aggregate name in microseconds since the Unix epoch:
 * its aggregate_updates time, else its catalog created_at; 0 if neither. */
static int updated_us_get(sqlite3 *db, const char *name, int64_t *out)
{
	sqlite3_stmt *st;
	int yes = 0, rc = has_table(db, "main", "aggregate_updates", &yes);

	*out = 0;
	if (rc)
		return rc;
	rc = tarn__sql_prepare(
		db,
		yes ? "SELECT coalesce((SELECT updated_us FROM aggregate_updates"
		      " WHERE name = ?1), CAST(strftime('%s', created_at) AS INTEGER)"
		      " * 1000000) FROM aggregates WHERE name = ?1"
		    : "SELECT CAST(strftime('%s', created_at) AS INTEGER) * 1000000"
		      " FROM aggregates WHERE name = ?1",
		&st, "aggregates catalog");
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? TARN_OK
						     : tarn__error_sqlite(db, "aggregates catalog");
}

/* ---- the set ---- */

static int step_date(sqlite3 *db, sqlite3_stmt *st, const char *date, const char *what)
{
	int rc;

	if (!st)
		return TARN_OK;
	if (date)
		sqlite3_bind_text(st, 1, date, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return tarn__error_sqlite(db, "gold.db: aggregate %s", what);
	return TARN_OK;
}

/* ---- reading each JSON path once per event ----
 *
 * A declaration's expressions read fields as payload->>'$.path'. Evaluated
 * in every aggregate's statements, each would parse the payload again (a
 * statement shares SQLite's parse cache among its own calls only). So the
 * set reads every distinct path once per event, into a column tarn_p<k> of
 * its batch table, in the one INSERT that buffers the event (one parse,
 * shared by the calls of that statement), and the aggregates' SQL reads the
 * column instead. The column holds exactly the value the operator gives
 * (the batch table's columns have no affinity), so the result is the same;
 * where the rewrite could change the meaning (a unary operator before
 * payload, which binds tighter than ->>; a COLLATE after the path), the
 * expression is left to SQLite as written. */

/* The length of the SQL string literal at s ('...' with '' inside), 0 if
 * s does not start one. */
static size_t literal_len(const char *s)
{
	size_t i = 1;

	if (*s != '\'')
		return 0;
	for (;;) {
		if (!s[i])
			return 0;
		if (s[i] == '\'') {
			if (s[i + 1] != '\'')
				return i + 1;
			i++;
		}
		i++;
	}
}

/* The length of the token at s that must be copied as it is: a string,
 * a quoted identifier or a comment (0: none). */
static size_t opaque_len(const char *s)
{
	const char *e;
	char q;
	size_t i;

	if (*s == '\'')
		return literal_len(s);
	if (s[0] == '-' && s[1] == '-')
		return strcspn(s, "\n");
	if (s[0] == '/' && s[1] == '*') {
		e = strstr(s + 2, "*/");
		return e ? (size_t)(e + 2 - s) : strlen(s);
	}
	if (*s != '"' && *s != '`' && *s != '[')
		return 0;
	q = *s == '[' ? ']' : *s;
	for (i = 1; s[i]; i++) {
		if (s[i] == q) {
			if (q != ']' && s[i + 1] == q) {
				i++;
				continue;
			}
			return i + 1;
		}
	}
	return i;
}

static int is_word(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$';
}

/* The column of the set that holds path (the literal's text, quotes
 * included), added when new. Returns its index, or -1 (no memory). */
static long path_index(tarn__aggset *a, const char *lit, size_t len)
{
	size_t i;
	char **n, *c;

	for (i = 0; i < a->n_path; i++)
		if (strlen(a->path[i]) == len && memcmp(a->path[i], lit, len) == 0)
			return (long)i;
	n = realloc(a->path, (a->n_path + 1) * sizeof(*n));
	c = strndup(lit, len);
	if (n)
		a->path = n;
	if (!n || !c) {
		free(c);
		return -1;
	}
	a->path[a->n_path] = c;
	return (long)a->n_path++;
}

/* expr with every payload->>'<path>' that can be read from the batch
 * replaced by tarn_p<k>; *out is the caller's. */
static int rewrite(tarn__aggset *a, const char *expr, char **out)
{
	struct sbuf b = { 0 };
	const char *s = expr;
	char prev = 0; /* the last character that is not white space */

	*out = NULL;
	if (!expr)
		return TARN_OK;
	while (*s) {
		size_t n = opaque_len(s), wl, ll;
		const char *w = s, *p;
		int quoted = 0;

		if (n && *s != '"') {
			sb_add(&b, "%.*s", (int)n, s);
			s += n;
			prev = s[-1];
			continue;
		}
		if (n) { /* "payload" may be quoted */
			quoted = 1;
			wl = n;
		} else if (is_word(*s) && (s == expr || !is_word(s[-1]))) {
			for (wl = 0; is_word(s[wl]); wl++)
				;
		} else {
			if (!isspace((unsigned char)*s))
				prev = *s;
			sb_add(&b, "%c", *s++);
			continue;
		}
		p = w + wl;
		while (isspace((unsigned char)*p))
			p++;
		if (((!quoted && wl == 7 && sqlite3_strnicmp(w, "payload", 7) == 0) ||
		     (quoted && wl == 9 && sqlite3_strnicmp(w, "\"payload\"", 9) == 0)) &&
		    prev != '.' && !strchr("-+~", prev ? prev : ' ') && strncmp(p, "->>", 3) == 0) {
			const char *l = p + 3, *after;
			while (isspace((unsigned char)*l))
				l++;
			ll = literal_len(l);
			after = l + ll;
			while (ll && isspace((unsigned char)*after))
				after++;
			if (ll &&
			    !(sqlite3_strnicmp(after, "collate", 7) == 0 && !is_word(after[7]))) {
				long k = path_index(a, l, ll);
				if (k < 0) {
					free(b.p);
					return tarn__error_set(TARN_ENOMEM, "aggregate");
				}
				sb_add(&b, "tarn_p%ld", k);
				s = l + ll;
				prev = s[-1];
				continue;
			}
		}
		sb_add(&b, "%.*s", (int)wl, w);
		s = w + wl;
		prev = s[-1];
	}
	if (b.oom || !b.p) {
		free(b.p);
		return b.oom ? tarn__error_set(TARN_ENOMEM, "aggregate") : TARN_OK;
	}
	*out = b.p;
	return TARN_OK;
}

/* Does the SQL text s name payload (a word, or "payload") outside its
 * strings and comments? */
static int names_payload(const char *s)
{
	while (s && *s) {
		size_t n = opaque_len(s);
		if (n) {
			if (n == 9 && sqlite3_strnicmp(s, "\"payload\"", 9) == 0)
				return 1;
			s += n;
		} else if (is_word(*s)) {
			size_t wl;
			for (wl = 0; is_word(s[wl]); wl++)
				;
			if (wl == 7 && sqlite3_strnicmp(s, "payload", 7) == 0)
				return 1;
			s += wl;
		} else {
			s++;
		}
	}
	return 0;
}

/* The INSERT that buffers an event: the nine columns, then each path. */
static int prepare_insert(tarn__aggset *a)
{
	struct sbuf b = { 0 };
	size_t i;
	int rc;

	/* the paths read the bound payload; the column keeps it only when an
	 * expression reads it whole (a copy of every payload costs) */
	sb_add(&b, "INSERT INTO temp.\"%s\" VALUES(?1,?2,?3,?4,%s,?6,?7,?8,?9", a->batch,
	       a->raw_payload ? "?5" : "NULL");
	for (i = 0; i < a->n_path; i++)
		sb_add(&b, ", ?5 ->> %s", a->path[i]);
	sb_add(&b, ")");
	if (b.oom) {
		free(b.p);
		return tarn__error_set(TARN_ENOMEM, "aggregates");
	}
	sqlite3_finalize(a->ins);
	a->ins = NULL;
	rc = tarn__sql_prepare(a->db, b.p, &a->ins, "gold.db: aggregate batch");
	free(b.p);
	return rc;
}

/* g's expressions over the set's batch table: new paths become columns
 * (the batch is empty between pushes) and the INSERT reads them. */
static int agg_read_batch(tarn__aggset *a, struct agg *g)
{
	size_t i, before = a->n_path;
	int rc, again = 0;

	g->batch = a->batch;
	rc = rewrite(a, g->where, &g->where_sql);
	for (i = 0; !rc && i < g->n_by; i++)
		rc = rewrite(a, g->by_expr[i], &g->by_sql[i]);
	for (i = 0; !rc && i < g->n_m; i++) {
		rc = rewrite(a, g->m[i].arg, &g->m[i].arg_sql);
		if (!rc)
			rc = rewrite(a, g->m[i].filter, &g->m[i].filter_sql);
	}
	if (!rc && !a->raw_payload) {
		int raw = names_payload(g->where_sql);
		for (i = 0; i < g->n_by; i++)
			raw |= names_payload(g->by_sql[i]);
		for (i = 0; i < g->n_m; i++)
			raw |= names_payload(g->m[i].arg_sql) | names_payload(g->m[i].filter_sql);
		a->raw_payload = raw;
		again = raw;
	}
	for (i = before; !rc && i < a->n_path; i++) {
		char sql[200];
		snprintf(sql, sizeof(sql), "ALTER TABLE temp.\"%s\" ADD COLUMN tarn_p%zu", a->batch,
			 i);
		rc = tarn__sql_exec(a->db, sql, "gold.db: aggregate batch");
		again = 1;
	}
	if (!rc && again)
		rc = prepare_insert(a);
	return rc;
}

/* ---- the native path ----
 *
 * The SQL path above costs one INSERT per event and, per aggregate and
 * batch, a GROUP BY over the batch: about 1-2 µs per event per
 * declaration. A declaration whose every expression is in sqlexpr.h's
 * subset skips it: each event's payload paths are read once, in one yajl
 * parse with SQLite's lookup rules (event_scan.h), each aggregate folds the
 * event into an in-memory group of the batch (count, exact decimal sum,
 * min/max, the new distinct values), and at the day's flush each group is
 * merged into the same state table with the same merge as the SQL path
 * (merge_sql; its row found by key, then updated, or else inserted), after
 * which the same refresh writes its visible row (by the row's id: no
 * touched mark, no scan for marked rows). Both paths leave the same state
 * for the same events: a value SQLite would have to produce itself (a
 * REAL's double, a string with escapes, an object) is asked of SQLite. One
 * difference is meant: sum and avg over a path read a JSON number as
 * written (0.1 is exactly 0.1), where the SQL path reads SQLite's double
 * and takes its shortest text. */

/* A set's native batch is applied early (in the caller's open
 * transaction) once its arena holds NATIVE_BATCH_BYTES, so that a
 * backfill or rebuild of a day of any size stays within a few tens of MB. */
#define NATIVE_BATCH_BYTES (16u << 20)

#define CHUNK_BYTES   65536
#define DISTINCT_ROWS 64 /* distinct values inserted by one statement */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char mem[];
};

/* n bytes, 16-aligned, that live until arena_reset; NULL: no memory. */
static void *arena_get(tarn__aggset *a, size_t n)
{
	size_t need = (n + 15) & ~(size_t)15;
	struct chunk **c = &a->arena, *k = *c;

	if (!k || k->cap - k->used < need) {
		size_t cap = need > CHUNK_BYTES ? need : CHUNK_BYTES;
		a->arena_bytes += cap;
		k = malloc(sizeof(*k) + cap);
		if (!k)
			return NULL;
		k->next = *c;
		k->used = 0;
		k->cap = cap;
		*c = k;
	}
	k->used += need;
	return k->mem + k->used - need;
}

static void arena_reset(tarn__aggset *a)
{
	struct chunk **c = &a->arena;

	a->arena_bytes = 0;
	while (*c) {
		struct chunk *k = *c;
		*c = k->next;
		free(k);
	}
}

static struct hent *htab_find(const struct htab *t, uint64_t h, const unsigned char *key,
			      size_t klen)
{
	struct hent *e;

	if (!t->nb)
		return NULL;
	for (e = t->b[h & (t->nb - 1)]; e; e = e->next)
		if (e->h == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
			return e;
	return NULL;
}

static int htab_put(struct htab *t, struct hent *e)
{
	size_t i;

	if (t->n >= t->nb) {
		size_t nb = t->nb ? t->nb * 4 : 256;
		struct hent **b = calloc(nb, sizeof(*b));
		if (!b)
			return tarn__error_set(TARN_ENOMEM, "aggregates");
		for (i = 0; i < t->nb; i++) {
			while (t->b[i]) {
				struct hent *x = t->b[i];
				t->b[i] = x->next;
				x->next = b[x->h & (nb - 1)];
				b[x->h & (nb - 1)] = x;
			}
		}
		free(t->b);
		t->b = b;
		t->nb = nb;
	}
	e->next = t->b[e->h & (t->nb - 1)];
	t->b[e->h & (t->nb - 1)] = e;
	t->n++;
	return TARN_OK;
}

static void htab_clear(struct htab *t)
{
	free(t->b);
	memset(t, 0, sizeof(*t));
}

/* Empty t but keep its buckets: the next batch is likely as large, and
 * growing again would rehash its entries at every step. */
static void htab_empty(struct htab *t)
{
	if (t->b)
		memset(t->b, 0, t->nb * sizeof(*t->b));
	t->n = 0;
}

/* One measure's part of a group in the batch. */
struct part {
	int64_t n;  /* rows counted, values summed, or new distinct values */
	int has;    /* sum: a value was added; min/max: best is set */
	int is_int; /* sum: every value was an integer */
	int mp;	    /* m is initialised */
	mpz_t m;    /* sum: m * 10^e */
	long e;
	tarn__xval best; /* min/max */
};

struct group {
	struct hent h; /* key: date, window start, --by values */
	struct group *all;
	char date[11];
	int done; /* flushed, or its day cleared */
	tarn__xval w, *by;
	const unsigned char *gkey; /* the state's key (key_text) */
	size_t gkey_len;
	struct part *part;
	struct dent **dl; /* per measure: its distinct values in the batch */
	sqlite3_int64 sid;
};

struct dent {
	struct hent h;	   /* key: group, measure, value */
	struct dent *next; /* of the group's list for the measure */
	tarn__xval v;
	int done;
};

/* A copy of v whose text lives in the arena. */
static int keep_val(tarn__aggset *a, const tarn__xval *v, tarn__xval *out)
{
	*out = *v;
	if ((is_text(v) || v->s) && v->n) {
		char *t = arena_get(a, v->n);
		if (!t)
			return tarn__error_set(TARN_ENOMEM, "aggregates");
		memcpy(t, v->s, v->n);
		out->s = t;
	}
	return TARN_OK;
}

/* A number no list of paths had: every change of a set's paths takes one,
 * so that values read ahead for another list are never taken. */
static uint64_t next_paths_id(void)
{
	static uint64_t last;

	return __atomic_add_fetch(&last, 1, __ATOMIC_RELAXED);
}

/* The slot of a payload path ("$.a.b", len bytes) in the set: ctx is the
 * set. -1: no room (the expression stays on the SQL path). */
static int path_slot(void *ctx, const char *path, size_t len)
{
	tarn__aggset *a = ctx;
	int k;

	for (k = 0; k < a->n_jp; k++)
		if (strlen(a->jsql[k]) == len && memcmp(a->jsql[k], path, len) == 0)
			return k;
	if (a->n_jp == TARN__JPATHS_MAX)
		return -1;
	a->jsql[k] = strndup(path, len);
	a->jdot[k] = a->jsql[k] ? strdup(a->jsql[k] + 2) : NULL;
	if (!a->jdot[k]) {
		free(a->jsql[k]);
		a->jsql[k] = NULL;
		return -1;
	}
	tarn__jpath_compile(&a->jp[k], a->jdot[k]);
	a->n_jp++;
	a->paths_id = next_paths_id();
	return k;
}

static void paths_truncate(tarn__aggset *a, int n)
{
	if (a->n_jp > n)
		a->paths_id = next_paths_id();
	while (a->n_jp > n) {
		a->n_jp--;
		free(a->jsql[a->n_jp]);
		free(a->jdot[a->n_jp]);
		a->jsql[a->n_jp] = a->jdot[a->n_jp] = NULL;
	}
}

static void native_free(struct agg *g)
{
	size_t i;

	tarn__sqlexpr_free(g->x_where);
	g->x_where = NULL;
	for (i = 0; i < g->n_by; i++) {
		tarn__sqlexpr_free(g->x_by[i]);
		g->x_by[i] = NULL;
	}
	for (i = 0; i < g->n_m; i++) {
		tarn__sqlexpr_free(g->m[i].x_arg);
		tarn__sqlexpr_free(g->m[i].x_filter);
		g->m[i].x_arg = g->m[i].x_filter = NULL;
	}
}

/* Compile expr; *ok cleared when it is outside the subset (or, for a
 * predicate's place, not a predicate). */
static int native_expr(tarn__aggset *a, const char *expr, int predicate, tarn__sqlexpr **out,
		       int *ok)
{
	int rc;

	*out = NULL;
	if (!expr || !*ok)
		return TARN_OK;
	rc = tarn__sqlexpr_compile(a->db, expr, path_slot, a, out);
	if (!rc && (!*out || (predicate && !tarn__sqlexpr_is_predicate(*out))))
		*ok = 0;
	return rc;
}

/* Put g on the native path when every expression of it is in the subset. */
static int native_compile(tarn__aggset *a, struct agg *g)
{
	int n_jp = a->n_jp, ok = 1, rc;
	size_t i;

	rc = native_expr(a, g->where, 1, &g->x_where, &ok);
	for (i = 0; !rc && i < g->n_by; i++)
		rc = native_expr(a, g->by_expr[i], 0, &g->x_by[i], &ok);
	for (i = 0; !rc && i < g->n_m; i++) {
		rc = native_expr(a, g->m[i].arg, 0, &g->m[i].x_arg, &ok);
		if (!rc)
			rc = native_expr(a, g->m[i].filter, 1, &g->m[i].x_filter, &ok);
	}
	g->native = !rc && ok;
	if (!g->native) {
		native_free(g);
		paths_truncate(a, n_jp);
	}
	return rc;
}

/* The native path's statements for g. */
static int native_prepare(sqlite3 *db, struct agg *g)
{
	struct sbuf b = { 0 };
	size_t i;
	int rc;

	sb_add(&b, "INSERT INTO \"%s__state\"(event_date, gkey, touched, w", g->name);
	for (i = 0; i < g->n_by; i++)
		sb_add(&b, ", b%zu", i);
	for (i = 0; i < g->n_m; i++)
		sb_add(&b, ", a%zu, n%zu", i, i);
	sb_add(&b, ") VALUES(?1, ?2, 0, ?3");
	for (i = 0; i < g->n_by + 2 * g->n_m; i++)
		sb_add(&b, ", ?%zu", i + 4);
	sb_add(&b, ")");
	rc = prepare(db, &b, &g->put_group, g->name);
	if (!rc) {
		sb_add(&b, "SELECT id FROM \"%s__state\" WHERE event_date = ?1 AND gkey = ?2",
		       g->name);
		rc = prepare(db, &b, &g->find_group, g->name);
	}
	if (!rc) {
		sb_add(&b, "UPDATE \"%s__state\" SET touched = 0", g->name);
		merge_sql(&b, g, 1);
		sb_add(&b, " WHERE id = ?1");
		rc = prepare(db, &b, &g->merge_group, g->name);
	}
	for (i = 0; !rc && i < g->n_m; i++) {
		if (g->m[i].kind != K_DISTINCT)
			continue;
		if (!g->put_distinct) {
			size_t k;
			sb_add(&b, "INSERT OR IGNORE INTO \"%s__distinct\"(sid, m, v) VALUES",
			       g->name);
			for (k = 0; k < DISTINCT_ROWS; k++)
				sb_add(&b, "%s(?1, ?2, ?%zu)", k ? ", " : "", k + 3);
			rc = prepare(db, &b, &g->put_distinct, g->name);
		}
		if (!rc) {
			sb_add(&b, "UPDATE \"%s__state\" SET n%zu = n%zu + ?2 WHERE id = ?1",
			       g->name, i, i);
			rc = prepare(db, &b, &g->m[i].bump, g->name);
		}
	}
	return rc;
}

/* SQLite's double for a number's text (its own conversion, exactly). */
static int sqlite_real(tarn__aggset *a, const char *s, size_t n, double *out)
{
	int rc;

	sqlite3_bind_text(a->to_real, 1, s, (int)n, SQLITE_STATIC);
	rc = sqlite3_step(a->to_real);
	*out = sqlite3_column_double(a->to_real, 0);
	sqlite3_reset(a->to_real);
	return rc == SQLITE_ROW ? TARN_OK : tarn__error_sqlite(a->db, "aggregates: number");
}

/* payload->>path by SQLite itself, for a value kept in fb[k]. */
static int sqlite_extract(tarn__aggset *a, const tarn_event *ev, int k, tarn__xval *out)
{
	sqlite3_stmt *st = a->extract;
	int rc;

	sqlite3_bind_text(st, 1, ev->payload_len ? ev->payload : "", (int)ev->payload_len,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->jsql[k], -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		xval_of(sqlite3_column_value(st, 0), out);
		if (out->type == SQLITE_TEXT || out->type == SQLITE_BLOB) {
			a->fb[k] = malloc(out->n + 1);
			if (!a->fb[k]) {
				sqlite3_reset(st);
				return tarn__error_set(TARN_ENOMEM, "aggregates");
			}
			if (out->n)
				memcpy(a->fb[k], out->s, out->n);
			out->s = a->fb[k];
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? TARN_OK : tarn__error_sqlite(a->db, "aggregates: payload path");
}

/* The values of the set's paths in ev's payload, as payload->>'$.path'
 * gives them. */
static int native_paths(tarn__aggset *a, const tarn_event *ev, tarn__xval *pv)
{
	const tarn__aggpre *pre = a->hint && a->hint->id == a->paths_id ? a->hint : NULL;
	const tarn__jpath *pp[TARN__JPATHS_MAX];
	tarn__jvalue jv[TARN__JPATHS_MAX];
	int k, rc = TARN_OK, parsed;

	for (k = 0; k < a->n_jp; k++) {
		pp[k] = &a->jp[k];
		free(a->fb[k]);
		a->fb[k] = NULL;
	}
	if (pre) {
		/* read by an extraction that accepted the payload: JSON */
		parsed = 1;
		for (k = 0; k < a->n_jp; k++) {
			/* a value to ask SQLite for takes the container's way */
			jv[k].type = pre->type[k] == TARN__AGGPRE_ASK ? TARN__J_CONTAINER
								      : (tarn__jtype)pre->type[k];
			jv[k].s = (const char *)ev->payload + pre->off[k];
			jv[k].len = pre->len[k];
			jv[k].in_payload = 1;
		}
	} else {
		parsed = tarn__json_lookup(ev->payload, ev->payload_len, pp, a->n_jp, jv) == 0;
	}
	for (k = 0; !rc && k < a->n_jp; k++) {
		tarn__xval *x = &pv[k];
		const tarn__jvalue *j = &jv[k];

		memset(x, 0, sizeof(*x));
		if (!parsed) {
			rc = sqlite_extract(a, ev, k, x);
			continue;
		}
		switch (j->type) {
		case TARN__J_NONE:
		case TARN__J_NULL: x->type = SQLITE_NULL; break;
		case TARN__J_TRUE:
		case TARN__J_FALSE:
			x->type = SQLITE_INTEGER;
			x->i = j->type == TARN__J_TRUE;
			break;
		case TARN__J_INTEGER:
			if (tarn__json_int(j->s, j->len, &x->i) == 0) {
				x->type = SQLITE_INTEGER;
				break;
			}
			/* SQLite reads it as a REAL */
			/* fall through */
		case TARN__J_REAL:
			x->type = SQLITE_FLOAT;
			x->s = j->s;
			x->n = j->len;
			rc = sqlite_real(a, j->s, j->len, &x->r);
			break;
		case TARN__J_STRING:
			if (j->in_payload) {
				x->type = SQLITE_TEXT;
				x->s = j->s;
				x->n = j->len;
				break;
			}
			/* escapes are SQLite's to undo */
			/* fall through */
		default: rc = sqlite_extract(a, ev, k, x); break;
		}
	}
	return rc;
}

void tarn__aggpaths_free(tarn__aggpaths *p)
{
	int k;

	for (k = 0; k < p->n; k++)
		free(p->dotted[k]);
	memset(p, 0, sizeof(*p));
}

int tarn__aggpaths_copy(const tarn__aggset *a, tarn__aggpaths *p)
{
	int k;

	if (!a || !a->n_jp) {
		tarn__aggpaths_free(p);
		return TARN_OK;
	}
	if (p->id == a->paths_id)
		return TARN_OK;
	tarn__aggpaths_free(p);
	for (k = 0; k < a->n_jp; k++) {
		p->dotted[k] = strdup(a->jdot[k]);
		if (!p->dotted[k]) {
			tarn__aggpaths_free(p);
			return tarn__error_set(TARN_ENOMEM, "aggregates");
		}
		p->n = k + 1;
		tarn__jpath_compile(&p->jp[k], p->dotted[k]);
	}
	p->id = a->paths_id;
	return TARN_OK;
}

/* *out from the values jv that a parse of payload read at p's paths. */
static void pre_fill(const tarn__aggpaths *p, const void *payload, const tarn__jvalue *jv,
		     tarn__aggpre *out)
{
	int k;

	for (k = 0; k < p->n; k++) {
		const tarn__jvalue *j = &jv[k];
		int has_text = j->type == TARN__J_STRING || j->type == TARN__J_INTEGER ||
			       j->type == TARN__J_REAL;
		out->type[k] = (unsigned char)j->type;
		out->off[k] = out->len[k] = 0;
		if (has_text && !j->in_payload)
			out->type[k] = TARN__AGGPRE_ASK; /* SQLite's to read, later */
		else if (has_text) {
			out->off[k] = (uint32_t)(j->s - (const char *)payload);
			out->len[k] = (uint32_t)j->len;
		}
	}
	out->id = p->id;
}

int tarn__aggpaths_extract(const tarn__aggpaths *p, tarn_event *ev,
			   const tarn_extract_options *opts, tarn_reject *why, char *detail,
			   size_t detail_len, tarn__aggpre *out)
{
	const tarn__jpath *pp[TARN__JPATHS_MAX];
	tarn__jvalue jv[TARN__JPATHS_MAX];
	int k, rc;

	out->id = 0;
	if (!p->n || ev->payload_len > UINT32_MAX)
		return tarn_event_extract(ev, opts, why, detail, detail_len);
	for (k = 0; k < p->n; k++)
		pp[k] = &p->jp[k];
	rc = tarn__event_extract_paths(ev, opts, pp, p->n, jv, why, detail, detail_len);
	if (rc == TARN_OK)
		pre_fill(p, ev->payload, jv, out);
	return rc;
}

void tarn__aggregate_hint(tarn__aggset *a, const tarn__aggpre *pre)
{
	if (a)
		a->hint = pre;
}

/* Room for need bytes in a->kb. */
static int key_grow(tarn__aggset *a, size_t need)
{
	unsigned char *p;
	size_t cap = need * 2 + 256;

	if (need <= a->kcap)
		return TARN_OK;
	p = realloc(a->kb, cap);
	if (!p)
		return tarn__error_set(TARN_ENOMEM, "aggregates");
	a->kb = p;
	a->kcap = cap;
	return TARN_OK;
}

/* Append v to the key being built at a->kb[*len]: equal bytes exactly when
 * key_text's are equal (an integral REAL is the INTEGER). */
static int key_put(tarn__aggset *a, size_t *len, const tarn__xval *v)
{
	unsigned char *p;
	int64_t x;

	if (key_grow(a, *len + 1 + 8 + (is_text(v) ? v->n : 0)))
		return TARN_ENOMEM;
	p = a->kb + *len;
	switch (v->type) {
	case SQLITE_FLOAT:
		if (real_is_int(v, &x))
			goto integer;
		*p = 'r';
		memcpy(p + 1, &v->r, 8);
		*len += 9;
		break;
	case SQLITE_INTEGER:
		x = v->i;
	integer:
		*p = 'i';
		memcpy(p + 1, &x, 8);
		*len += 9;
		break;
	case SQLITE_TEXT:
	case SQLITE_BLOB:
		*p = v->type == SQLITE_TEXT ? 't' : 'b';
		memcpy(p + 1, &v->n, 8);
		if (v->n)
			memcpy(p + 9, v->s, v->n);
		*len += 9 + v->n;
		break;
	default:
		*p = 'n';
		*len += 1;
		break;
	}
	return TARN_OK;
}

/* window_start of t (µs) as window_sql gives it: NULL for days, else the
 * floored minute or hour as "YYYY-MM-DDTHH:MM:00Z". */
static void window_of(struct agg *g, int64_t t, tarn__xval *out)
{
	int64_t span = g->every == TARN_WINDOW_HOUR ? 3600000000LL : 60000000LL, day, s;

	memset(out, 0, sizeof(*out));
	if (g->every == TARN_WINDOW_DAY) {
		out->type = SQLITE_NULL;
		return;
	}
	t -= ((t % span) + span) % span;
	out->type = SQLITE_TEXT;
	out->s = g->wtext;
	out->n = 20;
	if (g->wtext[0] && t == g->wstart) /* events come in runs of one window */
		return;
	day = t - ((t % 86400000000LL) + 86400000000LL) % 86400000000LL;
	s = (t - day) / 1000000;
	tarn_time_date(t, g->wtext);
	snprintf(g->wtext + 10, 14, "T%02d:%02d:00Z", (int)(s / 3600), (int)(s / 60 % 60));
	g->wstart = t;
}

/* The batch's group of date and key a->kb[0..klen), new when absent. */
static int group_get(tarn__aggset *a, struct agg *g, const char *date, size_t klen,
		     const tarn__xval *w, const tarn__xval *by, struct group **out)
{
	uint64_t h = tarn__hash_bytes(a->kb, klen);
	struct group *gr = (struct group *)htab_find(&g->groups, h, a->kb, klen);
	struct sbuf kt = { 0 };
	unsigned char *key;
	size_t i;
	int rc = TARN_OK;

	if (gr) {
		if (gr->done) { /* its day was flushed in this batch: starts again */
			gr->done = 0;
			a->open_groups++;
			for (i = 0; i < g->n_m; i++) {
				struct part *p = &gr->part[i];
				p->n = p->has = 0;
				p->is_int = 1;
				if (p->mp)
					mpz_set_ui(p->m, 0);
				p->e = 0;
			}
		}
		*out = gr;
		return TARN_OK;
	}
	gr = arena_get(a, sizeof(*gr));
	key = arena_get(a, klen);
	if (gr) {
		memset(gr, 0, sizeof(*gr));
		gr->by = arena_get(a, (g->n_by ? g->n_by : 1) * sizeof(*gr->by));
		gr->part = arena_get(a, g->n_m * sizeof(*gr->part));
		gr->dl = arena_get(a, g->n_m * sizeof(*gr->dl));
	}
	if (!gr || !key || !gr->by || !gr->part || !gr->dl)
		return tarn__error_set(TARN_ENOMEM, "aggregates");
	memcpy(key, a->kb, klen);
	gr->h.h = h;
	gr->h.key = key;
	gr->h.klen = klen;
	memcpy(gr->date, date, 10);
	gr->date[10] = '\0';
	rc = keep_val(a, w, &gr->w);
	key_text(&kt, w);
	for (i = 0; !rc && i < g->n_by; i++) {
		rc = keep_val(a, &by[i], &gr->by[i]);
		key_text(&kt, &by[i]);
	}
	memset(gr->part, 0, g->n_m * sizeof(*gr->part));
	memset(gr->dl, 0, g->n_m * sizeof(*gr->dl));
	for (i = 0; i < g->n_m; i++)
		gr->part[i].is_int = 1;
	if (!rc && kt.oom)
		rc = tarn__error_set(TARN_ENOMEM, "aggregates");
	if (!rc) {
		tarn__xval k = { .type = SQLITE_BLOB, .s = kt.p ? kt.p : "", .n = kt.len };
		tarn__xval kept;
		rc = keep_val(a, &k, &kept);
		gr->gkey = (const unsigned char *)kept.s;
		gr->gkey_len = kt.len;
	}
	free(kt.p);
	if (!rc)
		rc = htab_put(&g->groups, &gr->h);
	if (rc)
		return rc;
	gr->all = g->glist;
	g->glist = gr;
	a->open_groups++;
	*out = gr;
	return TARN_OK;
}

/* Add v to a decimal sum. A text goes through SQLite's value (sum()'s
 * rules for text, dec_of_value); a REAL read from JSON is its text. */
static int part_sum(tarn__aggset *a, struct part *p, const tarn__xval *v)
{
	mpz_t m;
	long e = 0;
	int rc = 0;

	if (!p->mp) {
		mpz_init(p->m);
		p->mp = 1;
		p->e = 0;
	}
	mpz_init(m);
	if (v->type == SQLITE_INTEGER) {
		mpz_set_si(m, (long)v->i);
	} else if (v->type == SQLITE_FLOAT && v->s) {
		rc = dec_parse(v->s, v->n, m, &e);
		p->is_int = 0;
	} else {
		sqlite3_stmt *st = a->as_value;
		if (v->type == SQLITE_FLOAT)
			sqlite3_bind_double(st, 1, v->r);
		else
			sqlite3_bind_text(st, 1, v->s ? v->s : "", (int)v->n, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			rc = dec_of_value(sqlite3_column_value(st, 0), m, &e, &p->is_int);
		else
			rc = -3;
		sqlite3_reset(st);
	}
	if (!rc)
		dec_add(p->m, &p->e, m, e);
	mpz_clear(m);
	if (rc == -1)
		return tarn__error_set(TARN_ESQLITE, SUM_RANGE_ERROR);
	if (rc == -3)
		return tarn__error_sqlite(a->db, "aggregates: sum");
	if (rc)
		return tarn__error_set(TARN_ENOMEM, "aggregates");
	p->has = 1;
	p->n++;
	return TARN_OK;
}

static int part_distinct(tarn__aggset *a, struct agg *g, struct group *gr, size_t m,
			 const tarn__xval *v)
{
	size_t klen = 0;
	struct dent *d;
	uint64_t h;
	unsigned char *key;
	int rc;

	/* the key: the group's address, the measure, the value */
	rc = key_put(a, &klen, &(tarn__xval){ .type = SQLITE_INTEGER, .i = (int64_t)(intptr_t)gr });
	if (!rc)
		rc = key_put(a, &klen, &(tarn__xval){ .type = SQLITE_INTEGER, .i = (int64_t)m });
	if (!rc)
		rc = key_put(a, &klen, v);
	if (rc)
		return rc;
	h = tarn__hash_bytes(a->kb, klen);
	d = (struct dent *)htab_find(&g->dset, h, a->kb, klen);
	if (d) {
		d->done = 0;
		return TARN_OK;
	}
	d = arena_get(a, sizeof(*d));
	key = arena_get(a, klen);
	if (!d || !key)
		return tarn__error_set(TARN_ENOMEM, "aggregates");
	memset(d, 0, sizeof(*d));
	memcpy(key, a->kb, klen);
	d->h.h = h;
	d->h.key = key;
	d->h.klen = klen;
	rc = keep_val(a, v, &d->v);
	if (!rc)
		rc = htab_put(&g->dset, &d->h);
	if (rc)
		return rc;
	d->next = gr->dl[m];
	gr->dl[m] = d;
	return TARN_OK;
}

/* Fold one event (its columns and path values) into g's batch. */
static int native_fold(tarn__aggset *a, struct agg *g, const char *date, int64_t t,
		       const tarn__xval *cols, const tarn__xval *pv)
{
	tarn__xval by[MAX_COLS], w, v;
	struct group *gr = NULL;
	size_t i, klen = 10;
	int rc = TARN_OK;

	if (g->x_where && !tarn__sqlexpr_true(g->x_where, cols, pv))
		return TARN_OK;
	window_of(g, t, &w);
	rc = key_grow(a, 10);
	if (!rc) {
		memcpy(a->kb, date, 10);
		rc = key_put(a, &klen, &w);
	}
	for (i = 0; !rc && i < g->n_by; i++) {
		tarn__sqlexpr_eval(g->x_by[i], cols, pv, &by[i]);
		rc = key_put(a, &klen, &by[i]);
	}
	if (!rc)
		rc = group_get(a, g, date, klen, &w, by, &gr);
	for (i = 0; !rc && i < g->n_m; i++) {
		const struct measure *m = &g->m[i];
		struct part *p = &gr->part[i];

		if (m->x_filter && !tarn__sqlexpr_true(m->x_filter, cols, pv))
			continue;
		if (m->kind == K_COUNT_STAR) {
			p->n++;
			continue;
		}
		tarn__sqlexpr_eval(m->x_arg, cols, pv, &v);
		if (v.type == SQLITE_NULL)
			continue;
		switch (m->kind) {
		case K_COUNT: p->n++; break;
		case K_SUM:
		case K_AVG: rc = part_sum(a, p, &v); break;
		case K_MIN:
		case K_MAX:
			/* as min()/max(): the first of equal values stays */
			if (!p->has || (m->kind == K_MIN ? tarn__xval_cmp(&v, &p->best) < 0
							 : tarn__xval_cmp(&v, &p->best) > 0)) {
				rc = keep_val(a, &v, &p->best);
				p->has = 1;
			}
			break;
		default: rc = part_distinct(a, g, gr, i, &v); break;
		}
	}
	return rc;
}

/* Buffer one event in every native aggregate. */
static int native_add(tarn__aggset *a, const char *date, const tarn_event *ev)
{
	tarn__xval cols[TARN__XCOL_COUNT], pv[TARN__JPATHS_MAX];
	char id[37];
	size_t i;
	int rc;

	for (i = 0; i < TARN__XCOL_COUNT; i++)
		cols[i] = (tarn__xval){ .type = SQLITE_NULL };
	cols[TARN__XCOL_EVENT_ID].type = SQLITE_TEXT;
	if (ev->id_is_uuid) {
		uuid_unparse_lower(ev->id, id);
		cols[TARN__XCOL_EVENT_ID].s = id;
		cols[TARN__XCOL_EVENT_ID].n = 36;
	} else {
		cols[TARN__XCOL_EVENT_ID].s = (const char *)ev->id;
		cols[TARN__XCOL_EVENT_ID].n = ev->id_len;
	}
	cols[TARN__XCOL_EVENT_TIME] = (tarn__xval){ .type = SQLITE_INTEGER, .i = ev->time_us };
	cols[TARN__XCOL_EVENT_DATE] = (tarn__xval){ .type = SQLITE_TEXT, .s = date, .n = 10 };
	if (ev->has_name)
		cols[TARN__XCOL_EVENT_NAME] =
			(tarn__xval){ .type = SQLITE_TEXT, .s = ev->name, .n = strlen(ev->name) };
	if (ev->topic)
		cols[TARN__XCOL_TOPIC] =
			(tarn__xval){ .type = SQLITE_TEXT, .s = ev->topic, .n = strlen(ev->topic) };
	if (ev->partition >= 0)
		cols[TARN__XCOL_PARTITION] =
			(tarn__xval){ .type = SQLITE_INTEGER, .i = ev->partition };
	if (ev->offset >= 0)
		cols[TARN__XCOL_OFFSET] = (tarn__xval){ .type = SQLITE_INTEGER, .i = ev->offset };
	rc = native_paths(a, ev, pv);
	for (i = 0; !rc && i < a->n; i++)
		if (a->a[i]->native)
			rc = native_fold(a, a->a[i], date, ev->time_us, cols, pv);
	return rc;
}

static void bind_val(sqlite3_stmt *st, int col, const tarn__xval *v)
{
	switch (v->type) {
	case SQLITE_INTEGER: sqlite3_bind_int64(st, col, v->i); break;
	case SQLITE_FLOAT: sqlite3_bind_double(st, col, v->r); break;
	case SQLITE_TEXT:
		sqlite3_bind_text(st, col, v->s ? v->s : "", (int)v->n, SQLITE_STATIC);
		break;
	case SQLITE_BLOB:
		sqlite3_bind_blob(st, col, v->s ? v->s : "", (int)v->n, SQLITE_STATIC);
		break;
	default: sqlite3_bind_null(st, col); break;
	}
}

/* Bind gr's window, by values and partial state to st (the insert's
 * numbering: ?3 the window, then the by values, then a<i>, n<i>). */
static int bind_group(struct agg *g, struct group *gr, sqlite3_stmt *st)
{
	size_t i;
	int col = 4;

	bind_val(st, 3, &gr->w);
	for (i = 0; i < g->n_by; i++)
		bind_val(st, col++, &gr->by[i]);
	for (i = 0; i < g->n_m; i++) {
		struct part *p = &gr->part[i];
		char *t = NULL;
		switch (g->m[i].kind) {
		case K_SUM:
		case K_AVG:
			if (p->has) {
				t = dec_text(p->is_int, p->m, p->e);
				if (!t)
					return tarn__error_set(TARN_ENOMEM, "aggregates");
			}
			if (t)
				sqlite3_bind_text(st, col, t, -1, free);
			else
				sqlite3_bind_null(st, col);
			sqlite3_bind_int64(st, col + 1, p->n);
			break;
		case K_MIN:
		case K_MAX:
			if (p->has)
				bind_val(st, col, &p->best);
			else
				sqlite3_bind_null(st, col);
			sqlite3_bind_null(st, col + 1);
			break;
		case K_DISTINCT:
			sqlite3_bind_null(st, col);
			sqlite3_bind_int64(st, col + 1, 0);
			break;
		default:
			sqlite3_bind_null(st, col);
			sqlite3_bind_int64(st, col + 1, p->n);
			break;
		}
		col += 2;
	}
	return TARN_OK;
}

/* Merge gr into its state row, or insert the row; gr->sid its id. */
static int put_group(tarn__aggset *a, struct agg *g, struct group *gr)
{
	sqlite3_stmt *st = g->find_group;
	int rc, found;

	sqlite3_bind_text(st, 1, gr->date, 10, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, gr->gkey, (int)gr->gkey_len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	found = rc == SQLITE_ROW;
	if (found)
		gr->sid = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (!found && rc != SQLITE_DONE)
		return tarn__error_sqlite(a->db, "gold.db: aggregate %s", g->name);
	st = found ? g->merge_group : g->put_group;
	if (found) {
		sqlite3_bind_int64(st, 1, gr->sid);
	} else {
		sqlite3_bind_text(st, 1, gr->date, 10, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, gr->gkey, (int)gr->gkey_len, SQLITE_STATIC);
	}
	rc = bind_group(g, gr, st);
	if (!rc) {
		rc = sqlite3_step(st) == SQLITE_DONE
			     ? TARN_OK
			     : tarn__error_sqlite(a->db, "gold.db: aggregate %s", g->name);
		if (!rc && !found)
			gr->sid = sqlite3_last_insert_rowid(a->db);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* A distinct value to insert, with what orders it among its group's
 * values of one measure: its class (SQLite's: NULL, number, text, BLOB)
 * and eight bytes of it after the prefix all the text values share (so
 * that "user_00017" and "user_00018" differ there). */
struct dkey {
	int cls;
	uint64_t pre;
	struct dent *d;
};

static int dkey_order(const void *x, const void *y)
{
	const struct dkey *a = x, *b = y;

	if (a->cls != b->cls)
		return a->cls < b->cls ? -1 : 1;
	if (a->pre != b->pre)
		return a->pre < b->pre ? -1 : 1;
	return tarn__xval_cmp(&a->d->v, &b->d->v);
}

/* The open values of list in the order of NAME__distinct's key, so that
 * each insert lands beside the last one instead of on a random page of
 * the B-tree; into *buf (grown as needed, the caller's), *n of them. */
static int dents_sorted(struct dent *list, struct dkey **buf, size_t *cap, size_t *n)
{
	const tarn__xval *first = NULL;
	struct dent *d;
	size_t k = 0, skip = SIZE_MAX, i, j;

	for (d = list; d; d = d->next) {
		if (d->done)
			continue;
		k++;
		if (!is_text(&d->v))
			continue;
		if (!first)
			first = &d->v;
		for (j = 0; j < skip && j < d->v.n && j < first->n && d->v.s[j] == first->s[j]; j++)
			;
		skip = j;
	}
	*n = k;
	if (!k)
		return TARN_OK;
	if (k > *cap) {
		struct dkey *b = realloc(*buf, k * sizeof(*b));
		if (!b)
			return tarn__error_set(TARN_ENOMEM, "aggregates");
		*buf = b;
		*cap = k;
	}
	k = 0;
	for (d = list; d; d = d->next) {
		struct dkey *e = &(*buf)[k];
		if (d->done)
			continue;
		*e = (struct dkey){ 0, 0, d };
		if (d->v.type == SQLITE_INTEGER || d->v.type == SQLITE_FLOAT)
			e->cls = 1;
		if (is_text(&d->v)) {
			e->cls = d->v.type == SQLITE_TEXT ? 2 : 3;
			for (i = 0; i < 8; i++)
				e->pre = e->pre << 8 |
					 (skip + i < d->v.n ? (unsigned char)d->v.s[skip + i] : 0);
		}
		k++;
	}
	qsort(*buf, k, sizeof(**buf), dkey_order);
	return TARN_OK;
}

static int sid_order(const void *x, const void *y)
{
	const struct group *a = *(struct group *const *)x, *b = *(struct group *const *)y;

	return a->sid < b->sid ? -1 : a->sid > b->sid;
}

/* Insert gr's new values of distinct measure m, DISTINCT_ROWS a statement
 * (the last one repeated to fill it: the repeats are ignored), and count
 * those the table did not have in gr->part[m].n. */
static int put_distinct(tarn__aggset *a, struct agg *g, struct group *gr, size_t m,
			struct dkey **buf, size_t *cap)
{
	size_t n, k, i;
	int rc = dents_sorted(gr->dl[m], buf, cap, &n);

	gr->part[m].n = 0;
	for (k = 0; !rc && k < n; k += DISTINCT_ROWS) {
		size_t run = n - k < DISTINCT_ROWS ? n - k : DISTINCT_ROWS;
		sqlite3_bind_int64(g->put_distinct, 1, gr->sid);
		sqlite3_bind_int64(g->put_distinct, 2, (sqlite3_int64)m);
		for (i = 0; i < DISTINCT_ROWS; i++) {
			struct dent *e = (*buf)[k + (i < run ? i : run - 1)].d;
			e->done = 1;
			bind_val(g->put_distinct, (int)i + 3, &e->v);
		}
		rc = sqlite3_step(g->put_distinct);
		sqlite3_reset(g->put_distinct);
		if (rc != SQLITE_DONE)
			return tarn__error_sqlite(a->db, "gold.db: aggregate %s", g->name);
		rc = TARN_OK;
		gr->part[m].n += sqlite3_changes(a->db);
	}
	if (!rc && gr->part[m].n) {
		sqlite3_bind_int64(g->m[m].bump, 1, gr->sid);
		sqlite3_bind_int64(g->m[m].bump, 2, gr->part[m].n);
		rc = step_date(a->db, g->m[m].bump, NULL, g->name);
	}
	return rc;
}

/* Apply g's batch groups of date: upsert each, add its new distinct
 * values (groups in row order), then refresh each group's visible row by
 * its id. *changed: whether any group was. */
static int native_apply(tarn__aggset *a, struct agg *g, const char *date, int *changed)
{
	struct group *gr, **gs = NULL;
	struct dkey *buf = NULL;
	size_t i, k, n = 0, cap = 0;
	int rc = TARN_OK;

	for (gr = g->glist; gr; gr = gr->all)
		n += !gr->done && memcmp(gr->date, date, 10) == 0;
	*changed = n > 0;
	gs = n ? malloc(n * sizeof(*gs)) : NULL;
	if (n && !gs)
		return tarn__error_set(TARN_ENOMEM, "aggregates");
	n = 0;
	for (gr = g->glist; !rc && gr; gr = gr->all) {
		if (gr->done || memcmp(gr->date, date, 10) != 0)
			continue;
		rc = put_group(a, g, gr);
		gs[n++] = gr;
	}
	if (!rc && n)
		qsort(gs, n, sizeof(*gs), sid_order);
	for (k = 0; !rc && k < n; k++) {
		for (i = 0; !rc && g->put_distinct && i < g->n_m; i++)
			if (g->m[i].kind == K_DISTINCT)
				rc = put_distinct(a, g, gs[k], i, &buf, &cap);
		if (!rc) {
			sqlite3_bind_int64(g->refresh, 1, gs[k]->sid);
			rc = step_date(a->db, g->refresh, NULL, g->name);
		}
	}
	for (k = 0; !rc && k < n; k++) {
		gs[k]->done = 1;
		a->open_groups--;
	}
	free(buf);
	free(gs);
	return rc;
}

/* Forget the native batch (date NULL: every day; else that day's). */
static void native_forget(tarn__aggset *a, const char *date)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		struct agg *g = a->a[i];
		struct group *gr;
		if (!g->native)
			continue;
		for (gr = g->glist; gr; gr = gr->all) {
			if (gr->done || (date && memcmp(gr->date, date, 10) != 0))
				continue;
			gr->done = 1;
			a->open_groups--;
		}
	}
	if (a->open_groups)
		return;
	/* nothing open: free the batch */
	for (i = 0; i < a->n; i++) {
		struct agg *g = a->a[i];
		struct group *gr;
		size_t k;
		for (gr = g->glist; gr; gr = gr->all)
			for (k = 0; k < g->n_m; k++)
				if (gr->part[k].mp)
					mpz_clear(gr->part[k].m);
		g->glist = NULL;
		htab_empty(&g->groups);
		htab_empty(&g->dset);
	}
	arena_reset(a);
}

int tarn__aggregate_open(tarn__aggset **out, sqlite3 *db)
{
	tarn__aggset *a = calloc(1, sizeof(*a));
	int rc;

	*out = NULL;
	if (!a)
		return tarn__error_set(TARN_ENOMEM, "aggregates");
	a->db = db;
	snprintf(a->batch, sizeof(a->batch), "tarn_batch_%p", (void *)a);
	rc = register_functions(db);
	if (!rc) {
		char sql[320];
		snprintf(sql, sizeof(sql), "CREATE TEMP TABLE \"%s\"(" EVENT_COLUMNS ")", a->batch);
		rc = tarn__sql_exec(db, sql, "gold.db: aggregate batch");
	}
	if (!rc)
		rc = prepare_insert(a);
	if (!rc) {
		char sql[160];
		snprintf(sql, sizeof(sql), "DELETE FROM temp.\"%s\" WHERE event_date = ?1",
			 a->batch);
		rc = tarn__sql_prepare(db, sql, &a->drop_day, "gold.db: aggregate batch");
	}
	if (!rc) {
		char sql[160];
		snprintf(sql, sizeof(sql), "DELETE FROM temp.\"%s\"", a->batch);
		rc = tarn__sql_prepare(db, sql, &a->drop_all, "gold.db: aggregate batch");
	}
	if (!rc)
		rc = stamp_prepare(a);
	if (!rc)
		rc = tarn__sql_prepare(db, "SELECT CAST(?1 AS REAL)", &a->to_real,
				       "gold.db: aggregates");
	if (!rc)
		rc = tarn__sql_prepare(db, "SELECT ?1 ->> ?2", &a->extract, "gold.db: aggregates");
	if (!rc)
		rc = tarn__sql_prepare(db, "SELECT ?1", &a->as_value, "gold.db: aggregates");
	if (rc) {
		tarn__aggregate_close(a);
		return rc;
	}
	*out = a;
	return TARN_OK;
}

void tarn__aggregate_close(tarn__aggset *a)
{
	size_t i;

	if (!a)
		return;
	native_forget(a, NULL);
	for (i = 0; i < a->n; i++)
		agg_free(a->a[i]);
	free(a->a);
	paths_truncate(a, 0);
	for (i = 0; i < TARN__JPATHS_MAX; i++)
		free(a->fb[i]);
	free(a->kb);
	sqlite3_finalize(a->to_real);
	sqlite3_finalize(a->extract);
	sqlite3_finalize(a->as_value);
	sqlite3_finalize(a->ins);
	sqlite3_finalize(a->drop_day);
	sqlite3_finalize(a->drop_all);
	sqlite3_finalize(a->stamp);
	if (a->batch[0]) {
		char sql[160];
		snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS temp.\"%s\"", a->batch);
		sqlite3_exec(a->db, sql, NULL, NULL, NULL);
	}
	for (i = 0; i < a->n_path; i++)
		free(a->path[i]);
	free(a->path);
	free(a);
}

static int set_append(tarn__aggset *a, struct agg *g)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 4;
		struct agg **n = realloc(a->a, cap * sizeof(*n));
		if (!n)
			return tarn__error_set(TARN_ENOMEM, "aggregates");
		a->a = n;
		a->cap = cap;
	}
	a->a[a->n++] = g;
	return TARN_OK;
}

int tarn__aggregate_push(tarn__aggset *a, const tarn_aggregate_def *d, int create_tables)
{
	struct agg *g;
	int rc = agg_compile(d, &g);

	if (!rc)
		rc = native_compile(a, g);
	if (!rc && !g->native)
		rc = agg_read_batch(a, g);
	if (!rc)
		rc = agg_prepare(a->db, g, create_tables);
	if (!rc)
		rc = set_append(a, g);
	if (rc) {
		agg_free(g);
		return rc;
	}
	a->n_native += g->native != 0;
	return TARN_OK;
}

size_t tarn__aggregate_count(const tarn__aggset *a)
{
	return a ? a->n : 0;
}

const char *tarn__aggregate_name(const tarn__aggset *a, size_t i)
{
	return a->a[i]->name;
}

/* Apply every open day of the native batch now (an early flush merges
 * into the state exactly as the day's last one does). */
static int flush_early(tarn__aggset *a)
{
	char date[11];
	size_t i;
	int rc = TARN_OK;

	while (!rc && a->open_groups) {
		struct group *gr = NULL;
		for (i = 0; !gr && i < a->n; i++)
			for (gr = a->a[i]->native ? a->a[i]->glist : NULL; gr && gr->done;
			     gr = gr->all)
				;
		if (!gr)
			break;
		memcpy(date, gr->date, sizeof(date));
		rc = tarn__aggregate_flush(a, date);
	}
	return rc;
}

int tarn__aggregate_add(tarn__aggset *a, const char *date, const tarn_event *ev)
{
	sqlite3_stmt *st;
	char id[37];
	int rc;

	if (!a || !a->n)
		return TARN_OK;
	a->buffered = 1;
	if (a->n_native) {
		rc = native_add(a, date, ev);
		if (!rc && a->arena_bytes > NATIVE_BATCH_BYTES && !sqlite3_get_autocommit(a->db))
			rc = flush_early(a);
		if (rc)
			return rc;
	}
	if (a->n_native == a->n)
		return TARN_OK;
	st = a->ins;
	if (ev->id_is_uuid) {
		uuid_unparse_lower(ev->id, id);
		sqlite3_bind_text(st, 1, id, 36, SQLITE_STATIC);
	} else {
		sqlite3_bind_text(st, 1, (const char *)ev->id, (int)ev->id_len, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 2, ev->time_us);
	sqlite3_bind_text(st, 3, date, 10, SQLITE_STATIC);
	if (ev->has_name)
		sqlite3_bind_text(st, 4, ev->name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_text(st, 5, ev->payload_len ? (const char *)ev->payload : "",
			  (int)ev->payload_len, SQLITE_STATIC);
	if (ev->key)
		sqlite3_bind_blob(st, 6, ev->key_len ? ev->key : "", (int)ev->key_len,
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	tarn__bind_provenance(st, 7, ev);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return tarn__error_sqlite(a->db, "gold.db: aggregate batch");
	return TARN_OK;
}

static int agg_apply(sqlite3 *db, struct agg *g, const char *date)
{
	size_t i;
	int rc = step_date(db, g->upsert, date, g->name);

	for (i = 0; !rc && i < g->n_m; i++)
		rc = step_date(db, g->m[i].distinct, date, g->name);
	if (!rc)
		rc = step_date(db, g->recount, NULL, g->name);
	if (!rc)
		rc = step_date(db, g->refresh, NULL, g->name);
	if (!rc)
		rc = step_date(db, g->untouch, NULL, g->name);
	return rc;
}

int tarn__aggregate_flush(tarn__aggset *a, const char *date)
{
	size_t i;
	int rc = TARN_OK;

	if (!a || !a->buffered)
		return TARN_OK;
	for (i = 0; !rc && i < a->n; i++) {
		int changed = 0;
		if (a->a[i]->native) {
			rc = native_apply(a, a->a[i], date, &changed);
		} else {
			rc = agg_apply(a->db, a->a[i], date);
			/* its last statement (untouch) changed one row per
			 * group that the batch changed */
			changed = sqlite3_changes(a->db) > 0;
		}
		if (!rc)
			rc = stamp_if_changed(a, a->a[i], changed);
	}
	if (!rc && a->n_native < a->n)
		rc = step_date(a->db, a->drop_day, date, "batch");
	if (!rc)
		native_forget(a, date);
	return rc;
}

int tarn__aggregate_clear_day(tarn__aggset *a, const char *date)
{
	size_t i, k;
	int rc = TARN_OK;

	if (!a || !a->n)
		return TARN_OK;
	for (i = 0; !rc && i < a->n; i++)
		for (k = 0; !rc && k < 3; k++)
			rc = step_date(a->db, a->a[i]->clear[k], date, a->a[i]->name);
	if (!rc)
		rc = step_date(a->db, a->drop_day, date, "batch");
	if (!rc)
		native_forget(a, date);
	return rc;
}

void tarn__aggregate_discard(tarn__aggset *a)
{
	if (!a || !a->buffered)
		return;
	sqlite3_step(a->drop_all);
	sqlite3_reset(a->drop_all);
	native_forget(a, NULL);
	a->buffered = 0;
}

/* ---- the catalog ---- */

static void json_str(struct sbuf *b, const char *s)
{
	sb_add(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			sb_add(b, "\\%c", c);
		else if (c < 0x20)
			sb_add(b, "\\u%04x", c);
		else
			sb_add(b, "%c", c);
	}
	sb_add(b, "\"");
}

static void json_pairs(struct sbuf *b, const tarn_aggregate_column *c, size_t n)
{
	size_t i;

	sb_add(b, "[");
	for (i = 0; i < n; i++) {
		sb_add(b, "%s[", i ? "," : "");
		json_str(b, c[i].col);
		sb_add(b, ",");
		json_str(b, c[i].expr);
		sb_add(b, "]");
	}
	sb_add(b, "]");
}

/* A declaration read from the catalog; strings owned by it. */
struct loaded {
	tarn_aggregate_def def;
	tarn_aggregate_column by[MAX_COLS], measure[MAX_COLS];
	char *strings[4 + 4 * MAX_COLS];
	size_t n_strings;
	char state[256]; /* "ready", "requested" or "failed: <reason>" */
	uint64_t rows;
};

static void loaded_free(struct loaded *l)
{
	size_t i;

	for (i = 0; i < l->n_strings; i++)
		free(l->strings[i]);
	memset(l, 0, sizeof(*l));
}

static const char *keep(struct loaded *l, const unsigned char *s)
{
	char *c = s ? strdup((const char *)s) : NULL;

	if (c)
		l->strings[l->n_strings++] = c;
	return c;
}

static int parse_pairs(sqlite3 *db, const unsigned char *json, struct loaded *l,
		       tarn_aggregate_column *out, size_t *n)
{
	sqlite3_stmt *st;
	int rc = tarn__sql_prepare(db, "SELECT value->>0, value->>1 FROM json_each(?) ORDER BY key",
				   &st, "aggregates catalog");

	*n = 0;
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, (const char *)json, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < MAX_COLS) {
		out[*n].col = keep(l, sqlite3_column_text(st, 0));
		out[*n].expr = keep(l, sqlite3_column_text(st, 1));
		if (!out[*n].col || !out[*n].expr) {
			sqlite3_finalize(st);
			return tarn__error_set(TARN_ECORRUPT, "aggregates catalog: a bad column");
		}
		(*n)++;
	}
	rc = rc == SQLITE_DONE
		     ? TARN_OK
		     : tarn__error_set(TARN_ECORRUPT, "aggregates catalog: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

typedef int (*loaded_cb)(void *ctx, struct loaded *l);

/* Call cb for each catalog row of schema in name order: every row when
 * state is NULL, else those in that state; only the row `name` when it is
 * not NULL. */
static int catalog_each(sqlite3 *db, const char *schema, const char *state, const char *name,
			loaded_cb cb, void *ctx)
{
	char sql[320];
	sqlite3_stmt *st;
	int rc, yes = 0;

	rc = has_table(db, schema, "aggregates", &yes);
	if (rc || !yes)
		return rc;
	snprintf(sql, sizeof(sql),
		 "SELECT name, every, where_expr, by_cols, measures, state FROM \"%s\".aggregates"
		 " WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR name = ?2) ORDER BY name",
		 schema);
	rc = tarn__sql_prepare(db, sql, &st, "aggregates catalog");
	if (!rc) {
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	}
	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		struct loaded l;
		memset(&l, 0, sizeof(l));
		l.def.name = keep(&l, sqlite3_column_text(st, 0));
		l.def.where = keep(&l, sqlite3_column_text(st, 2));
		snprintf(l.state, sizeof(l.state), "%s", (const char *)sqlite3_column_text(st, 5));
		rc = !l.def.name ? tarn__error_set(TARN_ECORRUPT, "aggregates catalog: no name")
				 : tarn_window_parse((const char *)sqlite3_column_text(st, 1),
						     &l.def.every);
		if (rc == TARN_EINVAL)
			rc = tarn__error_set(TARN_ECORRUPT, "aggregates catalog: %s: %s",
					     l.def.name, tarn_error_last());
		if (!rc)
			rc = parse_pairs(db, sqlite3_column_text(st, 3), &l, l.by, &l.def.n_by);
		if (!rc)
			rc = parse_pairs(db, sqlite3_column_text(st, 4), &l, l.measure,
					 &l.def.n_measures);
		l.def.by = l.by;
		l.def.measure = l.measure;
		if (!rc)
			rc = cb(ctx, &l);
		loaded_free(&l);
	}
	sqlite3_finalize(st);
	return rc;
}

struct load_ctx {
	tarn__aggset *a;
	int create_tables;
};

static int load_one(void *ctx, struct loaded *l)
{
	struct load_ctx *c = ctx;
	int rc = tarn__aggregate_push(c->a, &l->def, c->create_tables);

	if (rc == TARN_EINVAL)
		rc = tarn__error_set(TARN_ECORRUPT, "aggregates catalog: %s", tarn_error_last());
	return rc;
}

int tarn__aggregate_load(tarn__aggset *a, const char *schema, int create_tables)
{
	struct load_ctx c = { a, create_tables };

	return catalog_each(a->db, schema, "ready", NULL, load_one, &c);
}

/* ---- create, drop, list on a lake ---- */

/* A name that gold.db already has (tables, views, indexes; any case). */
static int name_taken(sqlite3 *db, const char *name, int *taken)
{
	sqlite3_stmt *st;
	int rc = tarn__sql_prepare(
		db,
		"SELECT 1 FROM sqlite_master WHERE lower(name) IN (lower(?1),"
		" lower(?1 || '__state'), lower(?1 || '__distinct'),"
		" lower(?1 || '__touched'))"
		" UNION ALL SELECT 1 FROM aggregates WHERE lower(name) = lower(?1)",
		&st, "gold.db");

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*taken = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? TARN_OK : tarn__error_sqlite(db, "gold.db");
}

static int catalog_insert(sqlite3 *db, const tarn_aggregate_def *d, const char *state)
{
	struct sbuf by = { 0 }, ms = { 0 };
	sqlite3_stmt *st = NULL;
	int rc;

	json_pairs(&by, d->by, d->n_by);
	json_pairs(&ms, d->measure, d->n_measures);
	rc = by.oom || ms.oom ? tarn__error_set(TARN_ENOMEM, "aggregates catalog") : TARN_OK;
	if (!rc)
		rc = tarn__sql_prepare(db,
				       "INSERT INTO aggregates VALUES(?, ?, ?, ?, ?, ?,"
				       " strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
				       &st, "gold.db: aggregates");
	if (!rc) {
		sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, tarn_window_name(d->every), -1, SQLITE_STATIC);
		if (d->where)
			sqlite3_bind_text(st, 3, d->where, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, by.p ? by.p : "[]", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, ms.p ? ms.p : "[]", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, state, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tarn__error_sqlite(db, "gold.db: aggregates");
	}
	sqlite3_finalize(st);
	free(by.p);
	free(ms.p);
	return rc;
}

/* Set the state of catalog row name; `only_if`: only when it is in that
 * state (NULL: whatever it is). *changed (may be NULL): whether it was. */
static int set_state(sqlite3 *db, const char *name, const char *state, const char *only_if,
		     int *changed)
{
	sqlite3_stmt *st;
	int rc = tarn__sql_prepare(db,
				   "UPDATE aggregates SET state = ?2 WHERE name = ?1"
				   " AND (?3 IS NULL OR state = ?3)",
				   &st, "gold.db: aggregates");

	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, only_if, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = tarn__error_sqlite(db, "gold.db: aggregates");
	else if (changed)
		*changed = sqlite3_changes(db) > 0;
	sqlite3_finalize(st);
	return rc;
}

struct backfill {
	tarn__aggset *a;
	const char *date;
};

static int backfill_one(void *ctx, const tarn_event *ev)
{
	struct backfill *b = ctx;

	return tarn__aggregate_add(b->a, b->date, ev);
}

/* Every shard's events into the set a (one aggregate), day by day; the
 * lake's progress callback hears after each shard. */
static int backfill(tarn_lake *lake, tarn__aggset *a)
{
	char(*dates)[11] = NULL;
	size_t n = 0, i;
	struct tarn__walk w;
	int rc = tarn__shard_list(tarn_lake_dir(lake), &dates, &n, NULL, NULL);

	if (!rc)
		tarn__lake_walk_begin(lake, &w, dates, n);
	for (i = 0; !rc && i < n; i++) {
		struct backfill b = { a, dates[i] };
		tarn__shard *s = NULL;

		rc = tarn__shard_open(&s, tarn_lake_dir(lake), dates[i], 1, 0);
		if (rc == TARN_ENOTFOUND) {
			rc = TARN_OK; /* pruned meanwhile */
			continue;
		}
		if (!rc)
			rc = tarn__shard_scan(s, INT64_MIN, INT64_MAX, 0, backfill_one, &b, NULL);
		if (!rc)
			rc = tarn__aggregate_flush(a, dates[i]);
		if (!rc)
			tarn__lake_walk_step(lake, &w, s);
		tarn__shard_close(s);
	}
	free(dates);
	return rc;
}

/* In the caller's open gold.db transaction, whose catalog has def's row:
 * create def's tables, backfill them from every shard, and make the row
 * 'ready'. */
static int build(tarn_lake *lake, const tarn_aggregate_def *def)
{
	sqlite3 *db = tarn__lake_gold_db(lake);
	tarn__aggset *a = NULL;
	int rc = tarn__aggregate_open(&a, db);

	if (!rc)
		rc = tarn__aggregate_push(a, def, 1);
	if (!rc)
		rc = backfill(lake, a);
	if (!rc)
		rc = set_state(db, def->name, "ready", NULL, NULL);
	tarn__aggregate_discard(a);
	tarn__aggregate_close(a);
	return rc;
}

/* COMMIT when rc is TARN_OK, else ROLLBACK keeping rc and its message. */
static int end_txn(sqlite3 *db, int rc)
{
	if (!rc)
		rc = tarn__sql_exec(db, "COMMIT", "gold.db");
	if (rc)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int tarn_aggregate_create(tarn_lake *lake, const tarn_aggregate_def *def)
{
	sqlite3 *db;
	int rc, taken = 0;

	rc = tarn_aggregate_check(def);
	if (!rc)
		rc = tarn__lake_settle(lake);
	if (rc)
		return rc;
	db = tarn__lake_gold_db(lake);
	rc = tarn__sql_exec(db, "BEGIN IMMEDIATE", "gold.db");
	if (rc)
		return rc;
	rc = name_taken(db, def->name, &taken);
	if (!rc && taken)
		rc = tarn__error_set(TARN_EINVAL, "'%s' is already a table or aggregate of gold.db",
				     def->name);
	if (!rc)
		rc = catalog_insert(db, def, "building");
	if (!rc)
		rc = build(lake, def);
	rc = end_txn(db, rc);
	return rc ? rc : tarn__lake_reload_aggregates(lake);
}

/* gold.db of the lake in dir, opened for writing beside its writer. */
static int open_gold(const char *dir, sqlite3 **db)
{
	char *path = tarn__path_join(dir, "gold.db");
	int rc;

	*db = NULL;
	if (!path)
		return tarn__error_set(TARN_ENOMEM, "gold.db");
	rc = tarn__sql_open(db, path, 0, 0);
	if (rc == TARN_ENOTFOUND)
		rc = tarn__error_set(TARN_ENOTFOUND, "%s: no lake here (no gold.db)", dir);
	free(path);
	return rc;
}

int tarn_aggregate_request(const char *dir, const tarn_aggregate_def *def)
{
	sqlite3 *db = NULL;
	int rc, taken = 0, yes = 0;

	rc = tarn_aggregate_check(def);
	if (!rc)
		rc = open_gold(dir, &db);
	/* the writer's batch holds gold.db's write lock until its commit:
	 * a Kafka batch for batch_ms, a file's for 100,000 lines */
	if (!rc)
		sqlite3_busy_timeout(db, 60000);
	if (!rc)
		rc = has_table(db, "main", "aggregates", &yes);
	if (!rc && !yes)
		rc = tarn__error_set(TARN_ECORRUPT, "%s: gold.db has no aggregates catalog", dir);
	if (!rc)
		rc = tarn__sql_exec(db, "BEGIN IMMEDIATE", "gold.db");
	if (rc) {
		sqlite3_close(db);
		return rc;
	}
	rc = name_taken(db, def->name, &taken);
	if (!rc && taken)
		rc = tarn__error_set(TARN_EINVAL, "'%s' is already a table or aggregate of gold.db",
				     def->name);
	if (!rc)
		rc = catalog_insert(db, def, "requested");
	rc = end_txn(db, rc);
	sqlite3_close(db);
	return rc;
}

int tarn_aggregate_withdraw(const char *dir, const char *name)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = open_gold(dir, &db);

	if (!rc)
		rc = tarn__sql_prepare(db,
				       "DELETE FROM aggregates WHERE name = ?"
				       " AND (state = 'requested' OR state LIKE 'failed:%')",
				       &st, "gold.db: aggregates");
	if (!rc) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tarn__error_sqlite(db, "gold.db: aggregates");
		else if (sqlite3_changes(db) == 0)
			rc = tarn__error_set(TARN_ENOTFOUND,
					     "no requested or failed aggregate '%s'", name);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* The requests of the catalog, moved out of catalog_each's rows. */
struct requests {
	struct loaded **l;
	size_t n, cap;
};

static int take_one(void *ctx, struct loaded *l)
{
	struct requests *r = ctx;
	struct loaded *c;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4;
		struct loaded **n = realloc(r->l, cap * sizeof(*n));
		if (!n)
			return tarn__error_set(TARN_ENOMEM, "aggregates");
		r->l = n;
		r->cap = cap;
	}
	c = malloc(sizeof(*c));
	if (!c)
		return tarn__error_set(TARN_ENOMEM, "aggregates");
	*c = *l;
	c->def.by = c->by;
	c->def.measure = c->measure;
	l->n_strings = 0; /* the strings are c's now */
	r->l[r->n++] = c;
	return TARN_OK;
}

/* Build the requested aggregate l in its own transaction; a request that
 * cannot be built becomes 'failed: <reason>' for its requester to read.
 * *built: whether it became ready. */
static int adopt(tarn_lake *lake, struct loaded *l, int *built)
{
	sqlite3 *db = tarn__lake_gold_db(lake);
	char state[256];
	int rc, mine = 0;

	*built = 0;
	rc = tarn__sql_exec(db, "BEGIN IMMEDIATE", "gold.db");
	if (rc)
		return rc; /* busy: the next commit tries again */
	/* still asked for (not withdrawn meanwhile): claim it */
	rc = set_state(db, l->def.name, "building", "requested", &mine);
	if (!rc && mine)
		rc = tarn_aggregate_check(&l->def);
	if (!rc && mine)
		rc = build(lake, &l->def);
	if (!rc && mine)
		*built = 1;
	rc = end_txn(db, rc);
	if (!rc || !mine)
		return rc;
	snprintf(state, sizeof(state), "failed: %s", tarn_error_last());
	set_state(db, l->def.name, state, "requested", NULL);
	return TARN_OK;
}

int tarn__aggregate_take_requests(tarn_lake *lake)
{
	struct requests r = { NULL, 0, 0 };
	size_t i;
	int stop, any = 0;

	if (!tarn__lake_idle(lake))
		return TARN_OK;
	/* A request that cannot be read or started now (gold.db busy, no
	 * memory) stays 'requested' for the next commit: only a failure to
	 * maintain what is built is the caller's error. */
	stop = catalog_each(tarn__lake_gold_db(lake), "main", "requested", NULL, take_one, &r);
	for (i = 0; i < r.n; i++) {
		int built = 0;
		if (!stop)
			stop = adopt(lake, r.l[i], &built);
		any |= built;
		loaded_free(r.l[i]);
		free(r.l[i]);
	}
	free(r.l);
	return any ? tarn__lake_reload_aggregates(lake) : TARN_OK;
}

int tarn_aggregate_drop(tarn_lake *lake, const char *name)
{
	struct sbuf sql = { 0 };
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rc = tarn__lake_settle(lake);

	if (rc)
		return rc;
	if (!is_ident(name) || strstr(name, "__"))
		return tarn__error_set(TARN_ENOTFOUND, "no aggregate '%s'", name ? name : "");
	db = tarn__lake_gold_db(lake);
	rc = tarn__sql_exec(db, "BEGIN IMMEDIATE", "gold.db");
	if (!rc)
		rc = tarn__sql_prepare(db, "DELETE FROM aggregates WHERE name = ?", &st,
				       "gold.db: aggregates");
	if (!rc) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = tarn__error_sqlite(db, "gold.db: aggregates");
		else if (sqlite3_changes(db) == 0)
			rc = tarn__error_set(TARN_ENOTFOUND, "no aggregate '%s'", name);
	}
	sqlite3_finalize(st);
	sb_add(&sql,
	       "DROP TABLE IF EXISTS \"%s\"; DROP TABLE IF EXISTS \"%s__state\";"
	       " DROP TABLE IF EXISTS \"%s__distinct\";"
	       " DELETE FROM aggregate_updates WHERE name = '%s';",
	       name, name, name, name);
	if (!rc)
		rc = sql.oom ? tarn__error_set(TARN_ENOMEM, "aggregate drop")
			     : tarn__sql_exec(db, sql.p, "gold.db: drop aggregate");
	free(sql.p);
	if (!rc)
		rc = tarn__sql_exec(db, "COMMIT", "gold.db");
	if (rc) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return tarn__lake_reload_aggregates(lake);
}

struct list_ctx {
	sqlite3 *db;
	tarn_aggregate_cb cb;
	void *ctx;
	tarn__aggset *scratch; /* path_of's */
};

/* "native" when d is on the native path in a set whose earlier
 * declarations are those s holds, else "sql": the same decision as the
 * lake's set makes (native_compile), its path budget included. s: a
 * scratch set of list's; a ready declaration keeps its paths in s, as it
 * does in the lake's set. */
static const char *path_of(tarn__aggset *s, const tarn_aggregate_def *d, int ready)
{
	struct agg *g = NULL;
	int n_jp = s->n_jp, native = 0;

	if (agg_compile(d, &g) == TARN_OK && native_compile(s, g) == TARN_OK)
		native = g->native;
	if (!ready)
		paths_truncate(s, n_jp);
	agg_free(g);
	return native ? "native" : "sql";
}

static int list_one(void *ctx, struct loaded *l)
{
	struct list_ctx *c = ctx;
	tarn_aggregate_info info;
	char sql[160];
	sqlite3_stmt *st;
	int rc;

	info.rows = 0;
	if (strcmp(l->state, "ready") == 0) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", l->def.name);
		rc = tarn__sql_prepare(c->db, sql, &st, "gold.db");
		if (rc)
			return rc;
		if (sqlite3_step(st) == SQLITE_ROW)
			info.rows = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	rc = updated_us_get(c->db, l->def.name, &info.updated_us);
	if (rc)
		return rc;
	info.def = l->def;
	info.state = l->state;
	info.path = path_of(c->scratch, &l->def, strcmp(l->state, "ready") == 0);
	return c->cb(c->ctx, &info);
}

int tarn_aggregate_list(tarn_lake *lake, tarn_aggregate_cb cb, void *ctx)
{
	struct list_ctx c = { tarn__lake_gold_db(lake), cb, ctx, NULL };
	int rc;

	c.scratch = calloc(1, sizeof(*c.scratch));
	if (!c.scratch)
		return tarn__error_set(TARN_ENOMEM, "aggregates");
	c.scratch->db = c.db;
	rc = catalog_each(c.db, "main", NULL, NULL, list_one, &c);
	paths_truncate(c.scratch, 0);
	free(c.scratch);
	return rc;
}
