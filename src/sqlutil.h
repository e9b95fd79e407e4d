/* Library-internal: opening tarn's SQLite files and running statements
 * (sqlutil.c). */
#ifndef TARN_SQLUTIL_H
#define TARN_SQLUTIL_H

#include <sqlite3.h>

#define TARN__APPLICATION_ID 1952543342 /* 0x7461726e, "tarn" */

/* ---- SQLite helpers (sqlutil.c) ---- */

/* Run SQL without results; on failure set the error naming `what`. */
int tarn__sql_exec(sqlite3 *db, const char *sql, const char *what);
/* Prepare one statement; on failure set the error naming `what`. */
int tarn__sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, const char *what);
/* Open a tarn SQLite file, creating it with permission bits create_mode
 * (0: do not create), and apply the connection settings: busy timeout, WAL
 * and synchronous=FULL for writers. Checks application_id / user_version
 * when the file has a schema. */
int tarn__sql_open(sqlite3 **out, const char *path, int readonly, int create_mode);
/* The same, running the pragmas `first` (may be NULL) before the file's
 * journal mode is set: settings such as auto_vacuum that a new file takes
 * only before its header is written. */
int tarn__sql_open_ex(sqlite3 **out, const char *path, int readonly, int create_mode,
		      const char *first);
/* Mark a freshly created file as tarn's (application_id, user_version). */
int tarn__sql_stamp(sqlite3 *db, const char *path);
/* Join dir and name into a malloc'd path. */
char *tarn__path_join(const char *dir, const char *name);

/* Bind an event's Kafka provenance to parameters col, col + 1, col + 2 of
 * st: topic (TEXT, borrowed: SQLITE_STATIC, so ev must outlive the step),
 * partition and offset (INTEGER); each NULL when the event has none (NULL
 * topic, partition or offset < 0: a line of a file). */
struct tarn_event;
void tarn__bind_provenance(sqlite3_stmt *st, int col, const struct tarn_event *ev);

/* ---- what tarn does to the file system outside SQLite (sqlutil.c) ---- */

enum { TARN__FS_CREATE = 1, TARN__FS_UNLINK, TARN__FS_SYNC_DIR };
/* Test hook (tests/powerloss/harness.c), NULL otherwise: told of each file
 * or folder tarn creates or deletes itself (op, its path) and of each
 * folder it fsyncs, so that a power cut can be modelled for them too. */
extern void (*tarn__fs_hook)(int op, const char *path);
/* Tell the hook, if one is set. */
void tarn__fs_note(int op, const char *path);
/* fsync the folder that holds path, so that a name just created in it
 * survives a power cut (POSIX leaves it unsaid; tests/powerloss lost whole
 * lakes without it). Returns TARN_OK or TARN_EIO. */
int tarn__fs_sync_parent(const char *path);

#endif
