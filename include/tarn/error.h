/* tarn/error.h - error codes and messages shared by every tarn module.
 *
 * Every tarn function that can fail returns an int: TARN_OK (0) or one of
 * the negative codes below. The list is short and stable; new failure
 * detail goes into the thread-local message, never into new codes.
 */
#ifndef TARN_ERROR_H
#define TARN_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
	TARN_OK = 0,
	TARN_ENOTFOUND = -1, /* no such file, shard, key, or end of input */
	TARN_EINVAL = -2,    /* invalid argument or input */
	TARN_EIO = -3,	     /* operating-system I/O error (open, read, write) */
	TARN_ESQLITE = -4,   /* SQLite returned an error */
	TARN_EKAFKA = -5,    /* librdkafka returned an error */
	TARN_EZSTD = -6,     /* zstd returned an error */
	TARN_ENOMEM = -7,    /* memory allocation failed */
	TARN_EBUSY = -8,     /* the lake is locked by another writer */
	TARN_ECORRUPT = -9,  /* a file is damaged, foreign, or of a newer format */
	TARN_ENOSPC = -10,   /* the disk is full */
	TARN_EDELIVERY = -11 /* a message was not acknowledged by the broker */
};

/* Static English text for an error code.
 *
 * code: one of the TARN_ codes above; any other value gives "unknown error".
 * Returns a static, NUL-terminated string; never NULL. Thread-safe. */
const char *tarn_strerror(int code);

/* Detailed message of the last error set on the calling thread.
 *
 * The message names what failed (a file, a topic, an SQL statement) and
 * copies the text of the library below (sqlite3_errmsg, librdkafka's
 * errstr, ZSTD_getErrorName). Returns a pointer to thread-local storage,
 * valid until the next tarn call on this thread; "" when no error was set.
 * Never NULL. Thread-safe (each thread has its own message). */
const char *tarn_error_last(void);

/* Clear the calling thread's last error message. Thread-safe. */
void tarn_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
