#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error_internal.h"
#include "lake_internal.h"

void (*tarn__fs_hook)(int op, const char *path);

void tarn__fs_note(int op, const char *path)
{
	if (tarn__fs_hook)
		tarn__fs_hook(op, path);
}

int tarn__fs_sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc = TARN_OK;

	dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return tarn__error_set(TARN_ENOMEM, "%s", path);
	if (!*dir) {
		free(dir);
		dir = strdup("/");
		if (!dir)
			return tarn__error_set(TARN_ENOMEM, "%s", path);
	}
#ifndef TARN_TEST_MUTANT_NO_SYNC
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rc = tarn__error_set(TARN_EIO, "fsync folder %s: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (!rc)
		tarn__fs_note(TARN__FS_SYNC_DIR, dir);
#else
	(void)fd; /* tests/powerloss --mutant: the name may be forgotten */
#endif
	free(dir);
	return rc;
}

int tarn__sql_exec(sqlite3 *db, const char *sql, const char *what)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return tarn__error_sqlite(db, "%s", what);
	return TARN_OK;
}

int tarn__sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, const char *what)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK)
		return tarn__error_sqlite(db, "%s: prepare", what);
	return TARN_OK;
}

char *tarn__path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);

	if (!p)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return SQLITE_ERROR;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* A file that already has tables must carry tarn's application_id and a
 * format version we know; an empty file is fine (it is about to get one). */
static int check_identity(sqlite3 *db, const char *path)
{
	int app = 0, ver = 0, n_tables = 0;

	if (pragma_int(db, "SELECT count(*) FROM sqlite_schema", &n_tables) ||
	    pragma_int(db, "PRAGMA application_id", &app) ||
	    pragma_int(db, "PRAGMA user_version", &ver))
		return tarn__error_sqlite(db, "%s: read header", path);
	if (n_tables == 0 && app == 0)
		return TARN_OK;
	if (app != TARN__APPLICATION_ID)
		return tarn__error_set(TARN_ECORRUPT, "%s: not a tarn file (application_id %d)",
				       path, app);
	if (ver > TARN_LAKE_FORMAT_VERSION)
		return tarn__error_set(TARN_ECORRUPT,
				       "%s: format version %d is newer than this tarn (%d)", path,
				       ver, TARN_LAKE_FORMAT_VERSION);
	if (ver < TARN_LAKE_FORMAT_VERSION)
		return tarn__error_set(TARN_ECORRUPT,
				       "%s: format version %d is older than this tarn (%d);"
				       " replay it with the older tarn (tarn replay -o -) and"
				       " ingest that into a new lake",
				       path, ver, TARN_LAKE_FORMAT_VERSION);
	return TARN_OK;
}

int tarn__sql_stamp(sqlite3 *db, const char *path)
{
	char sql[96];

	snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=%d",
		 TARN__APPLICATION_ID, TARN_LAKE_FORMAT_VERSION);
	return tarn__sql_exec(db, sql, path);
}

int tarn__sql_open_ex(sqlite3 **out, const char *path, int readonly, int create_mode,
		      const char *first)
{
	sqlite3 *db = NULL;
	int flags, rc;

	*out = NULL;
	if (!readonly && create_mode) {
		/* SQLite would create the file 0644 minus umask; lake files
		 * hold raw events, so create it 0600 (or as asked) first. The
		 * -wal and -shm files inherit the database file's mode. */
		int is_new = access(path, F_OK) != 0;
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, (mode_t)create_mode);
		if (fd < 0)
			return tarn__error_set(errno == ENOSPC ? TARN_ENOSPC : TARN_EIO, "%s: %s",
					       path, strerror(errno));
		close(fd);
		if (is_new) {
			tarn__fs_note(TARN__FS_CREATE, path);
			rc = tarn__fs_sync_parent(path);
			if (rc)
				return rc;
		}
	} else if (access(path, F_OK) != 0) {
		return tarn__error_set(TARN_ENOTFOUND, "%s: no such file", path);
	}
	flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	flags |= SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		rc = tarn__error_sqlite(db, "%s: open", path);
		sqlite3_close(db);
		return rc;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 5000);
	rc = check_identity(db, path);
	if (rc == TARN_OK && !readonly && first)
		rc = tarn__sql_exec(db, first, path);
	if (rc == TARN_OK && !readonly)
		rc = tarn__sql_exec(db,
#ifdef TARN_TEST_MUTANT_NO_SYNC
				    /* tests/powerloss --mutant: a build that must lose */
				    "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
#else
				    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
#endif
				    /* a writer's memory is bounded (README
				     * "Performance"): 2 MB a file unless the
				     * file's owner asks otherwise */
				    " PRAGMA cache_size=-2048",
				    path);
	if (rc != TARN_OK) {
		sqlite3_close(db);
		return rc;
	}
	*out = db;
	return TARN_OK;
}

int tarn__sql_open(sqlite3 **out, const char *path, int readonly, int create_mode)
{
	return tarn__sql_open_ex(out, path, readonly, create_mode, NULL);
}

void tarn__bind_provenance(sqlite3_stmt *st, int col, const tarn_event *ev)
{
	if (ev->topic)
		sqlite3_bind_text(st, col, ev->topic, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, col);
	if (ev->partition >= 0)
		sqlite3_bind_int(st, col + 1, ev->partition);
	else
		sqlite3_bind_null(st, col + 1);
	if (ev->offset >= 0)
		sqlite3_bind_int64(st, col + 2, ev->offset);
	else
		sqlite3_bind_null(st, col + 2);
}
