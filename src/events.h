/* The `events` virtual table (events.c): what query.c and the loadable
 * extension offer of it. */
#ifndef TARN_EVENTS_H
#define TARN_EVENTS_H

#include <sqlite3.h>

/* Register on db an eponymous virtual table `name` with the columns
 *   event_id TEXT, event_time INTEGER, event_date TEXT, event_name TEXT,
 *   payload TEXT, key BLOB, topic TEXT, partition INTEGER, "offset" INTEGER
 * over the shards of the lake in folder dir (borrowed: it must outlive db).
 * dir NULL: a table-valued function, name(dir), with dir as the hidden
 * column `lake`; a scan without it fails with a message that says so.
 * Returns an SQLite result code (SQLITE_OK, SQLITE_NOMEM, SQLITE_MISUSE). */
int tarn__events_register(sqlite3 *db, const char *name, const char *dir);

/* Register module `name` for CREATE VIRTUAL TABLE t USING name('dir'):
 * the same table over the lake named by the one argument (quoted or not).
 * Returns an SQLite result code. */
int tarn__events_register_created(sqlite3 *db, const char *name);

#endif
