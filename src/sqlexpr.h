/* Library-internal: a small subset of SQLite's scalar expressions,
 * evaluated in C with SQLite's own rules, for the declared aggregates'
 * native path (aggregate.c). A declaration whose every expression is in
 * the subset is maintained without a round trip through SQL per event;
 * any other expression is left to SQLite as written.
 *
 * The subset (https://sqlite.org/lang_expr.html): the columns event_id,
 * event_time, event_date, event_name, topic, partition and "offset";
 * payload->>'$.a.b' (keys of nested objects); string and numeric literals
 * (a leading minus included); parentheses; = == != <> < <= > >=; IS NULL,
 * IS NOT NULL, ISNULL, NOTNULL; AND, OR, NOT. A comparison of a column
 * with something of another affinity (event_name = 5, where SQLite would
 * convert) is outside it. Values compare as sqlite3 orders them with the
 * BINARY collation (https://sqlite.org/datatype3.html, "Comparison
 * Expressions"); AND, OR and NOT follow SQL's three-valued logic. */
#ifndef TARN_SQLEXPR_H
#define TARN_SQLEXPR_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/* A value as SQLite holds it. type: SQLITE_NULL, SQLITE_INTEGER (i),
 * SQLITE_FLOAT (r; s/n: the number's text as written in the JSON, when it
 * came from there, else NULL) or SQLITE_TEXT (s: n bytes, borrowed). */
typedef struct tarn__xval {
	int type;
	int64_t i;
	double r;
	const char *s;
	size_t n;
} tarn__xval;

/* The columns of the events view the subset reads, in the order of the
 * cols array given to tarn__sqlexpr_eval. */
enum tarn__xcol {
	TARN__XCOL_EVENT_ID,
	TARN__XCOL_EVENT_TIME,
	TARN__XCOL_EVENT_DATE,
	TARN__XCOL_EVENT_NAME,
	TARN__XCOL_TOPIC,
	TARN__XCOL_PARTITION,
	TARN__XCOL_OFFSET,
	TARN__XCOL_COUNT
};

typedef struct tarn__sqlexpr tarn__sqlexpr;

/* The caller's slot for a JSON path (path: the SQL literal's text without
 * its quotes, "$.a.b", len bytes): an index into the paths array given to
 * tarn__sqlexpr_eval, or -1 when it has no room (the expression is then
 * left to SQLite). */
typedef int (*tarn__xpath_slot)(void *ctx, const char *path, size_t len);

/* Compile sql (NUL-terminated) when it is in the subset. *out: the
 * compiled expression (the caller's, tarn__sqlexpr_free), or NULL when sql
 * is outside the subset. db evaluates numeric literals once, so that each
 * is the value SQLite reads from its text. Returns TARN_OK, or
 * TARN_ENOMEM. */
int tarn__sqlexpr_compile(sqlite3 *db, const char *sql, tarn__xpath_slot slot, void *ctx,
			  tarn__sqlexpr **out);

/* Evaluate e over one row: cols[TARN__XCOL_COUNT] and the paths' values.
 * *out may borrow text from cols, paths and e. A comparison, IS NULL,
 * AND, OR and NOT give INTEGER 0 or 1, or NULL. */
void tarn__sqlexpr_eval(const tarn__sqlexpr *e, const tarn__xval *cols, const tarn__xval *paths,
			tarn__xval *out);

/* 1 when e over the row is true (a WHERE or FILTER keeps the row): an
 * INTEGER or REAL other than 0. Text is never true here: an expression
 * that is a bare value is outside the subset of predicates (see
 * tarn__sqlexpr_is_predicate). */
int tarn__sqlexpr_true(const tarn__sqlexpr *e, const tarn__xval *cols, const tarn__xval *paths);

/* 1 when e is a comparison, IS NULL, AND, OR or NOT (its value is 0, 1 or
 * NULL), 0 for a column, path or literal. */
int tarn__sqlexpr_is_predicate(const tarn__sqlexpr *e);

/* SQLite's order of two values (NULL < numbers < text; numbers by value,
 * an INTEGER and a REAL exactly; text by memcmp, then length): < 0, 0,
 * > 0. */
int tarn__xval_cmp(const tarn__xval *a, const tarn__xval *b);

/* NULL is allowed. */
void tarn__sqlexpr_free(tarn__sqlexpr *e);

#endif
