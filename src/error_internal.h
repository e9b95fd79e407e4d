/* Library-internal error helpers. */
#ifndef TARN_ERROR_INTERNAL_H
#define TARN_ERROR_INTERNAL_H

#include "tarn/error.h"

/* Set the thread-local message (printf format) and return code, so that
 * callers can write `return tarn__error_set(TARN_EIO, "open %s: %s", ...)`. */
int tarn__error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like tarn__error_set but with code TARN_ESQLITE and sqlite3_errmsg(db)
 * appended; maps SQLITE_FULL to TARN_ENOSPC, SQLITE_BUSY/LOCKED to
 * TARN_EBUSY and SQLITE_CORRUPT/NOTADB to TARN_ECORRUPT. `db` is a sqlite3*. */
int tarn__error_sqlite(void *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
