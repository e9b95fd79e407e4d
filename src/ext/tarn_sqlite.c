/* libtarn_sqlite.so: tarn's `events` virtual table as a run-time loadable
 * SQLite extension, for any SQLite 3 program (the sqlite3 shell, Python's
 * sqlite3 module, Datasette):
 *
 *   .load ./build/libtarn_sqlite
 *   SELECT event_name, count(*) FROM tarn_events('/path/to/lake')
 *    WHERE event_date = '2026-11-20' GROUP BY 1;
 *   CREATE VIRTUAL TABLE ev USING tarn('/path/to/lake');
 *
 * Read-only: shards are opened with SQLITE_OPEN_READONLY; nothing in the
 * lake is ever written. (SQLite: "Run-Time Loadable Extensions".) */
#include <stddef.h>

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "events.h"

/* The entry point SQLite derives from the file name libtarn_sqlite.so
 * ("sqlite3_" + its letters after "lib" + "_init"). */
int sqlite3_tarnsqlite_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

int sqlite3_tarnsqlite_init(sqlite3 *db, char **err, const sqlite3_api_routines *api)
{
	int rc;

	struct ev_fast *fast = NULL;

	SQLITE_EXTENSION_INIT2(api);
	rc = tarn__events_fast(db, &fast);
	if (rc == SQLITE_OK)
		rc = tarn__events_register(db, "tarn_events", NULL, fast);
	if (rc == SQLITE_OK)
		rc = tarn__events_register_created(db, "tarn", fast);
	if (rc != SQLITE_OK)
		*err = sqlite3_mprintf("tarn: cannot register tarn_events: %s", sqlite3_errstr(rc));
	return rc;
}
