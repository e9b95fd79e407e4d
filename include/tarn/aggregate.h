/* tarn/aggregate.h - declared aggregates: gold tables that users declare.
 *
 * A declared aggregate is a GROUP BY over the `events` view (tarn/query.h)
 * with a UTC window (day, hour or minute), group-by expressions, measures
 * and an optional WHERE. Its table in gold.db holds, after every commit,
 * exactly the rows of
 *
 *     SELECT event_date, [window_start,] <by...>, <measures...>
 *     FROM events WHERE <where> GROUP BY event_date, [window_start,] <by...>
 *
 * over every stored (deduplicated) event: it is updated in the same gold.db
 * transaction as the raw events' batch (tarn_lake_commit), recomputed by
 * tarn_lake_verify and tarn_gold_rebuild through the same code, and
 * backfilled from every shard when it is created. The catalog table
 * `aggregates` in gold.db is the one place that says which exist
 * (docs/FORMAT.md, "Declared aggregates").
 *
 * Exactness (README.md, "Declare your own gold"): counts and distinct
 * counts are exact (the distinct values are kept on disk); sum over
 * integers is exact and an out-of-range result is an error, not a wrap;
 * sum and avg over decimals are summed exactly in decimal (GMP) from each
 * value's decimal text, and rounded once when stored.
 *
 * Not thread-safe: use the lake handle from one thread.
 */
#ifndef TARN_AGGREGATE_H
#define TARN_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#include "tarn/lake.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The width of an aggregate's time window (UTC, by event_time). */
typedef enum tarn_window {
	TARN_WINDOW_DAY = 0, /* one row per event_date (and group) */
	TARN_WINDOW_HOUR,    /* and per window_start "YYYY-MM-DDTHH:00:00Z" */
	TARN_WINDOW_MINUTE   /* and per window_start "YYYY-MM-DDTHH:MM:00Z" */
} tarn_window;

/* A named column and the SQL text that computes it. */
typedef struct tarn_aggregate_column {
	const char *col;  /* column name: a plain identifier [A-Za-z_][A-Za-z0-9_]*,
			     at most 64 bytes */
	const char *expr; /* --by: a scalar expression; --measure: an AGG (below) */
} tarn_aggregate_column;

/* A declaration, as given to tarn_aggregate_create or read back by
 * tarn_aggregate_list. Every string is NUL-terminated UTF-8.
 *
 * Expressions are SQLite scalar expressions ("SQL As Understood By
 * SQLite": expr) over the events view's columns event_id, event_time,
 * event_date, event_name, payload, key, topic, partition, "offset", e.g.
 * payload->>'$.properties.net' ("JSON Functions And Operators", the ->>
 * operator). Deterministic functions only; subqueries, other tables,
 * aggregate and window functions are refused.
 * A measure's AGG is one of count(*), count(E), sum(E), avg(E), min(E),
 * max(E), count(DISTINCT E), optionally followed by FILTER (WHERE E)
 * ("SQL As Understood By SQLite": aggregate functions, the FILTER clause),
 * keywords in any case. */
typedef struct tarn_aggregate_def {
	const char *name;		      /* the table's name: a plain identifier, at
						 most 64 bytes, not starting with "tarn"
						 or "sqlite", not containing "__" */
	tarn_window every;		      /* the window */
	const char *where;		      /* a scalar expression, or NULL: every event */
	const tarn_aggregate_column *by;      /* n_by group-by columns, in order */
	size_t n_by;			      /* 0..32 */
	const tarn_aggregate_column *measure; /* n_measures measures, in order */
	size_t n_measures;		      /* 1..32 */
} tarn_aggregate_def;

/* Check a declaration without a lake: names, the AGG forms and every
 * expression (by preparing it on a private in-memory SQLite connection as
 * a STORED generated column of a table with the events view's columns,
 * which SQLite allows only for deterministic scalar expressions: "Generated
 * Columns", section 2.3; and under an authorizer, "Compile-Time
 * Authorization Callbacks", that names a non-deterministic function).
 *
 * def: the declaration; not kept.
 * Returns TARN_OK; TARN_EINVAL with a message (tarn_error_last) naming the
 * offending part: a bad or reserved name, a column name given twice, an
 * AGG that is not one of the forms, or an expression SQLite refuses
 * (syntax, an unknown column or table, a subquery, an aggregate or window
 * function, a non-deterministic function such as random() or date('now'));
 * TARN_ENOMEM. Thread-safe. */
int tarn_aggregate_check(const tarn_aggregate_def *def);

/* Declare an aggregate on a writer's lake and backfill it from every shard.
 *
 * lake: opened as a writer (it holds LAKE/lake.lock, so no tarn ingest
 *   runs meanwhile: see tarn_aggregate_request for that case); a batch not
 *   yet committed is committed first.
 * def: checked as tarn_aggregate_check does; copied into the catalog.
 * The catalog row, the tables and the backfill are one gold.db transaction:
 * after a crash (kill -9) the aggregate either does not exist or is
 * complete. From then on every commit of the lake updates it. The lake's
 * progress callback (tarn_lake_set_progress) hears after each shard: the
 * events and bytes of the shards read so far and in all.
 * Returns TARN_OK; TARN_EINVAL (a read-only lake, a refused declaration,
 * or a name that is already a table or view of gold.db or a gold table);
 * TARN_ESQLITE, TARN_ENOSPC (gold.db; nothing is created), TARN_ECORRUPT
 * (a shard that cannot be read: nothing is created), TARN_ENOMEM; an
 * integer sum out of range is TARN_ESQLITE naming "integer overflow". */
int tarn_aggregate_create(tarn_lake *lake, const tarn_aggregate_def *def);

/* Ask the writer that holds the lake in lake_dir (a running tarn ingest)
 * to create an aggregate: adds def to the catalog in state "requested", in
 * one gold.db transaction beside the writer's (SQLite serialises the two:
 * "File Locking And Concurrency In SQLite Version 3"), and returns.
 *
 * The writer builds it between two of its batches, after a commit (at
 * most one commit interval, or a second when it is idle): the tables and
 * the backfill from every shard in one gold.db transaction, as
 * tarn_aggregate_create does, so that every event is either in a shard the
 * backfill reads or in a batch after it, never both. The state becomes
 * "ready", or "failed: <reason>" when it cannot be built (the reason is
 * tarn_error_last()'s text then). A request that no writer takes is built
 * by the next writer that opens the lake (tarn_lake_open). Poll the state
 * with tarn_aggregate_list; remove a failed request with
 * tarn_aggregate_withdraw.
 *
 * lake_dir: the lake folder (NUL-terminated path); def: checked as
 * tarn_aggregate_check does, copied.
 * Returns TARN_OK; TARN_EINVAL (a refused declaration, or a name already
 * taken); TARN_ENOTFOUND (no gold.db in lake_dir); TARN_ECORRUPT (gold.db
 * has no catalog); TARN_ESQLITE (gold.db's write lock held by the
 * writer's open batch for over 60 s, as with a writer reading a pipe that
 * has not reached 100,000 lines, or another SQLite error); TARN_ENOMEM.
 * Thread-safe. */
int tarn_aggregate_request(const char *lake_dir, const tarn_aggregate_def *def);

/* Remove a request that is still "requested" or has "failed: ...", from
 * the lake in lake_dir, beside its writer. A ready aggregate is removed
 * only with tarn_aggregate_drop.
 * Returns TARN_OK; TARN_ENOTFOUND (no gold.db, or no such request: it may
 * have become ready); TARN_ESQLITE; TARN_ENOMEM. Thread-safe. */
int tarn_aggregate_withdraw(const char *lake_dir, const char *name);

/* Remove a declared aggregate: its catalog row, its table and its state,
 * in one gold.db transaction. lake: a writer's lake.
 * Returns TARN_OK; TARN_ENOTFOUND (no aggregate of that name);
 * TARN_EINVAL (read-only lake); TARN_ESQLITE. */
int tarn_aggregate_drop(tarn_lake *lake, const char *name);

/* One declared aggregate as tarn_aggregate_list reports it. Every pointer
 * is borrowed, valid during the callback only. */
typedef struct tarn_aggregate_info {
	tarn_aggregate_def def;
	const char *state; /* "ready" (maintained at every commit), "requested"
			      (tarn_aggregate_request: not built yet) or
			      "failed: <reason>" (a request that could not
			      be built); rows is 0 unless ready */
	uint64_t rows;	   /* rows in its table */
	/* when its rows last changed, in microseconds since the Unix epoch
	 * (UTC): the time of the last commit (tarn_lake_commit,
	 * tarn_gold_rebuild, or create's backfill) whose events changed one
	 * of its groups, taken just before that commit; when none has, its
	 * creation time (whole seconds). 0 if the catalog row vanished
	 * meanwhile. */
	int64_t updated_us;
	/* how a writer evaluates its expressions: "native" (every one is a
	 * column, payload->>'$.a.b', a literal, a comparison, IS [NOT] NULL,
	 * AND, OR or NOT: read in C, one JSON parse per event for all such
	 * declarations) or "sql" (SQLite evaluates them over a batch table).
	 * Both give the same rows (README, "How a declaration is
	 * maintained"). Static string. */
	const char *path;
} tarn_aggregate_info;

/* Called once per declared aggregate, in name order; non-zero stops. */
typedef int (*tarn_aggregate_cb)(void *ctx, const tarn_aggregate_info *info);

/* List the declared aggregates of a lake (read-only or writer).
 * Returns TARN_OK, the callback's non-zero value, TARN_ESQLITE,
 * TARN_ECORRUPT (a catalog row that does not parse), TARN_ENOMEM. */
int tarn_aggregate_list(tarn_lake *lake, tarn_aggregate_cb cb, void *ctx);

/* "day", "hour", "minute"; NULL for another value. */
const char *tarn_window_name(tarn_window w);
/* Parse "day", "hour" or "minute". TARN_OK or TARN_EINVAL. */
int tarn_window_parse(const char *s, tarn_window *out);

#ifdef __cplusplus
}
#endif
#endif
