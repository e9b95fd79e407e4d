/* tarn/time.h - event times: RFC 3339 and epoch milliseconds, UTC dates.
 *
 * Every time in tarn is an int64_t count of microseconds since the Unix
 * epoch (1970-01-01T00:00:00Z), UTC, proleptic Gregorian calendar. The
 * accepted range is 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z,
 * so that every event date is a valid YYYY-MM-DD shard name.
 */
#ifndef TARN_TIME_H
#define TARN_TIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TARN_TIME_MIN_US (-62135596800000000LL) /* 0001-01-01T00:00:00Z */
#define TARN_TIME_MAX_US (253402300799999999LL) /* 9999-12-31T23:59:59.999999Z */
#define TARN_US_PER_DAY	 (86400000000LL)

/* Parse an RFC 3339 date-time (RFC 3339 section 5.6) into microseconds.
 *
 * s, len: the text, not necessarily NUL-terminated; len in bytes.
 * Accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)", 't'/'z'/' ' as
 * in RFC 3339's notes, any number of fraction digits (beyond 6 truncated),
 * and a leap second :60, which is folded onto :59.999999 of the same minute
 * (POSIX time has no leap seconds).
 * out_us: receives microseconds since the epoch, UTC; untouched on error.
 * Returns TARN_OK, or TARN_EINVAL when the text is not RFC 3339, a field is
 * out of range (month 13, day 31 in April, hour 24), or the instant falls
 * outside TARN_TIME_MIN_US..TARN_TIME_MAX_US. Thread-safe. */
int tarn_time_parse_rfc3339(const char *s, size_t len, int64_t *out_us);

/* Parse the time forms tarn accepts in events: RFC 3339, or an integer of
 * milliseconds since the epoch written in decimal (optionally negative).
 *
 * s, len: the text; len in bytes. out_us: receives microseconds, UTC.
 * Returns TARN_OK, or TARN_EINVAL as tarn_time_parse_rfc3339 does, or when
 * an integer overflows or falls outside the accepted range. Thread-safe. */
int tarn_time_parse(const char *s, size_t len, int64_t *out_us);

/* Parse a command-line time bound: "YYYY-MM-DD" (the start of that UTC day)
 * or an RFC 3339 date-time.
 *
 * s: NUL-terminated text. out_us: microseconds since the epoch, UTC.
 * Returns TARN_OK or TARN_EINVAL (message says why). Thread-safe. */
int tarn_time_parse_bound(const char *s, int64_t *out_us);

/* Format microseconds as RFC 3339 UTC with microseconds,
 * "YYYY-MM-DDTHH:MM:SS.ffffffZ" (27 bytes + NUL).
 *
 * us: microseconds since the epoch, within the accepted range.
 * buf: caller's buffer of at least 28 bytes.
 * Returns TARN_OK, or TARN_EINVAL when us is out of range. Thread-safe. */
int tarn_time_format(int64_t us, char buf[28]);

/* Format the UTC calendar date of an instant as "YYYY-MM-DD" (10 + NUL).
 *
 * us: microseconds since the epoch, within the accepted range.
 * buf: caller's buffer of at least 11 bytes.
 * Returns TARN_OK, or TARN_EINVAL when us is out of range. Thread-safe. */
int tarn_time_date(int64_t us, char buf[11]);

/* Check that s is exactly a valid "YYYY-MM-DD" date (10 bytes) and give the
 * microseconds of its first instant (00:00:00Z).
 *
 * s: NUL-terminated text. out_us: may be NULL.
 * Returns TARN_OK or TARN_EINVAL. Thread-safe. */
int tarn_time_parse_date(const char *s, int64_t *out_us);

/* The current time from CLOCK_REALTIME in microseconds since the epoch. */
int64_t tarn_time_now_us(void);

#ifdef __cplusplus
}
#endif
#endif
