/* tarn/query.h - read-only SQL over a lake.
 *
 * A query connection opens LAKE/gold.db read-only (SQLITE_OPEN_READONLY,
 * query_only), so the gold tables are visible by name; LAKE/quarantine.db,
 * when it exists, read-only as the schema `quarantine` (so
 * `SELECT reason, count(*) FROM quarantine.quarantine GROUP BY 1` counts
 * rejects by reason); and offers the virtual table `events` over all shards:
 *
 *   events(event_id TEXT, event_time INTEGER, event_date TEXT,
 *          event_name TEXT, payload TEXT, key BLOB, topic TEXT,
 *          partition INTEGER, "offset" INTEGER)
 *
 * event_id is the UUID's 36-char text or the id's bytes; event_time is
 * microseconds since the epoch, UTC; payload is the decompressed payload.
 * Equality and range constraints on event_date and event_time choose the
 * shards that are opened (a one-day query reads one shard); event_id = '...'
 * reads only blocks that can hold it; payloads are decompressed only when
 * the payload column is read. The same table is offered to any SQLite
 * program as tarn_events('DIR') by the loadable extension
 * build/libtarn_sqlite.so (README, "The SQLite extension"). Any number of
 * shards works (no ATTACH). ATTACH, DETACH, writes, pragmas that change
 * state, and load_extension are refused by an authorizer
 * (SQLite: "Compile-Time Authorization Callbacks").
 */
#ifndef TARN_QUERY_H
#define TARN_QUERY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tarn_query tarn_query;

enum { TARN_VALUE_NULL = 0, TARN_VALUE_INT, TARN_VALUE_REAL, TARN_VALUE_TEXT, TARN_VALUE_BLOB };

/* One result value, borrowed for the duration of a row callback. */
typedef struct tarn_value {
	int type;      /* TARN_VALUE_* */
	int64_t i;     /* for INT */
	double d;      /* for REAL */
	const void *p; /* for TEXT (not NUL-terminated) and BLOB */
	size_t len;    /* bytes, for TEXT and BLOB */
} tarn_value;

/* Receives one result row: n columns, their names and values (borrowed,
 * valid during the call). Return 0 to go on, non-zero to stop. */
typedef int (*tarn_row_cb)(void *ctx, int n, const char *const *names, const tarn_value *values);

/* Open a read-only query connection on the lake in folder dir.
 * out: receives the handle; close with tarn_query_close.
 * Returns TARN_OK, TARN_ENOTFOUND (no lake at dir), TARN_ESQLITE,
 * TARN_ENOMEM. */
int tarn_query_open(tarn_query **out, const char *dir);

/* Run one or more SQL statements; rows of every statement go to cb.
 *
 * sql: NUL-terminated UTF-8. cb may be NULL. n_rows: receives the number of
 * rows delivered (may be NULL).
 * Returns TARN_OK; the callback's non-zero value; TARN_EINVAL (SQL error,
 * or a statement refused by the authorizer: the message says which);
 * TARN_ECORRUPT (a shard that cannot be read); TARN_ESQLITE. */
int tarn_query_exec(tarn_query *q, const char *sql, tarn_row_cb cb, void *ctx, uint64_t *n_rows);

/* Close the connection; NULL is allowed. */
void tarn_query_close(tarn_query *q);

#ifdef __cplusplus
}
#endif
#endif
