/* A subset of SQLite's scalar expressions, evaluated in C (sqlexpr.h). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tarn/error.h"
#include "sqlexpr.h"

enum op {
	X_COL,
	X_PATH,
	X_LIT,
	X_EQ,
	X_NE,
	X_LT,
	X_LE,
	X_GT,
	X_GE,
	X_ISNULL,
	X_NOTNULL,
	X_AND,
	X_OR,
	X_NOT
};

/* A column's affinity class for comparisons: text, numeric, or none. */
enum aff { A_NONE, A_TEXT, A_NUM };

struct tarn__sqlexpr {
	enum op op;
	int slot;	/* X_COL: the column; X_PATH: the caller's path slot */
	tarn__xval lit; /* X_LIT */
	char *text;	/* X_LIT: the string's bytes (lit.s) */
	struct tarn__sqlexpr *l, *r;
};

static const char *const col_names[TARN__XCOL_COUNT] = {
	[TARN__XCOL_EVENT_ID] = "event_id",	[TARN__XCOL_EVENT_TIME] = "event_time",
	[TARN__XCOL_EVENT_DATE] = "event_date", [TARN__XCOL_EVENT_NAME] = "event_name",
	[TARN__XCOL_TOPIC] = "topic",		[TARN__XCOL_PARTITION] = "partition",
	[TARN__XCOL_OFFSET] = "offset",
};

/* ---- tokens ---- */

enum tok { T_END, T_WORD, T_QWORD, T_STR, T_NUM, T_OP, T_LP, T_RP, T_BAD };

struct parser {
	sqlite3 *db;
	const char *s;
	enum tok t;
	const char *at; /* the token's text */
	size_t len;
	tarn__xpath_slot slot;
	void *ctx;
	int outside, oom; /* not in the subset; out of memory */
};

static void next(struct parser *p)
{
	const char *s = p->s;
	size_t n = 0;

	while (isspace((unsigned char)*s))
		s++;
	p->at = s;
	if (!*s) {
		p->t = T_END;
	} else if (isalpha((unsigned char)*s) || *s == '_') {
		while (isalnum((unsigned char)s[n]) || s[n] == '_')
			n++;
		p->t = T_WORD;
	} else if (isdigit((unsigned char)*s) || (*s == '.' && isdigit((unsigned char)s[1]))) {
		while (isdigit((unsigned char)s[n]))
			n++;
		if (s[n] == '.')
			for (n++; isdigit((unsigned char)s[n]); n++)
				;
		if ((s[n] == 'e' || s[n] == 'E') &&
		    (isdigit((unsigned char)s[n + 1]) ||
		     ((s[n + 1] == '+' || s[n + 1] == '-') && isdigit((unsigned char)s[n + 2]))))
			for (n += 2; isdigit((unsigned char)s[n]); n++)
				;
		p->t = isalpha((unsigned char)s[n]) || s[n] == '_' ? T_BAD : T_NUM;
	} else if (*s == '\'' || *s == '"') {
		for (n = 1; s[n]; n++) {
			if (s[n] == *s) {
				if (s[n + 1] != *s)
					break;
				n++;
			}
		}
		p->t = s[n] ? (*s == '\'' ? T_STR : T_QWORD) : T_BAD;
		n += s[n] ? 1 : 0;
	} else if (*s == '(' || *s == ')') {
		n = 1;
		p->t = *s == '(' ? T_LP : T_RP;
	} else {
		static const char *const ops[] = { "->>", "==", "!=", "<>", "<=",
						   ">=",  "=",	"<",  ">",  "-" };
		size_t i;
		p->t = T_BAD;
		for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			if (strncmp(s, ops[i], strlen(ops[i])) == 0) {
				n = strlen(ops[i]);
				p->t = T_OP;
				break;
			}
		}
	}
	p->len = n;
	p->s = s + n;
}

static int is_op(const struct parser *p, const char *op)
{
	return p->t == T_OP && p->len == strlen(op) && memcmp(p->at, op, p->len) == 0;
}

static int is_word(const struct parser *p, const char *w)
{
	return p->t == T_WORD && p->len == strlen(w) &&
	       sqlite3_strnicmp(p->at, w, (int)p->len) == 0;
}

/* The text between a quoted token's quotes, doubled quotes undone;
 * malloc'd (NULL: no memory). */
static char *unquote(const char *at, size_t len, size_t *out_len)
{
	char *t = malloc(len), q = at[0];
	size_t i, k = 0;

	if (!t)
		return NULL;
	for (i = 1; i + 1 < len; i++) {
		t[k++] = at[i];
		if (at[i] == q)
			i++;
	}
	t[k] = '\0';
	*out_len = k;
	return t;
}

static struct tarn__sqlexpr *node(struct parser *p, enum op op)
{
	struct tarn__sqlexpr *e = calloc(1, sizeof(*e));

	if (!e)
		p->oom = 1;
	else
		e->op = op;
	return e;
}

static struct tarn__sqlexpr *outside(struct parser *p, struct tarn__sqlexpr *e)
{
	p->outside = 1;
	tarn__sqlexpr_free(e);
	return NULL;
}

/* A numeric literal (with its minus sign) as SQLite reads it. */
static struct tarn__sqlexpr *number(struct parser *p, const char *at, size_t len)
{
	struct tarn__sqlexpr *e;
	sqlite3_stmt *st = NULL;
	char sql[96];
	int type;

	if (len > 64)
		return outside(p, NULL);
	snprintf(sql, sizeof(sql), "SELECT %.*s", (int)len, at);
	if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return outside(p, NULL);
	}
	type = sqlite3_column_type(st, 0);
	e = node(p, X_LIT);
	if (e && (type == SQLITE_INTEGER || type == SQLITE_FLOAT)) {
		e->lit.type = type;
		e->lit.i = sqlite3_column_int64(st, 0);
		e->lit.r = sqlite3_column_double(st, 0);
	} else if (e) {
		e = outside(p, e);
	}
	sqlite3_finalize(st);
	return e;
}

/* payload ->> '<path>', after the word payload. */
static struct tarn__sqlexpr *path(struct parser *p)
{
	struct tarn__sqlexpr *e;
	size_t n, i;
	char *t;
	int slot;

	next(p);
	if (!is_op(p, "->>"))
		return outside(p, NULL);
	next(p);
	if (p->t != T_STR)
		return outside(p, NULL);
	t = unquote(p->at, p->len, &n);
	if (!t) {
		p->oom = 1;
		return NULL;
	}
	/* $.key(.key)*: keys without quotes or brackets, none empty */
	if (n < 3 || t[0] != '$' || t[1] != '.' || t[n - 1] == '.' || strstr(t, "..") ||
	    strpbrk(t, "[]\"")) {
		free(t);
		return outside(p, NULL);
	}
	for (i = 0; i < n; i++)
		if (t[i] == '\0') {
			free(t);
			return outside(p, NULL);
		}
	slot = p->slot(p->ctx, t, n);
	free(t);
	if (slot < 0)
		return outside(p, NULL);
	e = node(p, X_PATH);
	if (e)
		e->slot = slot;
	next(p);
	return e;
}

static struct tarn__sqlexpr *parse_or(struct parser *p);

static struct tarn__sqlexpr *primary(struct parser *p)
{
	struct tarn__sqlexpr *e = NULL;
	size_t i;

	if (p->t == T_LP) {
		next(p);
		e = parse_or(p);
		if (!e)
			return NULL;
		if (p->t != T_RP)
			return outside(p, e);
		next(p);
		return e;
	}
	if (p->t == T_NUM || is_op(p, "-")) {
		const char *at = p->at;
		if (is_op(p, "-")) {
			next(p);
			if (p->t != T_NUM)
				return outside(p, NULL);
		}
		e = number(p, at, (size_t)(p->at + p->len - at));
		next(p);
		return e;
	}
	if (p->t == T_STR) {
		e = node(p, X_LIT);
		if (e) {
			e->text = unquote(p->at, p->len, &e->lit.n);
			if (!e->text) {
				p->oom = 1;
				tarn__sqlexpr_free(e);
				return NULL;
			}
			if (memchr(e->text, '\0', e->lit.n))
				return outside(p, e);
			e->lit.type = SQLITE_TEXT;
			e->lit.s = e->text;
		}
		next(p);
		return e;
	}
	if (p->t == T_WORD || p->t == T_QWORD) {
		size_t n = p->len;
		const char *w = p->at;
		if (p->t == T_QWORD) {
			w++;
			n -= 2;
		}
		if (n == 7 && sqlite3_strnicmp(w, "payload", 7) == 0)
			return path(p);
		for (i = 0; i < TARN__XCOL_COUNT; i++) {
			if (strlen(col_names[i]) == n &&
			    sqlite3_strnicmp(w, col_names[i], (int)n) == 0)
				break;
		}
		/* offset is a keyword: only "offset" names the column */
		if (i == TARN__XCOL_COUNT || (i == TARN__XCOL_OFFSET && p->t != T_QWORD) ||
		    memchr(w, '"', n))
			return outside(p, NULL);
		e = node(p, X_COL);
		if (e)
			e->slot = (int)i;
		next(p);
		return e;
	}
	return outside(p, NULL);
}

static enum aff affinity(const struct tarn__sqlexpr *e)
{
	if (e->op != X_COL)
		return A_NONE;
	return e->slot == TARN__XCOL_EVENT_TIME || e->slot == TARN__XCOL_PARTITION ||
			       e->slot == TARN__XCOL_OFFSET
		       ? A_NUM
		       : A_TEXT;
}

/* SQLite would convert one side before comparing (datatype3.html, "Type
 * Conversions Prior To Comparison"): outside the subset, unless the other
 * side already is of that type. */
static int converts(const struct tarn__sqlexpr *a, const struct tarn__sqlexpr *b)
{
	enum aff fa = affinity(a), fb = affinity(b);

	if (fa == fb)
		return 0;
	if (fa == A_NONE && a->op == X_LIT)
		return fb == A_TEXT ? a->lit.type != SQLITE_TEXT : a->lit.type == SQLITE_TEXT;
	if (fb == A_NONE && b->op == X_LIT)
		return converts(b, a);
	return 1;
}

static struct tarn__sqlexpr *binary(struct parser *p, enum op op, struct tarn__sqlexpr *l,
				    struct tarn__sqlexpr *r)
{
	struct tarn__sqlexpr *e;

	if (!l || !r) {
		tarn__sqlexpr_free(l);
		tarn__sqlexpr_free(r);
		return NULL;
	}
	if (op <= X_GE && converts(l, r)) {
		tarn__sqlexpr_free(l);
		return outside(p, r);
	}
	e = node(p, op);
	if (!e) {
		tarn__sqlexpr_free(l);
		tarn__sqlexpr_free(r);
		return NULL;
	}
	e->l = l;
	e->r = r;
	return e;
}

static struct tarn__sqlexpr *relational(struct parser *p)
{
	static const struct {
		const char *op;
		enum op x;
	} rel[] = { { "<", X_LT }, { "<=", X_LE }, { ">", X_GT }, { ">=", X_GE } };
	struct tarn__sqlexpr *e = primary(p);
	size_t i;

	while (e) {
		for (i = 0; i < 4 && !is_op(p, rel[i].op); i++)
			;
		if (i == 4)
			break;
		next(p);
		e = binary(p, rel[i].x, e, primary(p));
	}
	return e;
}

static struct tarn__sqlexpr *equality(struct parser *p)
{
	struct tarn__sqlexpr *e = relational(p), *u;

	while (e) {
		enum op op;
		if (is_op(p, "=") || is_op(p, "==")) {
			op = X_EQ;
		} else if (is_op(p, "!=") || is_op(p, "<>")) {
			op = X_NE;
		} else if (is_word(p, "ISNULL") || is_word(p, "NOTNULL") || is_word(p, "IS")) {
			op = is_word(p, "NOTNULL") ? X_NOTNULL : X_ISNULL;
			if (is_word(p, "IS")) {
				next(p);
				if (is_word(p, "NOT")) {
					op = X_NOTNULL;
					next(p);
				}
				if (!is_word(p, "NULL"))
					return outside(p, e);
			}
			next(p);
			u = node(p, op);
			if (!u) {
				tarn__sqlexpr_free(e);
				return NULL;
			}
			u->l = e;
			e = u;
			continue;
		} else {
			break;
		}
		next(p);
		e = binary(p, op, e, relational(p));
	}
	return e;
}

static struct tarn__sqlexpr *negation(struct parser *p)
{
	struct tarn__sqlexpr *e, *n;

	if (!is_word(p, "NOT"))
		return equality(p);
	next(p);
	e = negation(p);
	if (!e)
		return NULL;
	n = node(p, X_NOT);
	if (!n) {
		tarn__sqlexpr_free(e);
		return NULL;
	}
	n->l = e;
	return n;
}

static struct tarn__sqlexpr *conjunction(struct parser *p)
{
	struct tarn__sqlexpr *e = negation(p);

	while (e && is_word(p, "AND")) {
		next(p);
		e = binary(p, X_AND, e, negation(p));
	}
	return e;
}

static struct tarn__sqlexpr *parse_or(struct parser *p)
{
	struct tarn__sqlexpr *e = conjunction(p);

	while (e && is_word(p, "OR")) {
		next(p);
		e = binary(p, X_OR, e, conjunction(p));
	}
	return e;
}

/* AND, OR and NOT take predicates only: the truth of a bare value (text
 * read as a number) is left to SQLite. */
static int logic_ok(const struct tarn__sqlexpr *e)
{
	if (!e)
		return 1;
	if (e->op == X_AND || e->op == X_OR || e->op == X_NOT)
		return tarn__sqlexpr_is_predicate(e->l) &&
		       (!e->r || tarn__sqlexpr_is_predicate(e->r)) && logic_ok(e->l) &&
		       logic_ok(e->r);
	return logic_ok(e->l) && logic_ok(e->r);
}

int tarn__sqlexpr_compile(sqlite3 *db, const char *sql, tarn__xpath_slot slot, void *ctx,
			  tarn__sqlexpr **out)
{
	struct parser p = { .db = db, .s = sql, .slot = slot, .ctx = ctx };
	struct tarn__sqlexpr *e;

	*out = NULL;
	next(&p);
	e = parse_or(&p);
	if (p.oom) {
		tarn__sqlexpr_free(e);
		return TARN_ENOMEM;
	}
	if (!e || p.outside || p.t != T_END || !logic_ok(e)) {
		tarn__sqlexpr_free(e);
		return TARN_OK;
	}
	*out = e;
	return TARN_OK;
}

void tarn__sqlexpr_free(tarn__sqlexpr *e)
{
	if (!e)
		return;
	tarn__sqlexpr_free(e->l);
	tarn__sqlexpr_free(e->r);
	free(e->text);
	free(e);
}

int tarn__sqlexpr_is_predicate(const tarn__sqlexpr *e)
{
	return e->op >= X_EQ;
}

/* ---- evaluation ---- */

/* The sign of i - r, exactly (r is not NaN: JSON has none). */
static int int_real_cmp(int64_t i, double r)
{
	double f;
	int64_t fi;

	if (r < -9223372036854775808.0)
		return 1;
	if (r >= 9223372036854775808.0)
		return -1;
	f = floor(r);
	fi = (int64_t)f;
	if (i != fi)
		return i < fi ? -1 : 1;
	return r > f ? -1 : 0;
}

static int class_of(int type)
{
	switch (type) {
	case SQLITE_NULL: return 0;
	case SQLITE_INTEGER:
	case SQLITE_FLOAT: return 1;
	case SQLITE_TEXT: return 2;
	default: return 3;
	}
}

int tarn__xval_cmp(const tarn__xval *a, const tarn__xval *b)
{
	int ca = class_of(a->type), cb = class_of(b->type), c;

	if (ca != cb)
		return ca < cb ? -1 : 1;
	if (ca == 0)
		return 0;
	if (ca == 1) {
		if (a->type == SQLITE_INTEGER && b->type == SQLITE_INTEGER)
			return a->i < b->i ? -1 : a->i > b->i;
		if (a->type == SQLITE_FLOAT && b->type == SQLITE_FLOAT)
			return a->r < b->r ? -1 : a->r > b->r;
		if (a->type == SQLITE_INTEGER)
			return int_real_cmp(a->i, b->r);
		return -int_real_cmp(b->i, a->r);
	}
	c = memcmp(a->s, b->s, a->n < b->n ? a->n : b->n);
	if (c)
		return c;
	return a->n < b->n ? -1 : a->n > b->n;
}

static void set_truth(tarn__xval *out, int t) /* t: 0, 1, or -1 for NULL */
{
	memset(out, 0, sizeof(*out));
	if (t < 0) {
		out->type = SQLITE_NULL;
	} else {
		out->type = SQLITE_INTEGER;
		out->i = t;
	}
}

/* 1, 0, or -1 (NULL) of a predicate's value. */
static int truth(const tarn__xval *v)
{
	if (v->type == SQLITE_NULL)
		return -1;
	return v->type == SQLITE_INTEGER ? v->i != 0 : v->r != 0;
}

void tarn__sqlexpr_eval(const tarn__sqlexpr *e, const tarn__xval *cols, const tarn__xval *paths,
			tarn__xval *out)
{
	tarn__xval a, b;
	int c, ta, tb;

	switch (e->op) {
	case X_COL: *out = cols[e->slot]; return;
	case X_PATH: *out = paths[e->slot]; return;
	case X_LIT: *out = e->lit; return;
	case X_ISNULL:
	case X_NOTNULL:
		tarn__sqlexpr_eval(e->l, cols, paths, &a);
		set_truth(out, (a.type == SQLITE_NULL) == (e->op == X_ISNULL));
		return;
	case X_NOT:
		tarn__sqlexpr_eval(e->l, cols, paths, &a);
		ta = truth(&a);
		set_truth(out, ta < 0 ? -1 : !ta);
		return;
	case X_AND:
	case X_OR:
		tarn__sqlexpr_eval(e->l, cols, paths, &a);
		ta = truth(&a);
		if (ta == (e->op == X_OR)) {
			set_truth(out, ta);
			return;
		}
		tarn__sqlexpr_eval(e->r, cols, paths, &b);
		tb = truth(&b);
		if (tb == (e->op == X_OR))
			set_truth(out, tb);
		else
			set_truth(out, ta < 0 || tb < 0 ? -1 : tb);
		return;
	default: break;
	}
	tarn__sqlexpr_eval(e->l, cols, paths, &a);
	tarn__sqlexpr_eval(e->r, cols, paths, &b);
	if (a.type == SQLITE_NULL || b.type == SQLITE_NULL) {
		set_truth(out, -1);
		return;
	}
	c = tarn__xval_cmp(&a, &b);
	switch (e->op) {
	case X_EQ: set_truth(out, c == 0); break;
	case X_NE: set_truth(out, c != 0); break;
	case X_LT: set_truth(out, c < 0); break;
	case X_LE: set_truth(out, c <= 0); break;
	case X_GT: set_truth(out, c > 0); break;
	default: set_truth(out, c >= 0); break;
	}
}

int tarn__sqlexpr_true(const tarn__sqlexpr *e, const tarn__xval *cols, const tarn__xval *paths)
{
	tarn__xval v;

	tarn__sqlexpr_eval(e, cols, paths, &v);
	return truth(&v) == 1;
}
