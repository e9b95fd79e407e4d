/* The `events` virtual table (events.c): what query.c and the loadable
 * extension offer of it. */
#ifndef TARN_EVENTS_H
#define TARN_EVENTS_H

#include <sqlite3.h>

/* Answers payload->>'$.path' without SQLite's JSON parse where it can,
 * with SQLite's results always (events.c, ev_arrow). */
struct ev_fast;

/* Register on db the function ->> (2 arguments) in place of SQLite's own,
 * and give in *out the state it shares with the modules registered below
 * (each keeps a hold on it; the last of them and the function frees it).
 * Returns an SQLite result code; *out NULL on failure. */
int tarn__events_fast(sqlite3 *db, struct ev_fast **out);

/* Register on db an eponymous virtual table `name` with the columns
 *   event_id TEXT, event_time INTEGER, event_date TEXT, event_name TEXT,
 *   payload TEXT, key BLOB, topic TEXT, partition INTEGER, "offset" INTEGER
 * over the shards of the lake in folder dir (borrowed: it must outlive db).
 * dir NULL: a table-valued function, name(dir), with dir as the hidden
 * column `lake`; a scan without it fails with a message that says so.
 * fast: from tarn__events_fast on the same db, or NULL (SQLite's ->> only).
 * Returns an SQLite result code (SQLITE_OK, SQLITE_NOMEM, SQLITE_MISUSE). */
int tarn__events_register(sqlite3 *db, const char *name, const char *dir, struct ev_fast *fast);

/* Register module `name` for CREATE VIRTUAL TABLE t USING name('dir'):
 * the same table over the lake named by the one argument (quoted or not).
 * Returns an SQLite result code. */
int tarn__events_register_created(sqlite3 *db, const char *name, struct ev_fast *fast);

#endif
