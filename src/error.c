#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "error_internal.h"

static _Thread_local char last_error[1024];

const char *tarn_strerror(int code)
{
	switch (code) {
	case TARN_OK: return "success";
	case TARN_ENOTFOUND: return "not found";
	case TARN_EINVAL: return "invalid input";
	case TARN_EIO: return "I/O error";
	case TARN_ESQLITE: return "SQLite error";
	case TARN_EKAFKA: return "Kafka error";
	case TARN_EZSTD: return "zstd error";
	case TARN_ENOMEM: return "out of memory";
	case TARN_EBUSY: return "lake is busy";
	case TARN_ECORRUPT: return "corrupt or foreign file";
	case TARN_ENOSPC: return "disk full";
	case TARN_EDELIVERY: return "message not acknowledged";
	default: return "unknown error";
	}
}

const char *tarn_error_last(void)
{
	return last_error;
}

void tarn_error_clear(void)
{
	last_error[0] = '\0';
}

int tarn__error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return code;
}

int tarn__error_sqlite(void *db, const char *fmt, ...)
{
	va_list ap;
	size_t n;
	int rc = db ? sqlite3_extended_errcode(db) & 0xff : SQLITE_ERROR;
	int code = TARN_ESQLITE;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	n = strlen(last_error);
	snprintf(last_error + n, sizeof(last_error) - n, ": %s",
		 db ? sqlite3_errmsg(db) : "cannot open database");
	/* SQLite reports a write that failed for lack of space as SQLITE_FULL
	 * in most places, but as SQLITE_IOERR (write, truncate, shm map) in
	 * others: the operating system's errno tells (sqlite3_system_errno,
	 * SQLite "Result and Error Codes") */
	if (rc == SQLITE_FULL || (rc == SQLITE_IOERR && db && sqlite3_system_errno(db) == ENOSPC)) {
		code = TARN_ENOSPC;
		if (rc == SQLITE_IOERR)
			snprintf(last_error + strlen(last_error),
				 sizeof(last_error) - strlen(last_error),
				 " (database or disk is full)");
	} else if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		code = TARN_EBUSY;
	else if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
		code = TARN_ECORRUPT;
	return code;
}
